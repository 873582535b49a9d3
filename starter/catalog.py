"""Reading cadence definitions and their templates from YAML/JSON documents and files.

A document is a cadence definition, optionally with a `templates` mapping of inline
templates. Templates not given inline are looked up by name in a templates folder
(`playbooks/templates/<name>.yaml`). The result is a checked CadenceBundle: the exact
content a cadence version pins.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from cadence.contact_policy import ContactPolicy
from cadence.definition import CadenceBundle, TemplateSource
from cadence.parse import DefinitionError, FieldProblem, check_bundle, parse_definition, parse_yaml
from cadence.scoring import ScoringConfig
from cadence.templates import check_bundle_templates
from cadence.triggers import Rules

PLAYBOOKS_DIR = Path(__file__).resolve().parent.parent / "playbooks"
TEMPLATES_DIR = PLAYBOOKS_DIR / "templates"
POLICY_FILE = PLAYBOOKS_DIR / "policy.yaml"
RULES_FILE = PLAYBOOKS_DIR / "rules.yaml"
SCORING_FILE = PLAYBOOKS_DIR / "scoring.yaml"

TemplateLookup = Callable[[str], TemplateSource | None]


def _template(name: str, raw: Any, source: str | None) -> TemplateSource:
    if not isinstance(raw, dict):
        raise DefinitionError([FieldProblem(field=f"templates.{name}", message="a template must be a mapping of parts")], source)
    try:
        return TemplateSource.model_validate({"name": name, **raw})
    except ValidationError as exc:
        problems = [
            FieldProblem(
                field=".".join(["templates", name, *(str(p) for p in err["loc"])]), message=err["msg"].removeprefix("Value error, ")
            )
            for err in exc.errors()
        ]
        raise DefinitionError(problems, source) from None


def folder_lookup(root: Path) -> TemplateLookup:
    """Find templates by name in a folder of `<name>.yaml` files."""

    def lookup(name: str) -> TemplateSource | None:
        path = root / f"{name}.yaml"
        if ".." in name or not path.is_file():
            return None
        return _template(name, parse_yaml(path.read_text(encoding="utf-8"), str(path)), str(path))

    return lookup


def bundle_from_document(doc: Any, *, source: str | None = None, lookup: TemplateLookup | None = None) -> CadenceBundle:
    """Validate a decoded document into a bundle; every error names the source, step and field."""
    if not isinstance(doc, dict):
        raise DefinitionError([FieldProblem(field="(root)", message="a cadence must be a mapping of fields")], source)
    doc = dict(doc)
    inline = doc.pop("templates", None) or {}
    if not isinstance(inline, dict):
        raise DefinitionError([FieldProblem(field="templates", message="templates must map names to templates")], source)
    definition = parse_definition(doc, source)
    templates = {name: _template(name, raw, source) for name, raw in inline.items()}
    for name in definition.template_names():
        if name not in templates and lookup is not None:
            found = lookup(name)
            if found is not None:
                templates[name] = found
    bundle = check_bundle(CadenceBundle(definition=definition, templates=templates), source)
    check_bundle_templates(bundle, source)
    return bundle


def parse_text(text: str, *, source: str | None = None, lookup: TemplateLookup | None = None) -> CadenceBundle:
    """A bundle from YAML or JSON text (JSON is a subset of YAML, but its errors read better)."""
    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DefinitionError(
                [FieldProblem(field="(json)", message=f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}")], source
            ) from None
    else:
        doc = parse_yaml(text, source)
    return bundle_from_document(doc, source=source, lookup=lookup)


def load_file(path: Path, templates_dir: Path | None = None) -> CadenceBundle:
    """A bundle from a playbook file; templates come from `templates_dir` (default: beside it)."""
    folder = templates_dir or path.parent / "templates"
    return parse_text(path.read_text(encoding="utf-8"), source=str(path), lookup=folder_lookup(folder))


def playbook_files(root: Path = PLAYBOOKS_DIR) -> list[Path]:
    """The shipped playbooks, in name order."""
    return sorted(p for p in root.glob("*.yaml") if p.is_file() and p.name not in (POLICY_FILE.name, RULES_FILE.name, SCORING_FILE.name))


M = TypeVar("M", bound=BaseModel)


def _config(model: type[M], text: str, source: str | None) -> M:
    raw = parse_yaml(text, source)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise DefinitionError([FieldProblem(field="(root)", message="the file must be a mapping")], source)
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = [
            FieldProblem(field=".".join(str(p) for p in err["loc"]) or "(root)", message=err["msg"].removeprefix("Value error, "))
            for err in exc.errors()
        ]
        raise DefinitionError(problems, source) from None


def parse_policy(text: str, source: str | None = None) -> ContactPolicy:
    """Validate a policy file's text; every problem names its field."""
    return _config(ContactPolicy, text, source)


def load_rules(path: str | Path | None = None) -> Rules:
    """The event rules from a file (the shipped playbooks/rules.yaml by default)."""
    file = Path(path) if path else RULES_FILE
    return _config(Rules, file.read_text(encoding="utf-8"), str(file))


def load_scoring(path: str | Path | None = None) -> ScoringConfig:
    """The lead-scoring rules from a file (the shipped playbooks/scoring.yaml by default)."""
    file = Path(path) if path else SCORING_FILE
    return _config(ScoringConfig, file.read_text(encoding="utf-8"), str(file))


def load_policy(path: str | Path | None = None) -> ContactPolicy:
    """The contact policy from a file (the shipped playbooks/policy.yaml by default)."""
    file = Path(path) if path else POLICY_FILE
    return parse_policy(file.read_text(encoding="utf-8"), str(file))
