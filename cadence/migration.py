"""Moving a running enrollment to another version of its cadence: where it lands, and when
its next step is due. The preview of a migration and the workflow applying it both call
`land`, so what is applied is what was previewed.

The rules, in the order they are applied:

1. Steps are matched by id.
2. Steps the enrollment has passed (those before its current step in the version it runs)
   never run again in this round, wherever the new version puts them; steps the new version
   adds before the current step are behind the enrollment and never run for it.
3. If its current step is still there, it stays on it. With the same wait, it keeps its
   due time. With a changed wait, the due time is recomputed from the moment the previous
   step ran: a shortened wait that has already passed makes the step due now (the caller
   spreads those out, and the gate still decides at send time); a lengthened one waits longer.
4. If its current step was removed, it moves to the next step of its old version that the
   new version still has, due as the new version times it from the moment the previous step
   ran; if no step is left, it completes (unless the new version loops).
5. Waiting on a rep task, it keeps waiting for that task (it exists, in someone's queue);
   when the task ends, it continues in the new version (at the next remaining step if the
   task's own step was removed).
6. Waiting for an event, it keeps waiting if its wait_event step is still there; otherwise
   it moves on as in rule 4.
7. A paused enrollment stays paused; the wait it resumes with moves by as much as its due
   time moved.
8. Templates are read at send time from the version the enrollment runs: a message not yet
   claimed goes out from the new version; one already claimed goes out as it was claimed.

Pure: no clock (`now` is passed in), no I/O.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field

from cadence.definition import CadenceDefinition
from cadence.schedule import Behind, ContactCalendar, Position, after, plan
from cadence.state import WaitingOn
from cadence.waiting import describe_wait

Outcome = Literal["unchanged", "rescheduled", "due_now", "moved", "completed", "waiting"]
OUTCOMES: tuple[Outcome, ...] = ("unchanged", "rescheduled", "due_now", "moved", "completed", "waiting")


class Standing(BaseModel):
    """Where an enrollment stands in the version it runs, as far as a migration cares."""

    step_id: str
    occurrence: int = 0
    round: int = 0
    paused: bool = False
    waiting_on: WaitingOn = "time"
    due_at: dt.datetime | None = None
    planned_from: dt.datetime | None = Field(default=None, description="When the wait for the current step began")


class Landing(BaseModel):
    """Where a migrated enrollment lands and when its next step is due.

    `due_at` is None while it waits on a task or an event, and when it completes; for
    `due_now` it is the `now` the landing was computed at (the applier spreads those).
    """

    outcome: Outcome
    position: Position | None = None
    step_id: str | None = None
    due_at: dt.datetime | None = None
    skipped: list[tuple[str, str]] = Field(default_factory=list, description="(step id, reason) passed over on the way")
    behind: list[str] = Field(default_factory=list, description="Steps already passed; never run again in this round")
    resume_here: bool = Field(default=False, description="The pending task's step was removed: when it ends, run `position`")
    sentence: str = ""

    def agrees_with(self, other: Landing, tolerance: dt.timedelta) -> bool:
        """Whether two landings tell the same story (due times within `tolerance`)."""
        if (self.outcome, self.step_id, self.position, self.resume_here) != (
            other.outcome,
            other.step_id,
            other.position,
            other.resume_here,
        ):
            return False
        if self.outcome == "due_now" or self.due_at is None or other.due_at is None:
            return (self.due_at is None) == (other.due_at is None)
        return abs(self.due_at - other.due_at) <= tolerance


def land(
    old: CadenceDefinition,
    new: CadenceDefinition,
    standing: Standing,
    *,
    calendar: ContactCalendar,
    rhythm_start: dt.datetime,
    now: dt.datetime,
) -> Landing:
    """Where an enrollment standing at `standing` in `old` lands in `new` (rules 1-8)."""
    old_ids = [s.id for s in old.steps]
    if standing.step_id not in old_ids:
        raise ValueError(f"step {standing.step_id!r} is not a step of {old.key!r}")
    new_ids = [s.id for s in new.steps]
    current = old_ids.index(standing.step_id)
    behind = old_ids[:current]
    fence = Behind(frozenset(behind), standing.round)
    kept = standing.step_id in new_ids
    suffix = "; stays paused" if standing.paused else ""

    if kept:
        here = Position(new_ids.index(standing.step_id), standing.occurrence, standing.round)
        old_step, new_step = old.steps[current], new.steps[here.step]
        name = f"step {standing.step_id!r}"
        if standing.waiting_on != "time" and new_step.type == old_step.type:
            what = "its rep task" if standing.waiting_on == "task" else f"the {getattr(new_step, 'event', 'awaited')} event"
            return Landing(
                outcome="waiting",
                position=here,
                step_id=standing.step_id,
                due_at=standing.due_at if standing.waiting_on == "event" else None,
                behind=behind,
                sentence=f"keeps waiting for {what} on {name}{suffix}",
            )
        if old_step.wait == new_step.wait and standing.due_at is not None:
            when = f"due as before at {_utc(standing.due_at)}"
            return Landing(
                outcome="unchanged", position=here, step_id=standing.step_id, due_at=standing.due_at, behind=behind,
                sentence=f"stays on {name}, {when}{suffix}",
            )  # fmt: skip
        start: Position | None = here
        lead = f"stays on {name}; its wait is now {describe_wait(new_step.wait)}"
    else:
        start = _next_remaining(old_ids[current + 1 :], new, standing.round)
        lead = f"its step {standing.step_id!r} was removed"
        if standing.waiting_on == "task":
            # The task exists in a rep's queue: the enrollment waits for it, then goes on.
            if start is None:
                return _completed(lead + " and no step is left after its rep task", behind)
            step_id = new.steps[start.step].id
            return Landing(
                outcome="waiting", position=start, step_id=step_id, behind=behind, resume_here=True,
                sentence=f"{lead}: keeps waiting for its rep task, then moves to {step_id!r}{suffix}",
            )  # fmt: skip

    reference = standing.planned_from or now
    planned = plan(new, start, reference=reference, rhythm_start=rhythm_start, calendar=calendar, behind=fence)
    skipped = [(new.steps[p.step].id, reason) for p, reason in planned.skipped]
    if planned.position is None or planned.at is None:
        return _completed(lead + ("; no step is left" if kept else " and no step is left after it"), behind, skipped)
    step_id = new.steps[planned.position.step].id
    moved = not kept or step_id != standing.step_id
    target = f"moves to {step_id!r}" if moved else ""
    if planned.at <= now:
        where = f"{target}, due now" if moved else "its shortened wait has passed: due now"
        return Landing(
            outcome="due_now", position=planned.position, step_id=step_id, due_at=now, skipped=skipped, behind=behind,
            sentence=f"{lead}; {where} (spread out, and the gate still decides){suffix}",
        )  # fmt: skip
    where = f"{target}, due {_utc(planned.at)}" if moved else f"due {_utc(planned.at)}"
    if not moved and standing.due_at is not None:
        where += f" instead of {_utc(standing.due_at)}"
    return Landing(
        outcome="moved" if moved else "rescheduled", position=planned.position, step_id=step_id, due_at=planned.at,
        skipped=skipped, behind=behind, sentence=f"{lead}; {where}{suffix}",
    )  # fmt: skip


def _next_remaining(following: list[str], new: CadenceDefinition, round_: int) -> Position | None:
    """The first of the old version's following steps that the new version still has (or,
    when none is, where the new version goes after its last step: a loop, or the end)."""
    new_ids = [s.id for s in new.steps]
    for step_id in following:
        if step_id in new_ids:
            return Position(new_ids.index(step_id), 0, round_)
    return after(new, Position(len(new.steps) - 1, 0, round_), end_repeat=True)


def _completed(lead: str, behind: list[str], skipped: list[tuple[str, str]] | None = None) -> Landing:
    # A paused enrollment with nothing left completes too: there is nothing to resume to.
    return Landing(outcome="completed", behind=behind, skipped=skipped or [], sentence=f"{lead}: completes")


def _utc(instant: dt.datetime) -> str:
    return f"{instant.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC"
