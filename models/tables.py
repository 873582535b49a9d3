"""Postgres tables (SQLModel): the system of record next to Temporal's memory.

Contacts and accounts are the CRM; cadence versions are immutable; enrollments mirror the
workflows for queries and reports; touches are the send claims (the outbox); the audit log
is append-only and hash-chained. SQLModel objects never cross into Temporal payloads.
"""

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Column, Field, SQLModel


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _ts(nullable: bool = True, **kw: Any) -> Any:
    return Field(default=None, sa_column=Column(sa.DateTime(timezone=True), nullable=nullable, **kw))


def _created() -> Any:
    return Field(default_factory=_now, sa_column=Column(sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()))


def _json(default: Any = dict) -> Any:
    return Field(default_factory=default, sa_column=Column(JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")))


class Owner(SQLModel, table=True):
    """A rep or CSM who owns contacts and receives tasks; `manager_id` gets escalations."""

    __tablename__ = "owners"
    id: str = Field(primary_key=True, max_length=100)
    name: str = Field(max_length=200)
    email: str | None = Field(default=None, max_length=320)
    title: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=32)
    meeting_url: str | None = Field(default=None, max_length=500)
    manager_id: str | None = Field(default=None, foreign_key="owners.id", max_length=100)
    sms_from: str | None = Field(default=None, max_length=32, description="Twilio number used for this owner")
    weekly_task_capacity: int | None = Field(default=None)
    created_at: dt.datetime = _created()


class Account(SQLModel, table=True):
    """A company: prospect or customer. Its date fields (renewal_date) can anchor steps."""

    __tablename__ = "accounts"
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    external_id: str = Field(max_length=200, unique=True, index=True)
    name: str = Field(max_length=300)
    domain: str | None = Field(default=None, max_length=300)
    industry: str | None = Field(default=None, max_length=100)
    tier: str | None = Field(default=None, max_length=50)
    owner_id: str | None = Field(default=None, foreign_key="owners.id", max_length=100)
    dates: dict[str, Any] = _json()
    fields: dict[str, Any] = _json()
    # The account's pause (a renewal negotiation, an incident): who, why, until when. While
    # it holds, new enrollments of its contacts start paused.
    paused_at: dt.datetime | None = _ts()
    paused_by: str | None = Field(default=None, max_length=200)
    pause_reason: str | None = Field(default=None, max_length=1000)
    paused_until: dt.datetime | None = _ts()
    created_at: dt.datetime = _created()
    updated_at: dt.datetime = _created()

    def pause_in_force(self, now: dt.datetime) -> bool:
        """Is the account paused at `now` (paused, and its `until` not yet reached)?"""
        return self.paused_at is not None and (self.paused_until is None or self.paused_until > now)


class Contact(SQLModel, table=True):
    """A person we may contact; consent and preferences are per channel."""

    __tablename__ = "contacts"
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    external_id: str = Field(max_length=200, unique=True, index=True)
    account_id: uuid.UUID | None = Field(default=None, foreign_key="accounts.id", index=True)
    email: str | None = Field(default=None, max_length=320, index=True)
    phone: str | None = Field(default=None, max_length=32, index=True)
    first_name: str | None = Field(default=None, max_length=200)
    last_name: str | None = Field(default=None, max_length=200)
    title: str | None = Field(default=None, max_length=200)
    timezone: str | None = Field(default=None, max_length=64)
    country: str | None = Field(default=None, max_length=2)
    region: str | None = Field(default=None, max_length=10, description="State or province code")
    persona: str | None = Field(default=None, max_length=50)
    industry: str | None = Field(default=None, max_length=100)
    tier: str | None = Field(default=None, max_length=50)
    owner_id: str | None = Field(default=None, foreign_key="owners.id", max_length=100, index=True)
    consent: dict[str, Any] = _json()
    preferences: dict[str, Any] = _json()
    dates: dict[str, Any] = _json()
    fields: dict[str, Any] = _json()
    erased_at: dt.datetime | None = _ts()
    score: float = Field(
        default=0.0, sa_column_kwargs={"server_default": "0"}, description="Lead score as of score_at (see cadence.scoring)"
    )
    score_at: dt.datetime | None = _ts()
    score_day: dt.date | None = Field(default=None, description="The UTC day score_used counts")
    score_used: dict[str, Any] = _json()
    created_at: dt.datetime = _created()
    updated_at: dt.datetime = _created()


class Cadence(SQLModel, table=True):
    """A cadence by its stable key; its content lives in immutable versions, one of which
    is published (what new enrollments get). `follow_published`: running enrollments move
    to each newly published version (with the migration rules) instead of staying pinned."""

    __tablename__ = "cadences"
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    key: str = Field(max_length=63, unique=True, index=True)
    name: str = Field(max_length=200)
    created_at: dt.datetime = _created()
    published_version_id: uuid.UUID | None = Field(
        default=None, sa_column=Column(sa.Uuid, sa.ForeignKey("cadence_versions.id", use_alter=True), nullable=True)
    )
    published_at: dt.datetime | None = _ts()
    published_by: str | None = Field(default=None, max_length=200)
    follow_published: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})


