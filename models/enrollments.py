"""Enrollment rows: idempotent creation, the no-contact period, and workflow parameters
(the status mirror is written by `models.mirror` only)."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Session, select

from cadence.ids import workflow_id
from cadence.machine import EnrollmentMachine
from cadence.rules import OPEN_STATUSES
from cadence.state import ACCOUNT_PAUSE_PREFIX, Mirror
from models import audit
from models.cadences import bundle_of
from models.contacts import calendar_facts
from models.payloads import ENGINE_REVISION, EnrollmentParams, PauseRequest
from models.tables import Account, Cadence, CadenceVersion, Contact, Enrollment, RequestKey

OPEN = [s.value for s in OPEN_STATUSES]
_OPEN_WHERE = sa.text("status IN ('pending', 'active', 'paused')")


def open_enrollment_of(session: Session, cadence_id: uuid.UUID, contact_id: uuid.UUID) -> Enrollment | None:
    """The contact's open enrollment in the cadence, if any."""
    return session.exec(
        select(Enrollment).where(
            Enrollment.cadence_id == cadence_id,
            Enrollment.contact_id == contact_id,
            Enrollment.status.in_(OPEN),  # type: ignore[attr-defined]
        )
    ).first()


def no_contact_until(session: Session, cadence_id: uuid.UUID, contact_id: uuid.UUID, days: int) -> dt.datetime | None:
    """When the no-contact period after the contact's last unanswered run of this cadence
    ends (None if there is none). "Unanswered" means every step ran with no response."""
    if days <= 0:
        return None
    ended = session.exec(
        select(sa.func.max(Enrollment.ended_at)).where(
            Enrollment.cadence_id == cadence_id, Enrollment.contact_id == contact_id, Enrollment.status == "completed"
        )
    ).one()
    return ended + dt.timedelta(days=days) if ended is not None else None


def create_or_get(
    session: Session, *, cadence: Cadence, version: CadenceVersion, contact: Contact, actor: str, start_at: dt.datetime | None = None
) -> tuple[Enrollment, bool]:
    """The contact's open enrollment in this cadence, created if there is none.

    Concurrent callers race on a partial unique index; exactly one insert wins and every
    other caller gets the winner's row, so one contact never runs twice in one cadence.
    """
    new_id = uuid.uuid4()
    inserted = session.exec(
        insert(Enrollment)  # type: ignore[call-overload]
        .values(
            id=new_id,
            cadence_id=cadence.id,
            cadence_version_id=version.id,
            contact_id=contact.id,
            account_id=contact.account_id,
            owner_id=contact.owner_id,
            workflow_id=workflow_id(cadence.id, contact.id),
            status="pending",
            enrolled_by=actor,
            started_at=start_at,
            created_at=dt.datetime.now(dt.UTC),
            updated_at=dt.datetime.now(dt.UTC),
            touches_sent=0,
        )
        .on_conflict_do_nothing(index_elements=["cadence_id", "contact_id"], index_where=_OPEN_WHERE)
        .returning(Enrollment.id)
    ).first()
    if inserted is None:
        existing = open_enrollment_of(session, cadence.id, contact.id)
        if existing is None:  # closed between the conflict and the read: try once more
            return create_or_get(session, cadence=cadence, version=version, contact=contact, actor=actor, start_at=start_at)
        return existing, False
    row = session.get(Enrollment, new_id)
    assert row is not None
    return row, True


def audit_enrolled(session: Session, row: Enrollment, *, cadence: Cadence, version: CadenceVersion, actor: str) -> None:
    """Record who enrolled whom in which version. Call it last in the transaction: the
    audit chain's lock is held until commit."""
    audit.append(
        session,
        actor=actor,
        action="enrolled",
        enrollment_id=row.id,
        contact_id=row.contact_id,
        reason=f"{cadence.key} v{version.version}",
        details={"cadence_id": str(cadence.id), "version_id": str(version.id), "version_hash": version.content_hash},
    )


def params_for(session: Session, enrollment: Enrollment, *, history_cap: int = 1000) -> EnrollmentParams:
    """Everything the workflow needs, built from the rows (the version's definition is pinned)."""
    cadence = session.get(Cadence, enrollment.cadence_id)
    version = session.get(CadenceVersion, enrollment.cadence_version_id)
    contact = session.get(Contact, enrollment.contact_id)
    assert cadence is not None and version is not None and contact is not None
    account = session.get(Account, contact.account_id) if contact.account_id else None
    return EnrollmentParams(
        enrollment_id=str(enrollment.id),
        cadence_id=str(cadence.id),
        cadence_key=cadence.key,
        cadence_version_id=str(version.id),
        version_hash=version.content_hash,
        contact_id=str(contact.id),
        account_id=str(contact.account_id) if contact.account_id else None,
        owner_id=contact.owner_id,
        definition=bundle_of(session, version.id).definition,
        calendar=calendar_facts(contact, account),
        start_at=enrollment.started_at,
        start_paused=account_pause(account),
        history_cap=history_cap,
        revision=ENGINE_REVISION,
    )


def opening(params: EnrollmentParams, now: dt.datetime) -> Mirror:
    """What the enrollments row says before its workflow writes anything: the first step
    planned as the workflow plans it when it starts (the same machine and calendar, from
    `now`), paused if the enrollment starts paused. The workflow is told what the row says
    and writes it again only if its own plan disagrees (one Postgres write less per start)."""
    machine = EnrollmentMachine(params.definition, params.calendar.calendar())
    machine.start(now, params.start_at)
    held = params.start_paused
    if held is not None:
        machine.pause(held.actor, held.reason, held.until, now, held.cause)
    return machine.mirror()


def account_pause(account: Account | None) -> PauseRequest | None:
    """The pause a new enrollment starts with while its account is paused."""
    if account is None or not account.pause_in_force(dt.datetime.now(dt.UTC)):
        return None
    return PauseRequest(
        actor=account.paused_by or "system",
        reason=ACCOUNT_PAUSE_PREFIX + (account.pause_reason or "paused"),
        until=account.paused_until,
        cause="account",
    )


def remembered(session: Session, actor: str, key: str) -> RequestKey | None:
    """What an earlier request with this Idempotency-Key (from this caller) produced."""
    return session.get(RequestKey, (actor, key))


def remember(session: Session, *, actor: str, key: str, fingerprint: str, enrollment_id: uuid.UUID, created: bool) -> None:
    """Keep what a request with an Idempotency-Key produced (the first writer wins a race)."""
    session.exec(
        insert(RequestKey)
        .values(
            actor=actor, key=key, fingerprint=fingerprint, enrollment_id=enrollment_id, created=created, created_at=dt.datetime.now(dt.UTC)
        )
        .on_conflict_do_nothing(index_elements=["actor", "key"])
    )
