"""The geometry of the report page's charts, as plain data the template draws as inline SVG
(no script, no CDN): horizontal bars, one row per group, step or variant, each bar with its
number written at its end. Pure functions, so the layout is unit-tested without a browser.

Also the report's number formats: rates as percentages, times as seconds, minutes, hours or
days, and the funnel flattened into one CSV column per way an enrollment ended.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from starter.service.engagement_reports import DailyReport, TouchReport
from starter.service.reports import FunnelReport, OutcomeReport, StepTest

WIDTH = 720
LABEL_WIDTH = 200  # the row names, left of the bars
VALUE_ROOM = 110  # right of the longest bar, for its number
BAR_HEIGHT = 18
BAR_GAP = 4  # between the bars of one row
ROW_GAP = 12  # between rows
PAD = 8  # above the first row and below the last


@dataclass(frozen=True)
class Series:
    """One bar of a row before layout: its kind (a CSS class), value, drawn number, tooltip."""

    kind: str
    value: float
    label: str
    title: str


@dataclass(frozen=True)
class Bar:
    """A laid-out bar: its rectangle, and its number's position just past its end."""

    kind: str
    value: float
    x: float
    y: float
    width: float
    height: float
    label: str
    label_x: float
    label_y: float
    title: str


@dataclass(frozen=True)
class Row:
    """A row of the chart: its name at the left, vertically centred on its bars."""

    name: str
    name_y: float
    bars: list[Bar]


@dataclass(frozen=True)
class BarChart:
    """A horizontal bar chart: rows top to bottom, the scale's top value, the SVG size."""

    rows: list[Row]
    top_value: float
    width: int
    height: int
    label_width: int = LABEL_WIDTH


def percent(rate: float) -> str:
    """A rate (0..1) as a percentage with one decimal: 0.375 -> "37.5%"."""
    return f"{rate * 100:.1f}%"


def span(seconds: float | None) -> str:
    """A length of time in the largest fitting unit: "45 s", "12 min", "3.5 h", "2.1 d" ("—": none)."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def bar_chart(rows: Sequence[tuple[str, Sequence[Series]]], *, top_value: float | None = None, width: int = WIDTH) -> BarChart:
    """Lay out rows of bars: lengths in proportion to value over the scale's top (the largest
    value unless given; never zero), every bar as tall, rows one under the other."""
    values = [s.value for _, series in rows for s in series]
    top = top_value if top_value is not None else max(values, default=0.0)
    if top <= 0:
        top = 1.0
    plot = max(width - LABEL_WIDTH - VALUE_ROOM, 1)
    laid: list[Row] = []
    y = float(PAD)
    for name, series in rows:
        bars = []
        row_top = y
        for s in series:
            length = plot * max(min(s.value / top, 1.0), 0.0)
            bars.append(
                Bar(
                    kind=s.kind,
                    value=s.value,
                    x=float(LABEL_WIDTH),
                    y=round(y, 1),
                    width=round(length, 1),
                    height=float(BAR_HEIGHT),
                    label=s.label,
                    label_x=round(LABEL_WIDTH + length + 6, 1),
                    label_y=round(y + BAR_HEIGHT * 0.75, 1),
                    title=s.title,
                )
            )
            y += BAR_HEIGHT + BAR_GAP
        if series:
            y -= BAR_GAP
        else:
            y += BAR_HEIGHT
        laid.append(Row(name=name, name_y=round((row_top + y) / 2 + 4, 1), bars=bars))
        y += ROW_GAP
    height = int(y - ROW_GAP + PAD) if rows else 2 * PAD
    return BarChart(rows=laid, top_value=top, width=width, height=height)


def outcome_chart(report: OutcomeReport) -> BarChart:
    """The response rate of each group (per enrollment touched), scaled to the best group's."""
    rows = [
        (
            r.key,
            [
                Series(
                    "rate",
                    r.response_rate,
                    percent(r.response_rate),
                    f"{r.key}: {percent(r.response_rate)} responded ({r.replied + r.meetings + r.switched} of {r.touched} touched)",
                )
            ],
        )
        for r in report.rows
    ]
    return bar_chart(rows)


