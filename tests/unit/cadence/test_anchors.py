"""Anchored steps in the machine: a deferral of the enrollment's own cadence moves the
anchored step after it instead of dropping it (issue 11, 8n), and changed dates move a
running enrollment's pending anchored step (8k)."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from cadence.contact_policy import resolve
from cadence.gate import Recent, decide
from cadence.machine import EnrollmentMachine
from cadence.machine_core import DEFERRAL_MOVES_ANCHORS
from cadence.rules import Status
from cadence.schedule import ContactCalendar
from cadence.steps import TaskStep
from starter.catalog import PLAYBOOKS_DIR, load_file, load_policy
from tests.unit.cadence.anchor_walk import REACHABLE
from tests.unit.cadence.support import definition, email

UTC = dt.UTC
CHICAGO = "America/Chicago"
RENEWAL = load_file(PLAYBOOKS_DIR / "renewal-90-60-30.yaml").definition
ENROLLED = dt.datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # a Monday, 09:00 in Chicago
# Renewal on 6 January 2027: 60 days before is Saturday 7 November 2026.
WEEKEND_RENEWAL = dt.date(2027, 1, 6)


def chicago(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=zoneinfo.ZoneInfo(CHICAGO)).astimezone(UTC)


def renewal(renewal_date: dt.date = WEEKEND_RENEWAL, **kw: object) -> EnrollmentMachine:
    m = EnrollmentMachine(RENEWAL, ContactCalendar(CHICAGO, "US", None, {"renewal_date": renewal_date}), **kw)  # type: ignore[arg-type]
    m.start(ENROLLED, None)
    return m


def step_id(m: EnrollmentMachine) -> str | None:
    step = m.step()
    return step.id if step else None


def run_on_time(m: EnrollmentMachine) -> dt.datetime:
    """Run the current step at its due time, as an allowed touch or a created task."""
    now = m.state.due_at
    assert now is not None
    step = m.begin_step()
    if isinstance(step, TaskStep):
        m.task_created(step, f"task-{step.id}", None, now)
    else:
        m.touch_sent(now)
    return now


def gate_says(m: EnrollmentMachine, now: dt.datetime) -> None:
    """The real gate, with the renewal cadence's policy, on the touch due now."""
    step = m.begin_step()
    rules = resolve(load_policy(), cadence=RENEWAL.policy, persona=None, industry=None, tier="mid_market", country="US", region=None)
    decision = decide(
        REACHABLE,
        "email",
        "renewal",
        requested=now,
        policy=rules,
        recent=Recent(),
        timezone=CHICAGO,
        country="US",
        region=None,
        spread_key=step.id,
    )
    if decision.action == "defer":
        assert decision.until is not None
        m.touch_deferred(decision.until, decision.reason)
    else:
        assert decision.action == "allow", decision
        m.touch_sent(now)


def skipped(m: EnrollmentMachine) -> list[tuple[object, str | None]]:
    return [(r.details["step_id"], r.reason) for r in m.take_records() if r.action == "step_skipped"]


# --- 8n: a deferral moves an anchored step, it does not drop it ------------------------------


def test_a_weekend_deferral_of_the_invitation_moves_the_discussion_task_to_monday() -> None:
    m = renewal()
    run_on_time(m)  # -90: value summary, a Thursday
    assert step_id(m) == "renewal-conversation" and m.state.due_at == chicago(2026, 11, 7, 10, 0)  # Saturday
    gate_says(m, chicago(2026, 11, 7, 10, 0))
    assert m.state.due_at is not None and m.state.due_at.astimezone(zoneinfo.ZoneInfo(CHICAGO)).date() == dt.date(2026, 11, 9)
    monday = m.state.due_at
    gate_says(m, monday)  # the invitation goes out on Monday morning
    # The CSM task anchored to the same Saturday is not "already passed": it runs at once.
    assert step_id(m) == "renewal-discussion" and m.state.due_at == monday
    assert skipped(m) == []
    run_on_time(m)
    assert step_id(m) == "proposal-prep" and m.state.due_at == chicago(2026, 11, 30, 9, 0)
    assert m.state.due_before_deferral is None  # the deferral no longer shows


def test_enrollments_replaying_history_from_before_the_rule_keep_skipping() -> None:
    asked: list[str] = []

    def before_the_rule(rule: str) -> bool:
        asked.append(rule)
        return False

    m = renewal(applies=before_the_rule)
    run_on_time(m)
    assert asked == []  # nothing to decide yet: history without a deferral is not even asked
    gate_says(m, chicago(2026, 11, 7, 10, 0))
    assert m.state.due_at is not None
    gate_says(m, m.state.due_at)
    assert asked == [DEFERRAL_MOVES_ANCHORS]
    assert step_id(m) == "proposal-prep"
    assert skipped(m) == [("renewal-discussion", "renewal_date -60 days (2026-11-07) has already passed")]


