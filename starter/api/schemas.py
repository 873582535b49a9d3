"""Request bodies of the HTTP API. Responses are the service layer's own models.

Every body forbids unknown fields, so a typo ("reasn") is a 422 naming it rather than a
silently ignored value.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cadence.definition import ReplyIntent
from cadence.events import EventKind
from models.keys import Role
from models.schemas import Day, Instant, required_text
from starter.service.operations import OperationFilter, OperationRequest


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EnrollRequest(_Body):
    """Enroll one contact (by id or external id) in a cadence (by id or key)."""

    # The schema says what the validator enforces: exactly one way to name the contact.
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "oneOf": [
                {"required": ["contact_id"], "properties": {"contact_id": {"type": "string"}}},
                {"required": ["contact_external_id"], "properties": {"contact_external_id": {"type": "string"}}},
            ]
        },
    )

    cadence_id: str | None = Field(
        default=None, min_length=1, max_length=200, description="Cadence id or key; omitted: the default cadence of the contact's segment"
    )
    contact_id: str | None = Field(default=None, min_length=1, max_length=200)
    contact_external_id: str | None = Field(default=None, min_length=1, max_length=200)
    start_at: Instant | None = Field(default=None, description="When the first step may run (with a time zone)")

    @model_validator(mode="after")
    def _one_contact(self) -> EnrollRequest:
        if (self.contact_id is None) == (self.contact_external_id is None):
            raise ValueError("give exactly one of contact_id and contact_external_id")
        if self.start_at is not None and self.start_at.tzinfo is None:
            raise ValueError("start_at must carry a time zone, e.g. 2026-12-01T09:00:00Z")
        return self


class BulkRequest(_Body):
    """Enroll many contacts in one cadence."""

    cadence_id: str = Field(min_length=1, max_length=200)
    contacts: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        min_length=1, max_length=1000, description="Contact ids or external ids"
    )
    start_at: Instant | None = None


class PauseBody(_Body):
    """Why the enrollment (or the customer) is paused, and optionally until when."""

    reason: str = Field(min_length=1, max_length=1000)
    until: Instant | None = None


class StopBody(_Body):
    """Why the enrollment is stopped."""

    reason: str = Field(min_length=1, max_length=1000)


class ReasonBody(_Body):
    """An optional note (resume, skip, account resume)."""

    reason: str | None = Field(default=None, max_length=1000)


class EventRequest(_Body):
    """An event about a contact, delivered to every open enrollment of that contact."""

    type: EventKind
    event_id: str = Field(min_length=1, max_length=200, description="Your id for this event; repeats are applied once")
    contact_id: str | None = Field(default=None, min_length=1, max_length=200)
    contact_external_id: str | None = Field(default=None, min_length=1, max_length=200)
    intent: ReplyIntent | None = Field(default=None, description="For replies")
    return_date: Day | None = Field(default=None, description="For out-of-office replies")
    name: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$", description="For named events")
    task_id: str | None = Field(default=None, max_length=100, description="For task_completed")
    outcome: str | None = Field(default=None, max_length=500)
    channel: Literal["email", "sms", "call", "linkedin"] | None = None
    data: dict[str, str | int | float | bool | None] | None = Field(
        default=None, description="For named events: facts rules can test (e.g. score)"
    )

    @model_validator(mode="after")
    def _consistent(self) -> EventRequest:
        if (self.contact_id is None) == (self.contact_external_id is None):
            raise ValueError("give exactly one of contact_id and contact_external_id")
        if self.type == EventKind.event and not self.name:
            raise ValueError("a named event needs 'name'")
        if self.type == EventKind.task_completed and not self.task_id:
            raise ValueError("task_completed needs 'task_id'")
        return self


class CompleteBody(_Body):
    """What came of the task."""

    outcome: str = Field(default="completed", min_length=1, max_length=500, description="e.g. connected, left voicemail")


class SkipBody(_Body):
    """Why the task was skipped."""

    reason: str = Field(default="skipped", min_length=1, max_length=500)


class ResolveBody(_Body):
    """What an operator found out about an unclear touch (checked the mailbox, the
    provider's logs, asked the contact)."""

    outcome: Literal["sent", "not_sent"] = Field(description="sent: it arrived; not_sent: it never left")
    reason: str = Field(min_length=1, max_length=500, description="What was checked, and where")


class KeyIn(_Body):
    """Who the key is for (recorded as the actor of everything it does) and its role."""

    name: str = Field(min_length=1, max_length=200)
    role: Role


# --- bulk operations: one body per action, so the document says which fields each takes ------


class _OperationBody(_Body):
    filter: OperationFilter = Field(default_factory=OperationFilter)
    reason: str = required_text(1000)
    rate_per_second: float = Field(default=20.0, ge=0.1, le=500.0, description="Enrollments changed per second while applying")

    def request(self) -> OperationRequest:
        """As the service layer takes it."""
        return OperationRequest.model_validate(self.model_dump())


class MigrateFilter(OperationFilter):
    """Which open enrollments to migrate: those of one cadence (named), and the rest as any
    operation's filter."""

    cadence_id: str = Field(min_length=1, max_length=200, description="Cadence id or key: a migration moves one cadence's enrollments")


class MigrateOperation(_OperationBody):
    """Move the matching enrollments to another version of their cadence (the filter names it)."""

    action: Literal["migrate"]
    filter: MigrateFilter
    to_version: int | None = Field(default=None, ge=1, description="Default: the published version")
    to_cadence_id: str | None = Field(default=None, max_length=200, description="Must be the filter's cadence if given")
    spread_per_second: float = Field(default=10.0, ge=0.1, le=1000.0, description="Steps made due now, per second")


class PauseOperation(_OperationBody):
    """Pause the matching enrollments (optionally until an instant)."""

    action: Literal["pause"]
    until: Instant | None = Field(default=None, description="Resume by itself at this instant")


class ResumeOrStopOperation(_OperationBody):
    """Resume, or stop for good, the matching enrollments."""

    action: Literal["resume", "stop"]


OperationBody = Annotated[MigrateOperation | PauseOperation | ResumeOrStopOperation, Field(discriminator="action")]
