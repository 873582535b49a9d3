"""Events about contacts: written first, then delivered, never lost, each applied once.

Everything that comes back from the world (an API event, a Twilio text or status callback,
an email reply or bounce, an unsubscribe, a rep closing a task) is stored as an
`inbound_events` row, together with the suppression it implies, in one transaction, before
the caller gets its answer. Delivery to the contact's open enrollments (signals) follows;
`starter.service.delivery` retries whatever is left undelivered (a crash, Temporal briefly
down). The (source, event_id) key makes a repeated delivery a no-op, and the workflows
ignore a signal they have already seen. A reply can also pause the other contacts at the
account, and a named event can enroll the contact through the event rules.

Cadence records one kind itself: a contact's date fields (its own or its account's) changed.
It is delivered the same way, so a running renewal enrollment follows a new renewal date
even when Temporal was briefly away.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ValidationError
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Session, select

from cadence import events as vocabulary
from cadence.definition import CadenceDefinition
from cadence.events import EventKind
from cadence.scoring import ScoringConfig
from core import metrics
from models import audit, engagements
from models.cadences import bundle_of
from models.contacts import as_uuid, effective_dates, find_contact, suppress
from models.enrollments import OPEN
from models.payloads import ContactEventSignal, DatesChangedSignal, NamedEventSignal, ReplySignal, TaskCompletedSignal
from models.tables import Contact, Enrollment, InboundEvent, Task
from starter.errors import CadenceError, Invalid
from starter.service import rules
from starter.service.backend import Backend
from starter.temporal import Signal

log = logging.getLogger("cadence.inbound")


class EventOutcome(BaseModel):
    """What happened to an event: recorded once, then delivered (or kept as unmatched)."""

    event_id: str
    status: str
    duplicate: bool = False
    contact_ids: list[str] = []
    delivered_to: list[str] = []
    not_running: list[str] = []
    enrolled: list[str] = []


@dataclass
class Recorded:
    """An inbound event as stored: its row id, whether it is new, who it concerns."""

    id: uuid.UUID
    created: bool
    status: str
    contact_ids: list[str] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)
    follow_ups: list[uuid.UUID] = field(default_factory=list)
    """Events this one led to (a lead score crossing a threshold), to deliver after it."""


def record(
    session: Session,
    *,
    source: str,
    event_id: str,
    type: str,
    contact_ids: Iterable[uuid.UUID],
    payload: dict[str, Any],
    scoring: ScoringConfig | None = None,
    deliver: bool = True,
    touch_id: uuid.UUID | None = None,
) -> Recorded:
    """Store the event (once per source and id) in the caller's transaction, with the
    engagement it stands for (a reply with its intent, a bounce, an opt-out...) against
    `touch_id` (the email a reply answers) or the contact's newest touch.

    With no matching contact it is kept as `unmatched`, visible to operators; events that
    need no delivery (a status callback) are stored as `processed`.
    """
    contacts = [str(c) for c in contact_ids]
    status = "received" if deliver and contacts else ("unmatched" if deliver else "processed")
    new_id = uuid.uuid4()
    now = dt.datetime.now(dt.UTC)
    inserted = session.exec(
        insert(InboundEvent)  # type: ignore[call-overload]
        .values(
            id=new_id,
            source=source,
            event_id=event_id,
            type=type,
            contact_id=uuid.UUID(contacts[0]) if contacts else None,
            status=status,
            payload={**payload, "contact_ids": contacts},
            result={},
            attempts=0,
            received_at=now,
            processed_at=now if status != "received" else None,
        )
        .on_conflict_do_nothing(index_elements=["source", "event_id"])
        .returning(InboundEvent.id)
    ).first()
    if inserted is not None:
        metrics.INBOUND_EVENTS.labels(type).inc()
        follow_ups = _engagement(session, scoring, source, event_id, type, payload, contacts, touch_id)
        return Recorded(new_id, True, status, contacts, follow_ups=follow_ups)
    existing = session.exec(select(InboundEvent).where(InboundEvent.source == source, InboundEvent.event_id == event_id)).one()
    return Recorded(existing.id, False, existing.status, list(existing.payload.get("contact_ids", [])), dict(existing.result))


def _engagement(
    session: Session,
    scoring: ScoringConfig | None,
    source: str,
    event_id: str,
    type: str,
    payload: dict[str, Any],
    contacts: list[str],
    touch_id: uuid.UUID | None,
) -> list[uuid.UUID]:
    found = engagements.of_event(type, payload)
    if found is None:
        return []
    assert scoring is not None, f"a {type} event is an engagement: record it with the scoring config"
    kind, detail = found
    enrollment_id = None
    if kind == "task_completed":
        task_id = as_uuid(str(payload.get("task_id") or ""))
        task = session.get(Task, task_id) if task_id is not None else None
        if task is None or task.status != "completed":
            return []
        enrollment_id = task.enrollment_id
    follow_ups: list[uuid.UUID] = []
    for contact in contacts:
        noted = engagements.note(
            session,
            scoring=scoring,
            kind=kind,
            dedup_key=f"{kind}:{source}:{event_id}:{contact}",
            contact_id=uuid.UUID(contact),
            touch_id=touch_id if len(contacts) == 1 else None,
            enrollment_id=enrollment_id,
            channel=payload.get("channel") if payload.get("channel") in ("email", "sms") else None,
            detail=detail,
        )
        follow_ups += score_events(session, scoring, noted)
    return follow_ups


def score_events(session: Session, scoring: ScoringConfig, noted: engagements.Noted | None) -> list[uuid.UUID]:
    """Record the named event `score_<name>` for each threshold an engagement lifted its
    contact through (once per engagement and threshold); their ids, to deliver like any
    event: to the contact's enrollments (`exit_on: [event:score_hot]`) and the event rules."""
    if noted is None or noted.contact_id is None:
        return []
    out = []
    for threshold in noted.crossed:
        recorded = record(
            session,
            source="scoring",
            event_id=f"score:{noted.id}:{threshold.name}",
            type=EventKind.event,
            contact_ids=[noted.contact_id],
            payload={"name": f"score_{threshold.name}", "data": {"score": noted.score, "threshold": threshold.at_least}},
            scoring=scoring,
        )
        if recorded.created and recorded.status == "received":
            out.append(recorded.id)
    return out


