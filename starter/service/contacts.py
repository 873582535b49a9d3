"""Contacts and accounts (the CRM side): create or update by external id, read, import a
CSV. A date field set for the first time (or changed), on the contact or on its account,
fires the matching date rules, so setting `renewal_date` starts the renewal cadence; and
the contact's open enrollments are told the new dates, so a running renewal follows them."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from pydantic import BaseModel
from sqlmodel import Session, select

from cadence.scoring import ScoringConfig
from models import scores
from models.contacts import contacts_of_account, effective_dates, find_account, find_contact, upsert_account, upsert_contact
from models.enrollments import OPEN
from models.schemas import AccountIn, ContactIn, ContactOut, FieldError
from models.tables import Account, Contact, Enrollment
from starter.errors import Invalid, NotFound
from starter.service import contact_import, events
from starter.service.backend import Backend


class ContactSaved(ContactOut):
    """The saved contact, and any enrollments its new date fields triggered (event rules)."""

    enrolled: list[str] = []


class AccountPause(BaseModel):
    """The account's pause: who, why, since and until when (None: until resumed)."""

    actor: str
    reason: str
    at: dt.datetime
    until: dt.datetime | None = None


class AccountOut(BaseModel):
    """An account as the API returns it, with its open enrollments counted and its pause
    (None when it is not paused)."""

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


class ImportRowError(BaseModel):
    """A row that was not imported, and why."""

    row: int
    field: str
    message: str
    external_id: str | None = None


class ImportResult(BaseModel):
    """What a CSV import did: counts, and every refused row with its number and field."""

    imported: int
    created: int
    updated: int
    failed: int
    errors: list[ImportRowError]


def contact_out(row: Contact, scoring: ScoringConfig) -> ContactOut:
    """The caller's view of a contact, with its lead score as it stands now."""
    data = {**row.model_dump(), "id": str(row.id), "account_id": str(row.account_id) if row.account_id else None}
    return ContactOut.model_validate({**data, "score": scores.current(row, scoring)})


async def save_contact(backend: Backend, data: ContactIn) -> tuple[ContactSaved, bool]:
    """Create the contact or update the fields given (by `external_id`); returns (saved,
    created). A newly set date field fires the date rules; changed dates move its open
    enrollments."""

    def write(session: Session) -> tuple[ContactOut, bool, events.DatesChange | None]:
        row, created, change = upsert_noting_dates(session, data)
        return contact_out(row, backend.scoring), created, change

    try:
        out, created, change = await backend.db(write)
    except FieldError as exc:
        raise Invalid(exc.message, {"field": exc.field}) from None
    enrolled = await events.dates_changed(backend, [change])
    return ContactSaved(**out.model_dump(), enrolled=enrolled), created


def upsert_noting_dates(session: Session, data: ContactIn) -> tuple[Contact, bool, events.DatesChange | None]:
    """Upsert the contact and note what it did to its dates (its own, or its account's when
    it joins another account)."""
    before = find_contact(session, data.external_id)
    own_before = dict(before.dates) if before is not None else {}
    facts_before = effective_dates(session, before) if before is not None else {}
    row, created = upsert_contact(session, data)
    own = {k for k, v in row.dates.items() if v and own_before.get(k) != v}
    return row, created, events.note_dates(session, row, before=facts_before, own=own)


async def get_contact(backend: Backend, ref: str) -> ContactOut:
    """A contact by id or external id."""

    def load(session: Session) -> ContactOut:
        row = find_contact(session, ref)
        if row is None:
            raise NotFound(f"contact {ref!r} not found", {"field": "contact_id"})
        return contact_out(row, backend.scoring)

    return await backend.db(load)


def _account_out(session: Session, row: Account) -> AccountOut:
    open_ids = session.exec(select(Enrollment.id).where(Enrollment.account_id == row.id, Enrollment.status.in_(OPEN))).all()  # type: ignore[attr-defined]
    pause = None
    if row.paused_at is not None and row.pause_in_force(dt.datetime.now(dt.UTC)):
        pause = AccountPause(actor=row.paused_by or "system", reason=row.pause_reason or "", at=row.paused_at, until=row.paused_until)
    return AccountOut(**{**row.model_dump(), "id": str(row.id), "open_enrollments": len(open_ids), "pause": pause})


async def save_account(backend: Backend, data: AccountIn) -> tuple[AccountOut, bool]:
    """Create or update an account by `external_id`; returns (account, created). A date
    field set or changed on the account (a renewal date) fires the date rules for each of
    its contacts that has no date of its own by that name, and moves their open enrollments."""

    def write(session: Session) -> tuple[AccountOut, bool, list[events.DatesChange | None]]:
        existing = session.exec(select(Account).where(Account.external_id == data.external_id)).first()
        people = contacts_of_account(session, existing.id) if existing is not None else []
        before = {person.id: effective_dates(session, person) for person in people}
        row = upsert_account(session, data)
        changes = [events.note_dates(session, person, before=before[person.id]) for person in people]
        return _account_out(session, row), existing is None, changes

    out, created, changes = await backend.db(write)
    await events.dates_changed(backend, changes)
    return out, created


def account_row(session: Session, ref: str) -> Account:
    """The account's row by id or external id; NotFound otherwise."""
    row = find_account(session, ref)
    if row is None:
        raise NotFound(f"account {ref!r} not found", {"field": "account_id"})
    return row


async def get_account(backend: Backend, ref: str) -> AccountOut:
    """An account by id or external id, with its open enrollments counted."""
    return await backend.db(lambda session: _account_out(session, account_row(session, ref)))


async def import_contacts(backend: Backend, text: str) -> ImportResult:
    """Import contacts from CSV text: valid rows are imported even when others fail, and
    each failed row is reported with its number (the header is row 1) and field."""
    try:
        report = await asyncio.to_thread(contact_import.import_csv, backend.engine, text, upsert_noting_dates)
    except contact_import.CsvError as exc:
        raise Invalid(exc.message, exc.details) from None
    await events.dates_changed(backend, report.date_changes)
    return ImportResult(
        imported=report.imported,
        created=report.created,
        updated=report.updated,
        failed=len(report.errors),
        errors=[ImportRowError(row=e.row, field=e.field, message=e.message, external_id=e.external_id) for e in report.errors],
    )