def funnel_chart(report: FunnelReport) -> BarChart:
    """Per step, the enrollments that reached it and those that ended there, on one scale
    (every enrollment started in the range at most)."""
    rows = []
    for step in report.steps:
        ended = sum(step.ended_here.values())
        how = ", ".join(f"{n} {status.replace('_', ' ')}" for status, n in sorted(step.ended_here.items()))
        rows.append(
            (
                step.step_id,
                [
                    Series("reached", step.reached, f"{step.reached} reached", f"{step.step_id}: {step.reached} reached"),
                    Series("ended", ended, f"{ended} ended here", f"{step.step_id}: {ended} ended here" + (f" ({how})" if how else "")),
                ],
            )
        )
    top = max([report.enrolled, *(s.reached for s in report.steps), *(sum(s.ended_here.values()) for s in report.steps)])
    return bar_chart(rows, top_value=top)


def variant_chart(step: StepTest) -> BarChart:
    """A tested step's variants side by side: each one's response rate, the leader marked."""
    rows = [
        (
            v.variant,
            [
                Series(
                    "leader" if v.variant == step.leader else "rate",
                    v.rate,
                    f"{percent(v.rate)} ({v.responded}/{v.exposed})",
                    f"{v.variant}: {v.responded} of {v.exposed} responded, {percent(v.rate)}; {percent(v.probability_best)} chance to be best",
                )
            ],
        )
        for v in step.variants
    ]
    return bar_chart(rows)


def message_chart(report: TouchReport) -> BarChart:
    """Per step (or channel, or variant), the rates a person acted on its messages: opened,
    clicked and replied per message delivered, on one 0-100% scale."""
    rows = []
    for r in report.rows:
        rows.append(
            (
                r.key,
                [
                    Series(
                        "opened", r.open_rate, f"{percent(r.open_rate)} opened", f"{r.key}: {r.opened} of {r.delivered} delivered opened"
                    ),
                    Series(
                        "clicked",
                        r.click_rate,
                        f"{percent(r.click_rate)} clicked",
                        f"{r.key}: {r.clicked} of {r.delivered} delivered clicked",
                    ),
                    Series(
                        "replied",
                        r.reply_rate,
                        f"{percent(r.reply_rate)} replied",
                        f"{r.key}: {r.replied} of {r.delivered} delivered replied",
                    ),
                ],
            )
        )
    return bar_chart(rows, top_value=1.0)


DAY_CHART_HEIGHT = 160
DAY_AXIS = 40  # left of the columns, for the scale's top value
DAY_FOOT = 18  # below the columns, for the first and last day
DAY_MAX_COLUMN = 36.0  # a few days' columns stay columns, not blocks


@dataclass(frozen=True)
class DayColumn:
    """One day: a column for its sends and, inside it, one for its replies (same scale)."""

    day: str
    x: float
    width: float
    sent_y: float
    sent_height: float
    replied_y: float
    replied_height: float
    title: str


@dataclass(frozen=True)
class DayChart:
    """Columns left to right, one per day; the scale's top value; the SVG size."""

    columns: list[DayColumn]
    top_value: int
    width: int
    height: int
    base_y: float
    axis_x: float


def daily_chart(report: DailyReport, *, width: int = WIDTH) -> DayChart:
    """Sends and replies per day as columns on one scale (the busiest day's sends at the top;
    never zero), each column titled with the day's sends, opens, clicks and replies."""
    top = max([d.sent for d in report.days] + [d.replied for d in report.days] + [1])
    plot_height = DAY_CHART_HEIGHT - PAD - DAY_FOOT
    base = float(PAD + plot_height)
    step = (width - DAY_AXIS - PAD) / max(len(report.days), 1)
    columns = []
    for i, d in enumerate(report.days):
        sent_h = plot_height * d.sent / top
        replied_h = plot_height * d.replied / top
        x = DAY_AXIS + i * step
        bar = min(max(step * 0.8, 1.0), DAY_MAX_COLUMN)
        columns.append(
            DayColumn(
                day=d.day.isoformat(),
                x=round(x + (step - bar) / 2, 1),
                width=round(bar, 1),
                sent_y=round(base - sent_h, 1),
                sent_height=round(sent_h, 1),
                replied_y=round(base - replied_h, 1),
                replied_height=round(replied_h, 1),
                title=f"{d.day.isoformat()}: {d.sent} sent, {d.opened} opened, {d.clicked} clicked, {d.replied} replied",
            )
        )
    return DayChart(columns=columns, top_value=top, width=width, height=DAY_CHART_HEIGHT, base_y=base, axis_x=float(DAY_AXIS))
