"""The preview timeline's geometry (`starter.console.timeline_svg.layout`): markers in time
order at increasing x, one per touch and task with the channel's shape, deferrals as arrows
from the requested to the deferred time, skips hollow and crossed, the end drawn, and every
shape titled with the item's sentence."""

from __future__ import annotations

import datetime as dt

import pytest

from starter.console.timeline_svg import EVENT_LANE, LEFT, RIGHT, WIDTH, layout, shape_path
from starter.service.previews import PreviewItem

START = dt.datetime(2027, 1, 4, 15, 0, tzinfo=dt.UTC)  # Monday 09:00 in Chicago


def item(days: float, kind: str, channel: str | None = None, *, until_days: float | None = None, step: str | None = None) -> PreviewItem:
    at = START + dt.timedelta(days=days)
    until = START + dt.timedelta(days=until_days) if until_days is not None else None
    return PreviewItem(
        at=at,
        local=at.isoformat(),
        label=f"day {days}",
        kind=kind,
        step_id=step,
        channel=channel,
        until=until,
        sentence=f"day {days}: {kind} {channel or ''} {step or ''}".strip(),
    )


ITEMS = [
    item(0, "touch", "email", step="intro"),
    item(2, "task", "call", step="call-1"),
    item(4.75, "deferred", "email", until_days=7, step="follow-up"),  # Friday evening -> Monday
    item(7, "touch", "email", step="follow-up"),
    item(8, "skipped", "sms", step="text"),
    item(9, "event", None),
    item(10, "touch", "linkedin", step="connect"),
    item(12, "ended", None),
]


def test_one_marker_per_touch_and_task_in_time_order_at_increasing_x() -> None:
    timeline = layout(ITEMS, START, "America/Chicago")
    plotted = [m for m in timeline.markers if m.kind in ("touch", "task")]
    assert len(plotted) == sum(1 for i in ITEMS if i.kind in ("touch", "task")) == 4
    assert [m.at for m in timeline.markers] == sorted(m.at for m in timeline.markers)
    xs = [m.x for m in timeline.markers]
    assert xs == sorted(xs) and len(set(xs)) == len(xs)
    assert all(LEFT <= x <= WIDTH - RIGHT for x in xs)
    # The axis runs from the start to the last item.
    assert timeline.start == START and timeline.end == ITEMS[-1].at
    assert plotted[0].x == pytest.approx(LEFT)
    assert timeline.ends[0].x == pytest.approx(WIDTH - RIGHT)
    # x is proportional to time.
    per_day = (WIDTH - RIGHT - LEFT) / 12
    assert plotted[1].x == pytest.approx(LEFT + 2 * per_day, abs=0.01)


def test_shapes_and_lanes_follow_the_channel() -> None:
    timeline = layout(ITEMS, START, "America/Chicago")
    shapes = {m.channel: m.shape for m in timeline.markers if m.kind in ("touch", "task")}
    assert shapes == {"email": "circle", "call": "diamond", "linkedin": "triangle"}
    lanes = [lane.name for lane in timeline.lanes]
    assert lanes == ["email", "sms", "call", "linkedin", EVENT_LANE]
    ys = {lane.name: lane.y for lane in timeline.lanes}
    assert all(m.y == ys[m.lane] for m in timeline.markers)
    event = next(m for m in timeline.markers if m.kind == "event")
    assert event.lane == EVENT_LANE and event.shape == "star"
    assert all(lane.y < timeline.axis_y < timeline.height for lane in timeline.lanes)


def test_a_deferral_is_an_arrow_from_the_requested_to_the_deferred_time() -> None:
    timeline = layout(ITEMS, START, "America/Chicago")
    assert len(timeline.arrows) == 1
    arrow = timeline.arrows[0]
    moved = next(m for m in timeline.markers if m.kind == "touch" and m.at == arrow.until)
    assert arrow.at == ITEMS[2].at and arrow.until == ITEMS[2].until
    assert arrow.x1 < arrow.x2 and arrow.x2 == pytest.approx(moved.x)
    assert arrow.y == moved.y  # in the email lane
    assert arrow.title == ITEMS[2].sentence
    assert not [m for m in timeline.markers if m.kind == "deferred"]  # an arrow, not a marker


def test_skips_are_hollow_and_crossed_and_the_end_is_a_line() -> None:
    timeline = layout(ITEMS, START, "America/Chicago")
    skipped = next(m for m in timeline.markers if m.kind == "skipped")
    assert skipped.hollow and skipped.cross is not None
    assert all(not m.hollow and m.cross is None for m in timeline.markers if m.kind == "touch")
    assert [(e.kind, e.title) for e in timeline.ends] == [("ended", ITEMS[-1].sentence)]
    end = timeline.ends[0]
    assert end.y1 < end.y2 == timeline.axis_y


def test_every_shape_has_the_items_sentence_as_its_title() -> None:
    timeline = layout(ITEMS, START, "America/Chicago")
    titled = {m.index: m.title for m in timeline.markers} | {a.index: a.title for a in timeline.arrows}
    titled |= {e.index: e.title for e in timeline.ends}
    assert titled == {index: i.sentence for index, i in enumerate(ITEMS)}
    assert all(m.title for m in timeline.markers)


def test_day_ticks_are_the_contacts_midnights_and_few() -> None:
    timeline = layout(ITEMS, START, "America/Chicago")
    assert 1 <= len(timeline.ticks) <= 12
    assert [t.x for t in timeline.ticks] == sorted(t.x for t in timeline.ticks)
    first = timeline.ticks[0]
    assert first.label == "Tue 05 Jan" and first.at == dt.datetime(2027, 1, 5, 6, 0, tzinfo=dt.UTC)
    long = layout([item(0, "touch", "email"), item(300, "open", None)], START, "Europe/Paris")
    assert 1 <= len(long.ticks) <= 12


def test_an_empty_or_instant_preview_still_has_an_axis() -> None:
    alone = layout([item(0, "ended", None)], START, None)
    assert alone.end == START + dt.timedelta(days=1) and alone.ends[0].x == pytest.approx(LEFT)
    assert [lane.name for lane in alone.lanes] == [EVENT_LANE]
    assert layout([], START, "Not/AZone").markers == []


def test_the_shapes_are_closed_paths_around_their_centre() -> None:
    for shape in ("circle", "square", "diamond", "triangle", "hexagon", "star"):
        path = shape_path(shape, 100, 50)
        assert path.startswith("M") and path.endswith("Z")
    with pytest.raises(ValueError, match="unknown shape"):
        shape_path("blob", 0, 0)
