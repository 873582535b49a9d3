"""What every transition of an enrollment shares: its state, planning the next step from
the cadence and the contact's calendar, ending and resuming, the audit records a transition
queues and the status mirror it defines. The rules themselves, which transition is legal and
what it does, are `cadence.machine.EnrollmentMachine`, built on this.

Pure: no clock (every method takes `now`), no I/O.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from cadence.definition import CadenceDefinition
from cadence.events import Decided
from cadence.migration import Landing, Standing, land
from cadence.rules import Decision, Status, decide
from cadence.schedule import Behind, ContactCalendar, Planned, Position, after, plan
from cadence.state import EnrollmentState, Mirror, MirrorHint, Record, WaitingOn
from cadence.steps import AnyStep
from cadence.waiting import describe_step

SEEN_EVENTS_KEPT = 500

# Rules that changed how a running enrollment moves on. The workflow answers whether one
# applies (by `workflow.patched`, or by the engine revision its input carries), so an
# enrollment replaying history recorded before the rule existed keeps the decisions it made
# then; everywhere else the newest rules apply.
DEFERRAL_MOVES_ANCHORS = "deferral-moves-anchored-steps"
# The transition that runs past the last step ends the enrollment itself (one search-attribute
# update and one audit write where there were two of each). Engine revision 2.
ENDS_WITH_ITS_LAST_STEP = "ends-with-its-last-step"
ALL_STEPS_RAN = "every step has run"


def newest_rules(rule: str) -> bool:
    """Outside a workflow every rule applies."""
    return True


class IllegalTransition(Exception):
    """An operator command the enrollment's state does not allow; `message` says why, and
    `code` lets a caller acting on many enrollments tell the cases apart (not_paused,
    paused_otherwise: paused, but not for the cause a resume asked for)."""

    def __init__(self, message: str, code: str = "illegal_transition") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class MachineCore:
    """One enrollment's state and the mechanics its transitions share.

    `pure` wraps the schedule maths and the reply rules: the workflow passes a context that
    lets the public-holiday tables load inside its sandbox. `applies` says whether a rule
    newer than the enrollment's recorded history applies (see DEFERRAL_MOVES_ANCHORS).
    The calendar is the one the enrollment started with, unless its dates changed since.
    """

    def __init__(
        self,
        definition: CadenceDefinition,
        calendar: ContactCalendar,
        state: EnrollmentState | None = None,
        *,
        pure: Callable[[], AbstractContextManager[object]] = nullcontext,
        applies: Callable[[str], bool] = newest_rules,
    ) -> None:
        self.definition = definition
        self.state = state or EnrollmentState()
        dates = self.state.dates
        self.calendar = calendar if dates is None else dataclasses.replace(calendar, dates=dict(dates))
        self._pure = pure
        self._applies = applies
        self.records: list[Record] = []
        # Set where the search attributes (status, step, next due time) may have changed.
        self.visibility_changed = False

    # --- reading ---------------------------------------------------------------------------

    @property
    def status(self) -> Status:
        """Where the enrollment is in its lifecycle."""
        return self.state.status

    def step(self) -> AnyStep | None:
        """The step the enrollment is at (None once no step is left)."""
        position = self.state.position
        return self.definition.steps[position.step] if position is not None else None

    def due_in(self, now: dt.datetime) -> dt.timedelta:
        """How long until the current step is due (negative: overdue)."""
        assert self.state.due_at is not None
        return self.state.due_at - now

    def will_wait(self, now: dt.datetime) -> bool:
        """Whether the enrollment now waits for something (a time, a task, an event, a resume)."""
        s = self.state
        if s.status == Status.paused or s.task is not None or s.awaiting_event is not None:
            return True
        return s.position is not None and s.due_at is not None and s.due_at > now

    def mirror(self) -> Mirror:
        """What the enrollments row should say now."""
        s = self.state
        return Mirror(
            status=s.status,
            current_step=s.position.step if s.position else None,
            next_step_at=s.due_at,
            waiting_reason=s.waiting_reason,
            outcome_reason=s.outcome_reason if s.status.terminal else None,
            ended_at=s.ended_at if s.status.terminal else None,
            occurrence=s.position.occurrence if s.position else 0,
            round=s.position.round if s.position else 0,
            planned_from=s.planned_from,
            waiting_on=self.waiting_on(),
        )

    def waiting_on(self) -> WaitingOn:
        """What the enrollment waits for now, paused or not."""
        s = self.state
        return "task" if s.task is not None else "event" if s.awaiting_event is not None else "time"

    def standing(self, planned_from: dt.datetime | None = None) -> Standing:
        """Where the enrollment stands, as a migration sees it (`planned_from` stands in for
        an enrollment started before the state recorded when its wait began)."""
        s, step = self.state, self.step()
        assert step is not None and s.position is not None
        return Standing(
            step_id=step.id,
            occurrence=s.position.occurrence,
            round=s.position.round,
            paused=s.status == Status.paused,
            waiting_on=self.waiting_on(),
            due_at=s.due_at,
            planned_from=s.planned_from or planned_from,
        )

    def landing(self, new: CadenceDefinition, now: dt.datetime, planned_from: dt.datetime | None = None) -> Landing:
        """Where the enrollment would land in another version of its cadence, now."""
        with self._pure():
            return land(
                self.definition,
                new,
                self.standing(planned_from),
                calendar=self.calendar,
                rhythm_start=self.state.rhythm_start or now,
                now=now,
            )

    def next_mirror(self, now: dt.datetime) -> MirrorHint:
        """The mirror once the current step has run: the same planning `advance` does."""
        position = self.state.position
        assert position is not None
        planned = self._plan(after(self.definition, position), reference=now, now=now)
        return MirrorHint(
            next_step_index=planned.position.step if planned.position else None,
            next_due_at=planned.at,
            waiting_reason=self._waiting_for(planned.position),
            occurrence=planned.position.occurrence if planned.position else 0,
            round=planned.position.round if planned.position else 0,
            planned_from=now,
            waiting_on="time",
        )

    def take_records(self) -> list[Record]:
        """The audit records queued since the last call."""
        records, self.records = self.records, []
        return records

    def take_visibility_change(self) -> bool:
        """Whether the search attributes may have changed since the last call."""
        changed, self.visibility_changed = self.visibility_changed, False
        return changed

    def start(self, now: dt.datetime, start_at: dt.datetime | None) -> None:
        """Plan the first step (not before `start_at`)."""
        start = max(start_at or now, now)
        self.state.rhythm_start = start
        self._schedule(Position(), reference=start, now=now)

    def adopt(self, planned: Mirror) -> bool:
        """Take the first step's time as the starter planned it a moment before the workflow
        started (it is on the row and in the search attributes already), when that plan tells
        the same story as this one: then the row, the attributes and the timer agree to the
        microsecond and nothing needs writing. True if adopted."""
        s = self.state
        if s.status != Status.active or planned.next_step_at is None or not self.mirror().agrees_with(planned):
            return False
        s.due_at = planned.next_step_at
        s.planned_from = planned.planned_from or s.planned_from
        return True

    def advance(self, now: dt.datetime) -> None:
        """Move past the current step and schedule the next one from now (or, when a
        migration removed the step of the task that just ended, the step it moved to)."""
        position = self.state.position
        assert position is not None
        if self.state.resume_here:
            self.state.resume_here = False
            self._schedule(position, reference=now, now=now)
            return
        self._schedule(after(self.definition, position), reference=now, now=now)
        if self.state.position is None and self.status == Status.active and self._applies(ENDS_WITH_ITS_LAST_STEP):
            self._end(Status.completed, ALL_STEPS_RAN, now=now)

    # --- internals --------------------------------------------------------------------------

    def _must_be_open(self, verb: str) -> None:
        if self.status.terminal:
            raise IllegalTransition(f"cannot {verb}: the enrollment has already ended ({self.status.value})")

    def _first_time(self, event_id: str) -> bool:
        seen = self.state.seen_event_ids
        if event_id in seen:
            return False
        seen.append(event_id)
        del seen[:-SEEN_EVENTS_KEPT]
        self.state.counters.events += 1
        return True

    def _resume(self, actor: str, reason: str, now: dt.datetime) -> None:
        s = self.state
        pause = s.pause
        s.status = Status.active
        s.pause = None
        if pause is not None and pause.remaining_seconds is not None and s.due_at is not None:
            s.due_at = now + dt.timedelta(seconds=pause.remaining_seconds)
        if s.position is not None:
            s.waiting_reason = describe_step(self.definition.steps[s.position.step], s.position)
        self._note(now, "resumed", actor=actor, reason=reason)
        self.visibility_changed = True

    def _end(self, outcome: Status, reason: str, *, now: dt.datetime, actor: str = "system", details: dict[str, Any] | None = None) -> None:
        s = self.state
        if s.status.terminal:
            return
        s.status = outcome
        s.outcome_reason = reason
        s.ended_at = now
        s.pause = None
        s.due_at = None
        s.waiting_reason = f"ended: {reason}"
        self._note(now, "ended", actor=actor, reason=reason, details={"outcome": outcome.value, **(details or {})})

    def _schedule(self, position: Position | None, *, reference: dt.datetime, now: dt.datetime) -> None:
        s = self.state
        planned = self._plan(position, reference=reference, now=now)
        for skipped, reason in planned.skipped:
            s.counters.skipped += 1
            self._note(now, "step_skipped", reason=reason, details={"step_id": self.definition.steps[skipped.step].id})
        s.position = planned.position
        s.due_at = planned.at
        s.due_before_deferral = planned.on_time
        s.planned_from = reference
        s.waiting_reason = self._waiting_for(planned.position)
        if s.status == Status.paused and s.pause is not None and planned.at is not None:
            s.pause.remaining_seconds = max((planned.at - now).total_seconds(), 0.0)
        self.visibility_changed = True

    def _plan(self, position: Position | None, *, reference: dt.datetime, now: dt.datetime) -> Planned:
        """Plan `position` from `reference`; a step the gate deferred lends the plan the time
        it was due at, so that an anchor it pushed behind the contact moves, not drops."""
        rhythm_start = self.state.rhythm_start or now
        on_time = self.state.due_before_deferral
        behind = Behind(frozenset(self.state.behind), self.state.behind_round) if self.state.behind else None
        with self._pure():
            planned = plan(self.definition, position, reference=reference, rhythm_start=rhythm_start, calendar=self.calendar, behind=behind)
            if on_time is None:
                return planned
            held = plan(
                self.definition,
                position,
                reference=reference,
                rhythm_start=rhythm_start,
                calendar=self.calendar,
                on_time=on_time,
                behind=behind,
            )
        same = (held.position, held.at, held.skipped) == (planned.position, planned.at, planned.skipped)
        # Ask about the newer rule only where it decides something: histories recorded
        # before it existed replay unchanged (the question itself is a marker in history).
        return held if same or self._applies(DEFERRAL_MOVES_ANCHORS) else planned

    def _decide(self, kind: Decided, now: dt.datetime, **kwargs: Any) -> Decision:
        with self._pure():
            return decide(self.definition, kind, now=now, calendar=self.calendar, **kwargs)

    def _waiting_for(self, position: Position | None) -> str:
        if position is None:
            return "no steps left"
        return describe_step(self.definition.steps[position.step], position)

    def _note(
        self, now: dt.datetime, action: str, *, actor: str = "system", reason: str | None = None, details: dict[str, Any] | None = None
    ) -> None:
        """Queue an audit record with the state the transition leaves behind."""
        s = self.state
        clean = {k: v for k, v in (details or {}).items() if v is None or isinstance(v, str | int | float | bool)}
        self.records.append(
            Record(
                action=action,
                at=now,
                actor=actor,
                reason=reason,
                status=s.status,
                step_index=s.position.step if s.position else None,
                next_due_at=s.due_at,
                waiting_reason=s.waiting_reason,
                details=clean,
                ended=s.status.terminal,
            )
        )
