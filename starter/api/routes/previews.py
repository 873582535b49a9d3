"""Previews: what a contact will receive and when, before it is enrolled (any version of a
cadence, a stored or an inline contact, with what-ifs) and for a running enrollment. Worked
out by the engine's own state machine and gate, read-only. Any reader may ask."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from cadence.definition import ReplyIntent
from starter.api.deps import BackendDep, Reader
from starter.service import previews
from starter.service.previews import PreviewOut, PreviewRequest, ReplyWhatIf, WhatIfs

router = APIRouter(tags=["previews"])


@router.post("/v1/previews", response_model=PreviewOut)
async def preview(body: PreviewRequest, backend: BackendDep, caller: Reader) -> PreviewOut:
    """Every touch and task with its due time (UTC and the contact's local time), and every
    deferral and skip with the gate's code and sentence. Writes nothing."""
    return await previews.preview(backend, body)


@router.get("/v1/enrollments/{enrollment_id}/preview", response_model=PreviewOut)
async def enrollment_preview(
    enrollment_id: str,
    backend: BackendDep,
    caller: Reader,
    horizon_days: Annotated[int, Query(ge=1, le=previews.MAX_HORIZON_DAYS)] = previews.DEFAULT_HORIZON_DAYS,
    reply_step: Annotated[str | None, Query(max_length=63, description="What if the contact replies after this step")] = None,
    reply_intent: ReplyIntent = ReplyIntent.positive,
    reply_after_hours: Annotated[float, Query(ge=0, le=24 * 90)] = 1.0,
) -> PreviewOut:
    """What happens next, from the enrollment's live state to its end (or the horizon)."""
    replies = [ReplyWhatIf(step_id=reply_step, intent=reply_intent, after_hours=reply_after_hours)] if reply_step else []
    return await previews.preview_enrollment(backend, enrollment_id, WhatIfs(horizon_days=horizon_days, replies=replies))