def test_an_anchor_already_passed_at_enrollment_is_still_skipped() -> None:
    m = renewal(dt.date(2026, 4, 20))  # -90 and -60 were behind the contact the day it enrolled
    assert step_id(m) == "proposal-prep"
    assert [s for s, _ in skipped(m)] == ["value-summary", "renewal-conversation", "renewal-discussion"]


def test_lateness_that_is_no_deferral_still_drops_a_passed_anchor() -> None:
    m = renewal()
    run_on_time(m)
    # The invitation runs three days late without the gate deferring it (a worker outage):
    # the discussion's own date is behind the contact, and nothing of the cadence made it late.
    m.begin_step()
    m.touch_sent(chicago(2026, 11, 10, 9, 0))
    assert step_id(m) == "proposal-prep"
    assert [s for s, _ in skipped(m)] == ["renewal-discussion"]


def test_a_deferral_moves_an_anchored_step_across_a_relative_one() -> None:
    d = definition(
        email("invite", wait={"anchor": "webinar_date", "offset_days": -3, "at": "10:00"}),
        email("nudge", wait={"days": 1, "at": "10:00"}),
        email("day-before", wait={"anchor": "webinar_date", "offset_days": -1, "at": "10:00"}),
    )
    m = EnrollmentMachine(d, ContactCalendar(CHICAGO, "US", None, {"webinar_date": dt.date(2026, 11, 10)}))
    m.start(ENROLLED, None)
    assert m.state.due_at == chicago(2026, 11, 7, 10, 0)
    m.begin_step()
    m.touch_deferred(chicago(2026, 11, 9, 9, 0), "weekend")
    m.begin_step()
    m.touch_sent(chicago(2026, 11, 9, 9, 0))  # invite on Monday; the nudge a day later
    assert step_id(m) == "nudge" and m.state.due_at == chicago(2026, 11, 10, 10, 0)
    run_on_time(m)
    # Without the deferral the nudge would have gone on Sunday, before Monday's reminder.
    assert step_id(m) == "day-before" and m.state.due_at == chicago(2026, 11, 10, 10, 0)
    assert skipped(m) == []


def test_waiting_for_a_rep_is_not_a_deferral() -> None:
    d = definition(
        email("invite", wait={"anchor": "renewal_date", "offset_days": -3, "at": "10:00"}),
        {"id": "call", "type": "call", "task": {"title": "Call"}},
        email("reminder", wait={"anchor": "renewal_date", "offset_days": -2, "at": "10:00"}),
    )
    m = EnrollmentMachine(d, ContactCalendar(CHICAGO, "US", None, {"renewal_date": dt.date(2026, 11, 10)}))
    m.start(ENROLLED, None)
    m.begin_step()
    m.touch_deferred(chicago(2026, 11, 9, 9, 0), "weekend")
    m.begin_step()
    m.touch_sent(chicago(2026, 11, 9, 9, 0))
    step = m.begin_step()
    assert isinstance(step, TaskStep)
    m.task_created(step, "t-1", None, chicago(2026, 11, 9, 9, 0))
    m.task_completed("done", "t-1", "connected", False, chicago(2026, 11, 12, 9, 0))  # the rep took three days
    assert m.status == Status.completed and m.state.position is None
    assert [s for s, _ in skipped(m)] == ["reminder"]


# --- 8k: changed dates move a running enrollment -------------------------------------------


def moved(m: EnrollmentMachine, renewal_date: dt.date | None, now: dt.datetime, as_of: dt.datetime | None = None) -> bool:
    dates = {"renewal_date": renewal_date} if renewal_date else {}
    return m.dates_changed(dates, as_of or now, now)


def test_a_new_renewal_date_moves_the_step_the_enrollment_waits_for() -> None:
    m = renewal()
    run_on_time(m)
    m.take_records()
    now = chicago(2026, 10, 20, 12, 0)
    assert moved(m, dt.date(2027, 2, 5), now)  # 30 days later
    assert step_id(m) == "renewal-conversation" and m.state.due_at == chicago(2026, 12, 7, 10, 0)
    assert m.calendar.dates == {"renewal_date": dt.date(2027, 2, 5)}
    (record,) = m.take_records()
    assert record.action == "dates_changed" and record.details == {"renewal_date": "2027-02-05"}
    assert record.next_due_at == m.state.due_at and record.reason == "renewal_date is now 2027-02-05"
    assert m.take_visibility_change()


