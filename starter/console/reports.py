"""The report page of a cadence: what became of its enrollments (started in a date range) by
version, owner or cohort, its step funnel, and the A/B tests of its steps with variants,
each as a server-drawn SVG chart (`starter.console.report_charts`, no script) over its table,
and every table as a CSV download. The numbers are `starter.service.reports`'s, the same as
the API's /v1/reports. Anyone signed in may look: a report writes nothing.

The dates are days in UTC, both included; left empty, the last 90 days up to now.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import Query, Request, Response
from pydantic import BaseModel

from starter.console.pages import ConsoleError, backend_of, console_router, render
from starter.console.report_charts import funnel_chart, outcome_chart, percent, span, variant_chart
from starter.console.session import Viewer
from starter.errors import CadenceError, NotFound
from starter.service import cadences as cadence_service
from starter.service import reports as report_service
from starter.service.reports import Dimension, OutcomeRow, ended_statuses, funnel_csv

router = console_router()

BY: dict[str, str] = {"version": "Version", "owner": "Owner", "cohort": "Cohort (persona / industry / tier)"}
Table = Literal["outcomes", "funnel", "variants"]


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


def _query(by: str, since: str, until: str) -> str:
    return urlencode({k: v for k, v in (("by", by), ("since", since), ("until", until)) if v})


@router.get("/cadences/{key}/report")
async def report_page(
    request: Request,
    user: Viewer,
    key: str,
    by: Annotated[Dimension, Query()] = "version",
    since: Annotated[str, Query(max_length=20)] = "",
    until: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    """Outcomes by the chosen grouping, the funnel and the A/B tests, for enrollments started
    in the range: each drawn and tabled, with its CSV. An unknown cadence is the 404 page; a
    bad range is said on the page (422)."""
    backend = backend_of(request)
    view = await cadence_service.get_cadence(backend, key)  # NotFound: the 404 page
    form = {"by": by, "since": since.strip(), "until": until.strip()}
    context: dict[str, Any] = {
        "section": "cadences",
        "cadence": view.cadence,
        "form": form,
        "dimensions": BY,
        "query": _query(by, form["since"], form["until"]),
    }
    try:
        start, end = date_range(since, until)
        outcomes, funnel, variants = await asyncio.gather(
            report_service.outcomes(backend, view.cadence.key, by=by, since=start, until=end),
            report_service.funnel(backend, view.cadence.key, since=start, until=end),
            report_service.variants(backend, view.cadence.key, since=start, until=end),
        )
    except ConsoleError as err:
        return render(request, "report.html", status=err.status, error=err.message, **context)
    except NotFound:
        raise
    except CadenceError as err:
        return render(request, "report.html", status=err.status, error=err.message[:1].upper() + err.message[1:] + ".", **context)
    return render(
        request,
        "report.html",
        outcomes=outcomes,
        outcome_chart=outcome_chart(outcomes),
        funnel=funnel,
        funnel_chart=funnel_chart(funnel),
        statuses=ended_statuses(funnel),
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
async def report_csv(
    request: Request,
    user: Viewer,
    key: str,
    table: Annotated[Table, Query()] = "outcomes",
    by: Annotated[Dimension, Query()] = "version",
    since: Annotated[str, Query(max_length=20)] = "",
    until: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    """One table of the report as a CSV attachment: outcomes (by the grouping), the funnel
    (one column per way enrollments ended) or the variants (one row per step and variant)."""
    backend = backend_of(request)
    start, end = date_range(since, until)
    if table == "outcomes":
        outcomes = await report_service.outcomes(backend, key, by=by, since=start, until=end)
        text, name = _rows_csv(list(outcomes.rows), OutcomeRow), f"{outcomes.cadence_key}-by-{by}"
    elif table == "funnel":
        funnel = await report_service.funnel(backend, key, since=start, until=end)
        text, name = funnel_csv(funnel), f"{funnel.cadence_key}-funnel"
    else:
        variants = await report_service.variants(backend, key, since=start, until=end)
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
