"""Previews: what a contact will receive and when, before it is enrolled (any version of a
cadence, a stored or an inline contact, with what-ifs) and for a running enrollment; and the
capacity forecast of every owner's rep tasks. Worked out by the engine's own state machine
and gate, read-only. Any reader may ask."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from cadence.definition import ReplyIntent
from starter.api.deps import BackendDep, Reader
from starter.service import forecast, previews
from starter.service.forecast import ForecastOut
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


@router.get("/v1/forecast", response_model=ForecastOut)
async def capacity_forecast(
    backend: BackendDep,
    caller: Reader,
    owner: Annotated[str | None, Query(max_length=100, description="One owner's enrollments only")] = None,
    weeks: Annotated[int, Query(ge=1, le=26)] = forecast.DEFAULT_WEEKS,
) -> ForecastOut:
    """The rep tasks each owner will get per week, from every running enrollment (stepped
    by the engine's own state machine, with the levelling policy), against their weekly
    allowance."""
    return await forecast.forecast(backend, owner=owner, weeks=weeks)