def test_a_renewal_date_moved_earlier_skips_the_steps_now_behind_the_contact() -> None:
    m = renewal()
    run_on_time(m)  # the value summary ran; the invitation waits for 7 November
    m.take_records()
    now = chicago(2026, 10, 20, 12, 0)
    moved(m, dt.date(2026, 12, 1), now)  # -60 is now 2 October, -37 is 25 October
    assert step_id(m) == "proposal-prep" and m.state.due_at == chicago(2026, 10, 25, 9, 0)
    assert [s for s, _ in skipped(m)] == ["renewal-conversation", "renewal-discussion"]
    assert m.state.counters.steps_run == 1  # the value summary is not run again


def test_a_date_that_does_not_anchor_the_waiting_step_changes_only_the_calendar() -> None:
    m = renewal()
    run_on_time(m)
    before = m.state.model_copy(deep=True)
    assert m.dates_changed({"renewal_date": WEEKEND_RENEWAL, "webinar_date": dt.date(2026, 12, 1)}, None, chicago(2026, 10, 20))
    assert (m.state.position, m.state.due_at, m.state.waiting_reason) == (before.position, before.due_at, before.waiting_reason)
    assert m.calendar.dates["webinar_date"] == dt.date(2026, 12, 1)


def test_the_same_dates_or_an_older_change_change_nothing() -> None:
    m = renewal()
    m.take_records()
    now = chicago(2026, 4, 1)
    second = now + dt.timedelta(seconds=1)
    assert not moved(m, WEEKEND_RENEWAL, now)
    assert moved(m, dt.date(2027, 2, 5), now, as_of=second)
    assert not moved(m, dt.date(2027, 3, 1), second, as_of=now)  # read before the last one applied
    assert m.calendar.dates == {"renewal_date": dt.date(2027, 2, 5)}
    assert [r.action for r in m.take_records()] == ["dates_changed"]


def test_a_removed_date_skips_the_steps_anchored_to_it() -> None:
    m = renewal()
    moved(m, None, chicago(2026, 4, 1))
    assert m.state.position is None
    assert {reason for _, reason in skipped(m)} == {"the contact has no renewal_date"}


def test_a_paused_enrollment_keeps_its_pause_and_the_new_remaining_wait() -> None:
    m = renewal()
    now = chicago(2026, 4, 1, 12, 0)
    m.pause("lead", "on hold", None, now)
    moved(m, dt.date(2027, 2, 5), now)  # -90 is now 7 November, 10:00
    assert m.status == Status.paused and m.state.waiting_reason == "paused by lead: on hold"
    assert m.state.pause is not None and m.state.pause.remaining_seconds == (chicago(2026, 11, 7, 10, 0) - now).total_seconds()


def test_a_step_waiting_for_its_rep_is_planned_from_the_new_dates_when_it_ends() -> None:
    d = definition(
        {"id": "call", "type": "call", "task": {"title": "Call"}},
        email("reminder", wait={"anchor": "renewal_date", "offset_days": -2, "at": "10:00"}),
    )
    m = EnrollmentMachine(d, ContactCalendar(CHICAGO, "US", None, {"renewal_date": dt.date(2026, 11, 10)}))
    m.start(ENROLLED, None)
    step = m.begin_step()
    assert isinstance(step, TaskStep)
    m.task_created(step, "t-1", None, ENROLLED)
    m.dates_changed({"renewal_date": dt.date(2026, 12, 10)}, None, ENROLLED)
    assert m.state.task is not None and m.state.due_at is None  # still waiting for the rep
    m.task_completed("done", "t-1", "connected", False, ENROLLED + dt.timedelta(hours=1))
    assert step_id(m) == "reminder" and m.state.due_at == chicago(2026, 12, 8, 10, 0)


def test_the_new_dates_survive_continue_as_new() -> None:
    m = renewal()
    moved(m, dt.date(2027, 2, 5), chicago(2026, 4, 1))
    carried = EnrollmentMachine(RENEWAL, ContactCalendar(CHICAGO, "US", None, {"renewal_date": WEEKEND_RENEWAL}), m.state)
    assert carried.calendar.dates == {"renewal_date": dt.date(2027, 2, 5)}


@pytest.mark.parametrize("status", [s for s in Status if s.terminal])
def test_an_ended_enrollment_ignores_new_dates(status: Status) -> None:
    m = renewal()
    m.state.status = status
    assert not moved(m, dt.date(2027, 2, 5), chicago(2026, 4, 1))
    assert m.calendar.dates == {"renewal_date": WEEKEND_RENEWAL}