def suppress_for(
    session: Session, contacts: list[Contact], *, type: str, channel: str | None, source: str, reason: str | None = None
) -> None:
    """Write the suppressions an event implies (an opt-out on a channel, a hard bounce, a
    complaint), each audited, in the event's own transaction."""
    implied = vocabulary.suppression_of(type, channel)
    if implied is None:
        return
    for contact in contacts:
        suppress(session, contact, channel=implied.channel, reason=reason or implied.reason, source=source)
        audit.append(
            session,
            actor=source,
            action=f"suppressed_{implied.channel}",
            contact_id=contact.id,
            reason=reason or implied.reason,
            details={"event": type, "channel": implied.channel},
        )


async def send_event(
    backend: Backend,
    type: str,
    contact: str,
    *,
    event_id: str,
    intent: str | None = None,
    return_date: dt.date | None = None,
    name: str | None = None,
    task_id: str | None = None,
    outcome: str | None = None,
    channel: str | None = None,
    data: dict[str, Any] | None = None,
    source: str = "api",
) -> EventOutcome:
    """Record an event about a contact (by id or external id), then deliver it to every open
    enrollment of that contact (each applies it once).

    The event is written first, with any suppression it implies (an opt-out, a bounce), so
    it is never lost. An unknown contact is recorded as unmatched, not refused: an operator
    can see it. Sending the same event id again is harmless.
    """
    kind = _kind(type)
    _signal(kind, event_id, intent=intent, return_date=return_date, name=name, task_id=task_id, outcome=outcome, channel=channel)
    payload = {
        "intent": intent,
        "return_date": return_date.isoformat() if return_date else None,
        "name": name,
        "task_id": task_id,
        "outcome": outcome,
        "channel": channel,
        "data": data or {},
        "contact_ref": contact,
    }

    def store(session: Session) -> Recorded:
        person = find_contact(session, contact)
        contacts = [person] if person is not None else []
        recorded = record(
            session,
            source=source,
            event_id=event_id,
            type=kind.value,
            contact_ids=[c.id for c in contacts],
            payload=payload,
            scoring=backend.scoring,
        )
        if recorded.created:
            suppress_for(session, contacts, type=kind, channel=channel, source=source)
        return recorded

    recorded = await backend.db(store)
    delivered = await deliver(backend, recorded.id) if recorded.status == "received" else dict(recorded.result)
    for follow_up in recorded.follow_ups:  # a lead score it lifted through a threshold (retried by the sweeper)
        await deliver(backend, follow_up)
    if not delivered and recorded.status == "received":
        # Temporal did not take it just now; the sweeper will deliver it.
        return EventOutcome(event_id=event_id, status="received", duplicate=not recorded.created, contact_ids=recorded.contact_ids)
    return EventOutcome(
        event_id=event_id,
        status="unmatched" if not recorded.contact_ids else "processed",
        duplicate=not recorded.created,
        contact_ids=recorded.contact_ids,
        delivered_to=list(delivered.get("delivered_to", [])),
        not_running=list(delivered.get("not_running", [])),
        enrolled=list(delivered.get("enrolled", [])),
    )


