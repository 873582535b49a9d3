"""The geometry of a preview's timeline picture: pure, so it can be tested without a browser.

`layout` turns a preview's items into what the template draws as one inline SVG (no script,
no library): a horizontal axis of days from the start to the last item, one lane per channel
(and one for the enrollment's own events), a marker per touch and rep task (its shape says
the channel), an arrow from the requested to the deferred time for every deferral, hollow
crossed markers for skips, and a line where the enrollment ends or the preview stops. Every
shape carries the item's sentence as its title (a tooltip, and what screen readers read).
"""

from __future__ import annotations

import datetime as dt
import math
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

# Lanes top to bottom; a channel not listed gets a lane after these, the enrollment's own
# events (paused, replied, ended...) always come last.
LANE_ORDER = ("email", "sms", "call", "linkedin", "task", "crm", "event")
EVENT_LANE = "event"
LANE_LABELS = {
    "email": "Email",
    "sms": "SMS",
    "call": "Call",
    "linkedin": "LinkedIn",
    "task": "Task",
    "crm": "CRM",
    EVENT_LANE: "Enrollment",
}
# Marker shapes by channel.
SHAPES = {"email": "circle", "sms": "square", "call": "diamond", "linkedin": "triangle", "task": "hexagon", "crm": "square"}

WIDTH = 960.0
LEFT = 96.0  # room for the lane labels
RIGHT = 24.0
TOP = 12.0
LANE_HEIGHT = 34.0
AXIS_ROOM = 34.0  # below the lanes: the axis and its day labels
RADIUS = 6.0
MAX_TICKS = 12


class Plotted(Protocol):
    """What the picture needs of a preview item (`PreviewItem` has it)."""

    @property
    def at(self) -> dt.datetime: ...

    @property
    def kind(self) -> str: ...

    @property
    def channel(self) -> str | None: ...

    @property
    def until(self) -> dt.datetime | None: ...

    @property
    def sentence(self) -> str: ...


@dataclass(frozen=True)
class Lane:
    name: str
    label: str
    y: float


@dataclass(frozen=True)
class Tick:
    x: float
    label: str
    at: dt.datetime


@dataclass(frozen=True)
class Marker:
    """One shape on the picture: `d` its SVG path, `cross` the X drawn over a skip or stop."""

    index: int  # the item's position in the preview
    kind: str
    channel: str | None
    lane: str
    shape: str
    x: float
    y: float
    d: str
    cross: str | None
    hollow: bool
    title: str
    at: dt.datetime


@dataclass(frozen=True)
class Arrow:
    """A deferral: from the time a step asked to run to the time it was moved to."""

    index: int
    lane: str
    x1: float
    x2: float
    y: float
    title: str
    at: dt.datetime
    until: dt.datetime


@dataclass(frozen=True)
class EndLine:
    """Where the enrollment ends (`ended`) or where the preview stops looking (`open`)."""

    index: int
    kind: str
    x: float
    y1: float
    y2: float
    title: str


@dataclass(frozen=True)
class Timeline:
    width: float
    height: float
    axis_y: float
    x0: float
    x1: float
    start: dt.datetime
    end: dt.datetime
    lanes: list[Lane]
    ticks: list[Tick]
    markers: list[Marker]
    arrows: list[Arrow]
    ends: list[EndLine]

    @property
    def view_box(self) -> str:
        return f"0 0 {_n(self.width)} {_n(self.height)}"


