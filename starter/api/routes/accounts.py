"""Accounts: create or update, read, and pause or resume a whole customer at once."""

from __future__ import annotations

from fastapi import APIRouter, Response

from models.schemas import AccountIn
from starter.api.deps import BackendDep, Operator, Reader, Service
from starter.api.schemas import PauseBody, ReasonBody
from starter.service import commands, contacts
from starter.service.commands import AccountCommandResult
from starter.service.contacts import AccountOut

router = APIRouter(prefix="/v1/accounts", tags=["accounts"])


@router.post("", response_model=AccountOut, status_code=201, responses={200: {"model": AccountOut}})
async def upsert(body: AccountIn, backend: BackendDep, caller: Service, response: Response) -> AccountOut:
    """Create (201) or update (200) an account by `external_id`."""
    out, created = await contacts.save_account(backend, body)
    response.status_code = 201 if created else 200
    return out


@router.get("/{account_id}", response_model=AccountOut)
async def read(account_id: str, backend: BackendDep, caller: Reader) -> AccountOut:
    """An account by id or external id."""
    return await contacts.get_account(backend, account_id)


@router.post("/{account_id}/pause", response_model=AccountCommandResult)
async def pause(account_id: str, body: PauseBody, backend: BackendDep, caller: Operator) -> AccountCommandResult:
    """Pause every open enrollment of the account's contacts (a CS lead pausing a customer)."""
    return await commands.pause_account(backend, account_id, actor=caller.actor, reason=body.reason, until=body.until)


@router.post("/{account_id}/resume", response_model=AccountCommandResult)
async def resume(account_id: str, backend: BackendDep, caller: Operator, body: ReasonBody | None = None) -> AccountCommandResult:
    """Resume every paused enrollment of the account's contacts."""
    return await commands.resume_account(backend, account_id, actor=caller.actor, reason=body.reason if body else None)
