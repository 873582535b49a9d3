"""The state of one enrollment, and what it writes down: audit records and the status mirror.

Plain pydantic models, carried by the workflow across continue-as-new (so fields are only
ever added, with defaults: recorded histories must keep decoding). The machine in
`cadence.machine` is the only code that changes them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from cadence.rules import Status
from cadence.schedule import Position

# How far the row's next_step_at may be from the workflow's own plan before the workflow
# writes the row again: a few seconds of drift (the next step was planned just before the
# previous one ran) do not matter to a list of enrollments; a send retried for an hour does.
MIRROR_TOLERANCE = dt.timedelta(minutes=5)


PauseCause = Literal["manual", "account"]
# What an open enrollment waits for: a due time, a rep's task, or a named event.
WaitingOn = Literal["time", "task", "event"]
# The reason an account pause gives each of its enrollments starts with this.
ACCOUNT_PAUSE_PREFIX = "account paused: "


class PauseInfo(BaseModel):
    """Who paused the enrollment, why, until when, and how much of the wait was left.
    `cause`: manual (someone paused this enrollment) or account (its account was paused; an
    account resume resumes only these)."""

    actor: str
    reason: str
    at: dt.datetime
    until: dt.datetime | None = None
    remaining_seconds: float | None = None
    cause: PauseCause = "manual"

    @model_validator(mode="before")
    @classmethod
    def _cause_of_older_pauses(cls, data: Any) -> Any:
        # Pauses recorded before `cause` existed: an account pause said so in its reason.
        if isinstance(data, dict) and "cause" not in data and str(data.get("reason", "")).startswith(ACCOUNT_PAUSE_PREFIX):
            return {**data, "cause": "account"}
        return data


class PendingTask(BaseModel):
    """A rep task the enrollment is waiting on."""

    task_id: str
    step_id: str
    created_at: dt.datetime
    sla_at: dt.datetime | None = None
    overdue: bool = False
    on_overdue: Literal["wait", "continue"] = "wait"


class Counters(BaseModel):
    """What the enrollment has done so far."""

    sent: int = 0
    unclear: int = 0
    skipped: int = 0
    deferred: int = 0
    failed: int = 0
    tasks: int = 0
    events: int = 0
    steps_run: int = 0


class Mirror(BaseModel):
    """What the `enrollments` row says about the enrollment: the one definition of the
    status mirror that lists, the console and reports read (the workflow is the truth).

    `occurrence`, `round`, `planned_from` (when the wait for the current step began) and
    `waiting_on` (time, task or event) let a migration preview read where an enrollment
    stands without asking each workflow; they are written with the rest, never on their own.
    """

    status: Status
    current_step: int | None = None
    next_step_at: dt.datetime | None = None
    waiting_reason: str | None = None
    outcome_reason: str | None = None
    ended_at: dt.datetime | None = None
    occurrence: int | None = None
    round: int | None = None
    planned_from: dt.datetime | None = None
    waiting_on: WaitingOn | None = None

    def agrees_with(self, other: Mirror | None) -> bool:
        """Whether a row showing `other` tells the same story (next_step_at within the
        tolerance); if not, the workflow writes the row before it waits. The position
        details ride along with the next write and never cause one."""
        if other is None:
            return False
        same = (self.status, self.current_step, self.waiting_reason, self.outcome_reason) == (
            other.status,
            other.current_step,
            other.waiting_reason,
            other.outcome_reason,
        )
        if not same or (self.next_step_at is None) != (other.next_step_at is None):
            return False
        if self.next_step_at is None or other.next_step_at is None:
            return True
        return abs(self.next_step_at - other.next_step_at) <= MIRROR_TOLERANCE

    def columns(self) -> dict[str, object]:
        """The row's columns this mirror sets."""
        values: dict[str, object] = {
            "status": self.status.value,
            "current_step": self.current_step,
            "next_step_at": self.next_step_at,
            "waiting_reason": self.waiting_reason,
        }
        values.update(_position_columns(self.occurrence, self.round, self.planned_from, self.waiting_on))
        if self.status.terminal:
            values.update(outcome_reason=self.outcome_reason, ended_at=self.ended_at)
        return values


