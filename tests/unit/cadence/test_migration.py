"""The rules for moving a running enrollment to another version of its cadence
(`cadence.migration.land`), one test per rule, on plain definitions and a UTC contact."""

from __future__ import annotations

import datetime as dt

import pytest

from cadence.definition import CadenceDefinition
from cadence.machine import EnrollmentMachine
from cadence.migration import Landing, Standing, land
from cadence.rules import Status
from cadence.schedule import ContactCalendar, Position
from cadence.steps import TaskStep
from tests.unit.cadence.support import definition, email

UTC = dt.UTC
NOW = dt.datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
RAN = NOW - dt.timedelta(days=1)  # the previous step ran a day ago
CAL = ContactCalendar("UTC", "GB")


def days(n: int) -> dict[str, object]:
    return {"wait": {"days": n}}


OLD = definition(email("a"), email("b", **days(3)), email("c", **days(3)), email("d", **days(3)))


def move(new: CadenceDefinition, step: str = "b", *, due: dt.datetime | None = None, paused: bool = False) -> Landing:
    where = Standing(step_id=step, due_at=due or RAN + dt.timedelta(days=3), planned_from=RAN, paused=paused)
    return land(OLD, new, where, calendar=CAL, rhythm_start=RAN - dt.timedelta(days=1), now=NOW)


def test_the_same_step_with_the_same_wait_keeps_its_due_time() -> None:
    new = definition(email("a"), email("b", **days(3)), email("c", **days(5)), email("d", **days(3)))
    landing = move(new, due=NOW + dt.timedelta(hours=7))  # a deferral had moved it: kept as it is
    assert (landing.outcome, landing.step_id, landing.due_at) == ("unchanged", "b", NOW + dt.timedelta(hours=7))
    assert landing.behind == ["a"]


def test_a_lengthened_wait_is_recomputed_from_when_the_previous_step_ran() -> None:
    new = definition(email("a"), email("b", **days(5)), email("c", **days(3)), email("d", **days(3)))
    landing = move(new)
    assert (landing.outcome, landing.step_id, landing.due_at) == ("rescheduled", "b", RAN + dt.timedelta(days=5))
    assert "instead of" in landing.sentence


def test_a_shortened_wait_still_ahead_moves_the_step_earlier() -> None:
    new = definition(email("a"), email("b", wait={"hours": 36}), email("c", **days(3)), email("d", **days(3)))
    landing = move(new)
    assert (landing.outcome, landing.due_at) == ("rescheduled", RAN + dt.timedelta(hours=36))


def test_a_shortened_wait_already_past_is_due_now() -> None:
    new = definition(email("a"), email("b", wait={"hours": 2}), email("c", **days(3)), email("d", **days(3)))
    landing = move(new)
    assert (landing.outcome, landing.step_id, landing.due_at) == ("due_now", "b", NOW)
    assert "gate still decides" in landing.sentence


def test_a_removed_step_moves_the_enrollment_to_the_next_remaining_one() -> None:
    new = definition(email("a"), email("c", **days(3)), email("d", **days(3)))
    landing = move(new)
    assert (landing.outcome, landing.step_id, landing.position) == ("moved", "c", Position(1))
    assert landing.due_at == RAN + dt.timedelta(days=3)  # c's wait, from when a ran
    assert "'b' was removed" in landing.sentence


def test_a_removed_last_step_completes_the_enrollment() -> None:
    new = definition(email("a"), email("b", **days(3)), email("c", **days(3)))
    landing = move(new, "d")
    assert (landing.outcome, landing.position, landing.due_at) == ("completed", None, None)


def test_a_new_version_that_loops_loops_instead_of_completing() -> None:
    new = definition(email("a"), email("b", **days(3)), email("c", **days(3)), loop={"from_step": "b"})
    landing = move(new, "d")
    assert (landing.outcome, landing.step_id, landing.position) == ("moved", "b", Position(1, 0, 1))


def test_past_steps_never_run_again_wherever_the_new_version_puts_them() -> None:
    # a and b already ran; the new version puts a after c: c is next, then d, never a again.
    new = definition(email("c", **days(3)), email("a", **days(1)), email("d", **days(3)))
    landing = move(new, "c", due=RAN + dt.timedelta(days=3))
    assert landing.step_id == "c" and set(landing.behind) == {"a", "b"}
    # The machine, once on the new version, passes over a (it ran) without recording a skip.
    m = EnrollmentMachine(new, CAL)
    m.start(RAN, None)
    m.migrate(new, landing, actor="admin", reason="reorder", summary={"from_version": 1, "to_version": 2}, now=NOW)
    m.state.due_at = NOW
    m.begin_step()
    m.touch_sent(NOW)
    step = m.step()
    assert step is not None and step.id == "d"
    assert m.state.counters.skipped == 0


def test_steps_added_before_the_current_one_are_behind_it() -> None:
    new = definition(email("x"), email("a"), email("b", **days(3)), email("c", **days(3)), email("d", **days(3)))
    landing = move(new)
    assert (landing.outcome, landing.step_id, landing.position) == ("unchanged", "b", Position(2))


def test_an_anchored_step_whose_date_passed_is_skipped_on_the_way() -> None:
    new = definition(email("a"), email("b", wait={"anchor": "renewal_date", "offset_days": -30}), email("c", **days(3)))
    cal = ContactCalendar("UTC", "GB", dates={"renewal_date": (NOW + dt.timedelta(days=10)).date()})
    where = Standing(step_id="b", due_at=NOW + dt.timedelta(days=2), planned_from=RAN)
    landing = land(OLD, new, where, calendar=cal, rhythm_start=RAN, now=NOW)
    assert landing.step_id == "c" and [s for s, _ in landing.skipped] == ["b"]


