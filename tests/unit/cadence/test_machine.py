"""The enrollment state machine on its own: every operator command in every state (legal or
refused with the workflow's words), what each event and step outcome does, the audit
records each transition writes, and the status mirror it defines."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from cadence.definition import ReplyIntent
from cadence.machine import EnrollmentMachine, IllegalTransition
from cadence.machine_core import ENDS_WITH_ITS_LAST_STEP
from cadence.rules import Status
from cadence.schedule import ContactCalendar
from cadence.state import MIRROR_TOLERANCE, Mirror, PauseInfo
from cadence.steps import TaskStep, WaitEventStep
from tests.unit.cadence.support import definition, email

UTC = dt.UTC
NOW = dt.datetime(2026, 11, 16, 15, 0, tzinfo=UTC)  # a Monday
LATER = NOW + dt.timedelta(hours=1)
CAL = ContactCalendar(timezone="UTC", country="US")

CADENCE = definition(
    email("hello"),
    {"id": "call", "type": "call", "task": {"title": "Call them", "sla_hours": 24}, "wait": {"days": 1}},
    {"id": "webinar", "type": "wait_event", "event": "webinar_attended", "timeout_days": 7},
    email("bye", wait={"days": 2}),
    exit_on=["reply", "meeting_booked", "bounce", "event:renewal_signed"],
    on_reply={"positive": {"action": "switch", "switch_to": "follow-up"}, "neutral": {"action": "pause", "pause_days": 2}},
)
TERMINAL = [s for s in Status if s.terminal]


def started(**changes: Any) -> EnrollmentMachine:
    """A fresh enrollment waiting for its first step, then moved as `changes` say."""
    m = EnrollmentMachine(CADENCE, CAL)
    m.start(NOW, None)
    m.take_records()
    for key, value in changes.items():
        setattr(m.state, key, value)
    return m


def paused(until: dt.datetime | None = None) -> EnrollmentMachine:
    m = started()
    m.state.due_at = NOW + dt.timedelta(hours=3)
    m.pause("lead", "customer asked", until, NOW)
    m.take_records()
    return m


def with_task() -> EnrollmentMachine:
    m = started()
    m.advance(NOW)  # to the call step
    m.task_created(_step("call"), "task-1", None, NOW)
    m.take_records()
    return m


def awaiting_event() -> EnrollmentMachine:
    m = started()
    m.advance(NOW)
    m.advance(NOW)  # to the wait_event step
    step = m.step()
    assert isinstance(step, WaitEventStep)
    m.wait_for_event(step, NOW)
    m.take_records()
    return m


def ended(status: Status) -> EnrollmentMachine:
    return started(status=status, outcome_reason="over", ended_at=NOW, due_at=None)


def no_step_left() -> EnrollmentMachine:
    return started(position=None, due_at=None)


def _step(step_id: str) -> Any:
    return CADENCE.steps[CADENCE.step_index(step_id)]


STATES: dict[str, Callable[[], EnrollmentMachine]] = {
    "active": started,
    "paused": paused,
    "paused until": lambda: paused(NOW + dt.timedelta(days=3)),
    "waiting for a task": with_task,
    "waiting for an event": awaiting_event,
    "no step left": no_step_left,
    **{f"ended {s.value}": (lambda s=s: ended(s)) for s in TERMINAL},  # type: ignore[misc]
}
CHECKS: dict[str, Callable[[EnrollmentMachine], None]] = {
    "pause": lambda m: m.check_pause(None, NOW),
    "pause until a later time": lambda m: m.check_pause(NOW + dt.timedelta(days=1), NOW),
    "pause until the past": lambda m: m.check_pause(NOW - dt.timedelta(seconds=1), NOW),
    "pause until now": lambda m: m.check_pause(NOW, NOW),
    "pause until a naive time": lambda m: m.check_pause(dt.datetime(2030, 1, 1), NOW),
    "resume": lambda m: m.check_resume(),
    "stop": lambda m: m.check_stop(),
    "skip": lambda m: m.check_skip(),
}


def expected_refusal(state: str, check: str) -> str | None:
    """The workflow's own sentence for every refused command, None where it is legal."""
    if state.startswith("ended "):
        status = state.removeprefix("ended ")
        verb = {"skip": "skip a step"} | {name: "pause" for name in CHECKS if name.startswith("pause")}
        return f"cannot {verb.get(check, check)}: the enrollment has already ended ({status})"
    if check.startswith("pause"):
        if state.startswith("paused"):
            return "already paused by lead: customer asked"
        past = "'until' is in the past"
        return {"pause until the past": past, "pause until now": past, "pause until a naive time": "'until' must carry a time zone"}.get(
            check
        )
    if check == "resume" and not state.startswith("paused"):
        return "cannot resume: the enrollment is not paused (it is active)"
    if check == "skip" and state == "no step left":
        return "cannot skip: there is no step left to skip"
    return None


