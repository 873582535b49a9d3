"""The report page of a cadence: what became of its enrollments (started in a date range) by
version, owner or cohort, their activity day by day (sends, opens, clicks, replies), how its
messages did step by step, its step funnel, a cohort table, and the A/B tests of its steps
with variants, each as a server-drawn SVG chart (`starter.console.report_charts`, no script)
over its table, and every table as a CSV download. Filters narrow it to one version, owner or
cohort. The numbers are `starter.service.reports`'s, the same as the API's /v1/reports.
Anyone signed in may look: a report writes nothing.

The dates are days in UTC, both included; left empty, the last 90 days up to now.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import Depends, Query, Request, Response
from pydantic import BaseModel

from starter.console.pages import ConsoleError, backend_of, console_router, render
from starter.console.report_charts import daily_chart, funnel_chart, message_chart, outcome_chart, percent, span, variant_chart
from starter.console.session import Viewer
from starter.errors import CadenceError, NotFound
from starter.service import cadences as cadence_service
from starter.service import engagement_reports
from starter.service import reports as report_service
from starter.service.engagement_reports import DayActivity, TouchRow
from starter.service.reports import Dimension, Filters, OutcomeRow, ended_statuses, funnel_csv

router = console_router()

BY: dict[str, str] = {"version": "Version", "owner": "Owner", "cohort": "Cohort (persona / industry group / tier)"}
Table = Literal["outcomes", "funnel", "variants", "messages", "daily", "cohorts"]
Text = Annotated[str, Query(max_length=100)]


def _day(value: str, name: str) -> dt.date | None:
    value = value.strip()
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ConsoleError(422, f"The {name} date must be a day, like 2030-01-31.") from None


def date_range(since: str, until: str) -> tuple[dt.datetime | None, dt.datetime | None]:
    """The form's days (UTC, both included) as the service's [since, until) moments."""
    start, end = _day(since, "from"), _day(until, "to")
    return (
        dt.datetime.combine(start, dt.time(), tzinfo=dt.UTC) if start else None,
        dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC) if end else None,
    )


def _filters(version: str, owner: str, persona: str, industry: str, tier: str, industry_group: str = "") -> Filters:
    """The form's filters (blank: any). A version that is not a whole number is said on the page."""
    number = None
    if version.strip():
        try:
            number = int(version.strip())
        except ValueError:
            raise ConsoleError(422, "The version must be a number, like 3.") from None
        if number < 1:
            raise ConsoleError(422, "The version must be 1 or more.")
    clean = {k: v.strip() or None for k, v in (("owner", owner), ("persona", persona), ("industry", industry), ("tier", tier))}
    if industry_group not in ("", "regulated", "standard"):
        raise ConsoleError(422, "The industry group is regulated or standard.")
    return Filters(version=number, industry_group=industry_group or None, **clean)


def _query(form: dict[str, str]) -> str:
    return urlencode({k: v for k, v in form.items() if v})


@dataclass(frozen=True)
class ReportForm:
    """The report's range, grouping and filters as the form sent them (blank: any): the same
    for the page and for each of its CSV downloads."""

    by: Dimension
    fields: dict[str, str]

    def window(self) -> dict[str, Any]:
        """The service's since, until and filters (ConsoleError, said on the page, when bad)."""
        start, end = date_range(self.fields["since"], self.fields["until"])
        filters = {k: self.fields[k] for k in ("version", "owner", "persona", "industry", "tier", "industry_group")}
        return {"since": start, "until": end, "filters": _filters(**filters)}


def _form(
    by: Annotated[Dimension, Query()] = "version",
    since: Annotated[str, Query(max_length=20)] = "",
    until: Annotated[str, Query(max_length=20)] = "",
    version: Annotated[str, Query(max_length=10)] = "",
    owner: Text = "",
    persona: Text = "",
    industry: Text = "",
    industry_group: Annotated[str, Query(max_length=20)] = "",
    tier: Text = "",
) -> ReportForm:
    sent = {"since": since, "until": until, "version": version, "owner": owner, "persona": persona, "industry": industry}
    sent.update(tier=tier, industry_group=industry_group)
    return ReportForm(by, {"by": by, **{k: v.strip() for k, v in sent.items()}})


