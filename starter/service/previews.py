"""Preview: "what will this contact receive, and when?" for a contact not yet enrolled (an
existing one, or one described inline) in any version of a cadence (published, a number, the
draft, or an inline definition), and "what happens next" for a running enrollment.

Computed by `cadence.preview`: the enrollment workflow's own state machine stepped through
time, every touch put to the real gate (`activities.gatekeeping.decide_touch`) and every rep
task to the real task planner (`activities.work.plan_task`), read-only, in one transaction
that writes nothing. The contact's other open enrollments are stepped alongside from their
live state, so their touches count against the caps as they will. Nothing starts a workflow.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
import zoneinfo
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.config import JsonDict
from sqlmodel import Session, select
from temporalio.service import RPCError

from activities.gatekeeping import cap_horizon, contact_facts, gate_reads, judge
from activities.work import plan_task
from cadence.calendar import zone
from cadence.contact_policy import ContactPolicy, EffectivePolicy
from cadence.contact_rules import ContactRules
from cadence.definition import CadenceBundle, CadenceDefinition, ReplyIntent
from cadence.gate import ContactFacts, GateDecision, Recent, local_label
from cadence.machine import EnrollmentMachine
from cadence.preview import Item, Ledger, Pause, Reply, TaskOutcome, Walker, walk
from cadence.steps import EmailStep, SmsStep, TaskStep
from models.cadences import bundle_of, find_cadence, published_version, version_number
from models.contacts import as_uuid, calendar_facts, find_contact, policy_in_force
from models.enrollments import account_pause
from models.payloads import CalendarFacts, EnrollmentInput
from models.tables import Account, CadenceDraft, CadenceVersion, Contact, Enrollment, Task
from starter.errors import Invalid, NotFound, Unavailable
from starter.service.backend import Backend
from starter.service.cadences import parse

OPEN = ("pending", "active", "paused")
# How far ahead a preview looks by default, and at most (the gate plans a year ahead).
DEFAULT_HORIZON_DAYS = 120
MAX_HORIZON_DAYS = 400
# A preview of someone not yet enrolled has no enrollment id yet: its A/B variants and its
# spread inside a send window (both keyed by that id) are shown for this stand-in.
STAND_IN_ID = "00000000-0000-4000-8000-000000000000"
ASSUMPTIONS = (
    "nobody replies, books a meeting, bounces or opts out unless a what-if says so",
    "each rep task is completed when it is due",
    "no other enrollment of the contact starts meanwhile, and no suppression or consent changes",
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InlineContact(_Strict):
    """A contact described in the request instead of stored: where and who it is, what it
    consented to and prefers, and its date fields."""

    timezone: str | None = Field(default=None, max_length=64, description="IANA zone, e.g. America/Chicago")
    country: str | None = Field(default=None, min_length=2, max_length=2)
    region: str | None = Field(default=None, max_length=10)
    persona: str | None = Field(default=None, max_length=50)
    industry: str | None = Field(default=None, max_length=100)
    tier: str | None = Field(default=None, max_length=50)
    owner_id: str | None = Field(default=None, max_length=100)
    has_email: bool = True
    has_phone: bool = True
    consent: dict[Literal["email", "sms", "call", "linkedin"], bool] = Field(default_factory=dict)
    channels: list[Literal["email", "sms", "call", "linkedin"]] | None = Field(default=None, description="Channels the contact accepts")
    topics_opted_out: list[str] = Field(default_factory=list, max_length=20)
    dates: dict[str, dt.date] = Field(default_factory=dict, max_length=20)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                zoneinfo.ZoneInfo(value)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {value!r} (use an IANA name such as America/Chicago)") from None
        return value

    @field_validator("country")
    @classmethod
    def _upper(cls, value: str | None) -> str | None:
        return value.upper() if value else value

    def as_row(self) -> Contact:
        """A Contact row that is never added to a session."""
        return Contact(
            id=uuid.uuid4(),
            external_id="(preview)",
            email="preview@invalid.example" if self.has_email else None,
            phone="+10000000000" if self.has_phone else None,
            timezone=self.timezone,
            country=self.country,
            region=self.region,
            persona=self.persona,
            industry=self.industry,
            tier=self.tier,
            owner_id=self.owner_id,
            consent={channel: {"granted": granted} for channel, granted in self.consent.items()},
            preferences={"channels": self.channels, "topics_opted_out": self.topics_opted_out}
            if self.channels is not None
            else {"topics_opted_out": self.topics_opted_out},
            dates={name: value.isoformat() for name, value in self.dates.items()},
        )


class ReplyWhatIf(_Strict):
    """What if the contact replies with this intent after that step ran (an out-of-office
    reply may say when the contact is back)."""

    step_id: str = Field(max_length=63)
    intent: ReplyIntent = ReplyIntent.positive
    after_hours: float = Field(default=1.0, ge=0, le=24 * 90)
    return_date: dt.date | None = None


class PauseWhatIf(_Strict):
    """What if a CS lead pauses the enrollment from `start` until `until` (None: no end)."""

    start: dt.datetime
    until: dt.datetime | None = None

    @model_validator(mode="after")
    def _ordered(self) -> PauseWhatIf:
        if self.start.tzinfo is None or (self.until is not None and self.until.tzinfo is None):
            raise ValueError("start and until must carry a time zone")
        if self.until is not None and self.until <= self.start:
            raise ValueError("until must be after start")
        return self


class WhatIfs(_Strict):
    """The optional what-ifs of a preview."""

    replies: list[ReplyWhatIf] = Field(default_factory=list, max_length=10)
    pauses: list[PauseWhatIf] = Field(default_factory=list, max_length=10)
    horizon_days: int = Field(default=DEFAULT_HORIZON_DAYS, ge=1, le=MAX_HORIZON_DAYS)


def _given(name: str, schema: JsonDict, other: str) -> JsonDict:
    return {"required": [name], "properties": {name: schema, other: {"type": "null"}}}


# Which of each pair a request gives, in the OpenAPI document too (absent or null: not given).
EITHER_OR: JsonDict = {
    "allOf": [
        {"anyOf": [_given("cadence", {"type": "string"}, "definition"), _given("definition", {"type": "string"}, "cadence")]},
        {"anyOf": [_given("contact_id", {"type": "string"}, "contact"), _given("contact", {"type": "object"}, "contact_id")]},
    ]
}


class PreviewRequest(WhatIfs):
    """A cadence version (by cadence and version, or an inline definition) and a contact (by
    id or external id, or inline), with an optional start and what-ifs."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=EITHER_OR)

    cadence: str | None = Field(default=None, min_length=1, max_length=200, description="Cadence id or key")
    version: int | Literal["published", "draft"] = "published"
    definition: str | None = Field(default=None, min_length=1, max_length=200_000, description="An inline definition (YAML or JSON)")
    contact_id: str | None = Field(default=None, min_length=1, max_length=200, description="Contact id or external id")
    contact: InlineContact | None = None
    start_at: dt.datetime | None = None

    @model_validator(mode="after")
    def _one_of_each(self) -> PreviewRequest:
        if (self.cadence is None) == (self.definition is None):
            raise ValueError("give either cadence (with an optional version) or an inline definition")
        if (self.contact_id is None) == (self.contact is None):
            raise ValueError("give either contact_id or an inline contact")
        if self.start_at is not None and self.start_at.tzinfo is None:
            raise ValueError("start_at must carry a time zone")
        return self