@pytest.mark.parametrize("check", sorted(CHECKS))
@pytest.mark.parametrize("state", sorted(STATES))
def test_every_command_in_every_state_is_allowed_or_refused_with_its_reason(state: str, check: str) -> None:
    machine = STATES[state]()
    before = machine.state.model_copy(deep=True)
    refusal = expected_refusal(state, check)
    if refusal is None:
        CHECKS[check](machine)
    else:
        with pytest.raises(IllegalTransition) as refused:
            CHECKS[check](machine)
        assert refused.value.message == refusal
    assert machine.state == before and machine.records == []  # a check never changes anything


def test_pause_keeps_the_remaining_wait_and_resume_honours_it() -> None:
    m = started()
    m.state.due_at = NOW + dt.timedelta(hours=3)
    m.pause("lead", "holiday", None, NOW)
    assert m.status == Status.paused and m.state.pause is not None and m.state.pause.remaining_seconds == 3 * 3600
    assert m.state.waiting_reason == "paused by lead: holiday"
    m.resume("lead", None, NOW + dt.timedelta(days=2))
    assert m.status == Status.active and m.state.pause is None
    assert m.state.due_at == NOW + dt.timedelta(days=2, hours=3)
    assert [(r.action, r.actor, r.reason, r.status) for r in m.take_records()] == [
        ("paused", "lead", "holiday", Status.paused),
        ("resumed", "lead", "resumed", Status.active),
    ]
    assert m.take_visibility_change()


def test_a_pause_until_an_instant_ends_by_itself() -> None:
    m = paused(NOW + dt.timedelta(days=1))
    m.pause_ended(NOW + dt.timedelta(days=1))
    assert m.status == Status.active
    assert [(r.action, r.actor, r.reason) for r in m.take_records()] == [("resumed", "system", "the pause ended")]


def test_a_resume_for_one_cause_leaves_a_pause_for_another_alone() -> None:
    held = paused()  # a CS lead's pause ("customer asked")
    with pytest.raises(IllegalTransition) as refused:
        held.check_resume("account")
    assert refused.value.code == "paused_otherwise" and "customer asked" in refused.value.message
    held.check_resume()  # a plain resume may lift it
    account = started()
    account.pause("lead", "account paused: renewal", None, NOW, cause="account")
    account.check_resume("account")
    with pytest.raises(IllegalTransition) as active:
        started().check_resume("account")
    assert active.value.code == "not_paused"


def test_an_account_pause_recorded_before_causes_existed_counts_as_one() -> None:
    older = PauseInfo.model_validate({"actor": "lead", "reason": "account paused: renewal", "at": NOW.isoformat()})
    manual = PauseInfo.model_validate({"actor": "lead", "reason": "legal hold", "at": NOW.isoformat()})
    assert (older.cause, manual.cause) == ("account", "manual")


def test_the_unclear_touch_moves_on_and_is_counted() -> None:
    m = started()
    m.touch_unclear(NOW)
    assert m.state.counters.unclear == 1 and m.state.position is not None and m.state.position.step == 1