class CadenceDraft(SQLModel, table=True):
    """The cadence being edited: validated whenever it is saved, used by no enrollment until
    it is published as a version. One per cadence."""

    __tablename__ = "cadence_drafts"
    cadence_id: uuid.UUID = Field(foreign_key="cadences.id", primary_key=True)
    content_hash: str = Field(max_length=64)
    definition: dict[str, Any] = _json()
    templates: dict[str, Any] = _json()
    source: str | None = Field(default=None, sa_column=Column(sa.Text, nullable=True))
    based_on_version_id: uuid.UUID | None = Field(default=None, foreign_key="cadence_versions.id")
    updated_by: str = Field(max_length=200)
    updated_at: dt.datetime = _created()


class CadenceVersion(SQLModel, table=True):
    """One immutable version of a cadence: definition and templates, named by content hash."""

    __tablename__ = "cadence_versions"
    __table_args__ = (
        sa.UniqueConstraint("cadence_id", "content_hash", name="uq_cadence_versions_hash"),
        sa.UniqueConstraint("cadence_id", "version", name="uq_cadence_versions_number"),
    )
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    cadence_id: uuid.UUID = Field(foreign_key="cadences.id", index=True)
    version: int
    content_hash: str = Field(max_length=64)
    definition: dict[str, Any] = _json()
    templates: dict[str, Any] = _json()
    source: str | None = Field(default=None, sa_column=Column(sa.Text, nullable=True))
    created_by: str = Field(default="system", max_length=200)
    created_at: dt.datetime = _created()


class Enrollment(SQLModel, table=True):
    """One contact in one cadence: the queryable mirror of its workflow.

    A partial unique index allows a single open enrollment per contact and cadence, which is
    what makes enrolling idempotent under concurrent requests.
    """

    __tablename__ = "enrollments"
    __table_args__ = (
        sa.Index(
            "uq_enrollments_open",
            "cadence_id",
            "contact_id",
            unique=True,
            postgresql_where=sa.text("status IN ('pending', 'active', 'paused')"),
        ),
        sa.Index("ix_enrollments_status_cadence", "status", "cadence_id"),
    )
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    cadence_id: uuid.UUID = Field(foreign_key="cadences.id", index=True)
    cadence_version_id: uuid.UUID = Field(foreign_key="cadence_versions.id", index=True)
    contact_id: uuid.UUID = Field(foreign_key="contacts.id", index=True)
    account_id: uuid.UUID | None = Field(default=None, foreign_key="accounts.id", index=True)
    owner_id: str | None = Field(default=None, max_length=100, index=True)
    workflow_id: str = Field(max_length=200, index=True)
    run_id: str | None = Field(default=None, max_length=64)
    status: str = Field(default="pending", max_length=20)
    current_step: int | None = None
    next_step_at: dt.datetime | None = _ts()
    waiting_reason: str | None = Field(default=None, sa_column=Column(sa.Text, nullable=True))
    outcome_reason: str | None = Field(default=None, sa_column=Column(sa.Text, nullable=True))
    touches_sent: int = Field(default=0)
    # Where the workflow stands, for migration previews (see cadence.state.Mirror).
    step_occurrence: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    step_round: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    planned_from: dt.datetime | None = _ts()
    waiting_on: str | None = Field(default=None, max_length=10)
    enrolled_by: str = Field(default="system", max_length=200)
    started_at: dt.datetime | None = _ts()
    ended_at: dt.datetime | None = _ts()
    created_at: dt.datetime = _created()
    updated_at: dt.datetime = _created()


