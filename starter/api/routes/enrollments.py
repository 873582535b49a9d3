"""Enrollments: enroll (idempotent), bulk enroll, list, live status, and operator commands."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response

from cadence.rules import Status
from models.payloads import StatusView
from starter.api.deps import BackendDep, Offset, Operator, Reader, Service, SettingsDep
from starter.api.schemas import BulkRequest, EnrollRequest, PauseBody, ReasonBody, StopBody
from starter.service import commands, reads
from starter.service.enroll import BulkResult, bulk_enroll, enroll_contact
from starter.service.reads import EnrollmentDetail, EnrollmentInfo, EnrollmentSort, Page

router = APIRouter(prefix="/v1/enrollments", tags=["enrollments"])

RequestId = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200, description="Retries with the same key apply once")]


@router.post(
    "", response_model=EnrollmentInfo, status_code=201, responses={200: {"model": EnrollmentInfo, "description": "Already enrolled"}}
)
async def enroll(
    body: EnrollRequest, backend: BackendDep, caller: Service, response: Response, request_id: RequestId = None
) -> EnrollmentInfo:
    """Start an enrollment (201). If the contact is already in this cadence, the open
    enrollment is returned (200) and no second workflow starts. A retry with the same
    `Idempotency-Key` gets the first answer again; the key with another body is a 409."""
    contact = body.contact_id or body.contact_external_id
    assert contact is not None
    info = await enroll_contact(backend, body.cadence_id, contact, start_at=body.start_at, actor=caller.actor, request_key=request_id)
    response.status_code = 201 if info.created else 200
    return info


@router.post("/bulk", response_model=BulkResult)
async def bulk(body: BulkRequest, backend: BackendDep, caller: Service, settings: SettingsDep, request_id: RequestId = None) -> BulkResult:
    """Enroll up to 1,000 contacts, throttled (BULK_STARTS_PER_SECOND) so Temporal is not
    flooded; each row succeeds or fails on its own and is reported. With an
    `Idempotency-Key`, a retried batch repeats nothing."""
    rows = await bulk_enroll(
        backend,
        body.cadence_id,
        body.contacts,
        actor=caller.actor,
        start_at=body.start_at,
        per_second=settings.bulk_starts_per_second,
        request_key=request_id,
    )
    return BulkResult.of(rows)


@router.get("", response_model=Page)
async def list_enrollments(
    backend: BackendDep,
    caller: Reader,
    cadence_id: Annotated[str | None, Query(max_length=200)] = None,
    contact_id: Annotated[str | None, Query(max_length=200)] = None,
    account_id: uuid.UUID | None = None,
    status: Status | None = None,
    owner: Annotated[str | None, Query(max_length=100)] = None,
    sort: Annotated[EnrollmentSort, Query(description="newest first, or score: the most engaged contacts first")] = "newest",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> Page:
    """Enrollments, newest first (or by the contact's lead score), filtered by cadence,
    contact, account, status and owner; each with its contact's lead score."""
    return await reads.list_enrollments(
        backend,
        cadence=cadence_id,
        contact=contact_id,
        account_id=str(account_id) if account_id else None,
        status=status.value if status else None,
        owner=owner,
        sort=sort,
        limit=limit,
        offset=offset,
    )


@router.get("/{enrollment_id}", response_model=EnrollmentDetail)
async def read(
    enrollment_id: str,
    backend: BackendDep,
    caller: Reader,
    live: Annotated[
        bool, Query(description="Ask the workflow for its live status too (false: the Postgres mirror only, for frequent polling)")
    ] = True,
) -> EnrollmentDetail:
    """Live status from the workflow (state, current step, next due time and why it waits)
    and the touches so far; `live=false` answers from Postgres alone (the mirror every
    transition writes), without a round trip to a worker."""
    return await reads.status(backend, enrollment_id, live=live)


@router.post("/{enrollment_id}/pause", response_model=StatusView)
async def pause(enrollment_id: str, body: PauseBody, backend: BackendDep, caller: Operator, request_id: RequestId = None) -> StatusView:
    """Pause; with `until` it resumes by itself. 409 with the workflow's reason if illegal."""
    return await commands.pause(backend, enrollment_id, actor=caller.actor, reason=body.reason, until=body.until, request_id=request_id)


@router.post("/{enrollment_id}/resume", response_model=StatusView)
async def resume(
    enrollment_id: str, backend: BackendDep, caller: Operator, body: ReasonBody | None = None, request_id: RequestId = None
) -> StatusView:
    """Resume a paused enrollment; the remaining wait is kept."""
    return await commands.resume(backend, enrollment_id, actor=caller.actor, reason=body.reason if body else None, request_id=request_id)


@router.post("/{enrollment_id}/stop", response_model=StatusView)
async def stop(enrollment_id: str, body: StopBody, backend: BackendDep, caller: Operator, request_id: RequestId = None) -> StatusView:
    """Stop for good."""
    return await commands.stop(backend, enrollment_id, actor=caller.actor, reason=body.reason, request_id=request_id)


@router.post("/{enrollment_id}/skip", response_model=StatusView)
async def skip(
    enrollment_id: str, backend: BackendDep, caller: Operator, body: ReasonBody | None = None, request_id: RequestId = None
) -> StatusView:
    """Skip the step the enrollment is waiting for."""
    return await commands.skip(backend, enrollment_id, actor=caller.actor, reason=body.reason if body else None, request_id=request_id)
