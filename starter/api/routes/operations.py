"""Bulk operations: preview what a migration, pause, resume or stop would do to every
matching open enrollment, then apply it (once), and follow its progress item by item.
Admins migrate; CS leads pause, resume and stop; any reader sees plans and results."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query

from models.keys import Role
from starter.api.deps import BackendDep, Offset, Operator, Reader
from starter.api.schemas import OperationBody
from starter.service import operations
from starter.service.operations import ItemPage, OperationOut

router = APIRouter(prefix="/v1/operations", tags=["operations"])


def _may(caller_role: Role, action: str) -> None:
    if action == "migrate" and caller_role != Role.admin:
        raise HTTPException(403, "the cs_lead role may not migrate enrollments (allowed: admin)")


@router.post("", response_model=OperationOut, status_code=201)
async def preview(body: OperationBody, backend: BackendDep, caller: Operator) -> OperationOut:
    """Preview an operation: the count by outcome and the first items (all of them: the
    items endpoint). Nothing changes until it is applied."""
    _may(caller.role, body.action)
    return await operations.preview(backend, body.request(), actor=caller.actor)


@router.get("", response_model=list[OperationOut])
async def list_operations(
    backend: BackendDep,
    caller: Reader,
    cadence_id: Annotated[str | None, Query(max_length=200)] = None,
    status: Literal["previewed", "applying", "done", "expired"] | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Offset = 0,
) -> list[OperationOut]:
    """Operations, newest first."""
    return await operations.list_operations(backend, cadence=cadence_id, status=status, limit=limit, offset=offset)


@router.get("/{operation_id}", response_model=OperationOut)
async def read(operation_id: str, backend: BackendDep, caller: Reader) -> OperationOut:
    """An operation with its counts: by previewed outcome, and applied, stale, skipped,
    failed or still pending."""
    return await operations.get_operation(backend, operation_id)


@router.get("/{operation_id}/items", response_model=ItemPage)
async def items(
    operation_id: str,
    backend: BackendDep,
    caller: Reader,
    status: Literal["pending", "applied", "stale", "skipped", "failed"] | None = None,
    outcome: Annotated[str | None, Query(max_length=12)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Offset = 0,
) -> ItemPage:
    """The enrollments of an operation, in the order they are applied: what the preview
    said would happen to each, and what did."""
    return await operations.list_items(backend, operation_id, status=status, outcome=outcome, limit=limit, offset=offset)


@router.post("/{operation_id}/apply", response_model=OperationOut, status_code=202)
async def apply(operation_id: str, backend: BackendDep, caller: Operator) -> OperationOut:
    """Apply the previewed operation, at its rate (202: it runs on; follow it with GET).
    Applying again returns its progress; an expired preview is a 409."""
    current = await operations.get_operation(backend, operation_id)
    _may(caller.role, current.action)
    return await operations.apply(backend, operation_id, actor=caller.actor)
