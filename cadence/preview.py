"""Preview: what an enrollment will do and when, worked out by stepping the same state machine
the enrollment workflow runs (`EnrollmentMachine`), with the real gate deciding every touch.

The workflow's loop is: wait until the machine says the step is due (or a message arrives),
run the step through an activity, tell the machine what came of it. `Walker` is that loop
with the clock stepped instead of slept and the activities replaced by a `Decider` that
asks the gate read-only and records instead of sending. Every decision (when a step is due,
what a deferral or a reply does, where a pause leaves the wait) is the machine's own code;
the only assumptions are the preview's: nobody replies unless a what-if says so, and a rep
completes each task when it is due.

Several walkers share one `Ledger` of claimed instants, processed in time order, so the
contact's other open enrollments count against its caps exactly as they would.
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from cadence.definition import ReplyIntent
from cadence.gate import GateDecision
from cadence.machine import EnrollmentMachine
from cadence.rules import Status
from cadence.steps import AnyStep, CrmUpdateStep, EmailStep, SmsStep, TaskStep, WaitEventStep
from cadence.variants import choose

Kind = Literal["touch", "task", "crm_update", "wait_event", "deferred", "skipped", "stopped", "event", "ended", "open"]
# Actions one enrollment may take in one preview: far beyond any real cadence in a year.
MAX_ACTIONS = 5000
# Machine notes worth showing on a preview (the rest repeat what the items already say).
SHOWN_NOTES = frozenset({"paused", "resumed", "step_skipped", "task_skipped", "event_wait_timed_out", "switched", "switch_skipped"})


@dataclass(frozen=True)
class TaskOutcome:
    """What creating a rep task would give: its due time (after the owner's weekly capacity
    and the hours the contact may be called), or the gate's refusal."""

    due_at: dt.datetime | None = None
    sla_at: dt.datetime | None = None
    moved_reason: str | None = None
    moved_code: str | None = None
    refused: GateDecision | None = None


class Decider(Protocol):
    """The activities' decisions, asked without side effects."""

    def touch(self, enrollment_id: str, step: EmailStep | SmsStep, at: dt.datetime, ledger: Ledger) -> GateDecision:
        """The gate's answer for this touch at `at`, counting the claims in `ledger` too."""
        ...

    def task(self, enrollment_id: str, step: TaskStep, at: dt.datetime) -> TaskOutcome:
        """When the rep task created at `at` would be due, or why it would not be created."""
        ...


@dataclass
class Ledger:
    """Touches the preview has claimed so far (every walker's), as instants."""

    claimed: list[dt.datetime] = field(default_factory=list)
    others: int = 0  # how many other enrollments of the contact contribute to it


@dataclass(frozen=True)
class Reply:
    """What-if: the contact replies with `intent` `after` the step `step_id` ran (its first
    run); an out-of-office reply may carry the date the contact is back."""

    step_id: str
    intent: ReplyIntent
    after: dt.timedelta = dt.timedelta(hours=1)
    return_date: dt.date | None = None


@dataclass(frozen=True)
class Pause:
    """What-if: a CS lead pauses the enrollment at `start` until `until` (None: no end)."""

    start: dt.datetime
    until: dt.datetime | None


@dataclass(frozen=True)
class Item:
    """One line of a preview: a touch or task at its due time, a deferral or skip with the
    gate's code and sentence, or an event of the enrollment (paused, ended...)."""

    at: dt.datetime
    kind: Kind
    step_id: str | None = None
    step_index: int | None = None
    channel: str | None = None
    template: str | None = None
    variant: str | None = None
    code: str | None = None
    reason: str | None = None
    until: dt.datetime | None = None


