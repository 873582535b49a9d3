"""The capacity chart's layout: bars in proportion to tasks, the allowance line, over weeks."""

from __future__ import annotations

import datetime as dt

from starter.console.forecast import BOTTOM, HEIGHT, TOP, chart
from starter.service.forecast import OwnerForecast, WeekLoad

MONDAY = dt.date(2027, 1, 4)


def owner(capacity: int | None, loads: list[tuple[int, int, int]]) -> OwnerForecast:
    weeks = [
        WeekLoad(
            week=MONDAY + dt.timedelta(weeks=i),
            open=o,
            forecast=n,
            by_kind={"call": n} if n else {},
            asked=a,
            total=o + n,
            over=capacity is not None and a > capacity,
        )
        for i, (o, n, a) in enumerate(loads)
    ]
    return OwnerForecast(owner_id="csm-1", capacity=capacity, enrollments=3, weeks=weeks, over_weeks=sum(w.over for w in weeks), peak=0)


def test_bars_stack_open_under_new_in_proportion_and_the_allowance_line_sits_at_its_value() -> None:
    layout = chart(owner(4, [(1, 3, 4), (0, 2, 6), (0, 0, 0)]))
    plot = HEIGHT - TOP - BOTTOM
    assert layout.top_value == 6  # the busiest week asked for 6
    first, second, third = layout.bars
    assert first.open_height == round(plot / 6, 1) and first.new_height == round(plot * 3 / 6, 1)
    assert first.new_y + first.new_height == first.open_y  # stacked
    assert third.open_height == 0 and third.new_height == 0
    assert layout.allowance_y == round(TOP + plot - plot * 4 / 6, 1)
    assert [b.over for b in layout.bars] == [False, True, False]
    assert "6 asked for, over the allowance of 4" in second.title and "2 call" in second.title
    assert [b.x for b in layout.bars] == sorted(b.x for b in layout.bars)


def test_no_allowance_no_line_and_an_idle_owner_still_draws() -> None:
    layout = chart(owner(None, [(0, 0, 0)] * 12))
    assert layout.allowance_y is None and layout.top_value == 1 and len(layout.bars) == 12
    assert all(b.open_height == 0 and b.new_height == 0 and not b.over for b in layout.bars)
