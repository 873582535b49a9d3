"""What the Cadence API answers, as typed models (the same fields as its OpenAPI document;
the client's tests compare them). Unknown fields from a newer server are ignored."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any, Literal, TypedDict

from pydantic import BaseModel, ConfigDict


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Status(StrEnum):
    """An enrollment's lifecycle; every status after `paused` is final."""

    pending = "pending"
    active = "active"
    paused = "paused"
    completed = "completed"
    replied = "replied"
    meeting_booked = "meeting_booked"
    bounced = "bounced"
    opted_out = "opted_out"
    stopped = "stopped"
    switched = "switched"
    exited = "exited"
    failed = "failed"

    @property
    def ended(self) -> bool:
        """Whether the enrollment is over."""
        return self not in (Status.pending, Status.active, Status.paused)


class Enrollment(_Model):
    """An enrollment as Postgres mirrors it: ids, status, what is next and when, and why."""

    id: str
    workflow_id: str
    cadence_id: str
    cadence_key: str
    cadence_version: int | None = None
    version_hash: str | None = None
    contact_id: str
    account_id: str | None
    owner_id: str | None
    status: str
    current_step: int | None
    next_step_id: str | None = None
    next_step_at: dt.datetime | None
    waiting_reason: str | None
    outcome_reason: str | None
    touches_sent: int
    enrolled_by: str
    created_at: dt.datetime
    ended_at: dt.datetime | None
    contact_score: float | None = None
    created: bool = False


class PauseInfo(_Model):
    """Who paused the enrollment, why, until when, and how much of the wait was left.
    `cause`: manual, or account (its account was paused; an account resume lifts it)."""

    actor: str
    reason: str
    at: dt.datetime
    until: dt.datetime | None = None
    remaining_seconds: float | None = None
    cause: Literal["manual", "account"] = "manual"


class PendingTask(_Model):
    """The rep task an enrollment is waiting on."""

    task_id: str
    step_id: str
    created_at: dt.datetime
    sla_at: dt.datetime | None = None
    overdue: bool = False
    on_overdue: Literal["wait", "continue"] = "wait"


class Counters(_Model):
    """What the enrollment has done so far (`unclear`: touches held because a crash left no
    answer on whether they went out)."""

    sent: int = 0
    unclear: int = 0
    skipped: int = 0
    deferred: int = 0
    failed: int = 0
    tasks: int = 0
    events: int = 0
    steps_run: int = 0


class LiveStatus(_Model):
    """What the workflow itself says it is doing now and why (the answer to a command too)."""

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


class Touch(_Model):
    """One email or text of an enrollment (sent, or skipped by the gate with its reason)."""

    id: str
    step_id: str
    channel: str
    variant: str | None
    template: str | None
    template_version: str | None
    status: str
    provider_id: str | None
    scheduled_at: dt.datetime | None
    sent_at: dt.datetime | None
    error_code: str | None
    error: str | None


class EnrollmentDetail(Enrollment):
    """An enrollment with its live status (None, with `live_error`, if no worker answered)
    and its touches."""

    live: LiveStatus | None = None
    live_error: str | None = None
    touches: list[Touch] = []


class Page(_Model):
    """One page of enrollments, with the total for paging."""

    items: list[Enrollment]
    total: int
    limit: int
    offset: int


class BulkRow(_Model):
    """The outcome of one contact of a bulk enrollment."""

    row: int
    contact: str
    ok: bool
    enrollment_id: str | None = None
    created: bool = False
    error: str | None = None
    code: str | None = None


class BulkResult(_Model):
    """Every row's outcome, with totals."""

    enrolled: int
    already_enrolled: int
    failed: int
    rows: list[BulkRow]


class EventOutcome(_Model):
    """What happened to an event: recorded once, then delivered (or kept as unmatched)."""

    event_id: str
    status: str
    duplicate: bool = False
    contact_ids: list[str] = []
    delivered_to: list[str] = []
    not_running: list[str] = []
    enrolled: list[str] = []


class TimelineEntry(_Model):
    """One line of an enrollment's story."""

    at: dt.datetime
    kind: str
    source: str
    actor: str | None = None
    summary: str
    details: dict[str, Any] = {}