class PreviewItem(BaseModel):
    """One line of the calendar: when (UTC and the contact's local time), what, and why."""

    at: dt.datetime
    local: str = Field(description="The contact's local time, ISO 8601 with offset")
    label: str = Field(description='As people read it: "Mon 09:00 America/Chicago"')
    kind: str = Field(description="touch, task, crm_update, wait_event, deferred, skipped, stopped, event, ended or open")
    step_id: str | None = None
    step_index: int | None = None
    channel: str | None = None
    template: str | None = None
    variant: str | None = None
    code: str | None = None
    reason: str | None = None
    until: dt.datetime | None = None
    sentence: str = Field(description="The whole line in words")


class PreviewOut(BaseModel):
    """A preview: the calendar, what it assumed, and how long it took to work out."""

    cadence_key: str
    version: str = Field(description='"v3", "draft" or "inline"')
    contact_id: str | None
    enrollment_id: str | None = None
    timezone: str
    start_at: dt.datetime
    horizon_end: dt.datetime
    items: list[PreviewItem]
    counts: dict[str, int]
    outcome: str = Field(description="How the enrollment stands at the end: completed, opted_out, ... or open")
    other_open_enrollments: int
    assumptions: list[str]
    computed_ms: float


@dataclass(frozen=True)
class Party:
    """Who an enrollment's touches and tasks concern: its contact (and account), its
    cadence's rules, and the owner its rep tasks go to."""

    contact: Contact
    account: Account | None
    rules: ContactRules | None
    owner_id: str | None