def test_stop_ends_it_with_the_operator_and_reason() -> None:
    m = started()
    m.stop("lead", "wrong contact", LATER)
    assert (m.status, m.state.outcome_reason, m.state.ended_at, m.state.due_at) == (Status.stopped, "wrong contact", LATER, None)
    [record] = m.take_records()
    assert (record.action, record.actor, record.details["outcome"], record.ended) == ("ended", "lead", "stopped", True)
    assert m.mirror() == Mirror(
        status=Status.stopped,
        current_step=0,
        next_step_at=None,
        waiting_reason="ended: wrong contact",
        outcome_reason="wrong contact",
        ended_at=LATER,
        occurrence=0,
        round=0,
        planned_from=NOW,
        waiting_on="time",
    )


def test_skip_closes_a_pending_task_and_moves_on() -> None:
    m = with_task()
    m.skip("lead", None, LATER)
    assert m.state.task is None and m.step() == _step("webinar") and m.state.counters.skipped == 1
    assert [(r.action, r.reason) for r in m.take_records()] == [
        ("task_skipped", "the step was skipped"),
        ("step_skipped", "skipped by an operator"),
    ]


@pytest.mark.parametrize(
    ("kind", "intent", "status", "reason"),
    [
        ("opt_out", None, Status.opted_out, "the contact opted out"),
        ("reply", "negative", Status.replied, "the contact replied (negative)"),
        ("reply", "positive", Status.switched, "positive reply: switching to follow-up"),
        ("meeting_booked", None, Status.meeting_booked, "a meeting was booked"),
        ("bounce", None, Status.bounced, "the address bounced"),
    ],
)
def test_events_that_end_the_enrollment(kind: Any, intent: Any, status: Status, reason: str) -> None:
    m = started()
    assert m.event(kind, "e-1", NOW, intent=ReplyIntent(intent) if intent else None)
    assert (m.status, m.state.outcome_reason) == (status, reason)
    assert m.state.switch_to == ("follow-up" if status == Status.switched else None)
    [record] = m.take_records()
    assert (record.action, record.actor, record.details["event_id"], record.details["event"]) == ("ended", "contact", "e-1", kind)


def test_a_neutral_reply_pauses_for_two_business_days_and_a_second_one_is_only_recorded() -> None:
    m = started()
    assert m.event("reply", "r-1", NOW, intent=ReplyIntent.neutral)
    assert m.status == Status.paused and m.state.pause is not None and m.state.pause.actor == "system"
    assert m.state.pause.until is not None and m.state.pause.until.date() == dt.date(2026, 11, 18)
    assert m.event("reply", "r-2", NOW, intent=ReplyIntent.neutral)
    assert [r.action for r in m.take_records()] == ["paused", "event_recorded"]
    assert m.records == [] and m.status == Status.paused


def test_each_event_id_applies_once_and_nothing_applies_after_the_end() -> None:
    m = started()
    assert m.event("reply", "r-1", NOW, intent=ReplyIntent.neutral) is True
    assert m.event("reply", "r-1", NOW, intent=ReplyIntent.negative) is False  # the same id again
    assert m.state.counters.events == 1 and m.status == Status.paused
    m.stop("lead", "done", NOW)
    assert m.event("opt_out", "o-1", NOW) is False and m.status == Status.stopped
    assert m.named_event("n-1", "renewal_signed", NOW) is False


def test_named_events_exit_or_end_the_wait_for_them() -> None:
    m = awaiting_event()
    assert m.named_event("n-1", "webinar_attended", NOW)
    assert m.state.awaiting_event is None and m.step() == _step("bye")
    assert [(r.action, r.actor) for r in m.take_records()] == [("event_arrived", "contact")]
    other = started()
    assert other.named_event("n-2", "newsletter_opened", NOW) and other.status == Status.active
    assert [r.reason for r in other.take_records()] == ["event 'newsletter_opened' recorded"]
    signed = started()
    assert signed.named_event("n-3", "renewal_signed", NOW) and signed.status == Status.exited


def test_an_event_wait_times_out_and_the_cadence_moves_on() -> None:
    m = awaiting_event()
    assert m.state.due_at == NOW + dt.timedelta(days=7) and "until" in m.state.waiting_reason
    m.event_wait_timed_out(NOW + dt.timedelta(days=7))
    assert m.state.awaiting_event is None and m.step() == _step("bye")
    assert [r.reason for r in m.take_records()] == ["no webinar_attended event arrived in time"]


