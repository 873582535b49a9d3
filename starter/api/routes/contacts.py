"""Contacts: create or update by external id, read, and import a CSV."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from models.schemas import ContactIn, ContactOut
from starter.api.deps import BackendDep, Reader, Service
from starter.errors import Invalid
from starter.service import contacts
from starter.service.contacts import ContactSaved, ImportResult

router = APIRouter(prefix="/v1/contacts", tags=["contacts"])


@router.post("", response_model=ContactSaved, status_code=201, responses={200: {"model": ContactSaved}})
async def upsert(body: ContactIn, backend: BackendDep, caller: Service, response: Response) -> ContactSaved:
    """Create the contact (201) or update the fields given (200), matched by `external_id`.

    A date field set for the first time (or changed) fires the matching event rules, e.g.
    `renewal_date` starts the renewal cadence."""
    saved, created = await contacts.save_contact(backend, body)
    response.status_code = 201 if created else 200
    return saved


@router.get("/{contact_id}", response_model=ContactOut)
async def read(contact_id: str, backend: BackendDep, caller: Reader) -> ContactOut:
    """A contact by id or external id."""
    return await contacts.get_contact(backend, contact_id)


@router.post(
    "/import",
    response_model=ImportResult,
    openapi_extra={"requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}}, "required": True}},
)
async def import_contacts(request: Request, backend: BackendDep, caller: Service) -> Any:
    """Import contacts from a CSV body (header row required; external_id required).

    Valid rows are imported even when others fail; the response lists each failed row with
    its number (the header is row 1) and field.
    """
    raw = await request.body()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Invalid("the CSV must be UTF-8 text", {"field": "(body)"}) from None
    return await contacts.import_contacts(backend, text)
