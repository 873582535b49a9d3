"""Enrollments: enroll (idempotent), bulk enroll, list, live status, and operator commands."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator

from models.payloads import StatusView
from starter.api.deps import ClientDep, Operator, Reader, Service, SettingsDep
from starter.client import BulkRow, EnrollmentDetail, EnrollmentInfo, Page

router = APIRouter(prefix="/v1/enrollments", tags=["enrollments"])

RequestId = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200, description="Retries with the same key apply once")]


class EnrollRequest(BaseModel):
    """Enroll one contact (by id or external id) in a cadence (by id or key)."""

    model_config = ConfigDict(extra="forbid")
    cadence_id: str | None = Field(
        default=None, min_length=1, max_length=200, description="Cadence id or key; omitted: the default cadence of the contact's segment"
    )
    contact_id: str | None = Field(default=None, min_length=1, max_length=200)
    contact_external_id: str | None = Field(default=None, min_length=1, max_length=200)
    start_at: dt.datetime | None = Field(default=None, description="When the first step may run (with a time zone)")

    @model_validator(mode="after")
    def _one_contact(self) -> EnrollRequest:
        if (self.contact_id is None) == (self.contact_external_id is None):
            raise ValueError("give exactly one of contact_id and contact_external_id")
        if self.start_at is not None and self.start_at.tzinfo is None:
            raise ValueError("start_at must carry a time zone, e.g. 2026-12-01T09:00:00Z")
        return self


@router.post("", response_model=EnrollmentInfo, status_code=201, responses={200: {"model": EnrollmentInfo, "description": "Already enrolled"}})
async def enroll(body: EnrollRequest, client: ClientDep, caller: Service, response: Response) -> EnrollmentInfo:
    """Start an enrollment (201). If the contact is already in this cadence, the open
    enrollment is returned (200) and no second workflow starts."""
    contact = body.contact_id or body.contact_external_id
    assert contact is not None
    info = await client.enroll(body.cadence_id, contact, start_at=body.start_at, actor=caller.actor)
    response.status_code = 201 if info.created else 200
    return info


class BulkRequest(BaseModel):
    """Enroll many contacts in one cadence."""

    model_config = ConfigDict(extra="forbid")
    cadence_id: str = Field(min_length=1, max_length=200)
    contacts: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(min_length=1, max_length=1000, description="Contact ids or external ids")
    start_at: dt.datetime | None = None


class BulkRowOut(BaseModel):
    """The outcome of one contact of a bulk enrollment."""

    row: int
    contact: str
    ok: bool
    enrollment_id: str | None = None
    created: bool = False
    error: str | None = None
    code: str | None = None


class BulkResult(BaseModel):
    """Every row's outcome with totals."""

    enrolled: int
    already_enrolled: int
    failed: int
    rows: list[BulkRowOut]


@router.post("/bulk", response_model=BulkResult)
async def bulk(body: BulkRequest, client: ClientDep, caller: Service, settings: SettingsDep) -> BulkResult:
    """Enroll up to 1,000 contacts, throttled (BULK_STARTS_PER_SECOND) so Temporal is not
    flooded; each row succeeds or fails on its own and is reported."""
    rows: list[BulkRow] = await client.bulk_enroll(
        body.cadence_id, body.contacts, actor=caller.actor, start_at=body.start_at, per_second=settings.bulk_starts_per_second
    )
    return BulkResult(
        enrolled=sum(1 for r in rows if r.ok and r.created),
        already_enrolled=sum(1 for r in rows if r.ok and not r.created),
        failed=sum(1 for r in rows if not r.ok),
        rows=[BulkRowOut(**r.__dict__) for r in rows],
    )


StatusFilter = Literal["pending", "active", "paused", "completed", "replied", "meeting_booked", "bounced", "opted_out", "stopped", "switched", "exited", "failed"]


@router.get("", response_model=Page)
async def list_enrollments(
    client: ClientDep,
    caller: Reader,
    cadence_id: Annotated[str | None, Query(max_length=200)] = None,
    contact_id: Annotated[str | None, Query(max_length=200)] = None,
    account_id: Annotated[str | None, Query(max_length=200)] = None,
    status: StatusFilter | None = None,
    owner: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Page:
    """Enrollments, newest first, filtered by cadence, contact, account, status and owner."""
    return await client.list(cadence=cadence_id, contact=contact_id, account_id=account_id, status=status, owner=owner, limit=limit, offset=offset)


@router.get("/{enrollment_id}", response_model=EnrollmentDetail)
async def read(enrollment_id: str, client: ClientDep, caller: Reader) -> EnrollmentDetail:
    """Live status from the workflow (state, current step, next due time and why it waits)
    and the touches so far."""
    return await client.status(enrollment_id)


class PauseBody(BaseModel):
    """Why the enrollment is paused, and optionally until when."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=1000)
    until: dt.datetime | None = None


class StopBody(BaseModel):
    """Why the enrollment is stopped."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=1000)


class ReasonBody(BaseModel):
    """An optional note for resume and skip."""

    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(default=None, max_length=1000)


@router.post("/{enrollment_id}/pause", response_model=StatusView)
async def pause(enrollment_id: str, body: PauseBody, client: ClientDep, caller: Operator, request_id: RequestId = None) -> StatusView:
    """Pause; with `until` it resumes by itself. 409 with the workflow's reason if illegal."""
    return await client.pause(enrollment_id, actor=caller.actor, reason=body.reason, until=body.until, request_id=request_id)


@router.post("/{enrollment_id}/resume", response_model=StatusView)
async def resume(enrollment_id: str, client: ClientDep, caller: Operator, body: ReasonBody | None = None, request_id: RequestId = None) -> StatusView:
    """Resume a paused enrollment; the remaining wait is kept."""
    return await client.resume(enrollment_id, actor=caller.actor, reason=body.reason if body else None, request_id=request_id)


@router.post("/{enrollment_id}/stop", response_model=StatusView)
async def stop(enrollment_id: str, body: StopBody, client: ClientDep, caller: Operator, request_id: RequestId = None) -> StatusView:
    """Stop for good."""
    return await client.stop(enrollment_id, actor=caller.actor, reason=body.reason, request_id=request_id)


@router.post("/{enrollment_id}/skip", response_model=StatusView)
async def skip(enrollment_id: str, client: ClientDep, caller: Operator, body: ReasonBody | None = None, request_id: RequestId = None) -> StatusView:
    """Skip the step the enrollment is waiting for."""
    return await client.skip(enrollment_id, actor=caller.actor, reason=body.reason if body else None, request_id=request_id)