def _n(value: float) -> str:
    """A coordinate as SVG text: at most one decimal, no trailing zeros."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _lane_of(item: Plotted) -> str:
    if item.kind in ("event", "ended", "open"):
        return EVENT_LANE
    return item.channel or EVENT_LANE


def shape_path(shape: str, x: float, y: float, r: float = RADIUS) -> str:
    """The SVG path of a marker of this shape centred on (x, y)."""
    if shape == "circle":
        return f"M{_n(x - r)},{_n(y)}a{_n(r)},{_n(r)} 0 1,0 {_n(2 * r)},0a{_n(r)},{_n(r)} 0 1,0 {_n(-2 * r)},0Z"
    if shape == "square":
        s = r * 0.9
        return f"M{_n(x - s)},{_n(y - s)}H{_n(x + s)}V{_n(y + s)}H{_n(x - s)}Z"
    if shape == "diamond":
        s = r * 1.25
        return f"M{_n(x)},{_n(y - s)}L{_n(x + s)},{_n(y)}L{_n(x)},{_n(y + s)}L{_n(x - s)},{_n(y)}Z"
    if shape == "triangle":
        s = r * 1.2
        return f"M{_n(x)},{_n(y - s)}L{_n(x + s)},{_n(y + s * 0.8)}L{_n(x - s)},{_n(y + s * 0.8)}Z"
    if shape == "hexagon":
        points = [(x + r * math.cos(math.pi / 3 * k), y + r * math.sin(math.pi / 3 * k)) for k in range(6)]
        return "M" + "L".join(f"{_n(px)},{_n(py)}" for px, py in points) + "Z"
    if shape == "star":  # the enrollment's own events
        points = []
        for k in range(8):
            radius = r if k % 2 == 0 else r * 0.45
            angle = -math.pi / 2 + math.pi / 4 * k
            points.append((x + radius * math.cos(angle), y + radius * math.sin(angle)))
        return "M" + "L".join(f"{_n(px)},{_n(py)}" for px, py in points) + "Z"
    raise ValueError(f"unknown shape {shape!r}")


def _cross(x: float, y: float, r: float = RADIUS) -> str:
    s = r * 0.75
    return f"M{_n(x - s)},{_n(y - s)}L{_n(x + s)},{_n(y + s)}M{_n(x - s)},{_n(y + s)}L{_n(x + s)},{_n(y - s)}"


def _tick_days(span_days: float) -> int:
    for step in (1, 2, 7, 14, 28, 56, 91):
        if span_days / step <= MAX_TICKS:
            return step
    return 182


def layout(items: Sequence[Plotted], start: dt.datetime, timezone: str | None = None, *, width: float = WIDTH) -> Timeline:
    """The picture of a preview: `items` as the preview gives them (in time order), `start`
    where the axis begins (the enrollment's start; earlier than the first item or equal),
    `timezone` the contact's (the day labels are its calendar days)."""
    try:
        tz: dt.tzinfo = zoneinfo.ZoneInfo(timezone) if timezone else dt.UTC
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        tz = dt.UTC
    moments = [start, *(i.at for i in items), *(i.until for i in items if i.until is not None)]
    t0 = min(moments)
    t1 = max(max(moments), t0 + dt.timedelta(days=1))
    x0, x1 = LEFT, width - RIGHT
    span = (t1 - t0).total_seconds()

    def x_of(at: dt.datetime) -> float:
        return round(x0 + (x1 - x0) * (at - t0).total_seconds() / span, 2)

    present = {_lane_of(i) for i in items if i.kind not in ("ended", "open")} | {EVENT_LANE}
    names = [n for n in LANE_ORDER if n in present] + sorted(present - set(LANE_ORDER))
    lanes = [Lane(n, LANE_LABELS.get(n, n.title()), TOP + LANE_HEIGHT * (k + 0.5)) for k, n in enumerate(names)]
    y_of = {lane.name: lane.y for lane in lanes}
    axis_y = TOP + LANE_HEIGHT * len(lanes) + 6
    height = axis_y + AXIS_ROOM

    ticks = []
    step = _tick_days((t1 - t0).total_seconds() / 86400)
    day = t0.astimezone(tz).date()
    while True:
        midnight = dt.datetime.combine(day, dt.time(0), tzinfo=tz)
        if midnight > t1:
            break
        if midnight >= t0:
            ticks.append(Tick(x_of(midnight), f"{midnight:%a %d %b}", midnight.astimezone(dt.UTC)))
        day += dt.timedelta(days=step)

    markers: list[Marker] = []
    arrows: list[Arrow] = []
    ends: list[EndLine] = []
    for index, item in enumerate(items):
        lane = _lane_of(item)
        x = x_of(item.at)
        if item.kind in ("ended", "open"):
            ends.append(EndLine(index, item.kind, x, TOP, axis_y, item.sentence))
            continue
        y = y_of[lane]
        if item.kind == "deferred":
            until = item.until or item.at
            arrows.append(Arrow(index, lane, x, x_of(until), y, item.sentence, item.at, until))
            continue
        shape = "star" if lane == EVENT_LANE else SHAPES.get(lane, "circle")
        hollow = item.kind in ("skipped", "stopped", "wait_event")
        cross = _cross(x, y) if item.kind in ("skipped", "stopped") else None
        markers.append(
            Marker(index, item.kind, item.channel, lane, shape, x, y, shape_path(shape, x, y), cross, hollow, item.sentence, item.at)
        )
    return Timeline(width, height, axis_y, x0, x1, t0, t1, lanes, ticks, markers, arrows, ends)
