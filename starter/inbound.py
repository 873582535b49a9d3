"""Inbound events: written first, then delivered, never lost, each applied once.

Everything that comes back from the world (an API event, a Twilio text or status callback,
an email reply or bounce, an unsubscribe) is stored as an `inbound_events` row, together
with any suppression it implies, in one transaction, before the caller gets its answer.
Delivery to the enrollments (signals) happens right after, in the background; a sweeper
retries anything left undelivered (a crash, Temporal briefly down). The (source, event_id)
key makes a repeated delivery from a provider a no-op, and the workflows ignore a signal
they have already seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Session, select

from cadence.definition import CadenceDefinition
from cadence.triggers import Rule
from models import audit
from models.cadences import bundle_of
from models.contacts import find_contact, suppress
from models.enrollments import OPEN
from models.tables import Contact, Enrollment, InboundEvent
from starter.client import CadenceClient, EventOutcome
from starter.errors import CadenceError

log = logging.getLogger("cadence.inbound")

SIGNALLED = ("reply", "meeting_booked", "bounce", "opt_out", "task_completed", "event")


@dataclass
class Recorded:
    """An inbound event as stored: its row id, whether it is new, who it concerns."""

    id: uuid.UUID
    created: bool
    status: str
    contact_ids: list[str] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)


def record(
    session: Session,
    *,
    source: str,
    event_id: str,
    type: str,
    contact_ids: Iterable[uuid.UUID],
    payload: dict[str, Any],
    deliver: bool = True,
) -> Recorded:
    """Store the event (once per source and id) in the caller's transaction.

    With no matching contact it is kept as `unmatched`, visible to operators; events that
    need no delivery (a status callback) are stored as `processed`.
    """
    contacts = [str(c) for c in contact_ids]
    status = "received" if deliver and contacts else ("unmatched" if deliver else "processed")
    new_id = uuid.uuid4()
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
            received_at=dt.datetime.now(dt.UTC),
            processed_at=dt.datetime.now(dt.UTC) if status != "received" else None,
        )
        .on_conflict_do_nothing(index_elements=["source", "event_id"])
        .returning(InboundEvent.id)  # type: ignore[arg-type]
    ).first()
    if inserted is not None:
        return Recorded(new_id, True, status, contacts)
    existing = session.exec(select(InboundEvent).where(InboundEvent.source == source, InboundEvent.event_id == event_id)).one()
    return Recorded(existing.id, False, existing.status, list(existing.payload.get("contact_ids", [])), dict(existing.result))


# Suppressions an event implies, written in the same transaction as the event itself.
SUPPRESSES = {
    "opt_out": ("all", "opt_out"),
    "bounce": ("email", "bounce"),
    "complaint": ("email", "complaint"),
}


def side_effects(session: Session, contacts: list[Contact], *, type: str, channel: str | None, source: str, reason: str | None = None) -> None:
    """Write the suppressions an event implies (an opt-out on a channel, a hard bounce)."""
    if type not in SUPPRESSES:
        return
    default_channel, default_reason = SUPPRESSES[type]
    target = channel if type == "opt_out" and channel else default_channel
    for contact in contacts:
        suppress(session, contact, channel=target, reason=reason or default_reason, source=source)
        audit.append(
            session, actor=source, action=f"suppressed_{target}", contact_id=contact.id, reason=reason or default_reason,
            details={"event": type, "channel": target},
        )


async def send_event(client: CadenceClient, type: str, contact_ref: str, *, event_id: str, source: str, payload: dict[str, Any]) -> EventOutcome:
    """Record an event for one contact (by id or external id) and deliver it at once."""

    def store(session: Session) -> tuple[Recorded, list[Contact]]:
        person = find_contact(session, contact_ref)
        contacts = [person] if person is not None else []
        recorded = record(
            session, source=source, event_id=event_id, type=type, contact_ids=[c.id for c in contacts],
            payload={**payload, "contact_ref": contact_ref},
        )
        if recorded.created:
            side_effects(session, contacts, type=type, channel=payload.get("channel"), source=source)
        return recorded, contacts

    recorded, contacts = await client._db(store)
    outcome = await deliver(client, recorded.id) if recorded.status == "received" else dict(recorded.result)
    if not outcome and recorded.status == "received":
        # Temporal did not take it just now; the sweeper will deliver it.
        return EventOutcome(event_id=event_id, status="received", duplicate=not recorded.created, contact_ids=recorded.contact_ids)
    return EventOutcome(
        event_id=event_id,
        status="unmatched" if not recorded.contact_ids else "processed",
        duplicate=not recorded.created,
        contact_ids=recorded.contact_ids,
        delivered_to=list(outcome.get("delivered_to", [])),
        not_running=list(outcome.get("not_running", [])),
        enrolled=list(outcome.get("enrolled", [])),
    )


async def deliver(client: CadenceClient, row_id: uuid.UUID) -> dict[str, Any]:
    """Signal every open enrollment of the event's contacts, apply event rules, and record
    what happened. Returns {} when the event is not ready or Temporal refused (retried later)."""

    def claim(session: Session) -> InboundEvent | None:
        row = session.exec(select(InboundEvent).where(InboundEvent.id == row_id).with_for_update(skip_locked=True)).first()
        if row is None or row.status != "received":
            return None
        row.attempts += 1
        session.add(row)
        return row

    row = await client._db(claim)
    if row is None:
        return {}
    payload = row.payload
    delivered: list[str] = []
    not_running: list[str] = []
    enrolled: list[str] = []
    paused: list[str] = []
    try:
        for contact_id in payload.get("contact_ids", []):
            if row.type in SIGNALLED:
                result = await client.signal_contact(
                    row.type,  # type: ignore[arg-type]
                    contact_id,
                    event_id=f"{row.source}:{row.event_id}",
                    intent=payload.get("intent"),
                    return_date=dt.date.fromisoformat(payload["return_date"]) if payload.get("return_date") else None,
                    name=payload.get("name"),
                    task_id=payload.get("task_id"),
                    outcome=payload.get("outcome"),
                    channel=payload.get("channel"),
                )
                delivered += result.delivered_to
                not_running += result.not_running
            if row.type == "event" and payload.get("name"):
                enrolled += await _apply_rules(client, contact_id, client.rules.for_event(payload["name"], payload.get("data") or {}))
        if row.type == "reply" and delivered:
            paused = await _same_account_pause(client, delivered)
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

    await client._db(done)
    return outcome


async def _apply_rules(client: CadenceClient, contact_id: str, rules: list[Rule]) -> list[str]:
    """Enroll the contact in each triggered cadence (idempotent: an open one is reused)."""
    enrolled = []
    for rule in rules:
        try:
            info = await client.enroll(rule.enroll, contact_id, actor=f"rule:{rule.name}")
            enrolled.append(info.id)
        except CadenceError as err:
            log.info("rule %s did not enroll %s: %s", rule.name, contact_id, err.message)
    return enrolled


async def _same_account_pause(client: CadenceClient, replied_enrollments: list[str]) -> list[str]:
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

    paused: list[str] = []
    for enrollment_id, replier in await client._db(targets):
        try:
            await client.pause(
                enrollment_id,
                actor="rule:same-account",
                reason=f"another contact at this account replied (contact {replier})",
                request_id=f"same-account:{enrollment_id}:{replier}",
            )
            paused.append(enrollment_id)
        except CadenceError as err:
            log.info("same-account pause of %s skipped: %s", enrollment_id, err.message)
    return paused


async def enroll_for_dates(client: CadenceClient, contact_id: str, newly_set: set[str]) -> list[str]:
    """Date rules: a contact (or account) date field set for the first time starts its cadence."""
    return await _apply_rules(client, contact_id, client.rules.for_dates(newly_set))


class InboundProcessor:
    """Background delivery for webhooks: prompt after each event, and a sweeper that retries
    whatever is left undelivered.

    Up to `max_in_flight` events are delivered at once (each is mostly waiting on Temporal
    and Postgres), so a burst of replies does not queue behind one another; an event is
    never delivered by two tasks of this process at the same time.
    """

    def __init__(self, client: CadenceClient, *, sweep_seconds: float = 5.0, max_in_flight: int = 16) -> None:
        self.client = client
        self.sweep_seconds = sweep_seconds
        self._queue: asyncio.Queue[uuid.UUID] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._slots = asyncio.Semaphore(max_in_flight)
        self._in_flight: set[uuid.UUID] = set()
        self._deliveries: set[asyncio.Task[None]] = set()

    def notify(self, event_row_id: uuid.UUID) -> None:
        """Ask for prompt delivery of a freshly recorded event."""
        self._queue.put_nowait(event_row_id)

    async def start(self) -> None:
        """Run the delivery loop in the background."""
        self._task = asyncio.create_task(self._run(), name="inbound-processor")

    async def stop(self) -> None:
        """Stop the loop; undelivered events stay recorded for the next start."""
        tasks = [t for t in (self._task, *self._deliveries) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            try:
                row_id = await asyncio.wait_for(self._queue.get(), timeout=self.sweep_seconds)
            except TimeoutError:
                try:
                    await self.sweep()
                except Exception:  # keep the loop alive; the next sweep retries
                    log.exception("inbound sweep failed")
                continue
            task = asyncio.create_task(self._deliver(row_id))
            self._deliveries.add(task)
            task.add_done_callback(self._deliveries.discard)

    async def _deliver(self, row_id: uuid.UUID) -> None:
        if row_id in self._in_flight:
            return
        self._in_flight.add(row_id)
        try:
            async with self._slots:
                await deliver(self.client, row_id)
        except Exception:  # the sweeper retries
            log.exception("inbound delivery failed")
        finally:
            self._in_flight.discard(row_id)

    async def sweep(self, older_than: dt.timedelta = dt.timedelta(seconds=2)) -> int:
        """Deliver events left in `received` (after a crash or an outage); returns how many."""

        def pending(session: Session) -> list[uuid.UUID]:
            cutoff = dt.datetime.now(dt.UTC) - older_than
            rows = session.exec(
                select(InboundEvent.id)
                .where(InboundEvent.status == "received", InboundEvent.received_at < cutoff, InboundEvent.attempts < 50)
                .order_by(InboundEvent.received_at)  # type: ignore[arg-type]
                .limit(200)
            ).all()
            return list(rows)

        ids = [row_id for row_id in await self.client._db(pending) if row_id not in self._in_flight]
        await asyncio.gather(*(self._deliver(row_id) for row_id in ids))
        return len(ids)


def contacts_by_phone(session: Session, phone: str) -> list[Contact]:
    """Every contact with this phone number (a shared line reaches them all)."""
    return list(session.exec(select(Contact).where(Contact.phone == phone, Contact.erased_at.is_(None))).all())  # type: ignore[union-attr]


def contacts_by_email(session: Session, address: str) -> list[Contact]:
    """Every contact with this email address (case-insensitive)."""
    return list(session.exec(select(Contact).where(sa.func.lower(Contact.email) == address.strip().lower())).all())  # type: ignore[arg-type]


def audit_inbound(session: Session, *, action: str, contact: Contact, reason: str, details: dict[str, Any]) -> None:
    """Record an inbound decision (opt-out, consent restored) in the audit log."""
    audit.append(session, actor="contact", action=action, contact_id=contact.id, reason=reason, details=details)