def _kind(type: str) -> EventKind:
    try:
        return EventKind(type)
    except ValueError:
        allowed = [k.value for k in EventKind]
        raise Invalid(f"unknown event type {type!r}; use one of {', '.join(allowed)}", {"field": "type", "allowed": allowed}) from None


def _signal(kind: str, event_id: str, **kw: Any) -> Signal:
    """The signal payload an event of this kind is delivered as (the API checks the same)."""
    try:
        if kind == EventKind.reply:
            return ReplySignal(event_id=event_id, intent=kw["intent"] or "neutral", return_date=kw["return_date"], channel=kw["channel"])
        if kind == EventKind.event:
            if not kw["name"]:
                raise Invalid("a named event needs 'name'", {"field": "name"})
            return NamedEventSignal(event_id=event_id, name=kw["name"])
        if kind == EventKind.task_completed:
            if not kw["task_id"]:
                raise Invalid("task_completed needs 'task_id'", {"field": "task_id"})
            return TaskCompletedSignal(event_id=event_id, task_id=kw["task_id"], outcome=kw["outcome"] or "completed")
        return ContactEventSignal(event_id=event_id, channel=kw["channel"])
    except ValidationError as err:
        problem = err.errors()[0]
        raise Invalid(str(problem["msg"]), {"field": ".".join(str(p) for p in problem["loc"])}) from None


async def deliver(backend: Backend, row_id: uuid.UUID) -> dict[str, Any]:
    """Signal every open enrollment of the event's contacts, apply event rules, and record
    what happened. Returns {} when the event is not ready or Temporal refused (retried later)."""

    def claim(session: Session) -> InboundEvent | None:
        row = session.exec(select(InboundEvent).where(InboundEvent.id == row_id).with_for_update(skip_locked=True)).first()
        if row is None or row.status != "received":
            return None
        row.attempts += 1
        session.add(row)
        return row

    row = await backend.db(claim)
    if row is None:
        return {}
    payload = row.payload
    signal_name = vocabulary.signal_of(row.type)
    delivered: list[str] = []
    not_running: list[str] = []
    enrolled: list[str] = []
    paused: list[str] = []
    try:
        for contact_id in payload.get("contact_ids", []):
            if signal_name is not None:
                reached, gone = await _signal_contact(backend, contact_id, signal_name, _stored_signal(row))
                delivered += reached
                not_running += gone
            if row.type == EventKind.event and payload.get("name"):
                enrolled += await rules.enroll_for_event(backend, contact_id, payload["name"], payload.get("data") or {})
        if row.type == EventKind.reply and delivered:
            paused = await _same_account_pause(backend, delivered)
    except CadenceError as err:
        log.warning("inbound event %s not delivered yet: %s", row.event_id, err.message)
        return {}
    outcome = {"delivered_to": delivered, "not_running": not_running, "enrolled": enrolled, "account_paused": paused}

    def done(session: Session) -> None:
        session.exec(
            sa.update(InboundEvent)
            .where(InboundEvent.id == row_id)  # type: ignore[arg-type]
            .values(status="processed", result=outcome, processed_at=dt.datetime.now(dt.UTC))
        )

    await backend.db(done)
    metrics.INBOUND_LAG.observe(max((dt.datetime.now(dt.UTC) - row.received_at).total_seconds(), 0.0))
    return outcome


def _stored_signal(row: InboundEvent) -> Signal:
    """The signal a recorded event is delivered as, rebuilt from its row."""
    payload = row.payload
    event_id = f"{row.source}:{row.event_id}"
    if row.type == vocabulary.DATES_CHANGED:
        return DatesChangedSignal.model_validate({"event_id": event_id, "dates": payload.get("dates") or {}, "as_of": payload.get("as_of")})
    return _signal(
        row.type,
        event_id,
        intent=payload.get("intent"),
        return_date=dt.date.fromisoformat(payload["return_date"]) if payload.get("return_date") else None,
        name=payload.get("name"),
        task_id=payload.get("task_id"),
        outcome=payload.get("outcome"),
        channel=payload.get("channel"),
    )


# --- date changes ------------------------------------------------------------------------------


@dataclass
class DatesChange:
    """What a write did to one contact's date facts: the fields it set or changed (the date
    rules fire on them) and the change recorded for its open enrollments (None: none)."""

    contact_id: str
    newly_set: set[str]
    event: uuid.UUID | None