class Touch(SQLModel, table=True):
    """A send claim and its outcome (the outbox). The unique key is enrollment, step, repeat
    and round, so a retried activity finds its own claim instead of sending twice.

    `status`: claimed (reserved; a provider call may be in flight), retrying (the provider
    refused for now; nothing went out), unclear (a crash left no answer and the transport
    cannot say whether it was accepted: held for an operator), sent, delivered,
    undelivered, failed, skipped, stopped."""

    __tablename__ = "touches"
    __table_args__ = (
        sa.Index("ix_touches_contact_claimed", "contact_id", "claimed_at"),
        sa.Index("ix_touches_sender_claimed", "sender", "claimed_at"),
    )
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    key: str = Field(max_length=200, unique=True)
    enrollment_id: uuid.UUID = Field(foreign_key="enrollments.id", index=True)
    contact_id: uuid.UUID = Field(foreign_key="contacts.id", index=True)
    step_id: str = Field(max_length=63)
    channel: str = Field(max_length=10)
    variant: str | None = Field(default=None, max_length=63)
    template: str | None = Field(default=None, max_length=127)
    template_version: str | None = Field(default=None, max_length=64)
    sender: str | None = Field(default=None, max_length=320)
    status: str = Field(default="claimed", max_length=20, index=True)
    provider_id: str | None = Field(default=None, max_length=200, index=True)
    attempts: int = Field(default=0)
    error_code: str | None = Field(default=None, max_length=50)
    error: str | None = Field(default=None, sa_column=Column(sa.Text, nullable=True))
    scheduled_at: dt.datetime | None = _ts()
    claimed_at: dt.datetime = _created()
    sent_at: dt.datetime | None = _ts()
    status_at: dt.datetime | None = _ts()


class Task(SQLModel, table=True):
    """Work for a rep (a call, a LinkedIn touch, QBR prep) created by a cadence step."""

    __tablename__ = "tasks"
    __table_args__ = (sa.Index("ix_tasks_owner_due", "owner_id", "status", "due_at"),)
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    key: str = Field(max_length=200, unique=True)
    enrollment_id: uuid.UUID = Field(foreign_key="enrollments.id", index=True)
    contact_id: uuid.UUID = Field(foreign_key="contacts.id", index=True)
    owner_id: str | None = Field(default=None, max_length=100, index=True)
    step_id: str = Field(max_length=63)
    kind: str = Field(max_length=20)
    title: str = Field(max_length=300)
    instructions: str | None = Field(default=None, sa_column=Column(sa.Text, nullable=True))
    status: str = Field(default="open", max_length=20, index=True)
    outcome: str | None = Field(default=None, max_length=500)
    due_at: dt.datetime | None = _ts()
    sla_at: dt.datetime | None = _ts()
    escalated_to: str | None = Field(default=None, max_length=100)
    completed_by: str | None = Field(default=None, max_length=200)
    completed_at: dt.datetime | None = _ts()
    created_at: dt.datetime = _created()


class Suppression(SQLModel, table=True):
    """Do not contact: an address (or a whole contact) on a channel, and why.

    Kept by address as well as by contact, so a re-imported contact with the same phone is
    still suppressed. `lifted_at` records a re-opt-in (START) instead of deleting the row.
    """

    __tablename__ = "suppressions"
    __table_args__ = (sa.Index("ix_suppressions_active", "channel", "address", postgresql_where=sa.text("lifted_at IS NULL")),)
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    contact_id: uuid.UUID | None = Field(default=None, foreign_key="contacts.id", index=True)
    channel: str = Field(max_length=10, description="email, sms, call or all")
    address: str | None = Field(default=None, max_length=320)
    reason: str = Field(max_length=30)
    source: str | None = Field(default=None, max_length=100)
    created_at: dt.datetime = _created()
    lifted_at: dt.datetime | None = _ts()


class InboundEvent(SQLModel, table=True):
    """Everything that came back from the world, written before it is acted on.

    (source, event_id) is unique, so a duplicate delivery is recognised and processed once.
    """

    __tablename__ = "inbound_events"
    __table_args__ = (sa.UniqueConstraint("source", "event_id", name="uq_inbound_events_source_id"),)
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    source: str = Field(max_length=30)
    event_id: str = Field(max_length=200)
    type: str = Field(max_length=30)
    contact_id: uuid.UUID | None = Field(default=None, foreign_key="contacts.id", index=True)
    status: str = Field(default="received", max_length=20, index=True, description="received, processed, unmatched, failed")
    payload: dict[str, Any] = _json()
    result: dict[str, Any] = _json()
    attempts: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    received_at: dt.datetime = _created()
    processed_at: dt.datetime | None = _ts()


