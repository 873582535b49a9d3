"""Reports: what became of a cadence's enrollments by version, owner or cohort; its step
funnel; its messages by step, channel or variant; its activity day by day; the A/B verdicts
of its tested steps; and two cadences or versions compared. Each over enrollments started in
a date range, narrowed by version, owner or cohort. JSON, or CSV with `format=csv` where a
report is a table. Any reader may ask."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from starter.api.deps import BackendDep, Reader
from starter.errors import Invalid
from starter.service import engagement_reports, reports
from starter.service.engagement_reports import Comparison, DailyReport, TouchDimension, TouchReport
from starter.service.reports import Dimension, Filters, FunnelReport, OutcomeReport, VariantReport

router = APIRouter(prefix="/v1/reports", tags=["reports"])

Cadence = Annotated[str, Query(min_length=1, max_length=200, description="Cadence id or key")]
Since = Annotated[dt.datetime | None, Query(description="Enrollments started from (default: 90 days before until)")]
Until = Annotated[dt.datetime | None, Query(description="Enrollments started before (default: now)")]
Format = Literal["json", "csv"]
CSV = {200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "JSON, or CSV with format=csv"}}


def _filters(
    version: Annotated[int | None, Query(ge=1, le=1_000_000, description="Only enrollments of this version of the cadence")] = None,
    owner: Annotated[str | None, Query(min_length=1, max_length=100, description="Only this owner's enrollments")] = None,
    persona: Annotated[str | None, Query(min_length=1, max_length=50, description="Only contacts of this persona")] = None,
    industry: Annotated[str | None, Query(min_length=1, max_length=100, description="Only contacts in this industry")] = None,
    industry_group: Annotated[
        Literal["regulated", "standard"] | None, Query(description="Only contacts in the policy's regulated industries, or in the others")
    ] = None,
    tier: Annotated[str | None, Query(min_length=1, max_length=50, description="Only contacts of this tier")] = None,
) -> Filters:
    return Filters(version=version, owner=owner, persona=persona, industry=industry, industry_group=industry_group, tier=tier)


FiltersDep = Annotated[Filters, Depends(_filters)]


def _csv(text: str, name: str) -> Response:
    return Response(text, media_type="text/csv", headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})


@router.get("", response_model=OutcomeReport, responses=CSV)  # type: ignore[arg-type]
async def outcome_report(
    backend: BackendDep,
    caller: Reader,
    cadence: Cadence,
    filters: FiltersDep,
    by: Dimension = "version",
    since: Since = None,
    until: Until = None,
    format: Format = "json",
) -> Response | OutcomeReport:
    """Per version, owner or cohort (persona / industry group / tier): enrolled, touched, sent,
    emailed, opened, clicked, replied (positive, negative, neutral), meetings, switched,
    opted out, bounced, complained, completed, still open; response, open, click, opt-out,
    bounce and completion rates; time to first touch (p50, p95), to the first reply and to
    the response (p50)."""
    report = await reports.outcomes(backend, cadence, by=by, since=since, until=until, filters=filters)
    if format == "csv":
        return _csv(reports.rows_csv(list(report.rows)), f"{report.cadence_key}-by-{by}")
    return report


@router.get("/funnel", response_model=FunnelReport, responses=CSV)  # type: ignore[arg-type]
async def funnel_report(
    backend: BackendDep,
    caller: Reader,
    cadence: Cadence,
    filters: FiltersDep,
    since: Since = None,
    until: Until = None,
    format: Format = "json",
) -> Response | FunnelReport:
    """Step by step: how many enrollments reached each step, how its touches went, and how
    many ended there and how."""
    report = await reports.funnel(backend, cadence, since=since, until=until, filters=filters)
    if format == "csv":
        return _csv(reports.funnel_csv(report), f"{report.cadence_key}-funnel")
    return report


@router.get("/touches", response_model=TouchReport, responses=CSV)  # type: ignore[arg-type]
async def touch_report(
    backend: BackendDep,
    caller: Reader,
    cadence: Cadence,
    filters: FiltersDep,
    by: TouchDimension = "step",
    since: Since = None,
    until: Until = None,
    format: Format = "json",
) -> Response | TouchReport:
    """Messages by step, channel, or step and variant: sent, delivered, skipped, failed,
    opened, clicked (people; a machine's counted apart), replied, bounced, opted out,
    complained, and the delivery, open, click, click-to-open, reply, bounce and opt-out rates."""
    report = await engagement_reports.touches(backend, cadence, by=by, since=since, until=until, filters=filters)
    if format == "csv":
        return _csv(reports.rows_csv(list(report.rows)), f"{report.cadence_key}-messages-by-{by}")
    return report


@router.get("/daily", response_model=DailyReport, responses=CSV)  # type: ignore[arg-type]
async def daily_report(
    backend: BackendDep,
    caller: Reader,
    cadence: Cadence,
    filters: FiltersDep,
    since: Since = None,
    until: Until = None,
    format: Format = "json",
) -> Response | DailyReport:
    """Sends, opens, clicks and replies per UTC day."""
    report = await engagement_reports.daily(backend, cadence, since=since, until=until, filters=filters)
    if format == "csv":
        return _csv(reports.rows_csv(list(report.days)), f"{report.cadence_key}-daily")
    return report


@router.get("/variants", response_model=VariantReport, responses=CSV)  # type: ignore[arg-type]
async def variant_report(
    backend: BackendDep,
    caller: Reader,
    cadence: Cadence,
    filters: FiltersDep,
    since: Since = None,
    until: Until = None,
    format: Format = "json",
) -> Response | VariantReport:
    """For each step with variants: enrollments that got each variant, how many responded,
    the rate, the chance each is the best, the leader's p-value against each other, and
    the verdict (a winner, no difference yet, or too early below the minimum sample)."""
    report = await reports.variants(backend, cadence, since=since, until=until, filters=filters)
    if format == "csv":
        return _csv(reports.rows_csv(reports.variant_rows(report)), f"{report.cadence_key}-variants")
    return report


Side = Annotated[str, Query(min_length=1, max_length=210, description="A cadence key or id, with @N for one version (outbound@3)")]


@router.get("/compare", response_model=Comparison)
async def compare_report(
    backend: BackendDep, caller: Reader, a: Side, b: Side, filters: FiltersDep, since: Since = None, until: Until = None
) -> Comparison:
    """Two cadences, or two versions of one, side by side: each one's outcomes, and the
    verdict on their response rates (as for an A/B test)."""
    if filters.version is not None:
        raise Invalid("version: name each side's version in a and b (key@N)", {"field": "version"})
    return await engagement_reports.compare(backend, a, b, since=since, until=until, filters=filters)