class Timeline(_Model):
    """An enrollment's whole story, oldest first, and where its workflow history came from;
    with `scope` "contact", the contact's own story (suppressions, consent, events), with
    `enrollment_id` and `workflow_id` empty."""

    enrollment_id: str
    workflow_id: str
    history_source: str
    entries: list[TimelineEntry]
    scope: Literal["enrollment", "contact"] = "enrollment"
    contact_id: str | None = None


class Contact(_Model):
    """A contact (a person Cadence may reach), with consent, preferences and date fields."""

    id: str
    external_id: str
    account_id: str | None
    email: str | None
    phone: str | None
    first_name: str | None
    last_name: str | None
    title: str | None
    timezone: str | None
    country: str | None
    region: str | None
    persona: str | None
    industry: str | None
    tier: str | None
    owner_id: str | None
    consent: dict[str, Any]
    preferences: dict[str, Any]
    dates: dict[str, Any]
    fields: dict[str, Any]
    score: float = 0.0
    created_at: dt.datetime
    updated_at: dt.datetime


class SavedContact(Contact):
    """A saved contact, and the enrollments its newly set date fields started."""

    enrolled: list[str] = []


class ImportRowError(_Model):
    """A CSV row that was not imported, with its number (the header is row 1) and field."""

    row: int
    field: str
    message: str
    external_id: str | None = None


class ImportResult(_Model):
    """What a CSV import did: counts, and every refused row."""

    imported: int
    created: int
    updated: int
    failed: int
    errors: list[ImportRowError]


class AccountPause(_Model):
    """The account's pause: who, why, since and until when (None: until resumed)."""

    actor: str
    reason: str
    at: dt.datetime
    until: dt.datetime | None = None


class Account(_Model):
    """A company, with its open enrollments counted and its pause (None: not paused)."""

    id: str
    external_id: str
    name: str
    domain: str | None
    industry: str | None
    tier: str | None
    owner_id: str | None
    dates: dict[str, Any]
    fields: dict[str, Any]
    open_enrollments: int = 0
    pause: AccountPause | None = None


class EnrollmentOutcome(_Model):
    """What an account command did to one enrollment."""

    enrollment_id: str
    ok: bool
    status: str | None = None
    error: str | None = None


class AccountCommandResult(_Model):
    """Every enrollment an account pause or resume reached, and what it did to each."""

    account_id: str
    changed: int
    unchanged: int
    enrollments: list[EnrollmentOutcome]


class Task(_Model):
    """A rep task created by a cadence step (a call, a LinkedIn touch, QBR prep)."""

    id: str
    enrollment_id: str
    contact_id: str
    owner_id: str | None
    step_id: str
    kind: str
    title: str
    instructions: str | None
    status: str
    outcome: str | None
    due_at: dt.datetime | None
    sla_at: dt.datetime | None
    escalated_to: str | None
    completed_by: str | None
    completed_at: dt.datetime | None
    created_at: dt.datetime
    due_local: str | None = None  # the due time on the contact's clock


class TaskPage(_Model):
    """One page of tasks."""

    items: list[Task]
    total: int


class TouchRecord(_Model):
    """One email or text Cadence claimed, and what came of it. `status` "unclear": a crash
    left no answer on whether it went out; it is held, never sent twice, until resolved."""

    id: str
    enrollment_id: str
    contact_id: str
    step_id: str
    channel: str
    template: str | None
    variant: str | None
    status: str
    reason_code: str | None
    reason: str | None
    provider_id: str | None
    attempts: int
    scheduled_at: dt.datetime | None
    claimed_at: dt.datetime
    sent_at: dt.datetime | None
    status_at: dt.datetime | None


class TouchPage(_Model):
    """One page of touches."""

    items: list[TouchRecord]
    total: int


class Draft(_Model):
    """A cadence's draft (edited, validated, used by nobody) and what publishing it changes."""

    cadence_id: str
    key: str
    content_hash: str
    based_on_version: int | None
    updated_by: str
    updated_at: dt.datetime
    definition: dict[str, Any]
    changes: list[str]


class Published(_Model):
    """What a publish did; `follow_operation_id` is the migration it started when the
    cadence follows its published versions."""

    key: str
    version: int
    version_id: str
    content_hash: str
    created: bool
    previous_version: int | None
    changed: bool
    follow_operation_id: str | None = None


class StepRef(_Model):
    """A step of one of the two versions, by id and position (1-based)."""

    id: str
    type: str
    position: int


