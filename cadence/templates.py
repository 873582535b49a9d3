"""Message templates: the render context, strict rendering and load-time checks.

Templates are jinja2 with StrictUndefined: a variable that does not exist is an error, never
an empty string in front of a customer. Load-time checks catch syntax errors and unknown
variables before a cadence version is stored, naming the template and the part.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Mapping
from typing import Any

import jinja2
import jinja2.meta
import jinja2.sandbox

from cadence.definition import CadenceBundle, TemplateSource
from cadence.parse import DefinitionError, FieldProblem
from cadence.steps import EmailStep, SmsStep

# The top-level names a template may use. Each is a mapping; see `sample_context`.
CONTEXT_ROOTS = frozenset({"contact", "account", "owner", "sender", "links", "step", "cadence", "dates"})


def _longdate(value: dt.date | dt.datetime | None) -> str:
    if isinstance(value, jinja2.Undefined):
        str(value)  # a strict undefined raises here, naming the missing date (not a format TypeError)
    if value is None:
        return ""
    if not isinstance(value, dt.date):
        raise jinja2.TemplateRuntimeError(f"longdate needs a date, not {value!r}")
    return f"{value:%B} {value.day}, {value.year}"


def environment(*, html: bool) -> jinja2.Environment:
    """A sandboxed environment: strict undefined, autoescape for HTML parts only."""
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(
        undefined=jinja2.StrictUndefined, autoescape=html, keep_trailing_newline=False, trim_blocks=True, lstrip_blocks=True
    )
    env.filters["longdate"] = _longdate
    return env


_NONE = re.compile(r"\bNone\b")
_TEXT = environment(html=False)
_HTML = environment(html=True)


def parts(template: TemplateSource) -> dict[str, str]:
    """The template's parts by name (subject/html/text for email, body for SMS)."""
    if template.channel == "email":
        assert template.subject and template.html and template.text
        return {"subject": template.subject, "html": template.html, "text": template.text}
    assert template.body
    return {"body": template.body}


@functools.lru_cache(maxsize=2048)
def _compiled(html: bool, source: str) -> jinja2.Template:
    # Template text never changes for a given version, so compile it once per process.
    return (_HTML if html else _TEXT).from_string(source)


def render(template: TemplateSource, context: Mapping[str, Any]) -> dict[str, str]:
    """Render every part; raises jinja2.UndefinedError naming the missing variable."""
    out: dict[str, str] = {}
    for name, source in parts(template).items():
        text = _compiled(name == "html", source).render(context)
        out[name] = " ".join(text.split()) if name == "subject" else text.strip() + "\n"
    return out


def sample_context() -> dict[str, Any]:
    """A complete context with every standard field filled, used for load-time checks."""
    return {
        "contact": {
            "first_name": "Ada",
            "last_name": "Lovelace",
            "full_name": "Ada Lovelace",
            "email": "ada@example.com",
            "phone": "+15555550100",
            "title": "VP Operations",
            "company": "Analytical Engines",
            "persona": "executive",
            "tier": "enterprise",
            "industry": "software",
            "timezone": "America/Chicago",
            "fields": _AnyFields(),
        },
        "account": {
            "name": "Analytical Engines",
            "domain": "example.com",
            "tier": "enterprise",
            "industry": "software",
            "fields": _AnyFields(),
        },
        "owner": {
            "name": "Grace Hopper",
            "first_name": "Grace",
            "email": "grace@example.com",
            "title": "Account Executive",
            "phone": "+15555550101",
        },
        "sender": {"name": "Grace Hopper", "email": "grace@example.com", "company": "Example Co.", "postal_address": "100 Main Street"},
        "links": {
            "unsubscribe_url": "https://example.com/u/x",
            "preferences_url": "https://example.com/p/x",
            "meeting_url": "https://example.com/meet",
        },
        "step": {"id": "step", "occurrence": 1, "round": 1},
        "cadence": {"key": "cadence", "name": "Cadence"},
        "dates": _AnyFields(default=dt.date(2027, 3, 31)),
    }


class _AnyFields(dict[str, Any]):
    """Custom fields are open-ended: any key renders in the load-time check."""

    def __init__(self, default: Any = "value") -> None:
        super().__init__()
        self._default = default

    def __missing__(self, key: str) -> Any:
        return self._default

    def __contains__(self, key: object) -> bool:
        return True


def check(template: TemplateSource, dates: frozenset[str] = frozenset()) -> list[str]:
    """Problems with one template: syntax errors, unknown top-level names, unknown fields,
    and failures for a contact that has only what is guaranteed: the `dates` its step is
    anchored to (a step anchored to renewal_date only runs when there is one)."""
    problems: list[str] = []
    for name, source in parts(template).items():
        env = _HTML if name == "html" else _TEXT
        try:
            ast = env.parse(source)
            declared = jinja2.meta.find_undeclared_variables(ast)
        except jinja2.TemplateSyntaxError as exc:
            problems.append(f"{name}: syntax error at line {exc.lineno}: {exc.message}")
            continue
        except jinja2.TemplateError as exc:
            problems.append(f"{name}: {exc}")
            continue
        unknown = sorted(declared - CONTEXT_ROOTS)
        if unknown:
            problems.append(f"{name}: unknown variable(s) {', '.join(unknown)}; use {', '.join(sorted(CONTEXT_ROOTS))}")
            continue
        compiled = env.from_string(source)
        try:
            full = compiled.render(sample_context())
        except jinja2.UndefinedError as exc:
            problems.append(f"{name}: {exc.message}")
            continue
        except Exception as exc:  # a filter applied to the wrong kind of value, and the like
            problems.append(f"{name}: {exc}")
            continue
        # Real contacts often lack a first name or a custom field: the template must still
        # render, and must not print "None" in front of a customer.
        try:
            sparse = compiled.render(sparse_context(dates))
        except jinja2.UndefinedError as exc:
            problems.append(f"{name}: fails for contacts missing a field ({exc.message}); add a fallback such as | default('')")
            continue
        except Exception as exc:
            problems.append(f"{name}: fails for contacts missing a field ({exc}); add a fallback such as | default('')")
            continue
        if len(_NONE.findall(sparse)) > len(_NONE.findall(full)):
            problems.append(
                f"{name}: prints None for contacts missing a field; add a fallback such as {{{{ contact.first_name or 'there' }}}}"
            )
    return problems


def sparse_context(dates: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The sample context with every optional fact missing, as for a bare imported contact
    (of the date fields, only `dates`)."""
    ctx = sample_context()
    ctx["dates"] = {name: dt.date(2027, 3, 31) for name in dates}
    for key in ("first_name", "last_name", "full_name", "title", "company", "persona", "tier", "industry", "timezone"):
        ctx["contact"][key] = None
    ctx["contact"]["fields"] = {}
    ctx["account"] = {"name": None, "domain": None, "tier": None, "industry": None, "fields": {}}
    ctx["owner"].update(title=None, phone=None)
    return ctx


def check_bundle_templates(bundle: CadenceBundle, source: str | None = None) -> None:
    """Check every template a cadence uses; the error names the step, the template and the part."""
    problems: list[FieldProblem] = []
    for index, step in enumerate(bundle.definition.steps):
        if not isinstance(step, EmailStep | SmsStep):
            continue
        anchors = frozenset([step.wait.anchor] if step.wait.anchor else [])
        for name in step.template_names():
            template = bundle.templates.get(name)
            for problem in check(template, anchors) if template is not None else []:
                problems.append(FieldProblem(step=index, step_id=step.id, field="template", message=f"template {name!r} {problem}"))
    if problems:
        raise DefinitionError(problems, source)