def test_a_pending_rep_task_keeps_the_enrollment_waiting() -> None:
    new = definition(email("a"), email("b", **days(1)), email("c", **days(3)), email("d", **days(3)))
    tasks = definition(email("a"), {"id": "b", "type": "call", "task": {"title": "Call"}}, email("c", **days(3)))
    old_with_task = tasks
    where = Standing(step_id="b", waiting_on="task", planned_from=RAN)
    kept = land(old_with_task, tasks, where, calendar=CAL, rhythm_start=RAN, now=NOW)
    assert (kept.outcome, kept.step_id, kept.due_at, kept.resume_here) == ("waiting", "b", None, False)
    gone = land(old_with_task, definition(email("a"), email("c", **days(3))), where, calendar=CAL, rhythm_start=RAN, now=NOW)
    assert (gone.outcome, gone.step_id, gone.resume_here) == ("waiting", "c", True)
    assert "then moves to 'c'" in gone.sentence
    del new


def test_an_event_wait_whose_step_was_removed_moves_on() -> None:
    old = definition(email("a"), {"id": "w", "type": "wait_event", "event": "signed", "timeout_days": 30}, email("c", **days(3)))
    where = Standing(step_id="w", waiting_on="event", due_at=NOW + dt.timedelta(days=20), planned_from=RAN)
    kept = land(old, old, where, calendar=CAL, rhythm_start=RAN, now=NOW)
    assert (kept.outcome, kept.due_at) == ("waiting", NOW + dt.timedelta(days=20))
    gone = land(old, definition(email("a"), email("c", **days(3))), where, calendar=CAL, rhythm_start=RAN, now=NOW)
    assert (gone.outcome, gone.step_id, gone.due_at) == ("moved", "c", RAN + dt.timedelta(days=3))


def test_a_paused_enrollment_stays_paused() -> None:
    new = definition(email("a"), email("b", **days(5)), email("c", **days(3)), email("d", **days(3)))
    landing = move(new, paused=True)
    assert landing.outcome == "rescheduled" and landing.sentence.endswith("stays paused")


def test_a_step_unknown_to_the_old_version_is_refused() -> None:
    with pytest.raises(ValueError, match="not a step"):
        move(OLD, "zzz")


def test_landings_agree_within_the_tolerance_only() -> None:
    a = Landing(outcome="rescheduled", step_id="b", position=Position(1), due_at=NOW)
    assert a.agrees_with(a.model_copy(update={"due_at": NOW + dt.timedelta(seconds=30)}), dt.timedelta(minutes=5))
    assert not a.agrees_with(a.model_copy(update={"due_at": NOW + dt.timedelta(hours=1)}), dt.timedelta(minutes=5))
    assert not a.agrees_with(a.model_copy(update={"step_id": "c"}), dt.timedelta(minutes=5))


# --- the machine applying a landing ------------------------------------------------------------


def started(d: CadenceDefinition = OLD) -> EnrollmentMachine:
    m = EnrollmentMachine(d, CAL)
    m.start(RAN, None)
    m.begin_step()
    m.touch_sent(RAN)  # a ran; b is due RAN + 3 days
    return m


def apply(m: EnrollmentMachine, new: CadenceDefinition, spread: dt.timedelta = dt.timedelta(0)) -> Landing:
    landing = m.landing(new, NOW)
    m.migrate(new, landing, actor="admin", reason="new copy", summary={"from_version": 1, "to_version": 2}, now=NOW, spread=spread)
    return landing


def test_the_machine_records_the_migration_and_keeps_its_counters() -> None:
    m = started()
    new = definition(email("a"), email("b", wait={"hours": 2}), email("c", **days(3)))
    apply(m, new, spread=dt.timedelta(seconds=40))
    assert m.state.due_at == NOW + dt.timedelta(seconds=40)  # due now, spread
    assert m.state.counters.sent == 1 and m.definition is new
    record = [r for r in m.take_records() if r.action == "migrated"][-1]
    assert record.actor == "admin" and record.reason == "new copy"
    assert record.details["from_version"] == 1 and record.details["outcome"] == "due_now"


def test_a_paused_enrollment_resumes_with_its_wait_moved_by_as_much() -> None:
    m = started()
    m.pause("lead", "holiday", None, NOW)
    assert m.state.pause is not None and m.state.pause.remaining_seconds is not None
    before = m.state.pause.remaining_seconds
    apply(m, definition(email("a"), email("b", **days(5)), email("c", **days(3))))
    assert m.status == Status.paused and m.state.pause is not None
    assert m.state.pause.remaining_seconds == before + 2 * 86400
    m.resume("lead", None, NOW + dt.timedelta(hours=1))
    assert m.state.due_at == NOW + dt.timedelta(hours=1) + dt.timedelta(seconds=before + 2 * 86400)


def test_when_the_removed_steps_task_ends_the_enrollment_runs_the_step_it_moved_to() -> None:
    old = definition(email("a"), {"id": "call", "type": "call", "task": {"title": "Call"}, **days(1)}, email("c", **days(3)))
    m = started(old)
    m.state.due_at = RAN + dt.timedelta(days=1)
    step = m.begin_step()
    assert isinstance(step, TaskStep)
    m.task_created(step, "task-1", None, RAN + dt.timedelta(days=1))
    apply(m, definition(email("a"), email("c", **days(3))))
    assert m.state.task is not None and m.state.resume_here
    m.task_completed("e1", "task-1", "connected", False, NOW)
    now_at = m.step()
    assert now_at is not None and now_at.id == "c" and m.state.due_at == NOW + dt.timedelta(days=3)


def test_a_landing_with_nothing_left_completes_the_enrollment() -> None:
    m = started()
    apply(m, definition(email("a")))
    assert m.status == Status.completed and "no step is left" in (m.state.outcome_reason or "")