@dataclass
class Walker:
    """One enrollment stepped through time. `items` is filled only when `record` is set (the
    contact's other enrollments are walked for their claims only)."""

    enrollment_id: str
    machine: EnrollmentMachine
    now: dt.datetime
    replies: Sequence[Reply] = ()
    pauses: Sequence[Pause] = ()
    record: bool = True
    items: list[Item] = field(default_factory=list)
    done: bool = False
    _ran: dict[str, dt.datetime] = field(default_factory=dict)
    _seen: set[tuple[str, int]] = field(default_factory=set)
    task_due: dt.datetime | None = None

    # --- when it acts next ------------------------------------------------------------------

    def next_at(self) -> dt.datetime | None:
        """The next instant this enrollment does anything (None: nothing more will happen
        without the world: it ended, or waits for an event or a pause with no end)."""
        if self.done:
            return None
        times = [t for t in (self._state_next(), *self._pending_what_ifs()) if t is not None]
        return max(min(times), self.now) if times else None

    def _state_next(self) -> dt.datetime | None:
        m, s = self.machine, self.machine.state
        if s.status.terminal:
            return None
        if s.status == Status.paused:
            return s.pause.until if s.pause is not None and s.pause.until is not None else None
        if s.task is not None:
            return self.task_due or self.now
        if s.position is None:
            return self.now
        if s.awaiting_event is not None:
            return s.due_at
        return self.now + max(m.due_in(self.now), dt.timedelta(0))

    def _pending_what_ifs(self) -> list[dt.datetime]:
        times = [p.start for i, p in enumerate(self.pauses) if ("pause", i) not in self._seen]
        for i, reply in enumerate(self.replies):
            ran = self._ran.get(reply.step_id)
            if ran is not None and ("reply", i) not in self._seen:
                times.append(ran + reply.after)
        return times

    # --- acting -----------------------------------------------------------------------------

    def act(self, at: dt.datetime, decider: Decider, ledger: Ledger) -> None:
        """Do what is due at `at` (the earliest `next_at` of all walkers)."""
        self.now = at
        if self._what_ifs(at):
            self._notes()
            return
        m, s = self.machine, self.machine.state
        if s.status == Status.paused:
            m.pause_ended(at)
        elif s.task is not None:
            task, self.task_due = s.task, None
            m.task_completed(f"preview:{task.task_id}", task.task_id, "done", False, at)
        elif s.position is None:
            m.no_steps_left(at)
        elif s.awaiting_event is not None:
            m.event_wait_timed_out(at)
        elif m.due_in(at) <= dt.timedelta(0):
            self._run_step(at, decider, ledger)
        self._notes()
        if self.machine.status.terminal or self._state_next() is None and not self._pending_what_ifs():
            self.done = True

    def _what_ifs(self, at: dt.datetime) -> bool:
        for i, pause in enumerate(self.pauses):
            if ("pause", i) not in self._seen and pause.start <= at:
                self._seen.add(("pause", i))
                if not self.machine.status.terminal and self.machine.status != Status.paused:
                    self.machine.pause("preview", "what-if: paused", pause.until if pause.until and pause.until > at else None, at)
                return True
        for i, reply in enumerate(self.replies):
            ran = self._ran.get(reply.step_id)
            if ran is not None and ("reply", i) not in self._seen and ran + reply.after <= at:
                self._seen.add(("reply", i))
                self.machine.event("reply", f"preview:reply:{i}", at, intent=reply.intent, return_date=reply.return_date)
                self._add(Item(at, "event", reply.step_id, code="reply", reason=f"what-if: the contact replies ({reply.intent.value})"))
                return True
        return False

    def _run_step(self, at: dt.datetime, decider: Decider, ledger: Ledger) -> None:
        m = self.machine
        position = m.state.position
        assert position is not None
        step: AnyStep = m.begin_step()
        base = {"step_id": step.id, "step_index": position.step}
        if isinstance(step, EmailStep | SmsStep):
            variant = choose(self.enrollment_id, step.id, step.variants) if step.variants else None
            shown = {**base, "channel": step.type, "template": variant.template if variant else step.template}
            shown["variant"] = variant.id if variant else None
            decision = decider.touch(self.enrollment_id, step, at, ledger)
            if decision.action == "allow":
                ledger.claimed.append(at)
                self._ran.setdefault(step.id, at)
                self._add(Item(at, "touch", **shown))  # type: ignore[arg-type]
                m.touch_sent(at)
            elif decision.action == "defer":
                assert decision.until is not None
                reason = decision.reason
                if decision.code == "frequency_cap" and ledger.others:
                    others = "enrollment" if ledger.others == 1 else "enrollments"
                    reason = f"{reason}, counting the contact's {ledger.others} other open {others}"
                self._add(Item(at, "deferred", **shown, code=decision.code, reason=reason, until=decision.until))  # type: ignore[arg-type]
                m.touch_deferred(decision.until, decision.reason)
            elif decision.action == "skip":
                self._ran.setdefault(step.id, at)
                self._add(Item(at, "skipped", **shown, code=decision.code, reason=decision.reason))  # type: ignore[arg-type]
                m.touch_skipped(at)
            else:
                self._add(Item(at, "stopped", **shown, code=decision.code, reason=decision.reason))  # type: ignore[arg-type]
                m.touch_stopped(decision.code, decision.reason, at)
        elif isinstance(step, TaskStep):
            self._task(step, at, decider, base)
        elif isinstance(step, CrmUpdateStep):
            self._ran.setdefault(step.id, at)
            self._add(Item(at, "crm_update", **base, channel="crm"))  # type: ignore[arg-type]
            m.crm_updated(at)
        elif isinstance(step, WaitEventStep):
            self._ran.setdefault(step.id, at)
            self._add(Item(at, "wait_event", **base, reason=f"waits for {step.event}"))  # type: ignore[arg-type]
            m.wait_for_event(step, at)

    def _task(self, step: TaskStep, at: dt.datetime, decider: Decider, base: dict[str, object]) -> None:
        outcome = decider.task(self.enrollment_id, step, at)
        shown = {**base, "channel": step.type}
        if outcome.refused is not None:
            refused = outcome.refused
            self._add(Item(at, "skipped" if refused.action == "skip" else "stopped", **shown, code=refused.code, reason=refused.reason))  # type: ignore[arg-type]
            self.machine.task_refused(refused.action == "stop", refused.reason, at)
            return
        assert outcome.due_at is not None
        self._ran.setdefault(step.id, at)
        if outcome.moved_reason:
            code = outcome.moved_code or "deferred"
            moved = Item(at, "deferred", **shown, code=code, reason=outcome.moved_reason, until=outcome.due_at)  # type: ignore[arg-type]
            self._add(moved)
        self._add(Item(outcome.due_at, "task", **shown, reason=step.task.title))  # type: ignore[arg-type]
        self.task_due = outcome.due_at
        self.machine.task_created(step, f"preview-task-{step.id}-{at.timestamp():.0f}", outcome.sla_at, at)

    def _notes(self) -> None:
        for record in self.machine.take_records():
            if record.action == "ended":
                self._add(Item(record.at, "ended", code=str(record.details.get("outcome") or record.status.value), reason=record.reason))
            elif record.action in SHOWN_NOTES:
                self._add(Item(record.at, "event", code=record.action, reason=record.reason))

    def _add(self, item: Item) -> None:
        if self.record:
            self.items.append(item)


