"""Audit: enrollment timelines, a contact's export, and the audit chain's verification."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Response

from starter.api.deps import Auditor, BackendDep
from starter.service import audit
from starter.service.audit import VerifyResult
from starter.service.timeline import Timeline, to_csv

router = APIRouter(tags=["audit"])


@router.get("/v1/enrollments/{enrollment_id}/timeline", response_model=Timeline)
async def enrollment_timeline(enrollment_id: str, backend: BackendDep, caller: Auditor) -> Timeline:
    """Every touch, wait, decision, signal and command of the enrollment, oldest first, with
    actors and reasons; workflow history from Temporal or, after retention, the archive."""
    return await audit.timeline(backend, enrollment_id)


@router.get(
    "/v1/contacts/{contact_id}/timeline",
    response_model=list[Timeline],
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "JSON, or CSV with format=csv"}},
)
async def contact_timeline(contact_id: str, backend: BackendDep, caller: Auditor, format: Literal["json", "csv"] = "json") -> Response:
    """Everything that happened to a contact across all its enrollments (JSON or CSV)."""
    timelines = await audit.contact_timelines(backend, contact_id)
    if format == "csv":
        return Response(
            to_csv(timelines),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="contact-{contact_id}-timeline.csv"'},
        )
    return Response("[" + ",".join(t.model_dump_json() for t in timelines) + "]", media_type="application/json")


@router.get("/v1/audit/verify", response_model=VerifyResult)
async def verify(backend: BackendDep, caller: Auditor) -> VerifyResult:
    """Walk the whole chain (every entry's hash, every link, and the recorded head)."""
    return await audit.verify(backend)
