"""What the console's pages show beside the enrollment itself: people as people recognise
them, a customer with its contacts and open enrollments, the rep task queue, and how many
audit entries record a command (so a page can wait until the workflow has written it)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, func, select

from models import scores
from models.enrollments import OPEN
from models.tables import Account, AuditEntry, Cadence, Contact, Enrollment, Task, Touch
from starter.service.backend import Backend
from starter.service.contacts import account_row
from starter.service.tasks import OPEN_TASKS, local_due

QUEUE_LIMIT = 200


def contact_label(person: Contact | None) -> str:
    """A contact as people recognise it: name and external id."""
    if person is None:
        return "unknown contact"
    name = " ".join(p for p in (person.first_name, person.last_name) if p)
    return f"{name} ({person.external_id})" if name else person.external_id


@dataclass
class Labels:
    """Names for the contacts and accounts a list mentions."""

    contacts: dict[str, str] = field(default_factory=dict)
    accounts: dict[str, str] = field(default_factory=dict)


async def labels(backend: Backend, contact_ids: Iterable[str], account_ids: Iterable[str]) -> Labels:
    """Contact labels and account names by id."""
    contacts = {uuid.UUID(c) for c in contact_ids}
    accounts = {uuid.UUID(a) for a in account_ids}

    def load(session: Session) -> Labels:
        people = session.exec(select(Contact).where(Contact.id.in_(contacts))).all() if contacts else []  # type: ignore[attr-defined]
        firms = session.exec(select(Account).where(Account.id.in_(accounts))).all() if accounts else []  # type: ignore[attr-defined]
        return Labels({str(p.id): contact_label(p) for p in people}, {str(a.id): a.name for a in firms})

    return await backend.db(load)


async def account_id(backend: Backend, ref: str) -> str:
    """An account's id from its id or external id; NotFound otherwise."""

    return await backend.db(lambda session: str(account_row(session, ref).id))


@dataclass
class People:
    """The contact and account an enrollment concerns."""

    contact: Contact | None
    label: str
    account: Account | None


async def people(backend: Backend, contact_id: str, account: str | None) -> People:
    """The contact (and account) of an enrollment."""

    def load(session: Session) -> People:
        person = session.get(Contact, uuid.UUID(contact_id))
        firm = session.get(Account, uuid.UUID(account)) if account else None
        return People(person, contact_label(person), firm)

    return await backend.db(load)


async def customer(backend: Backend, ref: str) -> dict[str, Any]:
    """An account with its contacts and its open enrollments (each with cadence and contact)."""

    def load(session: Session) -> dict[str, Any]:
        account = account_row(session, ref)
        contacts = session.exec(select(Contact).where(Contact.account_id == account.id).order_by(Contact.external_id)).all()
        rows = session.exec(
            select(Enrollment, Cadence.key)
            .join(Cadence, Cadence.id == Enrollment.cadence_id)  # type: ignore[arg-type]
            .where(Enrollment.account_id == account.id, Enrollment.status.in_(OPEN))  # type: ignore[attr-defined]
            .order_by(Enrollment.created_at)  # type: ignore[arg-type]
        ).all()
        names = {c.id: contact_label(c) for c in contacts}
        enrollments = [{"row": e, "cadence": key, "contact": names.get(e.contact_id, str(e.contact_id))} for e, key in rows]
        paused = account.pause_in_force(dt.datetime.now(dt.UTC))
        lead_scores = {c.id: scores.current(c, backend.scoring) for c in contacts}
        return {"account": account, "paused": paused, "contacts": contacts, "enrollments": enrollments, "scores": lead_scores}

    return await backend.db(load)


def _contact_labels(session: Session, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    return {c.id: contact_label(c) for c in session.exec(select(Contact).where(Contact.id.in_(ids))).all()}  # type: ignore[attr-defined]


async def task_queue(backend: Backend, owner: str | None) -> dict[str, Any]:
    """Open and overdue tasks, soonest due first (one owner's, or everyone's), with the
    contact's label, whether each is overdue, and the owners who have open tasks."""

    def load(session: Session) -> dict[str, Any]:
        conditions: list[Any] = [Task.status.in_(OPEN_TASKS)]  # type: ignore[attr-defined]
        if owner:
            conditions.append(Task.owner_id == owner)
        total = session.exec(select(func.count()).select_from(Task).where(*conditions)).one()
        soonest = Task.due_at.asc().nulls_last()  # type: ignore[union-attr]
        rows = session.exec(select(Task).where(*conditions).order_by(soonest, Task.created_at, Task.id).limit(QUEUE_LIMIT)).all()  # type: ignore[arg-type]
        ids = {t.contact_id for t in rows}
        people = {c.id: c for c in session.exec(select(Contact).where(Contact.id.in_(ids))).all()} if ids else {}  # type: ignore[attr-defined]
        owners = session.exec(select(Task.owner_id).where(Task.status.in_(OPEN_TASKS), Task.owner_id.is_not(None)).distinct()).all()  # type: ignore[attr-defined,union-attr]
        now = dt.datetime.now(dt.UTC)
        tasks = [
            {
                "row": t,
                "contact": contact_label(people[t.contact_id]) if t.contact_id in people else str(t.contact_id),
                "local": local_due(t.due_at, people[t.contact_id].timezone if t.contact_id in people else None),
                "overdue": t.status == "overdue" or (t.due_at is not None and t.due_at < now),
            }
            for t in rows
        ]
        return {"tasks": tasks, "total": total, "owners": sorted(o for o in owners if o)}

    return await backend.db(load)


async def unclear_touches(backend: Backend) -> dict[str, Any]:
    """Touches a crash left unclear, oldest first, with the contact's label: the operator's
    list of sends to check by hand."""

    def load(session: Session) -> dict[str, Any]:
        condition = Touch.status == "unclear"
        total = session.exec(select(func.count()).select_from(Touch).where(condition)).one()
        rows = session.exec(select(Touch).where(condition).order_by(Touch.claimed_at, Touch.id).limit(QUEUE_LIMIT)).all()  # type: ignore[arg-type]
        names = _contact_labels(session, {t.contact_id for t in rows})
        return {"touches": [{"row": t, "contact": names.get(t.contact_id, str(t.contact_id))} for t in rows], "total": total}

    return await backend.db(load)


async def cadence_keys(backend: Backend) -> list[str]:
    """Every cadence key, for filters."""
    return await backend.db(lambda session: [c.key for c in session.exec(select(Cadence).order_by(Cadence.key)).all()])


async def audit_count(backend: Backend, *, action: str, actor: str, enrollment_id: str | None = None, account_id: str | None = None) -> int:
    """How many audit entries record this action by this actor on an enrollment (or on any
    enrollment of an account)."""

    def count(session: Session) -> int:
        conditions: list[Any] = [AuditEntry.action == action, AuditEntry.actor == actor]
        if enrollment_id is not None:
            conditions.append(AuditEntry.enrollment_id == uuid.UUID(enrollment_id))
        if account_id is not None:
            of_account = select(Enrollment.id).where(Enrollment.account_id == uuid.UUID(account_id))
            conditions.append(AuditEntry.enrollment_id.in_(of_account))  # type: ignore[union-attr]
        return int(session.exec(select(func.count()).select_from(AuditEntry).where(*conditions)).one())

    return await backend.db(count)