@dataclass(frozen=True)
class PlannedTask:
    """A rep task a preview or forecast foresees: for whom, asked for when, due when."""

    owner_id: str | None
    kind: str
    requested: dt.datetime
    due_at: dt.datetime


@dataclass(frozen=True)
class _Seen:
    """What the gate reads about a contact, read once for a whole preview: nothing a
    preview does changes it (it writes nothing)."""

    facts: ContactFacts
    claimed: tuple[dt.datetime, ...]


class GateReader:
    """The activities' decisions (the gate for a touch, the planner for a task) asked
    read-only in one transaction, for every enrollment registered with `add`. The gate's
    reads are made once per contact (its counted touches and suppressions) and each
    decision is `activities.gatekeeping.judge`, the function the send path calls, with the
    claims the preview has simulated so far added. Tasks it plans count against their
    owner's weeks for the tasks planned after them."""

    def __init__(self, session: Session, config: ContactPolicy, now: dt.datetime) -> None:
        self.session = session
        self.config = config
        self.now = now
        self.parties: dict[str, Party] = {}
        self.planned: list[PlannedTask] = []
        self._policies: dict[str, EffectivePolicy] = {}
        self._seen: dict[uuid.UUID, _Seen] = {}
        self._owner_due: dict[str | None, list[dt.datetime]] = {}

    def add(self, enrollment_id: str, party: Party) -> None:
        """Register an enrollment the walk will ask about."""
        self.parties[enrollment_id] = party
        self._policies[enrollment_id] = policy_in_force(self.config, party.contact, party.account, party.rules)

    def _read(self, contact: Contact) -> _Seen:
        seen = self._seen.get(contact.id)
        if seen is None:
            horizons = [cap_horizon(p) for e, p in self._policies.items() if self.parties[e].contact.id == contact.id]
            since = self.now - max(horizons, default=dt.timedelta(0))
            claimed, _, suppressions = gate_reads(
                self.session, contact, since=since, sender=None, now=self.now, sender_cap=None, lock=False
            )
            seen = self._seen[contact.id] = _Seen(contact_facts(self.session, contact, suppressions), claimed)
        return seen

    def touch(self, enrollment_id: str, step: EmailStep | SmsStep, at: dt.datetime, ledger: Ledger) -> GateDecision:
        party, policy = self.parties[enrollment_id], self._policies[enrollment_id]
        seen = self._read(party.contact)
        since = at - cap_horizon(policy)
        recent = tuple(sorted(t for t in (*seen.claimed, *ledger.claimed) if t > since)) if policy.cap_list else ()
        return judge(party.contact, policy, seen.facts, step.type, step.topic, at, Recent(contact=recent), f"{enrollment_id}:{step.id}")

    def task(self, enrollment_id: str, step: TaskStep, at: dt.datetime) -> TaskOutcome:
        party = self.parties[enrollment_id]
        owner = party.owner_id or party.contact.owner_id
        plan = plan_task(
            self.session,
            self.config,
            party.contact,
            party.rules,
            kind=step.type,
            owner_id=owner,
            due_hours=step.task.due_hours,
            now=at,
            lock=False,
            also_due=self._owner_due.get(owner, ()),
        )
        if plan.refused is not None or plan.due_at is None:
            return TaskOutcome(refused=plan.refused)
        self._owner_due.setdefault(owner, []).append(plan.due_at)
        self.planned.append(PlannedTask(owner, step.type, plan.requested or at, plan.due_at))
        spec = step.task
        sla = plan.due_at + dt.timedelta(hours=max(spec.sla_hours - spec.due_hours, 0)) if spec.sla_hours else None
        return TaskOutcome(due_at=plan.due_at, sla_at=sla, moved_reason=plan.moved_reason, moved_code=plan.moved_code)