def _position_columns(
    occurrence: int | None, round_: int | None, planned_from: dt.datetime | None, waiting_on: str | None
) -> dict[str, object]:
    # Mirrors built from records written before these existed leave the columns alone.
    if waiting_on is None:
        return {}
    return {"step_occurrence": occurrence or 0, "step_round": round_ or 0, "planned_from": planned_from, "waiting_on": waiting_on}


class MirrorHint(BaseModel):
    """Where the enrollment goes if this step completes, so the activity can update the
    status mirror in the same transaction as the step (no extra round trip per step).
    The workflow computes it with the same code that then moves the enrollment on."""

    next_step_index: int | None
    next_due_at: dt.datetime | None
    # Optional so that histories recorded before they existed still decode.
    waiting_reason: str | None = None
    occurrence: int | None = None
    round: int | None = None
    planned_from: dt.datetime | None = None
    waiting_on: WaitingOn | None = None

    def columns(self) -> dict[str, object]:
        """The mirror columns this step's completion writes."""
        values: dict[str, object] = {"current_step": self.next_step_index, "next_step_at": self.next_due_at}
        if self.waiting_reason is not None:
            values["waiting_reason"] = self.waiting_reason
        values.update(_position_columns(self.occurrence, self.round, self.planned_from, self.waiting_on))
        return values

    def applied(self) -> Mirror:
        """The mirror once an activity has written this hint (the enrollment is active)."""
        return Mirror(
            status=Status.active,
            current_step=self.next_step_index,
            next_step_at=self.next_due_at,
            waiting_reason=self.waiting_reason,
            occurrence=self.occurrence,
            round=self.round,
            planned_from=self.planned_from,
            waiting_on=self.waiting_on,
        )


class EnrollmentState(BaseModel):
    """The whole state of an enrollment, carried across continue-as-new."""

    status: Status = Status.active
    position: Position | None = Field(default_factory=Position)
    due_at: dt.datetime | None = None
    rhythm_start: dt.datetime | None = None
    waiting_reason: str = "starting"
    pause: PauseInfo | None = None
    task: PendingTask | None = None
    awaiting_event: str | None = None
    counters: Counters = Field(default_factory=Counters)
    seen_event_ids: list[str] = Field(default_factory=list)
    outcome_reason: str | None = None
    ended_at: dt.datetime | None = None
    switch_to: str | None = None
    runs: int = 1
    # What the enrollments row was last told (None: not known to this run yet).
    mirrored: Mirror | None = None
    # When the current step would have been due had no gate deferral of this cadence held
    # it back (None: it is not late because of one). The step after it counts its anchor
    # from here, so a deferral moves an anchored step instead of dropping it.
    due_before_deferral: dt.datetime | None = None
    # The contact's date fields since they last changed (None: those it enrolled with), and
    # the instant that change was read, so that an older change arriving late is ignored.
    dates: dict[str, dt.date] | None = None
    dates_as_of: dt.datetime | None = None
    # When the wait for the current step began (the previous step ran, or the start).
    planned_from: dt.datetime | None = None
    # Moved to another version of its cadence: steps it had passed in round `behind_round`
    # (never run again there), whether the pending task's step is gone (when the task ends,
    # the current position runs rather than the step after it), and the migrations applied.
    behind: list[str] = Field(default_factory=list)
    behind_round: int = 0
    resume_here: bool = False
    migrations: list[str] = Field(default_factory=list)


Detail = str | int | float | bool | None


@dataclass(frozen=True)
class Record:
    """One audit entry a transition writes, with the state it left the enrollment in."""

    action: str
    at: dt.datetime
    actor: str
    reason: str | None
    status: Status
    step_index: int | None
    next_due_at: dt.datetime | None
    waiting_reason: str | None
    details: dict[str, Detail] = field(default_factory=dict)
    ended: bool = False
