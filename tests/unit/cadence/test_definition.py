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

from cadence.contact_rules import check_timezone, parse_clock
from cadence.definition import BUILTIN_EXITS, CadenceBundle, ReplyAction, ReplyIntent, TemplateSource, content_hash
from cadence.parse import DefinitionError, check_bundle, definition_json_schema, parse_definition, parse_yaml
from cadence.steps import Wait
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
        ({"id": "a", "type": "email", "template": "t", "wait": {"seconds": 5, "at": "09:00"}}, "wait", "cannot be combined with seconds"),
        ({"id": "a", "type": "email", "template": "t", "wait": {"seconds": 5, "business_days": 1}}, "wait", "one kind"),
        ({"id": "a", "type": "email", "template": "t", "wait": {"seconds": 86_401}}, "wait.seconds", "less than or equal to 86400"),
        ({"id": "a", "type": "email", "template": "t", "wait": {"seconds": -1}}, "wait.seconds", "greater than or equal to 0"),
        ({"id": "a", "type": "email", "template": "t", "wait": {"rrule": "FREQ=SOMETIMES"}}, "wait.rrule", "not a valid RRULE"),
        (
            {"id": "a", "type": "email", "template": "t", "wait": {"rrule": "DTSTART:20260101T090000\nRRULE:FREQ=DAILY"}},
            "wait.rrule",
            "DTSTART",
        ),
        ({"id": "a", "type": "email", "template": "t", "wait": {"anchor": "Renewal Date"}}, "wait.anchor", "pattern"),
        ({"id": "a", "type": "email", "template": "t", "repeat": {"count": 0}}, "repeat.count", "greater than"),
        (
            {"id": "a", "type": "call", "task": {"title": "x", "wait_for_completion": False, "sla_hours": 4}},
            "task",
            "only when the enrollment waits",
        ),
        (
            {"id": "a", "type": "task", "task": {"title": "x", "wait_for_completion": False, "on_overdue": "continue"}},
            "task",
            "only when the enrollment waits",
        ),
        ({"id": "a", "type": "call", "task": {"title": "x", "on_overdue": "later"}}, "task.on_overdue", "Input should be"),
    ],
)
def test_step_problems_name_the_field(step: dict[str, Any], field: str, fragment: str) -> None:
    err, problem = only_problem(doc(email("first"), step))
    assert problem.step == 1
    assert problem.field == field, str(err)
    assert fragment in problem.message
    assert f"step 2 {problem.step_id!r}: field '{field}'" in str(err)


def test_task_sla_and_overdue_apply_to_tasks_the_enrollment_waits_for() -> None:
    d = definition(
        {"id": "a", "type": "call", "task": {"title": "Call", "sla_hours": 4, "on_overdue": "continue"}},
        {"id": "b", "type": "task", "task": {"title": "Note", "wait_for_completion": False}},
    )
    first, second = d.steps[0].task, d.steps[1].task
    assert (first.wait_for_completion, first.sla_hours, first.on_overdue) == (True, 4, "continue")
    assert (second.wait_for_completion, second.sla_hours, second.on_overdue) == (False, None, "wait")


def test_wait_kinds() -> None:
    assert Wait().kind == "none"
    assert Wait(at="09:00").kind == "relative"
    assert Wait(days=2).kind == "relative"
    assert Wait(seconds=5).kind == "relative"
    assert Wait(seconds=0).kind == "relative"
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


def test_unquoted_yaml_time_of_day_asks_for_quotes() -> None:
    raw = parse_yaml("key: demo\nname: Demo\nsteps:\n  - {id: a, type: email, template: t, wait: {days: 1, at: 10:30}}\n")
    assert raw["steps"][0]["wait"]["at"] == 630  # YAML 1.1 reads 10:30 as a base-60 number
    err, problem = only_problem(raw)
    assert (problem.step, problem.field) == (0, "wait.at")
    assert problem.message == 'write the time of day in quotes, e.g. "10:30" (unquoted, YAML reads it as the number 630)'
    assert str(err).startswith(f"{SOURCE}: step 1 'a': field 'wait.at': write the time of day in quotes")