class AuditEntry(SQLModel, table=True):
    """One line of the append-only audit log, hash-chained to the line before it.

    Holds ids, actors, reasons and decisions; never message bodies, emails or phone numbers.
    """

    __tablename__ = "audit_log"
    id: int | None = Field(default=None, sa_column=Column(sa.BigInteger, primary_key=True, autoincrement=True))
    at: dt.datetime = _created()
    actor: str = Field(max_length=200)
    action: str = Field(max_length=50, index=True)
    enrollment_id: uuid.UUID | None = Field(default=None, index=True)
    contact_id: uuid.UUID | None = Field(default=None, index=True)
    reason: str | None = Field(default=None, sa_column=Column(sa.Text, nullable=True))
    details: dict[str, Any] = _json()
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64, unique=True)


class DevOutbox(SQLModel, table=True):
    """What `cadence dev` captured: texts recorded instead of sent (no Twilio credentials) and
    emails received by its local SMTP sink (`body` holds the whole RFC 5322 message)."""

    __tablename__ = "dev_outbox"
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    channel: str = Field(default="sms", max_length=10)
    to: str = Field(max_length=320)
    sender: str | None = Field(default=None, max_length=320)
    subject: str | None = Field(default=None, max_length=1000)
    body: str = Field(sa_column=Column(sa.Text, nullable=False))
    touch_key: str | None = Field(default=None, max_length=200)
    message_id: str | None = Field(default=None, max_length=998, index=True)
    created_at: dt.datetime = _created()


class ApiKey(SQLModel, table=True):
    """An API key: shown once at creation, stored only as a SHA-256 hash, with one role."""

    __tablename__ = "api_keys"
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(max_length=200)
    role: str = Field(max_length=20)
    prefix: str = Field(max_length=16, index=True, description="First characters, to recognise a key in lists")
    hash: str = Field(max_length=64, unique=True)
    created_at: dt.datetime = _created()
    last_used_at: dt.datetime | None = _ts()
    revoked_at: dt.datetime | None = _ts()


class AuditHead(SQLModel, table=True):
    """The newest link of the audit chain, kept beside it so cutting entries off the end of
    the log is detected too (a chain alone cannot tell)."""

    __tablename__ = "audit_head"
    id: int = Field(default=1, primary_key=True)
    last_id: int = Field(default=0, sa_column=Column(sa.BigInteger, nullable=False, server_default="0"))
    last_hash: str = Field(max_length=64)
    count: int = Field(default=0, sa_column=Column(sa.BigInteger, nullable=False, server_default="0"))


class WorkflowHistory(SQLModel, table=True):
    """The full Temporal history of one closed run of an enrollment, kept after Temporal's
    retention drops it: what auditors read, and the replay corpus for new worker code."""

    __tablename__ = "workflow_histories"
    __table_args__ = (sa.UniqueConstraint("workflow_id", "run_id", name="uq_workflow_histories_run"),)
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    workflow_id: str = Field(max_length=200, index=True)
    run_id: str = Field(max_length=64)
    enrollment_id: uuid.UUID | None = Field(default=None, index=True)
    status: str = Field(max_length=30)
    started_at: dt.datetime | None = _ts()
    closed_at: dt.datetime | None = _ts()
    events: int = Field(default=0)
    history: dict[str, Any] = _json()
    archived_at: dt.datetime = _created()


class RequestKey(SQLModel, table=True):
    """An Idempotency-Key a caller sent with an enrollment request, and what it produced: a
    retry with the same key gets the same answer instead of a second enrollment."""

    __tablename__ = "request_keys"
    actor: str = Field(primary_key=True, max_length=200, description="Who sent it: keys are scoped to their caller")
    key: str = Field(primary_key=True, max_length=200)
    fingerprint: str = Field(max_length=64, description="Hash of the request the key first came with")
    enrollment_id: uuid.UUID = Field(foreign_key="enrollments.id", index=True)
    created: bool = Field(description="Whether that request created the enrollment")
    created_at: dt.datetime = _created()


