"""Cadence definitions: validation, error messages, JSON Schema export and content hashes."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from cadence.definition import (
    BUILTIN_EXITS,
    CadenceBundle,
    DefinitionError,
    ReplyIntent,
    TemplateSource,
    Wait,
    check_bundle,
    check_timezone,
    content_hash,
    definition_json_schema,
    parse_clock,
    parse_definition,
    parse_yaml,
)
from tests.unit.cadence.support import definition, doc, email

SOURCE = "playbooks/welcome.yaml"


def problems_of(raw: Any, source: str | None = SOURCE) -> DefinitionError:
    with pytest.raises(DefinitionError) as info:
        parse_definition(raw, source)
    return info.value


def only_problem(raw: Any) -> tuple[DefinitionError, Any]:
    err = problems_of(raw)
    assert len(err.problems) == 1, str(err)
    return err, err.problems[0]


# --- a valid definition --------------------------------------------------------------------


def test_a_realistic_definition_parses_with_its_steps_in_order() -> None:
    d = parse_definition(
        doc(
            email("intro", wait={"days": 0, "at": "09:00"}),
            {"id": "call-1", "type": "call", "wait": {"business_days": 2}, "task": {"title": "Call the contact"}},
            {"id": "sms-1", "type": "sms", "template": "nudge", "wait": {"days": 3, "at": "10:30"}},
            {"id": "li", "type": "linkedin", "task": {"title": "Connect on LinkedIn"}},
            {"id": "crm", "type": "crm_update", "set_fields": {"stage": "nurture"}},
            {"id": "wait-signed", "type": "wait_event", "event": "contract_signed", "timeout_days": 14},
            {"id": "todo", "type": "task", "task": {"title": "Prep QBR"}},
        ),
        SOURCE,
    )
    assert [s.id for s in d.steps] == ["intro", "call-1", "sms-1", "li", "crm", "wait-signed", "todo"]
    assert [s.type for s in d.steps] == ["email", "call", "sms", "linkedin", "crm_update", "wait_event", "task"]
    assert d.step_index("sms-1") == 2
    assert d.steps[1].channel == "call"
    assert d.steps[3].channel == "linkedin"
    assert d.steps[6].channel is None


def test_template_names_lists_every_template_once_in_step_order() -> None:
    d = definition(
        email("a", template="welcome"),
        {"id": "b", "type": "sms", "variants": [{"id": "x", "template": "sms-x"}, {"id": "y", "template": "welcome"}]},
        email("c", template="sms-x"),
        email("d", template="closing"),
    )
    assert d.template_names() == ["welcome", "sms-x", "closing"]


def test_definitions_are_immutable() -> None:
    d = definition()
    with pytest.raises(ValidationError, match="frozen"):
        d.key = "other"  # type: ignore[misc]


# --- error messages: source, step number and id, field ----------------------------------------


def test_error_names_source_step_number_step_id_and_field() -> None:
    err, problem = only_problem(doc(email("intro"), email("welcome", wait={"days": -1})))
    assert (problem.step, problem.step_id, problem.field) == (1, "welcome", "wait.days")
    text = str(err)
    assert text.startswith(f"{SOURCE}: ")
    assert "step 2 'welcome'" in text  # people count steps from 1
    assert "'wait.days'" in text
    assert err.source == SOURCE


def test_error_without_source_has_no_prefix() -> None:
    err = problems_of(doc(email("welcome", wait={"days": -1})), source=None)
    assert str(err).startswith("step 1 'welcome': field 'wait.days'")


def test_every_problem_is_reported_not_just_the_first() -> None:
    err = problems_of(doc(email("a", wait={"days": -1}), email("b", wait={"at": "9am"}), key="Not A Key"))
    fields = {(p.step, p.field) for p in err.problems}
    assert {(None, "key"), (0, "wait.days"), (1, "wait.at")} <= fields


def test_step_without_usable_id_still_names_its_position() -> None:
    err, problem = only_problem(doc(email("ok"), {"id": 7, "type": "email", "template": "t"}))
    assert problem.step == 1
    assert problem.step_id is None
    assert "step 2: field 'id'" in str(err)


@pytest.mark.parametrize(
    ("step", "field", "fragment"),
    [
        ({"id": "a", "type": "fax", "template": "t"}, "(step)", "'fax'"),
        ({"id": "a", "template": "t"}, "(step)", "discriminator 'type'"),
        ({"id": "a", "type": "email", "template": "t", "surprise": 1}, "surprise", "Extra inputs"),
        ({"id": "a", "type": "call", "task": {}}, "task.title", "Field required"),
        ({"id": "a", "type": "task"}, "task", "Field required"),
        ({"id": "a", "type": "crm_update"}, "(step)", "set_fields, webhook_url"),
        ({"id": "a", "type": "crm_update", "webhook_url": "ftp://crm"}, "webhook_url", "pattern"),
        ({"id": "a", "type": "wait_event", "event": "signed", "timeout_days": 0}, "timeout_days", "greater than"),
        ({"id": "Bad Id", "type": "email", "template": "t"}, "id", "pattern"),
        ({"id": "a", "type": "email", "template": "t", "wait": {"at": "25:00"}}, "wait.at", "HH:MM"),
        ({"id": "a", "type": "email", "template": "t", "wait": {"at": "9:00"}}, "wait.at", "HH:MM"),
        ({"id": "a", "type": "email", "template": "t", "wait": {"days": 1, "business_days": 2}}, "wait", "one kind"),
        ({"id": "a", "type": "email", "template": "t", "wait": {"anchor": "renewal_date", "rrule": "FREQ=DAILY"}}, "wait", "one kind"),
        ({"id": "a", "type": "email", "template": "t", "wait": {"offset_days": 3}}, "wait", "offset_days only applies"),
        ({"id": "a", "type": "email", "template": "t", "wait": {"minutes": 30, "at": "09:00"}}, "wait", "'at' pins"),
        ({"id": "a", "type": "email", "template": "t", "wait": {"hours": 2, "at": "09:00"}}, "wait", "'at' pins"),
        ({"id": "a", "type": "email", "template": "t", "wait": {"rrule": "FREQ=SOMETIMES"}}, "wait.rrule", "not a valid RRULE"),
        ({"id": "a", "type": "email", "template": "t", "wait": {"rrule": "DTSTART:20260101T090000\nRRULE:FREQ=DAILY"}}, "wait.rrule", "DTSTART"),
        ({"id": "a", "type": "email", "template": "t", "wait": {"anchor": "Renewal Date"}}, "wait.anchor", "pattern"),
        ({"id": "a", "type": "email", "template": "t", "repeat": {"count": 0}}, "repeat.count", "greater than"),
    ],
)
def test_step_problems_name_the_field(step: dict[str, Any], field: str, fragment: str) -> None:
    err, problem = only_problem(doc(email("first"), step))
    assert problem.step == 1
    assert problem.field == field, str(err)
    assert fragment in problem.message
    assert f"step 2 {problem.step_id!r}: field '{field}'" in str(err)


def test_wait_kinds() -> None:
    assert Wait().kind == "none"
    assert Wait(at="09:00").kind == "relative"
    assert Wait(days=2).kind == "relative"
    assert Wait(business_days=0).kind == "business_days"
    assert Wait(anchor="renewal_date", offset_days=-90).kind == "anchor"
    assert Wait(rrule="FREQ=WEEKLY;INTERVAL=2").kind == "rrule"


@pytest.mark.parametrize("rule", ["FREQ=MONTHLY;BYMONTH=1,4,7,10;BYDAY=+1TU", "FREQ=WEEKLY;INTERVAL=2", "RRULE:FREQ=DAILY;COUNT=3"])
def test_real_rrules_are_accepted(rule: str) -> None:
    assert Wait(rrule=rule).rrule == rule


@pytest.mark.parametrize("value", ["00:00", "09:05", "23:59"])
def test_parse_clock_accepts_24_hour_times(value: str) -> None:
    clock = parse_clock(value)
    assert f"{clock:%H:%M}" == value


@pytest.mark.parametrize("value", ["24:00", "9:00", "09:60", "0900", "09:00:00", " 09:00", "9am", ""])
def test_parse_clock_rejects_other_forms(value: str) -> None:
    with pytest.raises(ValueError, match="HH:MM"):
        parse_clock(value)


@pytest.mark.xfail(
    strict=True,
    reason="BUG: YAML 1.1 reads an unquoted `at: 10:30` as the integer 630; the error only says "
    "'Input should be a valid string' instead of asking for an HH:MM time (or accepting it)",
)
def test_unquoted_yaml_time_of_day_gets_a_helpful_error_or_works() -> None:
    raw = parse_yaml("key: demo\nname: Demo\nsteps:\n  - {id: a, type: email, template: t, wait: {days: 1, at: 10:30}}\n")
    try:
        d = parse_definition(raw, SOURCE)
    except DefinitionError as err:
        assert "HH:MM" in str(err) or "quote" in str(err)
    else:
        assert d.steps[0].wait.at == "10:30"


def test_not_a_mapping_is_rejected_with_source() -> None:
    err, problem = only_problem(["steps"])
    assert problem.field == "(root)"
    assert str(err) == f"{SOURCE}: field '(root)': a cadence must be a mapping of fields"


def test_no_steps_is_rejected() -> None:
    _, problem = only_problem(doc())
    assert problem.field == "steps"


def test_duplicate_step_ids_are_named() -> None:
    _, problem = only_problem(doc(email("a"), email("b"), email("a")))
    assert "repeated: a" in problem.message


def test_loop_must_point_at_a_step() -> None:
    _, problem = only_problem(doc(email("a"), loop={"from_step": "zz"}))
    assert "'zz'" in problem.message
    d = definition(email("a"), email("b"), loop={"from_step": "b", "times": 2})
    assert d.loop is not None and d.loop.from_step == "b"


# --- A/B variants ---------------------------------------------------------------------------


def variant_step(variants: Any, **extra: Any) -> dict[str, Any]:
    return {"id": "ab", "type": "email", "variants": variants, **extra}


def test_variants_parse_with_default_weight_one() -> None:
    d = definition(variant_step([{"id": "a", "template": "t-a"}, {"id": "b", "template": "t-b", "weight": 3}]))
    step = d.steps[0]
    assert [(v.id, v.weight) for v in step.variants] == [("a", 1), ("b", 3)]  # type: ignore[union-attr]
    assert step.template_names() == ["t-a", "t-b"]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("step", "field", "fragment"),
    [
        (variant_step([{"id": "a", "template": "t-a"}]), "variants", "at least 2"),
        (variant_step([{"id": "a", "template": "t-a"}, {"id": "a", "template": "t-b"}]), "(step)", "unique"),
        (variant_step([{"id": "a", "template": "t-a", "weight": 0}, {"id": "b", "template": "t-b"}]), "variants.0.weight", "greater than"),
        (variant_step([{"id": "a", "template": "t-a"}, {"id": "b"}]), "variants.1.template", "Field required"),
        (variant_step([{"id": "a", "template": "t-a"}, {"id": "b", "template": "t-b"}], template="t"), "(step)", "either 'template' or 'variants'"),
        ({"id": "ab", "type": "email"}, "(step)", "either 'template' or 'variants'"),
        (variant_step([{"id": f"v{i}", "template": "t"} for i in range(11)]), "variants", "at most 10"),
    ],
)
def test_variant_problems(step: dict[str, Any], field: str, fragment: str) -> None:
    err, problem = only_problem(doc(step))
    assert (problem.step, problem.step_id, problem.field) == (0, "ab", field), str(err)
    assert fragment in problem.message


# --- exits and reply branches ----------------------------------------------------------------


def test_default_exits_are_the_four_builtins() -> None:
    d = definition()
    assert set(d.exit_on) == set(BUILTIN_EXITS)
    for rule in BUILTIN_EXITS:
        assert d.exits_on(rule)
    assert not d.exits_on("event:renewal_signed")


def test_opt_out_is_always_an_exit_even_when_left_out() -> None:
    d = definition(exit_on=["meeting_booked"])
    assert d.exits_on("opt_out")
    assert not d.exits_on("reply")
    assert not d.exits_on("bounce")


def test_custom_event_exits_are_accepted() -> None:
    d = definition(exit_on=["reply", "event:renewal_signed"])
    assert d.exits_on("event:renewal_signed")
    assert not d.exits_on("event:other")


@pytest.mark.parametrize("rule", ["whenever", "event:", "event:Bad Name", "Reply", "event"])
def test_unknown_exit_rules_are_rejected(rule: str) -> None:
    _, problem = only_problem(doc(email("a"), exit_on=["reply", rule]))
    assert problem.field == "exit_on"
    assert repr(rule) in problem.message


def test_on_reply_defaults_exit_and_pause_for_out_of_office() -> None:
    d = definition()
    assert {i: a.action for i, a in d.on_reply.items()} == {
        ReplyIntent.positive: "exit",
        ReplyIntent.negative: "exit",
        ReplyIntent.neutral: "exit",
        ReplyIntent.out_of_office: "pause",
    }


def test_on_reply_override_keeps_the_other_defaults() -> None:
    d = definition(on_reply={"positive": {"action": "switch", "switch_to": "handoff"}})
    assert d.on_reply[ReplyIntent.positive].switch_to == "handoff"
    assert d.on_reply[ReplyIntent.negative].action == "exit"
    assert d.on_reply[ReplyIntent.out_of_office].action == "pause"


@pytest.mark.parametrize(
    ("on_reply", "field", "fragment"),
    [
        ({"positive": {"action": "switch"}}, "on_reply.positive", "'switch' needs 'switch_to'"),
        ({"positive": {"action": "exit", "switch_to": "x"}}, "on_reply.positive", "only 'switch' takes one"),
        ({"positive": {"action": "celebrate"}}, "on_reply.positive.action", "Input should be"),
        ({"angry": {"action": "exit"}}, "on_reply.angry.[key]", "'positive'"),
    ],
)
def test_on_reply_problems(on_reply: dict[str, Any], field: str, fragment: str) -> None:
    _, problem = only_problem(doc(email("a"), on_reply=on_reply))
    assert problem.field == field
    assert fragment in problem.message


def test_switching_to_the_same_cadence_is_rejected() -> None:
    _, problem = only_problem(doc(email("a"), key="demo", on_reply={"positive": {"action": "switch", "switch_to": "demo"}}))
    assert "on_reply.positive switches to this same cadence" in problem.message


# --- policy -------------------------------------------------------------------------------


def test_policy_defaults_and_overrides() -> None:
    d = definition(policy={"timezone": "Asia/Kathmandu", "send_window": {"start": "08:30", "end": "16:00", "days": ["sun", "mon"]}})
    assert d.policy.timezone == "Asia/Kathmandu"
    assert d.policy.send_window is not None
    assert d.policy.send_window.days == ["sun", "mon"]
    window = definition(policy={"send_window": {}}).policy.send_window
    assert window is not None
    assert (window.start, window.end, window.days) == ("09:00", "17:00", ["mon", "tue", "wed", "thu", "fri"])


@pytest.mark.parametrize(
    ("policy", "field", "fragment"),
    [
        ({"timezone": "Mars/Olympus_Mons"}, "policy.timezone", "unknown time zone 'Mars/Olympus_Mons'"),
        ({"timezone": "../../etc/passwd"}, "policy.timezone", "unknown time zone"),
        ({"timezone": ""}, "policy.timezone", "unknown time zone"),
        ({"send_window": {"start": "17:00", "end": "09:00"}}, "policy.send_window", "window end 09:00 must be after its start 17:00"),
        ({"send_window": {"start": "09:00", "end": "09:00"}}, "policy.send_window", "must be after its start"),
        ({"send_window": {"start": "9", "end": "17:00"}}, "policy.send_window", "HH:MM"),
        ({"send_window": {"days": []}}, "policy.send_window.days", "at least 1"),
        ({"send_window": {"days": ["funday"]}}, "policy.send_window.days.0", "Input should be"),
        ({"caps": {"max_touches": 0}}, "policy.caps.max_touches", "greater than or equal to 1"),
        ({"caps": {"per_days": 0}}, "policy.caps.per_days", "greater than or equal to 1"),
        ({"caps": {"min_gap_hours": -1}}, "policy.caps.min_gap_hours", "greater than or equal to 0"),
        ({"no_contact_days": -1}, "policy.no_contact_days", "greater than or equal to 0"),
    ],
)
def test_policy_problems(policy: dict[str, Any], field: str, fragment: str) -> None:
    err, problem = only_problem(doc(email("a"), policy=policy))
    assert problem.step is None
    assert problem.field == field
    assert fragment in problem.message
    assert str(err).startswith(f"{SOURCE}: field '{field}'")


def test_check_timezone_suggests_an_iana_name() -> None:
    assert check_timezone("America/Chicago") == "America/Chicago"
    with pytest.raises(ValueError, match="IANA"):
        check_timezone("CST6CDT-ish")


# --- YAML decoding ----------------------------------------------------------------------------


def test_malformed_yaml_names_source_line_and_column() -> None:
    text = "key: demo\nname: Demo\nsteps:\n  - id: a\n    type: [email\n"
    with pytest.raises(DefinitionError) as info:
        parse_yaml(text, SOURCE)
    message = str(info.value)
    assert message.startswith(f"{SOURCE}: field '(yaml)': malformed YAML at line ")
    match = re.search(r"line (\d+), column (\d+)", message)
    assert match is not None
    assert int(match.group(1)) in (5, 6)


def test_yaml_indentation_error_points_at_the_offending_line() -> None:
    with pytest.raises(DefinitionError, match=r"line 2, column 7"):
        parse_yaml("key: k\n  name: x\n", SOURCE)


# --- JSON Schema --------------------------------------------------------------------------------


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_json_schema_is_draft_2020_12_and_serialisable() -> None:
    schema = definition_json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "Cadence definition"
    assert set(schema["required"]) == {"key", "name", "steps"}
    assert schema["additionalProperties"] is False  # editors flag typos too
    json.loads(json.dumps(schema))
    for ref in _refs(schema):
        assert ref.startswith("#/$defs/")
        assert ref.removeprefix("#/$defs/") in schema["$defs"], ref


def test_json_schema_step_types_match_what_the_parser_accepts() -> None:
    schema = definition_json_schema()
    mapping = schema["properties"]["steps"]["items"]["discriminator"]["mapping"]
    assert set(mapping) == {"email", "sms", "call", "linkedin", "task", "crm_update", "wait_event"}
    minimal = {
        "email": {"template": "t"},
        "sms": {"template": "t"},
        "call": {"task": {"title": "x"}},
        "linkedin": {"task": {"title": "x"}},
        "task": {"task": {"title": "x"}},
        "crm_update": {"set_fields": {"a": 1}},
        "wait_event": {"event": "signed"},
    }
    for tag in mapping:
        d = parse_definition(doc({"id": "s", "type": tag, **minimal[tag]}))
        assert d.steps[0].type == tag


def test_json_schema_enumerates_reply_intents_and_key_pattern() -> None:
    schema = definition_json_schema()
    assert set(schema["$defs"]["ReplyIntent"]["enum"]) == {i.value for i in ReplyIntent}
    pattern = schema["properties"]["key"]["pattern"]
    for key, ok in [("renewal-90-60-30", True), ("Renewal", False), ("-x", False), ("a" * 64, False)]:
        assert (re.search(pattern, key) is not None) is ok
        if ok:
            assert definition(key=key).key == key
        else:
            assert problems_of(doc(email("a"), key=key)).problems[0].field == "key"


# --- content hashes -----------------------------------------------------------------------------


def email_template(name: str, text: str = "Hello {{ contact.first_name }}") -> TemplateSource:
    return TemplateSource(name=name, channel="email", subject="Hi", html=f"<p>{text}</p>", text=text)


def bundle(raw: dict[str, Any], **templates: TemplateSource) -> CadenceBundle:
    return CadenceBundle(definition=parse_definition(raw), templates=templates)


def test_content_hash_is_canonical_sha256() -> None:
    # Pinned: every stored version id depends on this canonical form staying byte-for-byte the same.
    assert content_hash({"b": [1, 2], "a": "x"}) == hashlib.sha256(b'{"a":"x","b":[1,2]}').hexdigest()
    assert content_hash({"d": dt.date(2026, 11, 26)}) == hashlib.sha256(b'{"d":"2026-11-26"}').hexdigest()


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=6))
def test_content_hash_ignores_key_order(data: dict[str, Any]) -> None:
    reordered = dict(reversed(list(data.items())))
    assert content_hash(data) == content_hash(reordered)


def test_version_hash_is_stable_across_key_order_and_explicit_defaults() -> None:
    raw = doc(email("intro", template="welcome", wait={"days": 1, "at": "09:00"}))
    explicit = {
        "policy": {},
        "exit_on": ["reply", "meeting_booked", "bounce", "opt_out"],
        "on_reply": {"out_of_office": {"action": "pause"}},
        "audience": "prospect",
        **{k: raw[k] for k in reversed(list(raw))},
    }
    explicit["steps"] = [{**raw["steps"][0], "topic": "sales", "repeat": None, "name": None}]
    a = bundle(raw, welcome=email_template("welcome"))
    b = bundle(explicit, welcome=email_template("welcome"))
    assert a.version_hash == b.version_hash
    assert re.fullmatch(r"[0-9a-f]{64}", a.version_hash)


def test_opt_out_added_implicitly_hashes_like_writing_it() -> None:
    a = bundle(doc(email("a"), exit_on=["reply"]))
    b = bundle(doc(email("a"), exit_on=["reply", "opt_out"]))
    assert a.version_hash == b.version_hash


@pytest.mark.parametrize(
    "change",
    [
        lambda raw: raw["steps"][0]["wait"].update(days=2),
        lambda raw: raw.update(name="Other name"),
        lambda raw: raw["steps"].append(email("second")),
        lambda raw: raw.update(exit_on=["reply", "opt_out"]),
    ],
)
def test_any_definition_change_gives_a_new_version(change: Any) -> None:
    raw = doc(email("intro", template="welcome", wait={"days": 1}))
    before = bundle(raw, welcome=email_template("welcome")).version_hash
    change(raw)
    assert bundle(raw, welcome=email_template("welcome")).version_hash != before


def test_template_edit_changes_template_and_cadence_versions() -> None:
    raw = doc(email("intro", template="welcome"))
    old, new = email_template("welcome"), email_template("welcome", "Hello {{ contact.first_name }}!")
    assert old.version != new.version
    assert re.fullmatch(r"[0-9a-f]{12}", old.version)
    assert old.version == email_template("welcome").version
    assert bundle(raw, welcome=old).version_hash != bundle(raw, welcome=new).version_hash


# --- templates in definitions and bundles ---------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"channel": "email", "subject": "Hi", "html": "<p>x</p>"}, "subject, html and text"),
        ({"channel": "email", "subject": "", "html": "<p>x</p>", "text": "x"}, "subject, html and text"),
        ({"channel": "sms"}, "needs a body"),
    ],
)
def test_template_sources_need_their_parts(kwargs: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        TemplateSource(name="t", **kwargs)


def test_check_bundle_reports_missing_and_mismatched_templates_per_step() -> None:
    raw = doc(
        email("intro", template="welcome"),
        {"id": "text", "type": "sms", "template": "welcome"},
        {"id": "ab", "type": "email", "variants": [{"id": "a", "template": "welcome"}, {"id": "b", "template": "gone"}]},
    )
    with pytest.raises(DefinitionError) as info:
        check_bundle(bundle(raw, welcome=email_template("welcome")), SOURCE)
    described = [p.describe() for p in info.value.problems]
    assert described == [
        "step 2 'text': field 'template': template 'welcome' is for email, but the step sends sms",
        "step 3 'ab': field 'variants': template 'gone' not found",
    ]
    assert str(info.value).startswith(SOURCE + ": ")
