"""Template rendering (strict, escaped where it must be) and load-time checks."""

from __future__ import annotations

import datetime as dt
from typing import Any

import jinja2
import pytest

from cadence.definition import (
    CadenceBundle,
    DefinitionError,
    TemplateSource,
    parse_definition,
)
from cadence.templates import (
    CONTEXT_ROOTS,
    check,
    check_bundle_templates,
    render,
    sample_context,
)
from tests.unit.cadence.support import doc, email


def email_template(subject: str = "Hi {{ contact.first_name }}", html: str = "<p>Hello {{ contact.first_name }}</p>", text: str = "Hello {{ contact.first_name }}") -> TemplateSource:
    return TemplateSource(name="welcome", channel="email", subject=subject, html=html, text=text)


def sms(body: str) -> TemplateSource:
    return TemplateSource(name="nudge", channel="sms", body=body)


def context(**contact: Any) -> dict[str, Any]:
    ctx = sample_context()
    ctx["contact"] = {**ctx["contact"], **contact}
    return ctx


# --- rendering ----------------------------------------------------------------------------------


def test_email_renders_every_part() -> None:
    out = render(email_template(), context(first_name="Ada"))
    assert out == {"subject": "Hi Ada", "html": "<p>Hello Ada</p>\n", "text": "Hello Ada\n"}


def test_sms_renders_its_body_only() -> None:
    assert render(sms("Hi {{ contact.first_name }}, reply STOP to opt out"), context(first_name="Ada")) == {
        "body": "Hi Ada, reply STOP to opt out\n"
    }


def test_html_is_escaped_and_text_is_not() -> None:
    out = render(email_template(), context(first_name='<script>alert("x")</script> & Co'))
    assert "<script>" not in out["html"]
    assert "&lt;script&gt;" in out["html"]
    assert "&amp; Co" in out["html"]
    assert out["text"] == 'Hello <script>alert("x")</script> & Co\n'
    assert out["subject"] == 'Hi <script>alert("x")</script> & Co'


def test_html_links_are_attribute_safe() -> None:
    template = email_template(html='<a href="{{ links.unsubscribe_url }}">Unsubscribe</a>')
    ctx = sample_context()
    ctx["links"] = {**ctx["links"], "unsubscribe_url": 'https://x.example/u?a=1&b="2"'}
    assert render(template, ctx)["html"] == '<a href="https://x.example/u?a=1&amp;b=&#34;2&#34;">Unsubscribe</a>\n'


def test_subject_is_one_line_even_with_newlines_in_data() -> None:
    out = render(email_template(subject="Hi {{ contact.first_name }}\n  and   welcome"), context(first_name="Eve\r\nBcc: victim@example.com"))
    assert "\n" not in out["subject"] and "\r" not in out["subject"]
    assert out["subject"] == "Hi Eve Bcc: victim@example.com and welcome"


def test_missing_variable_is_an_error_not_an_empty_string() -> None:
    ctx = sample_context()
    ctx["contact"] = {k: v for k, v in ctx["contact"].items() if k != "first_name"}
    with pytest.raises(jinja2.UndefinedError, match="first_name"):
        render(email_template(), ctx)
    with pytest.raises(jinja2.UndefinedError, match="contact"):
        render(sms("Hi {{ contact.first_name }}"), {})


def test_sandbox_blocks_python_internals() -> None:
    with pytest.raises(jinja2.exceptions.SecurityError):
        render(sms("{{ contact.__class__.__mro__ }}"), sample_context())


def test_longdate_filter() -> None:
    ctx = sample_context()
    ctx["dates"] = {"renewal_date": dt.date(2026, 11, 26), "kickoff": dt.datetime(2027, 1, 5, 9, 30), "none": None}
    out = render(sms("{{ dates.renewal_date | longdate }} / {{ dates.kickoff | longdate }} / [{{ dates.none | longdate }}]"), ctx)
    assert out["body"] == "November 26, 2026 / January 5, 2027 / []\n"


# --- load-time checks ---------------------------------------------------------------------------


def test_a_good_template_has_no_problems() -> None:
    body = (
        "{% set greeting = 'Hi' %}{{ greeting }} {{ contact.first_name }} from {{ sender.company }}, "
        "renewal on {{ dates.renewal_date | longdate }} ({{ contact.fields.plan }}, {{ account.fields.arr }}). "
        "{% for n in [1, 2] %}{{ n }}{% endfor %} {{ links.unsubscribe_url }}"
    )
    assert check(sms(body)) == []
    assert check(email_template()) == []


def test_check_reports_syntax_errors_with_part_and_line() -> None:
    problems = check(email_template(html="<p>\n{% if contact.tier %}\n</p>"))
    assert len(problems) == 1
    assert problems[0].startswith("html: syntax error at line ")
    assert check(sms("Hi\n{{ contact.first_name "))[0].startswith("body: syntax error at line 2")


def test_check_reports_unknown_roots_and_lists_the_allowed_ones() -> None:
    problems = check(email_template(text="Hello {{ first_name }} {{ contact.first_name }} {{ user.email }}"))
    assert problems == [f"text: unknown variable(s) first_name, user; use {', '.join(sorted(CONTEXT_ROOTS))}"]


def test_check_reports_unknown_attributes() -> None:
    problems = check(email_template(subject="Hi {{ contact.nickname }}"))
    assert len(problems) == 1
    assert problems[0].startswith("subject: ")
    assert "nickname" in problems[0]


def test_check_reports_unsafe_access() -> None:
    problems = check(sms("{{ contact.__class__ }}"))
    assert len(problems) == 1 and "unsafe" in problems[0]


@pytest.mark.xfail(
    strict=True,
    reason="BUG: cadence/templates.py:117 - jinja2.meta.find_undeclared_variables compiles the template "
    "and raises TemplateAssertionError for an unknown filter outside the try block, so check() "
    "crashes instead of reporting the problem",
)
def test_check_reports_unknown_filters() -> None:
    problems = check(sms("{{ contact.first_name | shout }}"))
    assert len(problems) == 1
    assert problems[0].startswith("body: ")
    assert "shout" in problems[0]


def test_check_reports_unknown_tests() -> None:
    problems = check(sms("{% if contact.tier is premium %}x{% endif %}"))
    assert len(problems) == 1
    assert problems[0].startswith("body: ")
    assert "premium" in problems[0]


def test_check_bundle_templates_names_step_template_and_part() -> None:
    definition = parse_definition(doc(email("intro", template="welcome"), email("again", template="welcome")))
    bundle = CadenceBundle(definition=definition, templates={"welcome": email_template(subject="Hi {{ contact.nick }}")})
    with pytest.raises(DefinitionError) as info:
        check_bundle_templates(bundle, "playbooks/welcome.yaml")
    described = [p.describe() for p in info.value.problems]
    assert len(described) == 2
    assert described[0].startswith("step 1 'intro': field 'template': template 'welcome' subject: ")
    assert described[1].startswith("step 2 'again': field 'template': template 'welcome' subject: ")
    assert str(info.value).startswith("playbooks/welcome.yaml: ")


def test_check_bundle_templates_passes_a_clean_bundle() -> None:
    definition = parse_definition(doc(email("intro", template="welcome")))
    check_bundle_templates(CadenceBundle(definition=definition, templates={"welcome": email_template()}))
