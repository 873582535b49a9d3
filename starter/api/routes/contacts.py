"""Contacts: create or update by external id, read, and import a CSV."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from core.db import transaction
from models.contacts import find_contact, upsert_contact
from models.imports import CsvError, import_csv
from models.schemas import ContactIn, ContactOut
from models.tables import Contact
from starter.api.deps import ClientDep, EngineDep, Reader, Service
from starter.errors import Invalid, NotFound
from starter.inbound import enroll_for_dates

router = APIRouter(prefix="/v1/contacts", tags=["contacts"])


def contact_out(row: Contact) -> ContactOut:
    """The API shape of a contact."""
    return ContactOut.model_validate(
        {**row.model_dump(), "id": str(row.id), "account_id": str(row.account_id) if row.account_id else None}
    )


class ContactSaved(ContactOut):
    """The saved contact, and any enrollments its new date fields triggered (event rules)."""

    enrolled: list[str] = []


@router.post("", response_model=ContactSaved, status_code=201, responses={200: {"model": ContactSaved}})
async def upsert(body: ContactIn, client: ClientDep, caller: Service, response: Response) -> ContactSaved:
    """Create the contact (201) or update the fields given (200), matched by `external_id`.

    A date field set for the first time (or changed) fires the matching event rules, e.g.
    `renewal_date` starts the renewal cadence."""

    def write() -> tuple[ContactOut, bool, set[str]]:
        with transaction(client.engine) as session:
            before = find_contact(session, body.external_id)
            old_dates = dict(before.dates) if before is not None else {}
            row, created = upsert_contact(session, body)
            newly_set = {k for k, v in row.dates.items() if v and old_dates.get(k) != v}
            return contact_out(row), created, newly_set

    try:
        out, created, newly_set = await asyncio.to_thread(write)
    except ValueError as exc:
        raise Invalid(str(exc), {"field": "phone"}) from None
    enrolled = await enroll_for_dates(client, out.id, newly_set) if newly_set else []
    response.status_code = 201 if created else 200
    return ContactSaved(**out.model_dump(), enrolled=enrolled)


@router.get("/{contact_id}", response_model=ContactOut)
async def read(contact_id: str, engine: EngineDep, caller: Reader) -> ContactOut:
    """A contact by id or external id."""

    def load() -> ContactOut:
        with transaction(engine) as session:
            row = find_contact(session, contact_id)
            if row is None:
                raise NotFound(f"contact {contact_id!r} not found", {"field": "contact_id"})
            return contact_out(row)

    return await asyncio.to_thread(load)


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


@router.post(
    "/import",
    response_model=ImportResult,
    openapi_extra={"requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}}, "required": True}},
)
async def import_contacts(request: Request, engine: EngineDep, caller: Service) -> Any:
    """Import contacts from a CSV body (header row required; external_id required).

    Valid rows are imported even when others fail; the response lists each failed row with
    its number (the header is row 1) and field.
    """
    raw = await request.body()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Invalid("the CSV must be UTF-8 text", {"field": "(body)"}) from None
    try:
        report = await asyncio.to_thread(import_csv, engine, text)
    except CsvError as exc:
        raise Invalid(exc.message, exc.details) from None
    return ImportResult(
        imported=report.imported,
        created=report.created,
        updated=report.updated,
        failed=len(report.errors),
        errors=[ImportRowError(row=e.row, field=e.field, message=e.message, external_id=e.external_id) for e in report.errors],
    )