class Operation(SQLModel, table=True):
    """A bulk operation over enrollments (migrate to another version, pause, resume, stop):
    previewed first, with every enrollment it would touch listed in `operation_items`, then
    applied (once) by a workflow that works through the list at a steady rate.

    `status`: previewed, applying, done, or expired (a preview too old to apply)."""

    __tablename__ = "operations"
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    action: str = Field(max_length=10, description="migrate, pause, resume or stop")
    status: str = Field(default="previewed", max_length=12, index=True)
    cadence_id: uuid.UUID | None = Field(default=None, foreign_key="cadences.id", index=True)
    to_version_id: uuid.UUID | None = Field(default=None, foreign_key="cadence_versions.id")
    filter: dict[str, Any] = _json()
    reason: str = Field(sa_column=Column(sa.Text, nullable=False))
    until: dt.datetime | None = _ts()
    outcomes: dict[str, Any] = _json()
    total: int = Field(default=0)
    rate_per_second: float = Field(default=20.0)
    spread_per_second: float = Field(default=10.0)
    created_by: str = Field(max_length=200)
    created_at: dt.datetime = _created()
    expires_at: dt.datetime = _ts(nullable=False)
    applied_by: str | None = Field(default=None, max_length=200)
    applied_at: dt.datetime | None = _ts()
    finished_at: dt.datetime | None = _ts()


class OperationItem(SQLModel, table=True):
    """One enrollment of an operation: what the preview said would happen to it, and what
    did. `status`: pending, applied, stale (it changed since the preview; nothing was done),
    skipped (nothing to do any more, e.g. it ended) or failed."""

    __tablename__ = "operation_items"
    __table_args__ = (sa.Index("ix_operation_items_pending", "operation_id", "status", "seq"),)
    operation_id: uuid.UUID = Field(foreign_key="operations.id", primary_key=True)
    enrollment_id: uuid.UUID = Field(foreign_key="enrollments.id", primary_key=True)
    seq: int
    outcome: str = Field(max_length=12, description="What the preview expects (a migration outcome, or the action)")
    preview: dict[str, Any] = _json()
    status: str = Field(default="pending", max_length=10)
    message: str | None = Field(default=None, sa_column=Column(sa.Text, nullable=True))
    applied_at: dt.datetime | None = _ts()


class Engagement(SQLModel, table=True):
    """One thing a contact did with what Cadence sent, against the touch that caused it:
    delivered (a carrier's receipt), opened, clicked, replied (with its intent), booked a
    meeting, bounced (hard or soft), complained, opted out, or (a rep) completed a task.

    Written before the pixel, redirect or webhook answers. `dedup_key` (the provider's id,
    the tracking token) makes a repeat a no-op. Opens and clicks a machine made (Apple's
    privacy proxy, link scanners) are kept with `machine` set and never counted as a
    person's. An email's own delivery is its touch's sent mark (SMTP acceptance), not a row."""

    __tablename__ = "engagements"
    __table_args__ = (
        sa.Index("ix_engagements_touch", "touch_id", "kind"),
        sa.Index("ix_engagements_enrollment", "enrollment_id", "kind"),
        sa.Index("ix_engagements_at", "at"),
    )
    id: int | None = Field(default=None, sa_column=Column(sa.BigInteger, primary_key=True, autoincrement=True))
    dedup_key: str = Field(max_length=300, unique=True)
    kind: str = Field(max_length=20)
    touch_id: uuid.UUID | None = Field(default=None, foreign_key="touches.id")
    enrollment_id: uuid.UUID | None = Field(default=None, foreign_key="enrollments.id")
    contact_id: uuid.UUID | None = Field(default=None, foreign_key="contacts.id", index=True)
    machine: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    detail: dict[str, Any] = _json()
    at: dt.datetime = _created()


# --- report rollups (see models.rollups): kept per enrollment, refreshed incrementally ------


def _str(length: int) -> Any:
    return Field(default=None, max_length=length)


class ReportEnrollment(SQLModel, table=True):
    """One enrollment as the reports count it: where it stands, who it concerns, and what
    its touches and engagements add up to."""

    __tablename__ = "report_enrollments"
    __table_args__ = (sa.Index("ix_report_enrollments_scope", "cadence_id", "created_at"),)
    enrollment_id: uuid.UUID = Field(primary_key=True)
    cadence_id: uuid.UUID
    version_id: uuid.UUID
    created_at: dt.datetime = _ts(nullable=False)
    ended_at: dt.datetime | None = _ts()
    status: str = Field(max_length=20)
    current_step: int | None = None
    owner_id: str | None = _str(100)
    persona: str | None = _str(50)
    industry: str | None = _str(100)
    tier: str | None = _str(50)
    first_touch_at: dt.datetime | None = _ts()
    sent: int = 0
    emailed: bool = False
    opened: bool = False
    clicked: bool = False
    complained: bool = False
    first_reply_at: dt.datetime | None = _ts()
    reply_intent: str | None = _str(20)
    # What the row was computed from, so a refresh recomputes only what changed since.
    source_updated_at: dt.datetime | None = _ts()
    contact_updated_at: dt.datetime | None = _ts()
    engagements: int = 0