class Moved(_Model):
    """A step both versions have, in another place relative to the others."""

    id: str
    from_position: int
    to_position: int


class Change(_Model):
    """One field that differs, before and after, with a sentence."""

    field: str
    before: Any = None
    after: Any = None
    text: str


class StepChange(_Model):
    """A step both versions have whose content differs."""

    id: str
    kind: list[str]
    changes: list[Change]


class CadenceDiff(_Model):
    """Everything that differs between two versions."""

    added: list[StepRef] = []
    removed: list[StepRef] = []
    moved: list[Moved] = []
    changed: list[StepChange] = []
    templates_changed: list[str] = []
    cadence: list[Change] = []


class Diff(_Model):
    """Two versions compared: `diff` as data and `text`, one sentence per change."""

    key: str
    before: str
    after: str
    diff: CadenceDiff
    text: list[str]


class OperationItem(_Model):
    """One enrollment of a bulk operation: what the preview said, and what happened."""

    enrollment_id: str
    contact: str | None
    from_version: int | None
    outcome: str
    step_id: str | None = None
    due_at: dt.datetime | None = None
    sentence: str
    status: str
    message: str | None
    applied_at: dt.datetime | None


class Operation(_Model):
    """A bulk operation (migrate, pause, resume, stop): counts by previewed outcome, and
    `progress` by what happened (pending, applied, stale, skipped, failed)."""

    id: str
    action: Literal["migrate", "pause", "resume", "stop"]
    status: Literal["previewed", "applying", "done", "expired"]
    cadence_key: str | None
    to_version: int | None
    filter: dict[str, Any]
    reason: str
    until: dt.datetime | None
    total: int
    outcomes: dict[str, int]
    progress: dict[str, int]
    rate_per_second: float
    created_by: str
    created_at: dt.datetime
    expires_at: dt.datetime
    applied_by: str | None
    applied_at: dt.datetime | None
    finished_at: dt.datetime | None
    items: list[OperationItem] = []


class OperationItemPage(_Model):
    """One page of an operation's items."""

    items: list[OperationItem]
    total: int
    limit: int
    offset: int


class PreviewItem(_Model):
    """One line of a preview: when (UTC and the contact's local time), what, and why."""

    at: dt.datetime
    local: str
    label: str
    kind: str
    step_id: str | None = None
    step_index: int | None = None
    channel: str | None = None
    template: str | None = None
    variant: str | None = None
    code: str | None = None
    reason: str | None = None
    until: dt.datetime | None = None
    sentence: str


class Preview(_Model):
    """What a contact will receive and when (every touch and task, every deferral and skip
    with the gate's code and sentence), as the engine will do it, and what it assumed."""

    cadence_key: str
    version: str
    contact_id: str | None
    enrollment_id: str | None = None
    timezone: str
    start_at: dt.datetime
    horizon_end: dt.datetime
    items: list[PreviewItem]
    counts: dict[str, int]
    outcome: str
    other_open_enrollments: int
    assumptions: list[str]
    computed_ms: float


class WeekLoad(_Model):
    """One owner's week (from Monday, UTC): open tasks due, tasks the running enrollments will
    create, what was asked before levelling, and whether that is over the allowance."""

    week: dt.date
    open: int
    forecast: int
    by_kind: dict[str, int]
    asked: int
    total: int
    over: bool


class OwnerForecast(_Model):
    """An owner's coming weeks against their weekly allowance (None: no limit)."""

    owner_id: str | None
    capacity: int | None
    enrollments: int
    weeks: list[WeekLoad]
    over_weeks: int
    peak: int


class Forecast(_Model):
    """Rep tasks per owner per week from every running enrollment, owners over first."""

    start: dt.date
    weeks: int
    owners: list[OwnerForecast]
    enrollments: int
    unreadable: int
    computed_ms: float


class VariantResult(_Model):
    """One variant of a step: enrollments that got it, responses, rate, chance to be best."""

    variant: str
    exposed: int
    responded: int
    rate: float
    probability_best: float
    p_value_vs_leader: float | None


class StepTest(_Model):
    """A step's A/B test: `verdict` is winner, no_difference_yet or too_early."""

    step_id: str
    verdict: str
    leader: str | None
    reason: str
    variants: list[VariantResult]