@pytest.mark.parametrize(
    ("window", "field", "number"), [("{start: 10:00, end: '17:00'}", "start", 600), ("{start: '09:00', end: 17:30}", "end", 1050)]
)
def test_unquoted_send_window_times_ask_for_quotes(window: str, field: str, number: int) -> None:
    raw = parse_yaml(f"key: demo\nname: Demo\nsteps: [{{id: a, type: email, template: t}}]\npolicy: {{send_window: {window}}}\n")
    _, problem = only_problem(raw)
    assert problem.field == f"policy.send_window.{field}"
    assert "write the time of day in quotes" in problem.message
    assert f"the number {number}" in problem.message


def test_unquoted_times_that_yaml_keeps_as_text_still_work() -> None:
    # A leading zero is not a base-60 number in YAML 1.1, so 09:00 stays a string.
    raw = parse_yaml("key: demo\nname: Demo\nsteps:\n  - {id: a, type: email, template: t, wait: {days: 1, at: 09:00}}\n")
    assert parse_definition(raw).steps[0].wait.at == "09:00"


@pytest.mark.parametrize("value", [True, 9.5, ["09:00"]])
def test_other_non_text_times_are_type_errors(value: Any) -> None:
    _, problem = only_problem(doc(email("a", wait={"at": value})))
    assert problem.field == "wait.at"
    assert "quotes" not in problem.message


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


@pytest.mark.parametrize("audience", ["prospect", "customer", "internal"])
def test_audiences(audience: str) -> None:
    assert definition(audience=audience).audience == audience
    assert definition().audience == "prospect"


def test_unknown_audience_is_rejected() -> None:
    _, problem = only_problem(doc(email("a"), audience="partner"))
    assert problem.field == "audience"
    assert "'internal'" in problem.message


def test_loop_times_is_documented_as_total_rounds() -> None:
    # The schedule counts the first pass as a round (see test_loop_times_counts_rounds_including_the_first).
    times = definition_json_schema()["$defs"]["Loop"]["properties"]["times"]
    assert "first included" in times["description"]


# --- A/B variants ---------------------------------------------------------------------------


def variant_step(variants: Any, **extra: Any) -> dict[str, Any]:
    return {"id": "ab", "type": "email", "variants": variants, **extra}


def test_variants_parse_with_default_weight_one() -> None:
    d = definition(variant_step([{"id": "a", "template": "t-a"}, {"id": "b", "template": "t-b", "weight": 3}]))
    step = d.steps[0]
    assert [(v.id, v.weight) for v in step.variants] == [("a", 1), ("b", 3)]
    assert step.template_names() == ["t-a", "t-b"]


