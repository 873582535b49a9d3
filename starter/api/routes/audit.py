"""Audit: enrollment timelines, a contact's export, and the audit chain's verification."""

from __future__ import annotations

import asyncio
from typing import Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel

from core.db import transaction
from models import audit
from starter.api.deps import Auditor, ClientDep
from starter.timeline import Timeline, to_csv

router = APIRouter(tags=["audit"])


@router.get("/v1/enrollments/{enrollment_id}/timeline", response_model=Timeline)
async def enrollment_timeline(enrollment_id: str, client: ClientDep, caller: Auditor) -> Timeline:
    """Every touch, wait, decision, signal and command of the enrollment, oldest first, with
    actors and reasons; workflow history from Temporal or, after retention, the archive."""
    return await client.timeline(enrollment_id)


@router.get("/v1/contacts/{contact_id}/timeline", response_model=list[Timeline])
async def contact_timeline(contact_id: str, client: ClientDep, caller: Auditor, format: Literal["json", "csv"] = "json") -> Response:
    """Everything that happened to a contact across all its enrollments (JSON or CSV)."""
    timelines = await client.contact_timelines(contact_id)
    if format == "csv":
        return Response(to_csv(timelines), media_type="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="contact-{contact_id}-timeline.csv"'})
    return Response("[" + ",".join(t.model_dump_json() for t in timelines) + "]", media_type="application/json")


class VerifyResult(BaseModel):
    """Whether the hash-chained audit log is intact, and if not, the first broken link."""

    ok: bool
    checked: int
    broken_entry: int | None = None
    problem: str | None = None


@router.get("/v1/audit/verify", response_model=VerifyResult)
async def verify(client: ClientDep, caller: Auditor) -> VerifyResult:
    """Walk the whole chain (every entry's hash, every link, and the recorded head)."""

    def run() -> VerifyResult:
        with transaction(client.engine) as session:
            result = audit.verify(session)
            return VerifyResult(ok=result.ok, checked=result.checked, broken_entry=result.broken.id if result.broken else None, problem=result.problem)

    return await asyncio.to_thread(run)
