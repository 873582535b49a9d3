"""Temporal payload types: workflow input and state, signals, updates, queries, activity I/O.

Plain pydantic models (never SQLModel tables), safe to pass through the workflow sandbox.
Fields are only ever added with defaults, so histories already recorded keep replaying.
No payload carries a message body, an email address or a phone number: activities load
those from Postgres by id.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field

from cadence.definition import CadenceDefinition, ReplyIntent
from cadence.migration import Landing
from cadence.rules import Status
from cadence.schedule import ContactCalendar
from cadence.state import Counters, EnrollmentState, Mirror, MirrorHint, PauseCause, PauseInfo, PendingTask

__all__ = [
    "TASK_QUEUE",
    "WORKFLOW_TYPE",
    "ActorRequest",
    "ArchiveInput",
    "ArchiveResult",
    "ArchiverInput",
    "CalendarFacts",
    "ContactEventSignal",
    "Counters",
    "CrmInput",
    "CrmResult",
    "DatesChangedSignal",
    "EnrollmentInput",
    "EnrollmentParams",
    "EnrollmentState",
    "Mirror",
    "MigrateRequest",
    "MigrateResult",
    "MirrorHint",
    "NamedEventSignal",
    "OperationBatch",
    "OperationInput",
    "OperationProgress",
    "PauseInfo",
    "PauseRequest",
    "PendingTask",
    "ReplySignal",
    "StatusView",
    "StopRequest",
    "SwitchInput",
    "SwitchResult",
    "TaskCompletedSignal",
    "TaskInput",
    "TaskOverdueInput",
    "TaskOverdueResult",
    "TaskResult",
    "TouchInput",
    "TouchResult",
    "TransitionBatch",
    "TransitionInput",
]

TASK_QUEUE = "cadence"
WORKFLOW_TYPE = "Enrollment"


class CalendarFacts(BaseModel):
    """Time zone, country and date fields of the contact (and its account) at enrollment;
    a running enrollment learns of later date changes by the dates_changed signal."""

    timezone: str | None = None
    country: str | None = None
    subdivision: str | None = None
    dates: dict[str, dt.date] = Field(default_factory=dict)

    def calendar(self) -> ContactCalendar:
        """As the schedule maths wants it."""
        return ContactCalendar(self.timezone, self.country, self.subdivision, dict(self.dates))


# How the enrollment workflow runs, as a number its input carries: a run follows the revision
# it started (or continued as new) under, so recorded histories replay as they were written,
# with no patch marker (each costs a marker and a search-attribute update per run).
#   1  the first: transitions recorded by an activity; past the last step, a turn to end.
#   2  transitions recorded by a local activity (no activity task, no extra workflow task);
#      the step past the last one ends the enrollment in the same transition.
ENGINE_REVISION = 2


class EnrollmentParams(BaseModel):
    """Everything an enrollment needs to run, fixed when it starts (the version is pinned)."""

    enrollment_id: str
    cadence_id: str
    cadence_key: str
    cadence_version_id: str
    version_hash: str
    contact_id: str
    account_id: str | None = None
    owner_id: str | None = None
    definition: CadenceDefinition
    calendar: CalendarFacts = Field(default_factory=CalendarFacts)
    start_at: dt.datetime | None = None
    start_paused: PauseRequest | None = Field(default=None, description="Start paused (the contact's account is paused)")
    history_cap: int = Field(default=1000, ge=10, description="Continue-as-new past this many events")
    # Absent from inputs recorded before revisions existed: those replay under revision 1.
    revision: int = Field(default=1, ge=1, description="The engine revision the run follows (ENGINE_REVISION at its start)")


class EnrollmentInput(BaseModel):
    """The single workflow argument: the fixed parameters and, after continue-as-new, the state."""

    params: EnrollmentParams
    state: EnrollmentState | None = None
    # What the enrollments row already says when the workflow starts (the starter planned the
    # first step with the same machine): the workflow writes the row only if it disagrees.
    mirrored: Mirror | None = None


# --- Signals: fire-and-forget events from the world. Each carries an id; repeats are ignored.


class ReplySignal(BaseModel):
    """The contact replied; `intent` decides whether the enrollment exits, switches or pauses."""

    event_id: str = Field(min_length=1, max_length=200)
    intent: ReplyIntent = ReplyIntent.neutral
    return_date: dt.date | None = None
    channel: str | None = None


class ContactEventSignal(BaseModel):
    """A meeting booked, a bounce or an opt-out, from a webhook or another service."""

    event_id: str = Field(min_length=1, max_length=200)
    channel: str | None = None
    detail: str | None = Field(default=None, max_length=500)


class NamedEventSignal(BaseModel):
    """A business event by name ("renewal_signed"); may end the enrollment or wake a wait."""

    event_id: str = Field(min_length=1, max_length=200)
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")


class TaskCompletedSignal(BaseModel):
    """A rep finished (or skipped) the task the enrollment waits on."""

    event_id: str = Field(min_length=1, max_length=200)
    task_id: str
    outcome: str = "completed"
    skipped: bool = False


class DatesChangedSignal(BaseModel):
    """The contact's date fields (its own over its account's) changed: `dates` is the whole
    new set, read at `as_of`; an enrollment ignores a change read before the last it applied."""

    event_id: str = Field(min_length=1, max_length=200)
    dates: dict[str, dt.date] = Field(default_factory=dict)
    as_of: dt.datetime | None = None


# --- Updates: operator commands with validators; a rejected one leaves no trace in history.


class PauseRequest(BaseModel):
    """Pause the enrollment; with `until`, it resumes by itself then. `cause` says whether
    this enrollment was paused on its own or because its account was."""

    actor: str = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=1, max_length=1000)
    until: dt.datetime | None = None
    cause: PauseCause = "manual"


class ActorRequest(BaseModel):
    """An operator command that only needs to say who asked (resume, skip). `only_cause`
    (resume): resume only a pause with this cause, leave any other pause alone."""

    actor: str = Field(min_length=1, max_length=200)
    reason: str | None = Field(default=None, max_length=1000)
    only_cause: PauseCause | None = None


class StopRequest(BaseModel):
    """Stop the enrollment for good."""

    actor: str = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=1, max_length=1000)


class MigrateRequest(BaseModel):
    """Move the enrollment to another version of its cadence, landing as the preview said.

    Refused (with nothing written) when the enrollment no longer runs `from_version_id` or
    would now land elsewhere than `expected` (it moved on since the preview). Applied once
    per `operation_id`: a repeat answers with the enrollment as it is.
    """

    operation_id: str = Field(min_length=1, max_length=100)
    actor: str = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=1, max_length=1000)
    from_version_id: str
    to_version_id: str
    to_version_hash: str
    from_version: int
    to_version: int
    definition: CadenceDefinition
    expected: Landing | None = None
    planned_from: dt.datetime | None = Field(default=None, description="When the current wait began, for older enrollments")
    spread_seconds: float = Field(default=0.0, ge=0, description="How long after the migration a step due now is due")


class StatusView(BaseModel):
    """What the enrollment is doing now and why: the answer of the status query."""

    enrollment_id: str
    cadence_key: str
    version_hash: str
    status: Status
    step_index: int | None
    step_id: str | None
    step_type: str | None
    occurrence: int | None
    round: int | None
    next_due_at: dt.datetime | None
    waiting_reason: str
    pause: PauseInfo | None
    task: PendingTask | None
    counters: Counters
    outcome_reason: str | None
    ended_at: dt.datetime | None
    runs: int = 1


class MigrateResult(BaseModel):
    """Where the enrollment landed (or, for a repeat, that it already had)."""

    applied: bool
    landing: Landing | None = None
    status: StatusView


# --- Activity inputs and results.


class TouchInput(BaseModel):
    """One email or SMS to send: which enrollment, step, repeat and template."""

    enrollment_id: str
    cadence_version_id: str
    contact_id: str
    step_id: str
    step_index: int
    occurrence: int = 0
    round: int = 0
    channel: Literal["email", "sms"]
    template: str
    variant: str | None = None
    topic: str = "sales"
    scheduled_at: dt.datetime
    mirror: MirrorHint | None = None


class TouchResult(BaseModel):
    """What happened to a touch: sent (or already sent), skipped, deferred to an instant,
    unclear (an earlier attempt may have sent it and nothing can tell: held for an operator,
    never sent twice), or the enrollment must stop. `reason_code` is machine-readable,
    `reason` is for people."""

    status: Literal["sent", "skipped", "deferred", "stopped", "unclear"]
    touch_key: str
    touch_id: str | None = None
    provider_id: str | None = None
    template_version: str | None = None
    reason_code: str | None = None
    reason: str | None = None
    defer_until: dt.datetime | None = None
    duplicate: bool = False


class TaskInput(BaseModel):
    """A rep task to create for a call, LinkedIn or manual step."""

    enrollment_id: str
    contact_id: str
    owner_id: str | None
    step_id: str
    step_index: int
    occurrence: int = 0
    round: int = 0
    kind: Literal["call", "linkedin", "task"]
    title: str
    instructions: str | None = None
    due_hours: int
    sla_hours: int | None = None
    mirror: MirrorHint | None = None


class TaskResult(BaseModel):
    """The created (or already existing) task."""

    status: Literal["created", "skipped", "stopped"]
    task_id: str | None = None
    due_at: dt.datetime | None = None
    sla_at: dt.datetime | None = None
    reason_code: str | None = None
    reason: str | None = None


class CrmInput(BaseModel):
    """Fields to write on the contact and an optional webhook to notify."""

    enrollment_id: str
    contact_id: str
    step_id: str
    occurrence: int = 0
    round: int = 0
    set_fields: dict[str, str | int | float | bool | None] = Field(default_factory=dict)
    webhook_url: str | None = None
    mirror: MirrorHint | None = None


class CrmResult(BaseModel):
    """What the CRM step changed."""

    fields_written: list[str] = Field(default_factory=list)
    webhook_status: int | None = None


class TransitionInput(BaseModel):
    """A state change to mirror into Postgres and append to the audit log."""

    enrollment_id: str
    contact_id: str
    action: str
    at: dt.datetime | None = None
    actor: str = "system"
    reason: str | None = None
    status: Status
    step_index: int | None = None
    next_due_at: dt.datetime | None = None
    waiting_reason: str | None = None
    details: dict[str, str | int | float | bool | None] = Field(default_factory=dict)
    ended: bool = False


class TransitionBatch(BaseModel):
    """Transitions queued since the last write, and the mirror as the workflow now has it,
    written in one activity call. A batch with no items only brings the mirror up to date."""

    items: list[TransitionInput]
    # Absent in batches scheduled by workers from before they existed: then the last item says.
    enrollment_id: str | None = None
    mirror: Mirror | None = None
    # Set after a migration: the version the enrollment now runs.
    cadence_version_id: str | None = None


class OperationInput(BaseModel):
    """Apply a previewed bulk operation (its items are in Postgres)."""

    operation_id: str


class OperationBatch(BaseModel):
    """Apply up to `limit` of the operation's pending items."""

    operation_id: str
    limit: int = Field(default=100, ge=1, le=1000)