class StepCounts(SQLModel):
    """What a step's messages came to: the columns `report_steps` and `report_step_totals`
    share (people's opens and clicks; a machine's apart)."""

    touches: int = 0
    sent: int = 0
    delivered: int = 0
    skipped: int = 0
    failed: int = 0
    opened: int = 0
    machine_opened: int = 0
    clicked: int = 0
    machine_clicked: int = 0
    replied: int = 0
    bounced: int = 0
    opted_out: int = 0
    complained: int = 0


class ReportStep(StepCounts, table=True):
    """One step of one enrollment: its touches (and tasks) and what became of them."""

    __tablename__ = "report_steps"
    __table_args__ = (sa.Index("ix_report_steps_scope", "cadence_id", "created_at"),)
    enrollment_id: uuid.UUID = Field(primary_key=True)
    step_id: str = Field(primary_key=True, max_length=63)
    channel: str | None = _str(10)
    variant: str | None = _str(63)
    cadence_id: uuid.UUID
    version_id: uuid.UUID
    created_at: dt.datetime = _ts(nullable=False)
    status: str = Field(max_length=20)
    owner_id: str | None = _str(100)
    persona: str | None = _str(50)
    industry: str | None = _str(100)
    tier: str | None = _str(50)
    tasks: int = 0


class ReportDay(SQLModel, table=True):
    """One UTC day of one enrollment: messages sent, and people's opens, clicks and replies."""

    __tablename__ = "report_days"
    __table_args__ = (sa.Index("ix_report_days_scope", "cadence_id", "created_at"),)
    enrollment_id: uuid.UUID = Field(primary_key=True)
    day: dt.date = Field(primary_key=True)
    cadence_id: uuid.UUID
    version_id: uuid.UUID
    created_at: dt.datetime = _ts(nullable=False)
    owner_id: str | None = _str(100)
    persona: str | None = _str(50)
    industry: str | None = _str(100)
    tier: str | None = _str(50)
    sent: int = 0
    opened: int = 0
    clicked: int = 0
    replied: int = 0


class ReportMark(SQLModel, table=True):
    """How far the rollups have been brought: everything changed before `refreshed_to` is in."""

    __tablename__ = "report_marks"
    name: str = Field(primary_key=True, max_length=50)
    refreshed_to: dt.datetime = _ts(nullable=False)
    enrollments: int = Field(default=0, description="Enrollments the last refresh recomputed")


class ReportStepTotal(StepCounts, table=True):
    """`report_steps` summed per day of enrollment start, version, owner, cohort, step, channel
    and variant (blank for none): what the step reports read for whole days."""

    __tablename__ = "report_step_totals"
    cadence_id: uuid.UUID = Field(primary_key=True)
    version_id: uuid.UUID = Field(primary_key=True)
    created_day: dt.date = Field(primary_key=True)
    owner_id: str = Field(primary_key=True, max_length=100)
    persona: str = Field(primary_key=True, max_length=50)
    industry: str = Field(primary_key=True, max_length=100)
    tier: str = Field(primary_key=True, max_length=50)
    step_id: str = Field(primary_key=True, max_length=63)
    channel: str = Field(primary_key=True, max_length=10)
    variant: str = Field(primary_key=True, max_length=63)
    enrollments: int = 0
    with_sent: int = 0
    with_skipped: int = 0
    with_failed: int = 0
    responded: int = 0


class ReportDayTotal(SQLModel, table=True):
    """`report_days` summed per day of enrollment start, version, owner, cohort and day."""

    __tablename__ = "report_day_totals"
    cadence_id: uuid.UUID = Field(primary_key=True)
    version_id: uuid.UUID = Field(primary_key=True)
    created_day: dt.date = Field(primary_key=True)
    owner_id: str = Field(primary_key=True, max_length=100)
    persona: str = Field(primary_key=True, max_length=50)
    industry: str = Field(primary_key=True, max_length=100)
    tier: str = Field(primary_key=True, max_length=50)
    day: dt.date = Field(primary_key=True)
    sent: int = 0
    opened: int = 0
    clicked: int = 0
    replied: int = 0
