"""Touches: every email and text claimed, and settling the ones a crash left unclear."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from starter.api.deps import BackendDep, Offset, Operator, Reader
from starter.api.schemas import ResolveBody
from starter.service import touches
from starter.service.touches import TouchOut, TouchPage, TouchStatus

router = APIRouter(prefix="/v1/touches", tags=["touches"])


@router.get("", response_model=TouchPage)
async def list_touches(
    backend: BackendDep,
    caller: Reader,
    status: TouchStatus | None = None,
    enrollment_id: uuid.UUID | None = None,
    contact_id: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Offset = 0,
) -> TouchPage:
    """Touches, oldest first. `status=unclear` is the operator's list: touches a crash left
    without an answer on whether they went out, held and never sent twice."""
    return await touches.list_touches(
        backend,
        status=status,
        enrollment_id=str(enrollment_id) if enrollment_id else None,
        contact_id=str(contact_id) if contact_id else None,
        limit=limit,
        offset=offset,
    )


@router.post("/{touch_id}/resolve", response_model=TouchOut)
async def resolve(touch_id: str, body: ResolveBody, backend: BackendDep, caller: Operator) -> TouchOut:
    """Settle an unclear touch: it arrived (counted as sent) or it never left (failed). 409
    for a touch that is not unclear."""
    return await touches.resolve_touch(backend, touch_id, outcome=body.outcome, reason=body.reason, actor=caller.actor)