class OperationProgress(BaseModel):
    """Where an operation stands after a batch: items by status, and whether it is done."""

    counts: dict[str, int] = Field(default_factory=dict)
    done: bool = False


class SwitchInput(BaseModel):
    """Enroll the contact in another cadence after a positive reply."""

    from_enrollment_id: str
    contact_id: str
    cadence_key: str


class SwitchResult(BaseModel):
    """The enrollment in the follow-up cadence, or why none was started."""

    enrollment_id: str | None = None
    workflow_id: str | None = None
    created: bool = False
    reason: str | None = None


class TaskOverdueInput(BaseModel):
    """A task passed its SLA: mark it overdue and tell the owner's manager."""

    task_id: str
    enrollment_id: str


class TaskOverdueResult(BaseModel):
    """Who the escalation went to (None when the owner has no manager on file)."""

    escalated_to: str | None = None


class ArchiveInput(BaseModel):
    """Archive runs closed at or after `since` (None: everything still in retention)."""

    since: dt.datetime | None = None
    limit: int = 500


class ArchiveResult(BaseModel):
    """How many runs were stored, and the newest close time seen (the next cursor)."""

    archived: int = 0
    seen: int = 0
    latest_close: dt.datetime | None = None


class ArchiverInput(BaseModel):
    """Where the archiver's scan starts (carried across continue-as-new)."""

    since: dt.datetime | None = None
    interval_seconds: int = 60
    rounds_per_run: int = 200