def walk(subject: Walker, others: Sequence[Walker], decider: Decider, *, until: dt.datetime) -> list[Item]:
    """Step the subject enrollment (and the contact's other open enrollments, for their
    claims) in time order until `until`; the subject's items, in order, with an `open` item
    at the end saying where it stands if it has not ended by then."""
    ledger = Ledger(others=len(others))
    run([(subject, ledger), *((other, ledger) for other in others)], decider, until=until, stop=lambda: subject.done)
    s = subject.machine.state
    if not s.status.terminal:
        at = min(subject.next_at() or until, until)
        subject.items.append(Item(max(at, subject.now), "open", code=s.status.value, reason=s.waiting_reason))
    return sorted(subject.items, key=lambda item: item.at)


def run(
    walkers: Sequence[tuple[Walker, Ledger]],
    decider: Decider,
    *,
    until: dt.datetime,
    stop: Callable[[], bool] = lambda: False,
    max_actions: int = MAX_ACTIONS,
) -> None:
    """Step every walker in time order (each with its contact's ledger) until `until`. A
    walker acting changes no other walker's next instant, so a heap orders them."""
    queue: list[tuple[dt.datetime, int]] = []
    for index, (walker, _) in enumerate(walkers):
        at = walker.next_at()
        if at is not None and at <= until:
            heapq.heappush(queue, (at, index))
    acted = [0] * len(walkers)
    while queue and not stop():
        at, index = heapq.heappop(queue)
        walker, ledger = walkers[index]
        walker.act(at, decider, ledger)
        acted[index] += 1
        if acted[index] >= max_actions:
            # A loop that never waits (a zero-wait rhythm) would spin here: it stops, open.
            walker.done = True
            continue
        following = walker.next_at()
        if following is not None and following <= until:
            heapq.heappush(queue, (following, index))
