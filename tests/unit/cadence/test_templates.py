"""Template rendering (strict, escaped where it must be) and load-time checks."""

from __future__ import annotations

import datetime as dt
from typing import Any

import jinja2
import pytest

from cadence.definition import CadenceBundle, TemplateSource
from cadence.parse import DefinitionError, parse_definition
from cadence.templates import CONTEXT_ROOTS, check, check_bundle_templates, render, sample_context, sparse_context
from tests.unit.cadence.support import doc, email


def email_template(
    subject: str = "Hi {{ contact.first_name }}",
    html: str = "<p>Hello {{ contact.first_name }}</p>",
    text: str = "Hello {{ contact.first_name }}",
) -> TemplateSource:
    return TemplateSource(name="welcome", channel="email", subject=subject, html=html, text=text)


# The load-time check renders every part for a contact missing its optional facts too, so a
# template that passes it guards them.
GUARDED = "{{ contact.first_name or 'there' }}"


def guarded_email(subject: str = f"Hi {GUARDED}", html: str = f"<p>Hello {GUARDED}</p>", text: str = f"Hello {GUARDED}") -> TemplateSource:
    return email_template(subject=subject, html=html, text=text)


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
    out = render(
        email_template(subject="Hi {{ contact.first_name }}\n  and   welcome"), context(first_name="Eve\r\nBcc: victim@example.com")
    )
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
        "{% set greeting = 'Hi' %}{{ greeting }} {{ contact.first_name or 'there' }} from {{ sender.company }}, "
        "renewal on {{ dates.renewal_date | longdate }} ({{ contact.fields.plan | default('') }}, "
        "{{ account.fields.arr | default('n/a') }}). {% if contact.title %}As {{ contact.title }}, {% endif %}"
        "{% for n in [1, 2] %}{{ n }}{% endfor %} {{ owner.name }} {{ contact.email }} {{ links.unsubscribe_url }}"
    )
    assert check(sms(body), frozenset({"renewal_date"})) == []  # as in a step anchored to renewal_date
    assert check(guarded_email()) == []


def test_a_date_only_an_anchored_step_guarantees_is_refused_elsewhere() -> None:
    body = "Your renewal is on {{ dates.renewal_date | longdate }}."
    [problem] = check(sms(body))
    assert "fails for contacts missing a field" in problem and "renewal_date" in problem
    assert check(sms("Renews {{ dates.renewal_date | default('soon') }}.")) == []


def test_a_missing_date_fails_as_undefined_not_as_a_type_error() -> None:
    with pytest.raises(jinja2.UndefinedError, match="renewal_date"):
        render(sms("{{ dates.renewal_date | longdate }}"), {**sample_context(), "dates": {}})


def test_check_reports_syntax_errors_with_part_and_line() -> None:
    problems = check(guarded_email(html="<p>\n{% if contact.tier %}\n</p>"))
    assert len(problems) == 1
    assert problems[0].startswith("html: syntax error at line ")
    assert check(sms("Hi\n{{ contact.first_name "))[0].startswith("body: syntax error at line 2")


def test_check_reports_unknown_roots_and_lists_the_allowed_ones() -> None:
    problems = check(guarded_email(text="Hello {{ first_name }} {{ contact.first_name }} {{ user.email }}"))
    assert problems == [f"text: unknown variable(s) first_name, user; use {', '.join(sorted(CONTEXT_ROOTS))}"]


def test_check_reports_unknown_attributes() -> None:
    problems = check(guarded_email(subject="Hi {{ contact.nickname }}"))
    assert len(problems) == 1
    assert problems[0].startswith("subject: ")
    assert "nickname" in problems[0]
    assert "missing a field" not in problems[0]  # unknown for every contact, not just sparse ones


def test_check_reports_unsafe_access() -> None:
    problems = check(sms("{{ contact.__class__ }}"))
    assert len(problems) == 1 and "unsafe" in problems[0]


def test_check_reports_unknown_filters() -> None:
    problems = check(sms("Hi\n{{ contact.first_name | shout }}"))
    assert problems == ["body: syntax error at line 2: No filter named 'shout'."]


def test_check_reports_unknown_tests() -> None:
    problems = check(sms("{% if contact.tier is premium %}x{% endif %}"))
    assert len(problems) == 1
    assert problems[0].startswith("body: ")
    assert "premium" in problems[0]


def test_check_bundle_templates_names_step_template_and_part() -> None:
    definition = parse_definition(doc(email("intro", template="welcome"), email("again", template="welcome")))
    bundle = CadenceBundle(definition=definition, templates={"welcome": guarded_email(subject="Hi {{ contact.nick }}")})
    with pytest.raises(DefinitionError) as info:
        check_bundle_templates(bundle, "playbooks/welcome.yaml")
    described = [p.describe() for p in info.value.problems]
    assert len(described) == 2
    assert described[0].startswith("step 1 'intro': field 'template': template 'welcome' subject: ")
    assert described[1].startswith("step 2 'again': field 'template': template 'welcome' subject: ")
    assert str(info.value).startswith("playbooks/welcome.yaml: ")


def test_check_bundle_templates_passes_a_clean_bundle() -> None:
    definition = parse_definition(doc(email("intro", template="welcome")))
    check_bundle_templates(CadenceBundle(definition=definition, templates={"welcome": guarded_email()}))


