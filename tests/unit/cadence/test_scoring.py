"""Lead scoring rules (cadence/scoring.py): points, decay, daily caps, bounds and thresholds."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from cadence.scoring import Score, ScoringConfig, Threshold, add, decayed, level
from starter.catalog import load_scoring

T0 = dt.datetime(2030, 3, 1, 12, tzinfo=dt.UTC)
CONFIG = ScoringConfig(
    points={"opened": 1, "clicked": 3, "meeting_booked": 30, "opted_out": -40},
    reply_points={"positive": 20, "negative": -15},
    daily_caps={"opened": 3},
    half_life_days=10,
    floor=-50,
    ceiling=100,
    thresholds=[Threshold(name="warm", at_least=15), Threshold(name="hot", at_least=40)],
)


def test_points_by_kind_and_intent_and_nothing_for_machines() -> None:
    assert CONFIG.points_for("clicked", {}, machine=False) == 3
    assert CONFIG.points_for("clicked", {}, machine=True) == 0
    assert CONFIG.points_for("replied", {"intent": "positive"}, machine=False) == 20
    assert CONFIG.points_for("replied", {"intent": "out_of_office"}, machine=False) == 0
    assert CONFIG.points_for("delivered", {}, machine=False) == 0


def test_a_score_halves_every_half_life() -> None:
    assert decayed(40, T0, T0 + dt.timedelta(days=10), 10) == pytest.approx(20)
    assert decayed(40, T0, T0 + dt.timedelta(days=30), 10) == pytest.approx(5)
    assert decayed(-20, T0, T0 + dt.timedelta(days=10), 10) == pytest.approx(-10)  # a penalty fades too
    assert decayed(40, T0, T0 - dt.timedelta(days=1), 10) == 40  # never grows backwards in time


def test_daily_caps_hold_within_a_utc_day_and_reset_the_next() -> None:
    score = Score()
    for i in range(5):
        score = add(CONFIG, score, "opened", {}, machine=False, now=T0 + dt.timedelta(minutes=i)).score
    assert score.value == pytest.approx(3, abs=0.01) and score.used == {"opened": 3}
    tomorrow = add(CONFIG, score, "opened", {}, machine=False, now=T0 + dt.timedelta(days=1))
    assert tomorrow.added == pytest.approx(1, abs=0.01) and tomorrow.score.used == {"opened": 1}


def test_thresholds_are_crossed_once_on_the_way_up_and_again_after_falling_back() -> None:
    first = add(CONFIG, Score(), "replied", {"intent": "positive"}, machine=False, now=T0)
    assert [t.name for t in first.crossed] == ["warm"]
    second = add(CONFIG, first.score, "meeting_booked", {}, machine=False, now=T0 + dt.timedelta(hours=1))
    assert [t.name for t in second.crossed] == ["hot"] and level(CONFIG, second.score.value) == "hot"
    again = add(CONFIG, second.score, "clicked", {}, machine=False, now=T0 + dt.timedelta(hours=2))
    assert again.crossed == ()  # already hot
    # Two months of silence: back under both; the next engagements cross them again.
    later = T0 + dt.timedelta(days=60)
    assert level(CONFIG, decayed(again.score.value, again.score.at, later, 10)) is None
    back = add(CONFIG, again.score, "meeting_booked", {}, machine=False, now=later)
    assert [t.name for t in back.crossed] == ["warm"]


def test_floor_and_ceiling() -> None:
    high = Score()
    for _ in range(5):
        high = add(CONFIG, high, "meeting_booked", {}, machine=False, now=T0).score
    assert high.value == 100
    low = add(CONFIG, add(CONFIG, Score(), "opted_out", {}, machine=False, now=T0).score, "opted_out", {}, machine=False, now=T0)
    assert low.score.value == -50 and low.added == -10


@given(
    value=st.floats(-50, 100),
    hours=st.floats(0, 24 * 365),
    kind=st.sampled_from(["opened", "clicked", "meeting_booked"]),
    used=st.floats(0, 10),
)
def test_an_engagement_with_positive_points_never_lowers_the_score_below_its_decayed_value(
    value: float, hours: float, kind: str, used: float
) -> None:
    stored = Score(value, T0, T0.date(), {"opened": used})
    now = T0 + dt.timedelta(hours=hours)
    scored = add(CONFIG, stored, kind, {}, machine=False, now=now)
    before = decayed(value, T0, now, CONFIG.half_life_days)
    assert scored.score.value >= min(before, CONFIG.ceiling) - 1e-3
    assert abs(before) <= abs(value) + 1e-9
    for t in CONFIG.thresholds:
        assert (t in scored.crossed) == (before < t.at_least <= scored.score.value)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"points": {"waved": 1}}, "unknown engagement kind 'waved'"),
        ({"reply_points": {"ecstatic": 1}}, "unknown reply intent 'ecstatic'"),
        ({"floor": 10, "ceiling": 5}, "floor must be below ceiling"),
        ({"thresholds": [{"name": "x", "at_least": 500}]}, "threshold 'x' must lie above the floor"),
        ({"thresholds": [{"name": "x", "at_least": 5}, {"name": "x", "at_least": 6}]}, "threshold names must be unique"),
        ({"daily_caps": {"opened": -1}}, "daily_caps must not be negative"),
        ({"half_life_days": 0}, "greater than 0"),
    ],
)
def test_a_bad_scoring_file_is_refused_naming_what_is_wrong(bad: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ScoringConfig.model_validate(bad)


def test_the_shipped_scoring_file_loads() -> None:
    shipped = load_scoring()
    assert [t.name for t in shipped.thresholds] == ["warm", "hot"]
    assert shipped.points_for("replied", {"intent": "positive"}, machine=False) > 0 > shipped.points_for("opted_out", {}, machine=False)