def _what_ifs(request: WhatIfs, definition: CadenceDefinition) -> tuple[list[Reply], list[Pause]]:
    ids = {step.id for step in definition.steps}
    replies = []
    for index, reply in enumerate(request.replies):
        if reply.step_id not in ids:
            raise Invalid(f"replies[{index}].step_id: the cadence has no step {reply.step_id!r}", {"field": f"replies[{index}].step_id"})
        if reply.return_date is not None and reply.intent != ReplyIntent.out_of_office:
            raise Invalid(f"replies[{index}].return_date: only an out-of-office reply has one", {"field": f"replies[{index}].return_date"})
        replies.append(Reply(reply.step_id, reply.intent, dt.timedelta(hours=reply.after_hours), reply.return_date))
    pauses = [Pause(p.start, p.until) for p in request.pauses]
    return replies, pauses


def _bundle(session: Session, request: PreviewRequest) -> tuple[str, CadenceBundle, ContactRules | None]:
    if request.definition is not None:
        bundle = parse(request.definition, source="definition")
        return "inline", bundle, bundle.definition.policy
    assert request.cadence is not None
    cadence = find_cadence(session, request.cadence)
    if cadence is None:
        raise NotFound(f"cadence {request.cadence!r} not found", {"field": "cadence"})
    if request.version == "draft":
        draft = session.get(CadenceDraft, cadence.id)
        if draft is None:
            raise NotFound(f"cadence {cadence.key!r} has no draft", {"field": "version"})
        bundle = CadenceBundle.model_validate({"definition": draft.definition, "templates": draft.templates})
        return "draft", bundle, bundle.definition.policy
    row = published_version(session, cadence) if request.version == "published" else version_number(session, cadence, request.version)
    if row is None:
        what = "no published version" if request.version == "published" else f"no version {request.version}"
        raise NotFound(f"cadence {cadence.key!r} has {what}", {"field": "version"})
    bundle = bundle_of(session, row.id)
    return f"v{row.version}", bundle, bundle.definition.policy


# Workflow queries in flight at once while reading enrollments' live state.
QUERIES_IN_FLIGHT = 16


async def live_states(backend: Backend, rows: list[Enrollment]) -> tuple[list[EnrollmentInput], int]:
    """The live state of each enrollment, read from its workflow (`QUERIES_IN_FLIGHT` at a
    time), and how many did not answer: those are left out, since what they will do cannot
    be foreseen."""
    slots = asyncio.Semaphore(QUERIES_IN_FLIGHT)

    async def one(row: Enrollment) -> EnrollmentInput | None:
        async with slots:
            try:
                return await backend.workflows.snapshot(row.workflow_id)
            except Exception:  # Temporal down, an older worker without the query, a workflow that just ended
                return None

    found = await asyncio.gather(*(one(row) for row in rows))
    return [s for s in found if s is not None], sum(s is None for s in found)


