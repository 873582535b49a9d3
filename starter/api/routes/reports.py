"""Reports: A/B verdicts of a cadence's tested steps. Any reader may ask."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query

from starter.api.deps import BackendDep, Reader
from starter.service import reports
from starter.service.reports import VariantReport

router = APIRouter(prefix="/v1/reports", tags=["reports"])


@router.get("/variants", response_model=VariantReport)
async def variant_report(
    backend: BackendDep,
    caller: Reader,
    cadence: Annotated[str, Query(min_length=1, max_length=200, description="Cadence id or key")],
    since: Annotated[dt.datetime | None, Query(description="Enrollments started from (default: 90 days before until)")] = None,
    until: Annotated[dt.datetime | None, Query(description="Enrollments started before (default: now)")] = None,
    version: Annotated[int | None, Query(ge=1, description="One version of the cadence")] = None,
) -> VariantReport:
    """For each step with variants: enrollments that got each variant, how many responded,
    the rate, the chance each is the best, the leader's p-value against each other, and
    the verdict (a winner, no difference yet, or too early below the minimum sample)."""
    return await reports.variants(backend, cadence, since=since, until=until, version=version)