def test_task_completion_only_counts_for_the_task_it_waits_on() -> None:
    m = with_task()
    assert m.task_completed("t-x", "task-other", "done", False, NOW) is False
    assert m.state.task is not None
    assert m.task_completed("t-1", "task-1", "connected", False, NOW) is True
    assert m.state.task is None and m.step() == _step("webinar")
    assert [(r.action, r.actor, r.reason) for r in m.take_records()] == [("task_completed", "rep", "connected")]


@pytest.mark.parametrize(("on_overdue", "moves_on"), [("wait", False), ("continue", True)])
def test_an_overdue_task_is_escalated_and_waits_or_moves_on(on_overdue: str, moves_on: bool) -> None:
    m = with_task()
    task = m.state.task
    assert task is not None
    task.on_overdue = on_overdue  # type: ignore[assignment]
    m.task_overdue(task, "manager-1", NOW)
    assert task.overdue and (m.state.task is None) == moves_on
    [record] = m.take_records()
    assert record.reason == f"task passed its SLA, escalated to manager-1; {'moving on' if moves_on else 'still waiting'}"


def test_step_outcomes_count_and_move_on() -> None:
    m = started()
    m.begin_step()
    m.touch_deferred(NOW + dt.timedelta(hours=16), "deferred to 09:00: outside the send window")
    assert m.state.counters.deferred == 1 and m.state.due_at == NOW + dt.timedelta(hours=16) and m.step() == _step("hello")
    assert m.state.waiting_reason == "deferred to 09:00: outside the send window" and m.take_visibility_change()
    m.touch_sent(NOW)
    assert m.state.counters.sent == 1 and m.step() == _step("call") and m.state.due_at == NOW + dt.timedelta(days=1)
    m.task_refused(False, "no call consent", NOW)
    assert m.state.counters.skipped == 1 and m.step() == _step("webinar")
    assert m.state.counters.steps_run == 1 and m.take_records() == []


@pytest.mark.parametrize(
    ("code", "status"),
    [("suppressed", Status.opted_out), ("opted_out", Status.opted_out), ("erased", Status.opted_out), ("no_address", Status.stopped)],
)
def test_the_gate_stopping_a_touch_ends_the_enrollment(code: str, status: Status) -> None:
    m = started()
    m.touch_stopped(code, "the gate said no", NOW)
    assert (m.status, m.state.outcome_reason) == (status, "the gate said no")


def test_a_bounce_that_fails_a_send_is_applied_as_a_bounce() -> None:
    m = started()
    m.step_failed("hello", "Bounced", "550 no such user", bounced=True, now=NOW)
    assert m.status == Status.bounced and m.state.counters.failed == 0
    keeps_going = EnrollmentMachine(definition(email("a"), email("b"), exit_on=["reply"]), CAL)
    keeps_going.start(NOW, None)
    keeps_going.step_failed("a", "Bounced", "550 no such user", bounced=True, now=NOW)
    assert keeps_going.status == Status.active and keeps_going.state.counters.failed == 1
    assert [r.action for r in keeps_going.take_records()] == ["event_recorded", "step_failed"]


def test_a_switch_records_the_follow_up_enrollment() -> None:
    m = started()
    m.event("reply", "r-1", NOW, intent=ReplyIntent.positive)
    m.take_records()
    m.switched("follow-up", "enr-2", False, None, NOW)
    m.switched("follow-up", None, False, "cadence 'follow-up' not found", NOW)
    assert [(r.action, r.reason) for r in m.take_records()] == [
        ("switched", "enrolled in follow-up (already enrolled there)"),
        ("switch_skipped", "cadence 'follow-up' not found"),
    ]


def test_the_last_step_completes_the_cadence() -> None:
    m = EnrollmentMachine(definition(email("only"), email("two")), CAL)
    m.start(NOW, None)
    m.touch_sent(NOW)
    assert m.status == Status.active and m.take_visibility_change()
    m.begin_step()
    m.touch_sent(NOW)
    assert (m.status, m.state.outcome_reason, m.state.position) == (Status.completed, "every step has run", None)
    assert [r.action for r in m.take_records()] == ["ended"]