async def _others(backend: Backend, rows: list[Enrollment], skip: str | None) -> list[EnrollmentInput]:
    """The live state of the contact's other started open enrollments."""
    states, _ = await live_states(backend, [r for r in rows if str(r.id) != skip and r.status != "pending"])
    return states


def party_of(snapshot: EnrollmentInput, contact: Contact, account: Account | None) -> Party:
    """The party of a running enrollment, from its live parameters."""
    return Party(contact, account, snapshot.params.definition.policy, snapshot.params.owner_id)


def walker_of(enrollment_id: str, snapshot: EnrollmentInput, now: dt.datetime, task_due: dt.datetime | None = None) -> Walker:
    params = snapshot.params
    machine = EnrollmentMachine(
        params.definition, params.calendar.calendar(), snapshot.state.model_copy(deep=True) if snapshot.state else None
    )
    return Walker(enrollment_id, machine, now, record=False, task_due=task_due)


def _open_rows(session: Session, contact: Contact) -> list[Enrollment]:
    return list(session.exec(select(Enrollment).where(Enrollment.contact_id == contact.id, Enrollment.status.in_(OPEN))).all())  # type: ignore[attr-defined]


def task_due_of(session: Session, snapshot: EnrollmentInput) -> dt.datetime | None:
    task = snapshot.state.task if snapshot.state else None
    if task is None:
        return None
    key = as_uuid(task.task_id)
    row = session.get(Task, key) if key is not None else None
    return row.due_at if row is not None else None


def _out(
    items: list[Item],
    *,
    key: str,
    version: str,
    contact: Contact,
    stored: bool,
    start: dt.datetime,
    until: dt.datetime,
    others: int,
    began: float,
) -> PreviewOut:
    tz_name = contact.timezone or "UTC"
    tz = zone(contact.timezone)
    shown = [_item(item, tz_name, tz, start) for item in items]
    counts = {kind: sum(1 for i in items if i.kind == kind) for kind in ("touch", "task", "crm_update", "deferred", "skipped")}
    ended = next((item for item in items if item.kind == "ended"), None)
    outcome = (ended.code or "ended") if ended is not None else "open"
    return PreviewOut(
        cadence_key=key,
        version=version,
        contact_id=str(contact.id) if stored else None,
        timezone=tz_name,
        start_at=start,
        horizon_end=until,
        items=shown,
        counts=counts,
        outcome=outcome,
        other_open_enrollments=others,
        assumptions=list(ASSUMPTIONS),
        computed_ms=round((time.perf_counter() - began) * 1000, 1),
    )


def _item(item: Item, tz_name: str, tz: zoneinfo.ZoneInfo, start: dt.datetime) -> PreviewItem:
    label = local_label(item.at, tz_name, start)
    what = {
        "touch": lambda: f"{item.channel} {item.step_id} ({item.template}{', variant ' + item.variant if item.variant else ''})",
        "task": lambda: f"{'' if item.channel == 'task' else str(item.channel) + ' '}task {item.step_id} due: {item.reason}",
        "crm_update": lambda: f"CRM update {item.step_id}",
        "wait_event": lambda: f"{item.step_id} {item.reason}",
        "deferred": lambda: f"{item.channel} {item.step_id} {item.reason}",
        "skipped": lambda: f"{item.channel} {item.step_id} {item.reason}",
        "stopped": lambda: f"{item.channel} {item.step_id} {item.reason}",
        "event": lambda: item.reason or item.code or "",
        "ended": lambda: f"ends ({item.code}): {item.reason}",
        "open": lambda: f"still open at the end of the preview: {item.reason}",
    }[item.kind]()
    return PreviewItem(
        at=item.at.astimezone(dt.UTC),
        local=item.at.astimezone(tz).isoformat(),
        label=label,
        kind=item.kind,
        step_id=item.step_id,
        step_index=item.step_index,
        channel=item.channel,
        template=item.template,
        variant=item.variant,
        code=item.code,
        reason=item.reason,
        until=item.until,
        sentence=f"{label}: {what}",
    )


