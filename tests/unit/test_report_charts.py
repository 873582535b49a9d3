"""The report page's chart geometry and number formats, without a browser."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest

from starter.console import report_charts as rc
from starter.service.reports import FunnelReport, FunnelStep, OutcomeReport, OutcomeRow, StepTest, VariantOut, ended_statuses, funnel_csv

NOW = dt.datetime(2030, 1, 31, tzinfo=dt.UTC)


def _row(key: str, touched: int, replied: int, rate: float) -> OutcomeRow:
    return OutcomeRow(
        key=key,
        enrolled=touched,
        touched=touched,
        sent=touched,
        emailed=touched,
        opened=0,
        clicked=0,
        replied_positive=replied,
        replied_negative=0,
        replied_neutral=0,
        replied=replied,
        meetings=0,
        switched=0,
        opted_out=0,
        bounced=0,
        complained=0,
        completed=0,
        still_open=touched - replied,
        response_rate=rate,
        open_rate=0.0,
        click_rate=0.0,
        opt_out_rate=0.0,
        bounce_rate=0.0,
        completion_rate=0.0,
        first_touch_p50_seconds=3.0,
        first_touch_p95_seconds=None,
        first_reply_p50_seconds=None,
        response_p50_seconds=None,
    )


def test_percent_and_span() -> None:
    assert rc.percent(0.375) == "37.5%"
    assert rc.percent(0.0) == "0.0%"
    assert rc.percent(1.0) == "100.0%"
    assert rc.span(None) == "—"
    assert rc.span(3.2) == "3 s"
    assert rc.span(720) == "12 min"
    assert rc.span(3 * 3600 + 1800) == "3.5 h"
    assert rc.span(2 * 86400 + 8640) == "2.1 d"


def test_bars_are_in_proportion_to_the_top_value_and_labelled_past_their_end() -> None:
    chart = rc.bar_chart([("a", [rc.Series("rate", 0.5, "50.0%", "a")]), ("b", [rc.Series("rate", 0.25, "25.0%", "b")])])
    plot = rc.WIDTH - rc.LABEL_WIDTH - rc.VALUE_ROOM
    a, b = (row.bars[0] for row in chart.rows)
    assert chart.top_value == 0.5
    assert a.width == plot and b.width == plot / 2
    assert a.x == b.x == rc.LABEL_WIDTH
    assert a.label_x == round(rc.LABEL_WIDTH + plot + 6, 1) and a.label == "50.0%"
    assert b.y == a.y + rc.BAR_HEIGHT + rc.ROW_GAP  # rows one under the other
    assert a.label_y > a.y and a.label_y < a.y + a.height
    assert chart.height == int(b.y + b.height + rc.PAD)
    # Every bar fits inside the drawing, its number too.
    for bar in (a, b):
        assert 0 <= bar.x and bar.x + bar.width <= chart.width - rc.VALUE_ROOM


def test_zero_and_empty_charts_do_not_divide_by_zero() -> None:
    chart = rc.bar_chart([("a", [rc.Series("rate", 0.0, "0.0%", "a")])])
    assert chart.top_value == 1.0 and chart.rows[0].bars[0].width == 0
    empty = rc.bar_chart([])
    assert empty.rows == [] and empty.height == 2 * rc.PAD
    # A value over a given top is drawn to the top, not past it.
    over = rc.bar_chart([("a", [rc.Series("x", 5, "5", "a")])], top_value=2)
    assert over.rows[0].bars[0].width == rc.WIDTH - rc.LABEL_WIDTH - rc.VALUE_ROOM


def test_outcome_chart_has_one_rate_bar_per_group() -> None:
    report = OutcomeReport(cadence_key="k", by="owner", since=NOW, until=NOW, rows=[_row("o-1", 8, 3, 0.375), _row("o-2", 4, 1, 0.25)])
    chart = rc.outcome_chart(report)
    assert [r.name for r in chart.rows] == ["o-1", "o-2"]
    assert [r.bars[0].label for r in chart.rows] == ["37.5%", "25.0%"]
    assert chart.rows[0].bars[0].title == "o-1: 37.5% responded (3 of 8 touched)"
    assert chart.rows[1].bars[0].width == pytest.approx(chart.rows[0].bars[0].width * 2 / 3, abs=0.1)


def test_funnel_chart_draws_reached_and_ended_on_the_enrolled_scale_and_its_csv_flattens_the_endings() -> None:
    report = FunnelReport(
        cadence_key="k",
        since=NOW,
        until=NOW,
        enrolled=10,
        steps=[
            FunnelStep(step_index=0, step_id="hello", reached=10, sent=9, skipped=1, failed=0, ended_here={"replied": 2}),
            FunnelStep(step_index=1, step_id="later", reached=5, sent=5, skipped=0, failed=0, ended_here={"opted_out": 1, "completed": 4}),
            FunnelStep(step_index=None, step_id="gone", reached=1, sent=1, skipped=0, failed=0, ended_here={}),
        ],
    )
    chart = rc.funnel_chart(report)
    assert chart.top_value == 10
    hello = chart.rows[0]
    assert [(b.kind, b.label) for b in hello.bars] == [("reached", "10 reached"), ("ended", "2 ended here")]
    assert hello.bars[1].y == hello.bars[0].y + rc.BAR_HEIGHT + rc.BAR_GAP
    assert chart.rows[1].bars[1].title == "later: 5 ended here (4 completed, 1 opted out)"
    assert chart.rows[1].bars[0].width == pytest.approx(hello.bars[0].width / 2, abs=0.1)
    assert ended_statuses(report) == ["completed", "opted_out", "replied"]
    rows = list(csv.reader(io.StringIO(funnel_csv(report))))
    assert rows[0] == [
        "step_index",
        "step_id",
        "reached",
        "sent",
        "skipped",
        "failed",
        "ended_completed",
        "ended_opted_out",
        "ended_replied",
    ]
    assert rows[1] == ["0", "hello", "10", "9", "1", "0", "0", "0", "2"]
    assert rows[2] == ["1", "later", "5", "5", "0", "0", "4", "1", "0"]
    assert rows[3] == ["", "gone", "1", "1", "0", "0", "0", "0", "0"]


def test_variant_chart_marks_the_leader() -> None:
    step = StepTest(
        step_id="hello",
        verdict="too_early",
        leader="short",
        reason="too early",
        variants=[
            VariantOut(variant="short", exposed=8, responded=4, rate=0.5, probability_best=0.8, p_value_vs_leader=None),
            VariantOut(variant="long", exposed=8, responded=2, rate=0.25, probability_best=0.2, p_value_vs_leader=0.3),
        ],
    )
    chart = rc.variant_chart(step)
    assert [(r.name, r.bars[0].kind, r.bars[0].label) for r in chart.rows] == [
        ("short", "leader", "50.0% (4/8)"),
        ("long", "rate", "25.0% (2/8)"),
    ]
    assert chart.rows[0].bars[0].width == 2 * chart.rows[1].bars[0].width


def test_day_columns_share_one_scale_and_say_their_numbers() -> None:
    from starter.service.engagement_reports import DailyReport, DayActivity

    days = [
        DayActivity(day=dt.date(2030, 1, 1), sent=10, opened=4, clicked=1, replied=2),
        DayActivity(day=dt.date(2030, 1, 2), sent=0, opened=0, clicked=0, replied=0),
        DayActivity(day=dt.date(2030, 1, 3), sent=5, opened=0, clicked=0, replied=5),
    ]
    chart = rc.daily_chart(DailyReport(cadence_key="k", since=NOW, until=NOW, days=days))
    first, empty, third = chart.columns
    assert chart.top_value == 10
    assert first.sent_height == 2 * third.sent_height and third.replied_height == third.sent_height
    assert first.replied_height == pytest.approx(first.sent_height / 5, abs=0.1)
    assert empty.sent_height == 0 and empty.sent_y == chart.base_y
    assert first.title == "2030-01-01: 10 sent, 4 opened, 1 clicked, 2 replied"
    assert first.x < empty.x < third.x and all(c.width <= rc.DAY_MAX_COLUMN for c in chart.columns)
    assert third.x + third.width <= chart.width
    nothing = rc.daily_chart(DailyReport(cadence_key="k", since=NOW, until=NOW, days=[]))
    assert nothing.columns == [] and nothing.top_value == 1
