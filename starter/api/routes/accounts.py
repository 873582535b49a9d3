"""Accounts: create or update, read, and pause or resume a whole customer at once."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session, select

from models.contacts import as_uuid, upsert_account
from models.enrollments import OPEN
from models.schemas import AccountIn
from models.tables import Account, Enrollment
from starter.api.deps import ClientDep, Operator, Reader, Service
from starter.errors import CadenceError, NotFound

router = APIRouter(prefix="/v1/accounts", tags=["accounts"])


class AccountOut(BaseModel):
    """An account as the API returns it, with its open enrollments counted."""

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


def find_account(session: Session, ref: str) -> Account | None:
    """An account by id or external id (shared with the console)."""
    as_id = as_uuid(ref)
    found = session.get(Account, as_id) if as_id else None
    return found or session.exec(select(Account).where(Account.external_id == ref)).first()


def _out(session: Session, row: Account) -> AccountOut:
    count = len(session.exec(select(Enrollment.id).where(Enrollment.account_id == row.id, Enrollment.status.in_(OPEN))).all())  # type: ignore[attr-defined]
    return AccountOut(**{**row.model_dump(), "id": str(row.id), "open_enrollments": count})


@router.post("", response_model=AccountOut, status_code=201, responses={200: {"model": AccountOut}})
async def upsert(body: AccountIn, client: ClientDep, caller: Service, response: Response) -> AccountOut:
    """Create (201) or update (200) an account by `external_id`."""

    def write(session: Session) -> tuple[AccountOut, bool]:
        existed = session.exec(select(Account.id).where(Account.external_id == body.external_id)).first() is not None
        return _out(session, upsert_account(session, body)), not existed

    out, created = await client._db(write)
    response.status_code = 201 if created else 200
    return out


@router.get("/{account_id}", response_model=AccountOut)
async def read(account_id: str, client: ClientDep, caller: Reader) -> AccountOut:
    """An account by id or external id."""

    def load(session: Session) -> AccountOut:
        row = find_account(session, account_id)
        if row is None:
            raise NotFound(f"account {account_id!r} not found", {"field": "account_id"})
        return _out(session, row)

    return await client._db(load)


class AccountPause(BaseModel):
    """Why the customer is paused, and optionally until when."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=1000)
    until: dt.datetime | None = None


class AccountResume(BaseModel):
    """An optional note for resuming."""

    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(default=None, max_length=1000)


class EnrollmentOutcome(BaseModel):
    """What happened to one enrollment of the account."""

    enrollment_id: str
    ok: bool
    status: str | None = None
    error: str | None = None


class AccountCommandResult(BaseModel):
    """Every open enrollment of the account's contacts, and what the command did to it."""

    account_id: str
    changed: int
    unchanged: int
    enrollments: list[EnrollmentOutcome]


async def for_each_enrollment(client: ClientDep, account_id: str, statuses: tuple[str, ...], command: Any) -> AccountCommandResult:
    """Run a command on every enrollment of the account in these statuses; report each one.
    Shared by the API and the console, so a customer is paused the same way from both."""
    def load(session: Session) -> tuple[str, list[str]]:
        row = find_account(session, account_id)
        if row is None:
            raise NotFound(f"account {account_id!r} not found", {"field": "account_id"})
        ids = session.exec(
            select(Enrollment.id).where(Enrollment.account_id == row.id, Enrollment.status.in_(statuses)).order_by(Enrollment.created_at)  # type: ignore[attr-defined,arg-type]
        ).all()
        return str(row.id), [str(i) for i in ids]

    resolved, ids = await client._db(load)
    outcomes = []
    for enrollment_id in ids:
        try:
            view = await command(enrollment_id)
            outcomes.append(EnrollmentOutcome(enrollment_id=enrollment_id, ok=True, status=view.status.value))
        except CadenceError as err:
            outcomes.append(EnrollmentOutcome(enrollment_id=enrollment_id, ok=False, error=err.message))
    changed = sum(o.ok for o in outcomes)
    return AccountCommandResult(account_id=resolved, changed=changed, unchanged=len(outcomes) - changed, enrollments=outcomes)


@router.post("/{account_id}/pause", response_model=AccountCommandResult)
async def pause(account_id: str, body: AccountPause, client: ClientDep, caller: Operator) -> AccountCommandResult:
    """Pause every open enrollment of the account's contacts (a CS lead pausing a customer)."""
    reason = f"account paused: {body.reason}"
    return await for_each_enrollment(client, account_id, ("active",), lambda eid: client.pause(eid, actor=caller.actor, reason=reason, until=body.until))


@router.post("/{account_id}/resume", response_model=AccountCommandResult)
async def resume(account_id: str, client: ClientDep, caller: Operator, body: AccountResume | None = None) -> AccountCommandResult:
    """Resume every paused enrollment of the account's contacts."""
    note = (body.reason if body else None) or "account resumed"
    return await for_each_enrollment(client, account_id, ("paused",), lambda eid: client.resume(eid, actor=caller.actor, reason=note))
