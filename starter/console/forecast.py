"""The capacity forecast page: each owner's rep tasks per week for the coming weeks (open,
and what the running enrollments will create), against their weekly allowance, as a small
server-drawn bar chart per owner (no script) over the numbers. Anyone signed in may look."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Query, Request, Response

from starter.console.pages import backend_of, console_router, render
from starter.console.session import Viewer
from starter.errors import CadenceError
from starter.service import forecast as forecast_service
from starter.service.forecast import OwnerForecast

router = console_router()

WIDTH, HEIGHT, TOP, BOTTOM = 720, 150, 12, 24


@dataclass(frozen=True)
class Bar:
    """One week's bar: the open part below, the forecast part above, and its label."""

    x: float
    width: float
    open_y: float
    open_height: float
    new_y: float
    new_height: float
    over: bool
    label: str
    title: str


@dataclass(frozen=True)
class Chart:
    """An owner's chart: the bars, the allowance line (None: no limit) and the scale."""

    bars: list[Bar]
    allowance_y: float | None
    top_value: int
    width: int = WIDTH
    height: int = HEIGHT


def chart(owner: OwnerForecast) -> Chart:
    """Lay out an owner's weeks: bar heights in proportion to tasks, the scale reaching
    the larger of the busiest week (asked or due) and the allowance."""
    top_value = max([owner.capacity or 0, *(max(w.total, w.asked) for w in owner.weeks), 1])
    plot = HEIGHT - TOP - BOTTOM
    slot = WIDTH / max(len(owner.weeks), 1)

    def y(value: float) -> float:
        return TOP + plot - plot * value / top_value

    bars = []
    for index, week in enumerate(owner.weeks):
        x = index * slot + slot * 0.15
        open_top, new_top = y(week.open), y(week.total)
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(week.by_kind.items()))
        title = (
            f"week of {week.week:%d %b}: {week.open} open, {week.forecast} new"
            + (f" ({kinds})" if kinds else "")
            + f"; {week.asked} asked for"
            + (f", over the allowance of {owner.capacity}" if week.over else "")
        )
        bars.append(
            Bar(
                x=round(x, 1),
                width=round(slot * 0.7, 1),
                open_y=round(open_top, 1),
                open_height=round(y(0) - open_top, 1),
                new_y=round(new_top, 1),
                new_height=round(open_top - new_top, 1),
                over=week.over,
                label=f"{week.week:%d %b}",
                title=title,
            )
        )
    return Chart(bars=bars, allowance_y=round(y(owner.capacity), 1) if owner.capacity else None, top_value=top_value)


@router.get("/forecast")
async def forecast_page(
    request: Request,
    user: Viewer,
    owner: Annotated[str | None, Query(max_length=100)] = None,
    weeks: Annotated[int, Query(ge=1, le=26)] = forecast_service.DEFAULT_WEEKS,
) -> Response:
    """Every owner's coming weeks (or one owner's), owners over their allowance first."""
    try:
        result = await forecast_service.forecast(backend_of(request), owner=owner or None, weeks=weeks)
    except CadenceError as err:
        return render(request, "forecast.html", status=err.status, section="forecast", error=err.message, owner=owner or "", weeks=weeks)
    charts = [(o, chart(o)) for o in result.owners]
    return render(request, "forecast.html", section="forecast", result=result, charts=charts, owner=owner or "", weeks=weeks)