def note_dates(session: Session, contact: Contact, *, before: dict[str, dt.date], own: set[str] | None = None) -> DatesChange | None:
    """After a write to the contact or its account, in the same transaction: compare its date
    facts with `before` and record the change for delivery. `own`: date fields of the
    contact's own that the write set (they fire the date rules even when the account had the
    same date). None when its dates did not change."""
    after = effective_dates(session, contact)
    newly_set = (own or set()) | {name for name, value in after.items() if before.get(name) != value}
    event = _record_dates(session, contact, before, after) if after != before else None
    if not newly_set and event is None:
        return None
    return DatesChange(str(contact.id), newly_set, event)


def _record_dates(session: Session, contact: Contact, before: dict[str, dt.date], after: dict[str, dt.date]) -> uuid.UUID | None:
    """Record the new date facts for the contact's open enrollments (None when it has none)."""
    open_one = session.exec(
        select(Enrollment.id).where(Enrollment.contact_id == contact.id, Enrollment.status.in_(OPEN)).limit(1)  # type: ignore[attr-defined]
    ).first()
    if open_one is None:
        return None
    # Read after the write took its row lock: a later write of the same dates reads later.
    as_of = dt.datetime.now(dt.UTC)
    changed = sorted(name for name in before.keys() | after.keys() if before.get(name) != after.get(name))
    payload = {"dates": {name: value.isoformat() for name, value in sorted(after.items())}, "as_of": as_of.isoformat(), "changed": changed}
    event_id = f"dates:{contact.id}:{as_of.isoformat()}"
    return record(session, source="crm", event_id=event_id, type=vocabulary.DATES_CHANGED, contact_ids=[contact.id], payload=payload).id


async def dates_changed(backend: Backend, changes: Iterable[DatesChange | None]) -> list[str]:
    """After the write committed: tell each contact's open enrollments their new dates (an
    undelivered change is retried by the sweeper), then fire the date rules; returns the
    enrollments the rules started or found."""
    enrolled: list[str] = []
    for change in changes:
        if change is None:
            continue
        if change.event is not None:
            await deliver(backend, change.event)
        if change.newly_set:
            enrolled += await rules.enroll_for_dates(backend, change.contact_id, change.newly_set)
    return enrolled


async def _signal_contact(backend: Backend, contact_id: str, signal_name: str, signal: Signal) -> tuple[list[str], list[str]]:
    """Signal every open enrollment of one contact; returns (reached, no longer running)."""

    def open_rows(session: Session) -> list[tuple[str, str]]:
        rows = session.exec(
            select(Enrollment.id, Enrollment.workflow_id).where(Enrollment.contact_id == uuid.UUID(contact_id), Enrollment.status.in_(OPEN))  # type: ignore[attr-defined]
        ).all()
        return [(str(i), w) for i, w in rows]

    reached: list[str] = []
    gone: list[str] = []
    for enrollment_id, workflow_id in await backend.db(open_rows):
        (reached if await backend.workflows.signal(workflow_id, signal_name, signal) else gone).append(enrollment_id)
    return reached, gone


async def _same_account_pause(backend: Backend, replied_enrollments: list[str]) -> list[str]:
    """A reply from one contact pauses the other contacts' enrollments at that account, in
    cadences that ask for it (`pause_account_on_reply`)."""

    def targets(session: Session) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for enrollment_id in replied_enrollments:
            row = session.get(Enrollment, uuid.UUID(enrollment_id))
            if row is None or row.account_id is None:
                continue
            definition: CadenceDefinition = bundle_of(session, row.cadence_version_id).definition
            if not definition.pause_account_on_reply:
                continue
            others = session.exec(
                select(Enrollment).where(
                    Enrollment.account_id == row.account_id,
                    Enrollment.cadence_id == row.cadence_id,
                    Enrollment.contact_id != row.contact_id,
                    Enrollment.status.in_(OPEN),  # type: ignore[attr-defined]
                )
            ).all()
            out += [(str(o.id), str(row.contact_id)) for o in others]
        return out

    # Imported here: commands reads accounts through contacts, which records date changes here.
    from starter.service import commands

    paused: list[str] = []
    for enrollment_id, replier in await backend.db(targets):
        try:
            await commands.pause(
                backend,
                enrollment_id,
                actor="rule:same-account",
                reason=f"another contact at this account replied (contact {replier})",
                request_id=f"same-account:{enrollment_id}:{replier}",
            )
            paused.append(enrollment_id)
        except CadenceError as err:
            log.info("same-account pause of %s skipped: %s", enrollment_id, err.message)
    return paused