def test_history_recorded_before_the_rule_completes_on_the_next_turn() -> None:
    m = EnrollmentMachine(definition(email("only")), CAL, applies=lambda rule: rule != ENDS_WITH_ITS_LAST_STEP)
    m.start(NOW, None)
    m.touch_sent(NOW)
    assert m.state.position is None and m.state.waiting_reason == "no steps left" and m.status == Status.active
    m.no_steps_left(NOW)
    assert (m.status, m.state.outcome_reason) == (Status.completed, "every step has run")


def test_a_paused_enrollment_past_its_last_step_ends_only_once_resumed() -> None:
    m = EnrollmentMachine(definition(email("only")), CAL)
    m.start(NOW, None)
    m.pause("cs", "holiday", None, NOW)
    m.skip("cs", None, NOW)
    assert (m.status, m.state.position) == (Status.paused, None)


def test_a_start_time_in_the_future_delays_the_first_step() -> None:
    m = EnrollmentMachine(CADENCE, CAL)
    m.start(NOW, NOW + dt.timedelta(days=2))
    assert m.state.due_at == NOW + dt.timedelta(days=2) and m.state.rhythm_start == NOW + dt.timedelta(days=2)
    assert m.mirror() == Mirror(
        status=Status.active,
        current_step=0,
        next_step_at=NOW + dt.timedelta(days=2),
        waiting_reason="waiting for step 1 'hello' (email): right after the previous step",
        occurrence=0,
        round=0,
        planned_from=NOW + dt.timedelta(days=2),
        waiting_on="time",
    )


def test_the_mirror_hint_of_a_step_is_where_advancing_leads() -> None:
    m = started()
    while m.state.position is not None:
        hint = m.next_mirror(NOW)
        step = m.step()
        if isinstance(step, TaskStep):
            m.task_created(step, None, None, NOW)  # a task that does not wait
        else:
            m.advance(NOW)
        if m.status == Status.completed:  # past the last step: the hint's row, then the end
            assert (hint.next_step_index, hint.next_due_at, hint.waiting_reason) == (None, None, "no steps left")
            break
        assert hint.applied().agrees_with(m.mirror())
        assert (hint.next_step_index, hint.next_due_at, hint.waiting_reason) == (
            m.mirror().current_step,
            m.state.due_at,
            m.state.waiting_reason,
        )


def test_the_mirror_tolerates_a_little_drift_in_the_next_step_time_only() -> None:
    base = Mirror(status=Status.active, current_step=1, next_step_at=NOW, waiting_reason="waiting")
    assert base.agrees_with(base.model_copy(update={"next_step_at": NOW + MIRROR_TOLERANCE}))
    assert not base.agrees_with(base.model_copy(update={"next_step_at": NOW + MIRROR_TOLERANCE + dt.timedelta(seconds=1)}))
    assert not base.agrees_with(base.model_copy(update={"waiting_reason": "something else"}))
    assert not base.agrees_with(base.model_copy(update={"current_step": 2}))
    assert not base.agrees_with(base.model_copy(update={"next_step_at": None}))
    assert not base.agrees_with(None)


def test_a_start_adopts_the_first_step_time_the_starter_wrote_when_it_tells_the_same_story() -> None:
    planner = EnrollmentMachine(definition(email("only")), CAL)
    planner.start(NOW, None)
    written = planner.mirror()  # what the starter put on the row, a moment before the workflow starts
    m = EnrollmentMachine(definition(email("only")), CAL)
    m.start(NOW + dt.timedelta(milliseconds=40), None)
    assert m.adopt(written) and m.state.due_at == written.next_step_at and m.mirror() == written
    other = EnrollmentMachine(definition(email("only"), email("two")), CAL)
    other.start(NOW, None)
    other.touch_sent(NOW + dt.timedelta(hours=1))  # another step, due later: not what the row says
    due = other.state.due_at
    assert not other.adopt(written) and other.state.due_at == due != written.next_step_at