async def preview(backend: Backend, request: PreviewRequest, *, now: dt.datetime | None = None) -> PreviewOut:
    """What the contact would receive, and when, if enrolled now (or at `start_at`) in the
    cadence version. Writes nothing and starts nothing. `now`: Temporal's clock where it is
    not the wall clock (a time-skipping test server)."""
    began = time.perf_counter()
    now = now or dt.datetime.now(dt.UTC)
    start = max(request.start_at or now, now)
    until = start + dt.timedelta(days=request.horizon_days)

    def load(session: Session) -> tuple[str, CadenceBundle, ContactRules | None, Contact, Account | None, list[Enrollment]]:
        version, bundle, rules = _bundle(session, request)
        if request.contact is not None:
            return version, bundle, rules, request.contact.as_row(), None, []
        assert request.contact_id is not None
        person = find_contact(session, request.contact_id)
        if person is None:
            raise NotFound(f"contact {request.contact_id!r} not found", {"field": "contact_id"})
        account = session.get(Account, person.account_id) if person.account_id else None
        return version, bundle, rules, person, account, _open_rows(session, person)

    version, bundle, rules, person, account, rows = await backend.db(load)
    replies, pauses = _what_ifs(request, bundle.definition)
    snapshots = await _others(backend, rows, None)

    def run(session: Session) -> PreviewOut:
        reader = GateReader(session, backend.policy, now)
        reader.add(STAND_IN_ID, Party(person, account, rules, person.owner_id))
        facts = (
            calendar_facts(person, account)
            if request.contact is None
            else CalendarFacts(
                timezone=person.timezone, country=person.country, subdivision=person.region, dates=dict(request.contact.dates)
            )
        )
        machine = EnrollmentMachine(bundle.definition, facts.calendar())
        machine.start(now, start)
        held = account_pause(account)
        if held is not None:
            machine.pause(held.actor, held.reason, held.until, now, held.cause)
        subject = Walker(STAND_IN_ID, machine, now, replies, pauses)
        others = []
        for snapshot in snapshots:
            reader.add(snapshot.params.enrollment_id, party_of(snapshot, person, account))
            others.append(walker_of(snapshot.params.enrollment_id, snapshot, now, task_due_of(session, snapshot)))
        items = walk(subject, others, reader, until=until)
        return _out(
            items,
            key=bundle.definition.key,
            version=version,
            contact=person,
            stored=request.contact is None,
            start=start,
            until=until,
            others=len(others),
            began=began,
        )

    return await backend.background(run)


