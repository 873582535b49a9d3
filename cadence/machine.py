"""The enrollment state machine: which transitions are legal, and what each one records.

An enrollment is `active` (waiting for its next step, a rep task or an event), `paused`, or
over (completed, replied, opted out, stopped, switched...). Everything that can happen to it
is a method here: its own progress (a step sent, skipped, deferred by the gate, failed), the
world (a reply, an opt-out, a meeting, a named event, a task done) and operators (pause,
resume, stop, skip). Each method changes the state and queues the audit `Record`s the
transition writes; operator commands have a `check_*` twin that refuses an illegal one
with `IllegalTransition` before anything changes.

Pure: no clock (every method takes `now`), no I/O. The workflow owns the timers and the
activities and calls this for every decision, so the rules are unit-tested on their own.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from cadence.definition import CadenceDefinition, ReplyIntent
from cadence.events import Decided
from cadence.machine_core import ALL_STEPS_RAN, IllegalTransition, MachineCore
from cadence.migration import Landing
from cadence.rules import Decision, Status
from cadence.state import Detail, PauseCause, PauseInfo, PendingTask
from cadence.steps import AnyStep, TaskStep, WaitEventStep

# Gate reasons that mean the contact asked not to be contacted at all.
OPTED_OUT_CODES = ("suppressed", "opted_out", "erased")

__all__ = ["EnrollmentMachine", "IllegalTransition"]


class EnrollmentMachine(MachineCore):
    """One enrollment's state and every transition it may make.

    `pure` wraps the schedule maths and the reply rules: the workflow passes a context that
    lets the public-holiday tables load inside its sandbox.
    """

    # --- the enrollment's own progress ------------------------------------------------------

    def begin_step(self) -> AnyStep:
        """The step about to run (counted)."""
        step = self.step()
        assert step is not None
        self.state.counters.steps_run += 1
        return step

    def no_steps_left(self, now: dt.datetime) -> None:
        """Every step has run: the enrollment is complete."""
        self._end(Status.completed, ALL_STEPS_RAN, now=now)

    def touch_sent(self, now: dt.datetime) -> None:
        """The email or text went out (or had already gone out)."""
        if not self.status.terminal:
            self.state.counters.sent += 1
            self.advance(now)

    def touch_unclear(self, now: dt.datetime) -> None:
        """An earlier attempt may have sent the touch and nothing can tell: it is held for an
        operator, never sent twice, and the cadence moves on."""
        if not self.status.terminal:
            self.state.counters.unclear += 1
            self.advance(now)

    def touch_skipped(self, now: dt.datetime) -> None:
        """The gate skipped this touch (no consent, channel not allowed...)."""
        if not self.status.terminal:
            self.state.counters.skipped += 1
            self.advance(now)

    def touch_deferred(self, until: dt.datetime, reason: str | None) -> None:
        """The gate said not now: the same step runs again at `until`. The steps after it
        keep the time it was due at for their anchors: the deferral moves them, never drops
        them."""
        if not self.status.terminal:
            self.state.counters.deferred += 1
            if self.state.due_before_deferral is None:
                self.state.due_before_deferral = self.state.due_at
            self.state.due_at = until
            self.state.waiting_reason = reason or "deferred by the gate"
            self.visibility_changed = True

    def touch_stopped(self, code: str | None, reason: str | None, now: dt.datetime) -> None:
        """The gate said stop: the contact may not be contacted at all any more."""
        if not self.status.terminal:
            outcome = Status.opted_out if code in OPTED_OUT_CODES else Status.stopped
            self._end(outcome, reason or "stopped by the gate", now=now)

    def task_refused(self, stopped: bool, reason: str | None, now: dt.datetime) -> None:
        """The gate skipped the rep task (or stopped the enrollment)."""
        if self.status.terminal:
            return
        if stopped:
            self._end(Status.opted_out, reason or "stopped by the gate", now=now)
        else:
            self.state.counters.skipped += 1
            self.advance(now)

    def task_created(self, step: TaskStep, task_id: str | None, sla_at: dt.datetime | None, now: dt.datetime) -> None:
        """The rep task exists; a step that waits for it now waits (up to its SLA)."""
        if self.status.terminal:
            return
        spec = step.task
        self.state.counters.tasks += 1
        if spec.wait_for_completion and task_id is not None:
            self.state.task = PendingTask(
                task_id=task_id,
                step_id=step.id,
                created_at=now,
                sla_at=sla_at or (now + dt.timedelta(hours=spec.sla_hours) if spec.sla_hours else None),
                on_overdue=spec.on_overdue,
            )
            self.state.due_at = None
            # From here the enrollment waits for a person, not for the gate.
            self.state.due_before_deferral = None
            self.state.waiting_reason = self.task_waiting_reason(step)
            self.visibility_changed = True
        else:
            self.advance(now)

    @staticmethod
    def task_waiting_reason(step: TaskStep) -> str:
        """Why an enrollment waits while its rep task is open."""
        return f"waiting for the rep to complete the {step.type} task {step.task.title!r}"

    def task_overdue(self, task: PendingTask, escalated_to: str | None, now: dt.datetime) -> None:
        """The task passed its SLA: it was escalated; move on or keep waiting, as the step says."""
        task.overdue = True
        who = f", escalated to {escalated_to}" if escalated_to else ""
        if task.on_overdue == "continue" and self.state.task is task:
            self.state.task = None
            self._note(now, "task_overdue", reason=f"task passed its SLA{who}; moving on")
            self.advance(now)
        else:
            self.state.waiting_reason = f"waiting for an overdue task{who}"
            self._note(now, "task_overdue", reason=f"task passed its SLA{who}; still waiting")

    def crm_updated(self, now: dt.datetime) -> None:
        """The CRM step wrote its fields."""
        if not self.status.terminal:
            self.advance(now)

    def wait_for_event(self, step: WaitEventStep, now: dt.datetime) -> None:
        """A wait_event step: wait for the named event (up to its timeout)."""
        s = self.state
        s.awaiting_event = step.event
        s.due_before_deferral = None  # from here it waits for the world, not for the gate
        s.due_at = now + dt.timedelta(days=step.timeout_days) if step.timeout_days else None
        s.waiting_reason = f"waiting for the {step.event} event" + (f" until {s.due_at:%Y-%m-%d %H:%M} UTC" if s.due_at else "")
        self._note(now, "waiting_for_event", reason=s.waiting_reason)

    def event_wait_timed_out(self, now: dt.datetime) -> None:
        """The awaited event did not come in time: the cadence moves on."""
        if self.state.awaiting_event is not None and self.status == Status.active:
            self._note(now, "event_wait_timed_out", reason=f"no {self.state.awaiting_event} event arrived in time")
            self.state.awaiting_event = None
            self.advance(now)

    def step_failed(self, step_id: str, error_type: str | None, message: str, *, bounced: bool, now: dt.datetime) -> None:
        """A step failed for good; a bounce is applied as one, then the cadence moves on."""
        if bounced and not self.status.terminal:
            self._apply(self._decide("bounce", now), "system", now)
            if self.status.terminal:
                return
        self.state.counters.failed += 1
        self._note(now, "step_failed", reason=f"step {step_id} failed: {message}", details={"error_type": error_type})
        if not self.status.terminal:
            self.advance(now)

    def switched(self, cadence_key: str, enrollment_id: str | None, created: bool, reason: str | None, now: dt.datetime) -> None:
        """The follow-up enrollment of a switch was started (or why not)."""
        if enrollment_id is None:
            self._note(now, "switch_skipped", reason=reason or "no enrollment started")
        else:
            already = "" if created else " (already enrolled there)"
            self._note(now, "switched", reason=f"enrolled in {cadence_key}{already}", details={"new_enrollment_id": enrollment_id})

    def pause_ended(self, now: dt.datetime) -> None:
        """A pause with an `until` has run out."""
        self._resume("system", "the pause ended", now)

    # --- the world: events about the contact ------------------------------------------------

    def event(
        self, kind: Decided, event_id: str, now: dt.datetime, *, intent: ReplyIntent | None = None, return_date: dt.date | None = None
    ) -> bool:
        """A reply, meeting, bounce or opt-out (each event id applied once); True if it
        changed anything."""
        if not self._first_time(event_id) or self.status.terminal:
            return False
        decision = self._decide(kind, now, intent=intent, return_date=return_date)
        self._apply(decision, "contact", now, event_id=event_id, event=kind)
        return True

    def named_event(self, event_id: str, name: str, now: dt.datetime) -> bool:
        """A named business event: ends the enrollment if an exit rule says so, or ends a
        wait_event step waiting for it."""
        if not self._first_time(event_id) or self.status.terminal:
            return False
        decision = self._decide("event", now, name=name)
        if decision.action == "continue" and self.state.awaiting_event == name and self.state.position is not None:
            self.state.awaiting_event = None
            self._note(now, "event_arrived", actor="contact", reason=f"{name} arrived", details={"event_id": event_id})
            self.advance(now)
            return True
        self._apply(decision, "contact", now, event_id=event_id, event="event")
        return True

    def task_completed(self, event_id: str, task_id: str, outcome: str, skipped: bool, now: dt.datetime) -> bool:
        """The rep completed or skipped the task the enrollment waits on: it moves on."""
        if not self._first_time(event_id) or self.status.terminal:
            return False
        task = self.state.task
        if task is None or task.task_id != task_id:
            return False
        self.state.task = None
        self._note(now, "task_skipped" if skipped else "task_completed", actor="rep", reason=outcome, details={"task_id": task_id})
        self.advance(now)
        return True

    def dates_changed(self, dates: dict[str, dt.date], as_of: dt.datetime | None, now: dt.datetime) -> bool:
        """The contact's (or its account's) date fields changed: the enrollment follows the
        new dates from now on. The step it waits for moves when its own anchor moved; one
        whose new date is already behind the contact is skipped, as at enrollment (unless
        only a deferral of this cadence made it late). Steps already run stay run, and a
        step being waited on (a rep task, an event) is planned from the new dates when it
        ends. A change read before the last one applied is ignored. True if it changed
        anything."""
        s = self.state
        if self.status.terminal or (as_of is not None and s.dates_as_of is not None and as_of <= s.dates_as_of):
            return False
        s.dates_as_of = as_of or s.dates_as_of
        before = self.calendar.dates
        changed = sorted(name for name in before.keys() | dates.keys() if before.get(name) != dates.get(name))
        if not changed:
            return False
        s.dates = dict(dates)
        self.calendar = dataclasses.replace(self.calendar, dates=dict(dates))
        step = self.step()
        if step is not None and step.wait.anchor in changed and s.task is None and s.awaiting_event is None:
            held = s.waiting_reason if s.status == Status.paused else None
            self._schedule(s.position, reference=now, now=now)
            s.waiting_reason = held or s.waiting_reason
        shown = {name: dates[name].isoformat() if name in dates else None for name in changed}
        summary = ", ".join(f"{name} is now {value}" if value else f"{name} was removed" for name, value in shown.items())
        self._note(now, "dates_changed", reason=summary, details=shown)
        return True

    # --- versions ---------------------------------------------------------------------------

    def migrate(
        self,
        new: CadenceDefinition,
        landing: Landing,
        *,
        actor: str,
        reason: str,
        summary: dict[str, Detail],
        now: dt.datetime,
        spread: dt.timedelta = dt.timedelta(0),
    ) -> None:
        """Move to another version of the cadence, landing where `landing` (computed by
        `landing()` on this same state) says: same id, history and counters. A step due now
        is due `spread` from now, so that a migration of thousands does not fire them in one
        second; a paused enrollment's remaining wait moves as far as its due time did."""
        s = self.state
        old_due = s.due_at
        self.definition = new
        s.behind = list(landing.behind)
        s.behind_round = s.position.round if s.position else 0
        details = {**summary, "outcome": landing.outcome, "step_id": landing.step_id}
        if landing.outcome == "completed" or landing.position is None:
            s.task = None
            s.awaiting_event = None
            self._note(now, "migrated", actor=actor, reason=reason, details={**details, "landing": landing.sentence})
            self._end(Status.completed, f"the cadence changed: {landing.sentence}", now=now, actor=actor)
            return
        for step_id, why in landing.skipped:
            s.counters.skipped += 1
            self._note(now, "step_skipped", reason=why, details={"step_id": step_id})
        s.position = landing.position
        if landing.outcome == "waiting":
            s.resume_here = landing.resume_here
        else:
            s.awaiting_event = None
            if landing.outcome != "unchanged":
                s.due_before_deferral = None
            s.due_at = now + spread if landing.outcome == "due_now" else landing.due_at
            if s.status != Status.paused:
                s.waiting_reason = self._waiting_for(s.position)
            elif s.pause is not None and s.due_at is not None:
                if old_due is not None and s.pause.remaining_seconds is not None:
                    left = s.pause.remaining_seconds + (s.due_at - old_due).total_seconds()
                else:
                    left = (s.due_at - now).total_seconds()
                s.pause.remaining_seconds = max(left, 0.0)
        self._note(now, "migrated", actor=actor, reason=reason, details={**details, "landing": landing.sentence})
        self.visibility_changed = True

    # --- operators --------------------------------------------------------------------------

    def check_pause(self, until: dt.datetime | None, now: dt.datetime) -> None:
        """Refuse a pause of an ended or already paused enrollment, or one until the past."""
        self._must_be_open("pause")
        if self.status == Status.paused and self.state.pause is not None:
            raise IllegalTransition(f"already paused by {self.state.pause.actor}: {self.state.pause.reason}", "already_paused")
        if until is not None:
            if until.tzinfo is None:
                raise IllegalTransition("'until' must carry a time zone")
            if until <= now:
                raise IllegalTransition("'until' is in the past")

    def pause(self, actor: str, reason: str, until: dt.datetime | None, now: dt.datetime, cause: PauseCause = "manual") -> None:
        """Pause (optionally until an instant); the remaining wait is kept for resume."""
        s = self.state
        remaining = (s.due_at - now).total_seconds() if s.due_at else None
        s.pause = PauseInfo(
            actor=actor,
            reason=reason,
            at=now,
            until=until,
            remaining_seconds=max(remaining, 0.0) if remaining is not None else None,
            cause=cause,
        )
        s.status = Status.paused
        note_until = f" until {until:%Y-%m-%d %H:%M} UTC" if until else ""
        s.waiting_reason = f"paused by {actor}{note_until}: {reason}"
        self._note(now, "paused", actor=actor, reason=reason, details={"until": until.isoformat() if until else None})
        self.visibility_changed = True

    def check_resume(self, only_cause: PauseCause | None = None) -> None:
        """Only a paused enrollment can be resumed; with `only_cause`, only one paused for
        that cause (an account resume leaves a legal hold alone)."""
        self._must_be_open("resume")
        if self.status != Status.paused:
            raise IllegalTransition(f"cannot resume: the enrollment is not paused (it is {self.status.value})", "not_paused")
        pause = self.state.pause
        if only_cause is not None and pause is not None and pause.cause != only_cause:
            raise IllegalTransition(f"left paused: paused by {pause.actor} for another reason ({pause.reason})", "paused_otherwise")

    def resume(self, actor: str, reason: str | None, now: dt.datetime) -> None:
        """Resume; the wait left at pause time is honoured."""
        self._resume(actor, reason or "resumed", now)

    def check_stop(self) -> None:
        """An ended enrollment cannot be stopped again."""
        self._must_be_open("stop")

    def stop(self, actor: str, reason: str, now: dt.datetime) -> None:
        """Stop for good."""
        self._end(Status.stopped, reason, now=now, actor=actor)

    def check_skip(self) -> None:
        """Skipping needs an open enrollment with a step left."""
        self._must_be_open("skip a step")
        if self.state.position is None:
            raise IllegalTransition("cannot skip: there is no step left to skip")

    def skip(self, actor: str, reason: str | None, now: dt.datetime) -> None:
        """Skip the step the enrollment waits for (and its task or event wait)."""
        step = self.step()
        assert step is not None
        s = self.state
        if s.task is not None:
            self._note(now, "task_skipped", actor=actor, reason="the step was skipped", details={"task_id": s.task.task_id})
            s.task = None
        s.awaiting_event = None
        s.counters.skipped += 1
        self._note(now, "step_skipped", actor=actor, reason=reason or "skipped by an operator", details={"step_id": step.id})
        self.advance(now)

    def _apply(self, decision: Decision, actor: str, now: dt.datetime, **details: Any) -> None:
        if decision.action == "exit":
            assert decision.outcome is not None
            self._end(decision.outcome, decision.reason, now=now, actor=actor, details=details)
        elif decision.action == "switch":
            self.state.switch_to = decision.switch_to
            self._end(Status.switched, decision.reason, now=now, actor=actor, details=details)
        elif decision.action == "pause":
            if self.status == Status.paused:
                self._note(now, "event_recorded", actor=actor, reason=decision.reason + " (already paused)", details=details)
            else:
                self.pause("system", decision.reason, decision.pause_until, now)
        else:
            self._note(now, "event_recorded", actor=actor, reason=decision.reason, details=details)