class CohortFilter(TypedDict, total=False):
    """Keyword filters of a report: only these contacts' enrollments (any combination)."""

    owner: str
    persona: str
    industry: str
    industry_group: Literal["regulated", "standard"]
    tier: str


class ReportFilter(CohortFilter, total=False):
    """The cohort filters and one version of the cadence."""

    version: int


class ReportFilters(_Model):
    """Which enrollments a report counted besides the date range: a version, an owner, a cohort."""

    version: int | None = None
    owner: str | None = None
    persona: str | None = None
    industry: str | None = None
    industry_group: Literal["regulated", "standard"] | None = None
    tier: str | None = None


class VariantReport(_Model):
    """Every A/B-tested step of a cadence over a date range of enrollment starts."""

    cadence_key: str
    version: int | None
    since: dt.datetime
    until: dt.datetime
    filters: ReportFilters = ReportFilters()
    min_exposed: int
    min_responses: int
    steps: list[StepTest]


class OutcomeRow(_Model):
    """One group's enrollments and what became of them (rates per enrollment touched)."""

    key: str
    enrolled: int
    touched: int
    sent: int
    emailed: int
    opened: int
    clicked: int
    replied_positive: int
    replied_negative: int
    replied_neutral: int
    replied: int
    meetings: int
    switched: int
    opted_out: int
    bounced: int
    complained: int
    completed: int
    still_open: int
    response_rate: float
    open_rate: float
    click_rate: float
    opt_out_rate: float
    bounce_rate: float
    completion_rate: float
    first_touch_p50_seconds: float | None
    first_touch_p95_seconds: float | None
    first_reply_p50_seconds: float | None
    response_p50_seconds: float | None


class OutcomeReport(_Model):
    """A cadence's enrollments by version, owner or cohort."""

    cadence_key: str
    by: str
    since: dt.datetime
    until: dt.datetime
    filters: ReportFilters = ReportFilters()
    rows: list[OutcomeRow]


class FunnelStep(_Model):
    """A step: enrollments that reached it, its touches, and who ended there and how."""

    step_index: int | None
    step_id: str
    reached: int
    sent: int
    skipped: int
    failed: int
    ended_here: dict[str, int]


class FunnelReport(_Model):
    """Where a cadence's enrollments go, step by step, and where and why they leave."""

    cadence_key: str
    since: dt.datetime
    until: dt.datetime
    filters: ReportFilters = ReportFilters()
    enrolled: int
    steps: list[FunnelStep]


class TouchRow(_Model):
    """A step, channel or step/variant's messages: people's opens and clicks (a machine's
    apart), replies, bounces, opt-outs, and the rates per message delivered."""

    key: str
    sent: int
    delivered: int
    skipped: int
    failed: int
    opened: int
    machine_opened: int
    clicked: int
    machine_clicked: int
    replied: int
    bounced: int
    opted_out: int
    complained: int
    delivery_rate: float
    open_rate: float
    click_rate: float
    click_to_open_rate: float
    reply_rate: float
    bounce_rate: float
    opt_out_rate: float


class TouchReport(_Model):
    """A cadence's messages by step, channel or step and variant."""

    cadence_key: str
    by: str
    since: dt.datetime
    until: dt.datetime
    filters: ReportFilters = ReportFilters()
    rows: list[TouchRow]


class DayActivity(_Model):
    """One UTC day: messages sent, and people's opens, clicks and replies."""

    day: dt.date
    sent: int
    opened: int
    clicked: int
    replied: int


class DailyReport(_Model):
    """A cadence's activity day by day."""

    cadence_key: str
    since: dt.datetime
    until: dt.datetime
    filters: ReportFilters = ReportFilters()
    days: list[DayActivity]


class ComparedSide(_Model):
    """One side of a comparison: its outcomes and its chance to be the better one."""

    label: str
    cadence_key: str
    version: int | None
    outcomes: OutcomeRow
    probability_best: float
    p_value_vs_leader: float | None


class Comparison(_Model):
    """Two cadences or versions compared on response rate: winner, no_difference_yet or too_early."""

    since: dt.datetime
    until: dt.datetime
    filters: ReportFilters = ReportFilters()
    verdict: str
    leader: str | None
    reason: str
    min_exposed: int
    min_responses: int
    sides: list[ComparedSide]