async def preview_enrollment(
    backend: Backend, enrollment_id: str, what_ifs: WhatIfs | None = None, *, now: dt.datetime | None = None
) -> PreviewOut:
    """What happens next in a running enrollment, from its live state (position, pause,
    counters, the task it waits for), to its end or the horizon. Needs a worker to answer
    the workflow's query."""
    began = time.perf_counter()
    what_ifs = what_ifs or WhatIfs()
    now = now or dt.datetime.now(dt.UTC)
    until = now + dt.timedelta(days=what_ifs.horizon_days)

    def load(session: Session) -> tuple[Enrollment, Contact, Account | None, list[Enrollment]]:
        key = as_uuid(enrollment_id)
        row = session.get(Enrollment, key) if key is not None else None
        if row is None:
            raise NotFound(f"enrollment {enrollment_id!r} not found", {"field": "enrollment_id"})
        person = session.get(Contact, row.contact_id)
        assert person is not None
        account = session.get(Account, person.account_id) if person.account_id else None
        return row, person, account, _open_rows(session, person)

    row, person, account, rows = await backend.db(load)
    if row.status not in OPEN:
        raise Invalid(f"the enrollment has already ended ({row.status}): nothing happens next", {"field": "enrollment_id"})
    try:
        snapshot = await backend.workflows.snapshot(row.workflow_id)
    except (RPCError, TimeoutError) as err:
        raise Unavailable(f"the enrollment's workflow did not answer: {getattr(err, 'message', None) or type(err).__name__}") from None
    replies, pauses = _what_ifs(what_ifs, snapshot.params.definition)
    snapshots = await _others(backend, rows, str(row.id))

    def run(session: Session) -> PreviewOut:
        reader = GateReader(session, backend.policy, now)
        reader.add(str(row.id), party_of(snapshot, person, account))
        subject = walker_of(str(row.id), snapshot, now, task_due_of(session, snapshot))
        subject.record, subject.replies, subject.pauses = True, replies, pauses
        others = []
        for other in snapshots:
            reader.add(other.params.enrollment_id, party_of(other, person, account))
            others.append(walker_of(other.params.enrollment_id, other, now, task_due_of(session, other)))
        items = walk(subject, others, reader, until=until)
        start = snapshot.state.rhythm_start if snapshot.state and snapshot.state.rhythm_start else now
        out = _out(
            items,
            key=snapshot.params.cadence_key,
            version=_version_of(session, snapshot.params.cadence_version_id),
            contact=person,
            stored=True,
            start=now,
            until=until,
            others=len(others),
            began=began,
        )
        return out.model_copy(update={"enrollment_id": str(row.id), "start_at": start})

    return await backend.background(run)


def _version_of(session: Session, version_id: str) -> str:
    version = session.get(CadenceVersion, uuid.UUID(version_id))
    return f"v{version.version}" if version is not None else "?"


def ics(out: PreviewOut) -> str:
    """The preview's touches and tasks as an iCalendar file (RFC 5545) for a rep's calendar:
    one 15-minute event per touch or task, deferrals and skips in the description of the
    step they concern."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    notes: dict[str | None, list[str]] = {}
    for item in out.items:
        if item.kind in ("deferred", "skipped", "stopped"):
            notes.setdefault(item.step_id, []).append(item.sentence)
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Cadence//Preview//EN",
        "CALSCALE:GREGORIAN",
        f"X-WR-CALNAME:{_text(out.cadence_key)}",
    ]
    for index, item in enumerate(i for i in out.items if i.kind in ("touch", "task")):
        start = item.at.astimezone(dt.UTC)
        what = f"{item.channel} {item.step_id}" if item.kind == "touch" else f"task {item.step_id}: {item.reason}"
        description = "\\n".join(_text(line) for line in [item.sentence, *notes.get(item.step_id, [])])
        lines += [
            "BEGIN:VEVENT",
            f"UID:{out.enrollment_id or out.contact_id or 'preview'}-{out.cadence_key}-{index}@cadence",
            f"DTSTAMP:{stamp}",
            f"DTSTART:{start:%Y%m%dT%H%M%SZ}",
            f"DTEND:{start + dt.timedelta(minutes=15):%Y%m%dT%H%M%SZ}",
            f"SUMMARY:{_text(f'{out.cadence_key}: {what}')}",
            f"DESCRIPTION:{description}",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "".join(_fold(line) + "\r\n" for line in lines)


def _text(value: str) -> str:
    return value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _fold(line: str) -> str:
    """Lines longer than 75 octets continue on the next line after a space."""
    raw = line.encode()
    if len(raw) <= 75:
        return line
    parts: list[str] = []
    current = b""
    for char in line:
        encoded = char.encode()
        if len(current) + len(encoded) > (75 if not parts else 74):
            parts.append(current.decode())
            current = b""
        current += encoded
    parts.append(current.decode())
    return "\r\n ".join(parts)
