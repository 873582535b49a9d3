"""Reading a cadence definition: decode, validate, check its templates, and say exactly what
is wrong: every problem names the source, the step (number and id) and the field.

Pure: parsing takes text or decoded documents, never files.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from cadence.definition import CadenceBundle, CadenceDefinition
from cadence.steps import EmailStep, SmsStep


class FieldProblem(BaseModel):
    """One validation problem, located as precisely as the input allows."""

    step: int | None = None
    step_id: str | None = None
    field: str
    message: str

    def describe(self) -> str:
        """ "step 3 'welcome': field 'wait.days': ..." style text for people."""
        where = ""
        if self.step is not None:
            where = f"step {self.step + 1}" + (f" {self.step_id!r}" if self.step_id else "") + ": "
        return f"{where}field {self.field!r}: {self.message}"


class DefinitionError(ValueError):
    """A cadence definition (or its templates) is invalid; lists every problem found."""

    def __init__(self, problems: list[FieldProblem], source: str | None = None) -> None:
        self.problems = problems
        self.source = source
        prefix = f"{source}: " if source else ""
        super().__init__(prefix + "; ".join(p.describe() for p in problems))


def _problems_from(exc: ValidationError, raw: Any) -> list[FieldProblem]:
    raw_steps = raw.get("steps") if isinstance(raw, dict) else None
    problems: list[FieldProblem] = []
    for err in exc.errors():
        loc = list(err["loc"])
        step: int | None = None
        step_id: str | None = None
        if len(loc) >= 2 and loc[0] == "steps" and isinstance(loc[1], int):
            step = loc[1]
            loc = loc[2:]
            if loc and isinstance(loc[0], str) and loc[0] in {"email", "sms", "call", "linkedin", "task", "crm_update", "wait_event"}:
                loc = loc[1:]  # pydantic's discriminator tag adds noise to the location
            if isinstance(raw_steps, list) and step < len(raw_steps) and isinstance(raw_steps[step], dict):
                candidate = raw_steps[step].get("id")
                step_id = candidate if isinstance(candidate, str) else None
        field = ".".join(str(p) for p in loc) or ("(step)" if step is not None else "(root)")
        message = err["msg"].removeprefix("Value error, ")
        problems.append(FieldProblem(step=step, step_id=step_id, field=field, message=message))
    return problems


def parse_definition(raw: Any, source: str | None = None) -> CadenceDefinition:
    """Validate a decoded YAML/JSON document; errors name the source, the step and the field."""
    if not isinstance(raw, dict):
        raise DefinitionError([FieldProblem(field="(root)", message="a cadence must be a mapping of fields")], source)
    try:
        return CadenceDefinition.model_validate(raw)
    except ValidationError as exc:
        raise DefinitionError(_problems_from(exc, raw), source) from None


def definition_json_schema() -> dict[str, Any]:
    """The JSON Schema of a cadence definition, for editors and other services."""
    schema = CadenceDefinition.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Cadence definition"
    return schema


def check_bundle(bundle: CadenceBundle, source: str | None = None) -> CadenceBundle:
    """Check that every template a step uses exists and is for the step's channel."""
    problems: list[FieldProblem] = []
    for index, step in enumerate(bundle.definition.steps):
        if not isinstance(step, EmailStep | SmsStep):
            continue
        field = "template" if step.variants is None else "variants"
        for name in step.template_names():
            template = bundle.templates.get(name)
            if template is None:
                problems.append(FieldProblem(step=index, step_id=step.id, field=field, message=f"template {name!r} not found"))
            elif template.channel != step.type:
                problems.append(
                    FieldProblem(
                        step=index,
                        step_id=step.id,
                        field=field,
                        message=f"template {name!r} is for {template.channel}, but the step sends {step.type}",
                    )
                )
    if problems:
        raise DefinitionError(problems, source)
    return bundle


def parse_yaml(text: str, source: str | None = None) -> Any:
    """Decode YAML text; a syntax error names the line and column."""
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise DefinitionError([FieldProblem(field="(yaml)", message=f"malformed YAML{where}: {problem}")], source) from None