def test_check_bundle_templates_reports_a_template_that_prints_none() -> None:
    definition = parse_definition(doc(email("intro", template="welcome")))
    with pytest.raises(DefinitionError) as info:
        check_bundle_templates(CadenceBundle(definition=definition, templates={"welcome": guarded_email(text="Dear {{ contact.title }}")}))
    assert [p.describe() for p in info.value.problems] == [
        (
            "step 1 'intro': field 'template': template 'welcome' text: prints None for contacts missing a field; "
            "add a fallback such as {{ contact.first_name or 'there' }}"
        )
    ]


# --- contacts missing optional facts ---------------------------------------------------------------

OPTIONAL = [
    "contact.first_name",
    "contact.last_name",
    "contact.full_name",
    "contact.title",
    "contact.company",
    "contact.persona",
    "contact.tier",
    "contact.industry",
    "contact.timezone",
    "account.name",
    "account.domain",
    "account.tier",
    "account.industry",
    "owner.title",
    "owner.phone",
]
ALWAYS_THERE = [
    "contact.email",
    "contact.phone",
    "owner.name",
    "owner.email",
    "sender.company",
    "sender.postal_address",
    "links.unsubscribe_url",
    "cadence.name",
]
PRINTS_NONE = "body: prints None for contacts missing a field; add a fallback such as {{ contact.first_name or 'there' }}"


def test_sparse_context_blanks_every_optional_fact_and_keeps_the_rest() -> None:
    sparse, full = sparse_context(), sample_context()
    for path in OPTIONAL:
        root, key = path.split(".")
        assert sparse[root][key] is None, path
    assert sparse["contact"]["fields"] == {} and sparse["account"]["fields"] == {}
    for path in ALWAYS_THERE:
        root, key = path.split(".")
        assert sparse[root][key] == full[root][key], path
    assert set(sparse) == set(full) == CONTEXT_ROOTS
    assert sample_context()["contact"]["first_name"] == "Ada"  # building it does not change the sample


@pytest.mark.parametrize("path", OPTIONAL)
def test_check_reports_an_optional_fact_printed_without_a_fallback(path: str) -> None:
    assert check(sms(f"About {{{{ {path} }}}} here")) == [PRINTS_NONE]


@pytest.mark.parametrize("path", ALWAYS_THERE)
def test_facts_every_contact_has_need_no_fallback(path: str) -> None:
    assert check(sms(f"About {{{{ {path} }}}} here")) == []


@pytest.mark.parametrize(
    "body",
    [
        "Hi {{ contact.first_name or 'there' }}",
        "Hi {{ contact.first_name | default('there', true) }}",
        "{% if contact.company %}at {{ contact.company }}{% endif %}",
        "{{ (contact.full_name or contact.email) }}",
        "Plan: {{ contact.fields.plan | default('') }} ARR: {{ account.fields.arr | default(0) }}",
        "{% if contact.fields.plan is defined %}{{ contact.fields.plan }}{% endif %}",
    ],
)
def test_fallbacks_pass_the_sparse_check(body: str) -> None:
    assert check(sms(body)) == []


def test_default_filter_does_not_cover_a_missing_name() -> None:
    # default() only replaces undefined values; a missing first name is None, so it still prints.
    assert check(sms("Hi {{ contact.first_name | default('there') }}")) == [PRINTS_NONE]


@pytest.mark.parametrize("path", ["contact.fields.plan", "account.fields.arr"])
def test_check_reports_a_custom_field_without_a_fallback(path: str) -> None:
    problems = check(sms(f"Your {{{{ {path} }}}} is ready"))
    field = path.rsplit(".", 1)[1]
    assert problems == [
        f"body: fails for contacts missing a field ('dict object' has no attribute '{field}'); add a fallback such as | default('')"
    ]


def test_sparse_problems_name_each_part_once() -> None:
    problems = check(
        email_template(
            subject="Hi {{ contact.first_name }}", html="<p>{{ contact.fields.plan }}</p>", text="Hello {{ contact.first_name or 'there' }}"
        )
    )
    assert [p.split(":", 1)[0] for p in problems] == ["subject", "html"]
    assert "prints None" in problems[0]
    assert "fails for contacts missing a field" in problems[1]


@pytest.mark.parametrize(
    "body", ["Hi {{ contact.first_name }}, thanks", "Thanks, {{ contact.first_name }}.", "<p>Hi {{ contact.first_name }}</p>"]
)
def test_check_reports_none_next_to_punctuation_or_markup(body: str) -> None:
    assert check(sms(body)) == [PRINTS_NONE]


def test_check_does_not_flag_the_word_none_written_in_the_template() -> None:
    assert check(sms("None of this needs a reply, {{ contact.email }}")) == []


@pytest.mark.parametrize("body", ["{{ contact.company | truncate(20) }}", "{{ contact.title | length }}"])
def test_check_reports_a_filter_that_fails_for_a_missing_field(body: str) -> None:
    problems = check(sms(body))
    assert len(problems) == 1 and problems[0].startswith("body: fails for contacts missing a field")


def test_a_renewal_date_in_a_step_not_anchored_to_it_is_refused_at_publish() -> None:
    uses_date = guarded_email(text="Renews on {{ dates.renewal_date | longdate }}")
    anchored = parse_definition(doc(email("note", template="welcome", wait={"anchor": "renewal_date", "offset_days": -30})))
    check_bundle_templates(CadenceBundle(definition=anchored, templates={"welcome": uses_date}))
    loose = parse_definition(doc(email("note", template="welcome", wait={"days": 2})))
    with pytest.raises(DefinitionError) as info:
        check_bundle_templates(CadenceBundle(definition=loose, templates={"welcome": uses_date}))
    assert "renewal_date" in str(info.value) and "step 1 'note'" in str(info.value)