Form = Annotated[ReportForm, Depends(_form)]


@router.get("/cadences/{key}/report")
async def report_page(request: Request, user: Viewer, key: str, form: Form) -> Response:
    """Outcomes by the chosen grouping, activity by day, messages by step, the funnel, the
    cohorts and the A/B tests, for enrollments started in the range and matching the filters:
    each drawn and tabled, with its CSV. An unknown cadence is the 404 page; a bad range or
    filter is said on the page (422)."""
    backend = backend_of(request)
    view = await cadence_service.get_cadence(backend, key)  # NotFound: the 404 page
    context: dict[str, Any] = {
        "section": "cadences",
        "cadence": view.cadence,
        "form": form.fields,
        "dimensions": BY,
        "query": _query(form.fields),
    }
    try:
        window = form.window()
        cadence = view.cadence.key
        outcomes, daily, messages, funnel, cohorts, variants = await asyncio.gather(
            report_service.outcomes(backend, cadence, by=form.by, **window),
            engagement_reports.daily(backend, cadence, **window),
            engagement_reports.touches(backend, cadence, by="step", **window),
            report_service.funnel(backend, cadence, **window),
            report_service.outcomes(backend, cadence, by="cohort", **window),
            report_service.variants(backend, cadence, **window),
        )
    except ConsoleError as err:
        return render(request, "report.html", status=err.status, error=err.message, **context)
    except NotFound as err:
        if (err.details or {}).get("field") == "version":
            return render(request, "report.html", status=404, error=err.message[:1].upper() + err.message[1:] + ".", **context)
        raise
    except CadenceError as err:
        return render(request, "report.html", status=err.status, error=err.message[:1].upper() + err.message[1:] + ".", **context)
    return render(
        request,
        "report.html",
        outcomes=outcomes,
        outcome_chart=outcome_chart(outcomes),
        daily=daily,
        daily_chart=daily_chart(daily),
        messages=messages,
        message_chart=message_chart(messages),
        funnel=funnel,
        funnel_chart=funnel_chart(funnel),
        statuses=ended_statuses(funnel),
        cohorts=cohorts,
        variants=variants,
        tests=[(step, variant_chart(step)) for step in variants.steps],
        percent=percent,
        span=span,
        **context,
    )


def _rows_csv(rows: list[BaseModel], model: type[BaseModel]) -> str:
    """The service's CSV, with its header even when there is no row."""
    return report_service.rows_csv(rows) or ",".join(model.model_fields) + "\r\n"


@router.get("/cadences/{key}/report.csv")
async def report_csv(request: Request, user: Viewer, key: str, form: Form, table: Annotated[Table, Query()] = "outcomes") -> Response:
    """One table of the report as a CSV attachment: outcomes (by the grouping), cohorts,
    messages by step, activity by day, the funnel (one column per way enrollments ended) or
    the variants (one row per step and variant); with the page's range and filters."""
    backend = backend_of(request)
    window = form.window()
    if table in ("outcomes", "cohorts"):
        grouping: Dimension = "cohort" if table == "cohorts" else form.by
        outcomes = await report_service.outcomes(backend, key, by=grouping, **window)
        text, name = _rows_csv(list(outcomes.rows), OutcomeRow), f"{outcomes.cadence_key}-by-{grouping}"
    elif table == "messages":
        messages = await engagement_reports.touches(backend, key, by="step", **window)
        text, name = _rows_csv(list(messages.rows), TouchRow), f"{messages.cadence_key}-messages-by-step"
    elif table == "daily":
        daily = await engagement_reports.daily(backend, key, **window)
        text, name = _rows_csv(list(daily.days), DayActivity), f"{daily.cadence_key}-daily"
    elif table == "funnel":
        funnel = await report_service.funnel(backend, key, **window)
        text, name = funnel_csv(funnel), f"{funnel.cadence_key}-funnel"
    else:
        variants = await report_service.variants(backend, key, **window)
        text, name = _rows_csv(report_service.variant_rows(variants), report_service.VariantCsvRow), f"{variants.cadence_key}-variants"
    return Response(
        text,
        media_type="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{name}.csv"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
