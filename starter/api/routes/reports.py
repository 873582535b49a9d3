"""Reports: what became of a cadence's enrollments by version, owner or cohort; its step
funnel; and the A/B verdicts of its tested steps. JSON, or CSV with `format=csv`. Any reader
may ask."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from starter.api.deps import BackendDep, Reader
from starter.service import reports
from starter.service.reports import Dimension, FunnelReport, OutcomeReport, VariantReport

router = APIRouter(prefix="/v1/reports", tags=["reports"])

Cadence = Annotated[str, Query(min_length=1, max_length=200, description="Cadence id or key")]
Since = Annotated[dt.datetime | None, Query(description="Enrollments started from (default: 90 days before until)")]
Until = Annotated[dt.datetime | None, Query(description="Enrollments started before (default: now)")]
Format = Literal["json", "csv"]
CSV = {200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "JSON, or CSV with format=csv"}}


def _csv(text: str, name: str) -> Response:
    return Response(text, media_type="text/csv", headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})


@router.get("", response_model=OutcomeReport, responses=CSV)  # type: ignore[arg-type]
async def outcome_report(
    backend: BackendDep,
    caller: Reader,
    cadence: Cadence,
    by: Dimension = "version",
    since: Since = None,
    until: Until = None,
    format: Format = "json",
) -> Response | OutcomeReport:
    """Per version, owner or cohort (persona / industry / tier): enrolled, touched, sent,
    replied, meetings, switched, opted out, bounced, completed, still open; response, opt-out,
    bounce and completion rates; time to first touch (p50, p95) and to the response (p50)."""
    report = await reports.outcomes(backend, cadence, by=by, since=since, until=until)
    if format == "csv":
        return _csv(reports.rows_csv(list(report.rows)), f"{report.cadence_key}-by-{by}")
    return report


@router.get("/funnel", response_model=FunnelReport)
async def funnel_report(backend: BackendDep, caller: Reader, cadence: Cadence, since: Since = None, until: Until = None) -> FunnelReport:
    """Step by step: how many enrollments reached each step, how its touches went, and how
    many ended there and how."""
    return await reports.funnel(backend, cadence, since=since, until=until)


@router.get("/variants", response_model=VariantReport, responses=CSV)  # type: ignore[arg-type]
async def variant_report(
    backend: BackendDep,
    caller: Reader,
    cadence: Cadence,
    since: Since = None,
    until: Until = None,
    version: Annotated[int | None, Query(ge=1, description="One version of the cadence")] = None,
    format: Format = "json",
) -> Response | VariantReport:
    """For each step with variants: enrollments that got each variant, how many responded,
    the rate, the chance each is the best, the leader's p-value against each other, and
    the verdict (a winner, no difference yet, or too early below the minimum sample)."""
    report = await reports.variants(backend, cadence, since=since, until=until, version=version)
    if format == "csv":
        return _csv(reports.rows_csv(reports.variant_rows(report)), f"{report.cadence_key}-variants")
    return report