@pytest.mark.parametrize(
    ("step", "field", "fragment"),
    [
        (variant_step([{"id": "a", "template": "t-a"}]), "variants", "at least 2"),
        (variant_step([{"id": "a", "template": "t-a"}, {"id": "a", "template": "t-b"}]), "(step)", "unique"),
        (variant_step([{"id": "a", "template": "t-a", "weight": 0}, {"id": "b", "template": "t-b"}]), "variants.0.weight", "greater than"),
        (variant_step([{"id": "a", "template": "t-a"}, {"id": "b"}]), "variants.1.template", "Field required"),
        (
            variant_step([{"id": "a", "template": "t-a"}, {"id": "b", "template": "t-b"}], template="t"),
            "(step)",
            "either 'template' or 'variants'",
        ),
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


def test_on_reply_holds_only_explicit_branches() -> None:
    assert definition().on_reply == {}
    assert definition().model_dump(mode="json")["on_reply"] == {}  # so no filled-in defaults in the version hash
    d = definition(on_reply={"positive": {"action": "switch", "switch_to": "handoff"}})
    assert set(d.on_reply) == {ReplyIntent.positive}


def test_reply_action_defaults_exit_and_pause_for_out_of_office() -> None:
    d = definition()
    assert {i: d.reply_action(i) for i in ReplyIntent} == {
        ReplyIntent.positive: ReplyAction(action="exit"),
        ReplyIntent.negative: ReplyAction(action="exit"),
        ReplyIntent.neutral: ReplyAction(action="exit"),
        ReplyIntent.out_of_office: ReplyAction(action="pause"),
    }


def test_reply_action_defaults_continue_when_replies_are_not_exits() -> None:
    d = definition(exit_on=["meeting_booked"])
    assert {i: d.reply_action(i).action for i in ReplyIntent} == {
        ReplyIntent.positive: "continue",
        ReplyIntent.negative: "continue",
        ReplyIntent.neutral: "continue",
        ReplyIntent.out_of_office: "pause",
    }


@pytest.mark.parametrize("exit_on", [["reply"], ["meeting_booked"]])
def test_reply_action_prefers_the_explicit_branch_and_keeps_the_other_defaults(exit_on: list[str]) -> None:
    d = definition(
        exit_on=exit_on,
        on_reply={
            "positive": {"action": "switch", "switch_to": "handoff"},
            "negative": {"action": "exit"},
            "neutral": {"action": "pause", "pause_days": 3},
            "out_of_office": {"action": "continue"},
        },
    )
    assert d.reply_action(ReplyIntent.positive) == ReplyAction(action="switch", switch_to="handoff")
    assert d.reply_action(ReplyIntent.negative) == ReplyAction(action="exit")
    assert d.reply_action(ReplyIntent.neutral) == ReplyAction(action="pause", pause_days=3)
    assert d.reply_action(ReplyIntent.out_of_office) == ReplyAction(action="continue")
    partial = definition(exit_on=exit_on, on_reply={"positive": {"action": "switch", "switch_to": "handoff"}})
    assert partial.reply_action(ReplyIntent.negative).action == ("exit" if "reply" in exit_on else "continue")
    assert partial.reply_action(ReplyIntent.out_of_office).action == "pause"


@pytest.mark.parametrize(
    ("on_reply", "field", "fragment"),
    [
        ({"positive": {"action": "switch"}}, "on_reply.positive", "'switch' needs 'switch_to'"),
        ({"positive": {"action": "exit", "switch_to": "x"}}, "on_reply.positive", "only 'switch' takes one"),
        ({"positive": {"action": "celebrate"}}, "on_reply.positive.action", "Input should be"),
        ({"angry": {"action": "exit"}}, "on_reply.angry.[key]", "'positive'"),
        ({"neutral": {"action": "exit", "pause_days": 3}}, "on_reply.neutral", "'pause_days' only applies to the 'pause' action"),
        ({"neutral": {"action": "continue", "pause_days": 3}}, "on_reply.neutral", "'pause_days' only applies"),
        ({"positive": {"action": "switch", "switch_to": "x", "pause_days": 3}}, "on_reply.positive", "'pause_days' only applies"),
        ({"neutral": {"action": "pause", "pause_days": 0}}, "on_reply.neutral.pause_days", "greater than or equal to 1"),
        ({"neutral": {"action": "pause", "pause_days": 366}}, "on_reply.neutral.pause_days", "less than or equal to 365"),
    ],
)
def test_on_reply_problems(on_reply: dict[str, Any], field: str, fragment: str) -> None:
    _, problem = only_problem(doc(email("a"), on_reply=on_reply))
    assert problem.field == field
    assert fragment in problem.message


def test_pause_days_is_accepted_on_a_pause() -> None:
    d = definition(on_reply={"neutral": {"action": "pause", "pause_days": 365}, "negative": {"action": "pause"}})
    assert d.on_reply[ReplyIntent.neutral].pause_days == 365
    assert d.on_reply[ReplyIntent.negative].pause_days is None  # until someone resumes it


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
    minimal: dict[str, dict[str, Any]] = {
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
        "on_reply": {},
        "audience": "prospect",
        **{k: raw[k] for k in reversed(list(raw))},
    }
    explicit["steps"] = [{**raw["steps"][0], "topic": "sales", "repeat": None, "name": None}]
    a = bundle(raw, welcome=email_template("welcome"))
    b = bundle(explicit, welcome=email_template("welcome"))
    assert a.version_hash == b.version_hash
    assert re.fullmatch(r"[0-9a-f]{64}", a.version_hash)


def test_an_explicit_branch_is_part_of_the_version_even_when_it_matches_the_default() -> None:
    # on_reply stores what the author wrote; the defaults are applied when a reply arrives.
    plain = bundle(doc(email("a")))
    explicit = bundle(doc(email("a"), on_reply={"out_of_office": {"action": "pause"}}))
    assert plain.definition.reply_action(ReplyIntent.out_of_office) == explicit.definition.reply_action(ReplyIntent.out_of_office)
    assert plain.version_hash != explicit.version_hash


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
        lambda raw: raw.update(on_reply={"neutral": {"action": "continue"}}),
        lambda raw: raw.update(audience="internal"),
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
