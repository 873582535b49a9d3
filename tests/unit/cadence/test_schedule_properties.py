"""Property tests for due_at over every IANA zone and instants between 2024 and 2030.

The expected instants come from the brute-force oracle in `support.py`, never from the code
under test. References in the second pass of a DST fold (the same wall time, an offset later)
are drawn on purpose as well: the schedule must treat them as the real instants they are.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cadence.schedule import ContactCalendar, due_at
from cadence.steps import Wait
from tests.unit.cadence.support import ALL_ZONES, UTC, all_transitions, expected_local_instant, gap_containing, occurrences, wall

PROPERTY = settings(max_examples=150, deadline=None)

instants = st.datetimes(min_value=dt.datetime(2024, 1, 1), max_value=dt.datetime(2030, 12, 31), timezones=st.just(UTC))
zones = st.sampled_from(ALL_ZONES)
clocks = st.tuples(st.integers(0, 23), st.integers(0, 59)).map(lambda hm: dt.time(*hm))


def hhmm(clock: dt.time) -> str:
    return f"{clock:%H:%M}"


@st.composite
def in_a_fold(draw: st.DrawFn, second_pass: bool = True) -> tuple[dt.datetime, str]:
    """An instant whose wall time happens twice, and its zone; by default the later pass."""
    t = draw(st.sampled_from([t for t in all_transitions() if not t.is_gap]))
    minutes = draw(st.integers(0, int(t.size.total_seconds() // 60) - 1))
    first, second = occurrences(t.wall_start + dt.timedelta(minutes=minutes), t.zone)
    return (second if second_pass or draw(st.booleans()) else first), t.zone


@st.composite
def at_transition(draw: st.DrawFn) -> tuple[dt.datetime, str, int, dt.time]:
    """A `days: N, at: HH:MM` wait whose target wall time lies in a DST gap or fold."""
    t = draw(st.sampled_from(all_transitions()))
    minutes = draw(st.integers(0, int(t.size.total_seconds() // 60) - 1))
    target = t.wall_start + dt.timedelta(minutes=minutes)
    days = draw(st.integers(0, 10))
    reference = t.at - dt.timedelta(days=days, minutes=draw(st.integers(0, 24 * 60)))
    return reference, t.zone, days, target.time()


@st.composite
def from_a_fold(draw: st.DrawFn) -> tuple[dt.datetime, str, int, dt.time]:
    """A reference in either pass of a DST fold, with a target wall time in or near that fold."""
    reference, zone_name = draw(in_a_fold(second_pass=False))
    local = wall(reference, zone_name)
    clock = (local + dt.timedelta(minutes=draw(st.integers(-90, 90)))).time()
    return reference, zone_name, draw(st.integers(0, 2)), clock


random_case = st.tuples(instants, zones, st.integers(0, 60), clocks)


@PROPERTY
@given(case=random_case | at_transition() | from_a_fold())
def test_days_at_lands_on_the_right_date_at_the_right_wall_time(case: tuple[dt.datetime, str, int, dt.time]) -> None:
    reference, zone_name, days, clock = case
    result = due_at(
        Wait(days=days, at=hhmm(clock)), reference=reference, rhythm_start=reference, calendar=ContactCalendar(timezone=zone_name)
    ).at
    assert result is not None
    assert result >= reference
    day = wall(reference, zone_name).date() + dt.timedelta(days=days)
    expected = expected_local_instant(day, clock, zone_name)
    if days == 0 and expected < reference:
        day += dt.timedelta(days=1)
        expected = expected_local_instant(day, clock, zone_name)
    assert result == expected
    naive = dt.datetime.combine(day, clock)
    if occurrences(naive, zone_name):
        assert wall(result, zone_name) == naive
    else:  # skipped by a DST gap: moved forward by the gap, so just after it
        gap = gap_containing(naive, zone_name)
        assert gap is not None
        assert result >= gap.at
        assert wall(result, zone_name) == naive + gap.size


@PROPERTY
@given(reference=instants, zone_name=zones, days=st.integers(1, 60))
def test_days_without_at_keep_the_reference_wall_time(reference: dt.datetime, zone_name: str, days: int) -> None:
    result = due_at(Wait(days=days), reference=reference, rhythm_start=reference, calendar=ContactCalendar(timezone=zone_name)).at
    assert result is not None
    local = wall(reference, zone_name)
    assert result == expected_local_instant(local.date() + dt.timedelta(days=days), local.time(), zone_name)
    assert result > reference


@PROPERTY
@given(
    place=st.tuples(instants, zones) | in_a_fold(),
    minutes=st.integers(0, 3000),
    hours=st.integers(0, 72),
    seconds=st.none() | st.integers(0, 86_400),
)
def test_minutes_and_hours_wait_exactly_that_long(place: tuple[dt.datetime, str], minutes: int, hours: int, seconds: int | None) -> None:
    reference, zone_name = place
    wait = Wait(minutes=minutes, hours=hours, seconds=seconds)
    result = due_at(wait, reference=reference, rhythm_start=reference, calendar=ContactCalendar(timezone=zone_name)).at
    assert result == reference + dt.timedelta(hours=hours, minutes=minutes, seconds=seconds or 0)


# --- business days ------------------------------------------------------------------------------

COUNTRY_ZONES = [
    ("US", "America/Chicago"),
    ("US", "America/New_York"),
    ("IL", "Asia/Jerusalem"),
    ("AE", "Asia/Dubai"),
    ("SA", "Asia/Riyadh"),
    ("NP", "Asia/Kathmandu"),
    ("AU", "Australia/Lord_Howe"),
    ("CL", "Pacific/Easter"),
    ("CU", "America/Havana"),
    ("EG", "Africa/Cairo"),
    ("GB", "Europe/London"),
    ("IN", "Asia/Kolkata"),
    (None, "UTC"),
]


def working_day(day: dt.date, country: str | None) -> bool:
    if country is None:
        return day.weekday() < 5
    table = holidays.country_holidays(country, years=day.year)
    return day.weekday() not in table.weekend and day not in table


@PROPERTY
@given(reference=instants, place=st.sampled_from(COUNTRY_ZONES), count=st.integers(0, 30), clock=st.none() | clocks)
def test_business_days_land_on_the_nth_working_day_of_the_country(
    reference: dt.datetime, place: tuple[str | None, str], count: int, clock: dt.time | None
) -> None:
    country, zone_name = place
    wait = Wait(business_days=count, at=None if clock is None else hhmm(clock))
    result = due_at(wait, reference=reference, rhythm_start=reference, calendar=ContactCalendar(timezone=zone_name, country=country)).at
    assert result is not None
    assert result >= reference
    start = wall(reference, zone_name).date()
    landed = wall(result, zone_name).date()
    assert working_day(landed, country), f"{landed} is a weekend day or holiday in {country}"
    worked_between = sum(working_day(start + dt.timedelta(days=i), country) for i in range(1, (landed - start).days))
    assert worked_between == max(count - 1, 0), "skipped or double-counted a working day"
    if clock is not None:
        assert result == expected_local_instant(landed, clock, zone_name)


# --- RRULE ----------------------------------------------------------------------------------------

Predicate = Callable[[dt.date, dt.date], bool]

RULES: dict[str, Predicate] = {
    "FREQ=MONTHLY;BYMONTH=1,4,7,10;BYDAY=+1TU": lambda d, start: d.month in (1, 4, 7, 10) and d.weekday() == 1 and d.day <= 7,
    "FREQ=WEEKLY;INTERVAL=2": lambda d, start: (d - start).days % 14 == 0,
    "FREQ=WEEKLY;BYDAY=MO,WE,FR": lambda d, start: d.weekday() in (0, 2, 4),
    "FREQ=MONTHLY;BYMONTHDAY=15": lambda d, start: d.day == 15,
    "FREQ=DAILY": lambda d, start: True,
    "FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=31": lambda d, start: (d.month, d.day) == (3, 31),
}


@settings(max_examples=200, deadline=None)
@given(
    place=st.tuples(instants, zones) | in_a_fold(second_pass=False),
    behind=st.timedeltas(min_value=dt.timedelta(0), max_value=dt.timedelta(days=800)),
    rule=st.sampled_from(sorted(RULES)),
    clock=st.none() | clocks,
)
def test_rrule_occurrences_are_strictly_after_the_reference_and_match_the_rule(
    place: tuple[dt.datetime, str], behind: dt.timedelta, rule: str, clock: dt.time | None
) -> None:
    reference, zone_name = place
    rhythm_start = reference - behind
    wait = Wait(rrule=rule, at=None if clock is None else hhmm(clock))
    result = due_at(wait, reference=reference, rhythm_start=rhythm_start, calendar=ContactCalendar(timezone=zone_name)).at
    assert result is not None
    assert result > reference
    start_day = wall(rhythm_start, zone_name).date()
    ref_day = wall(reference, zone_name).date()
    landed = wall(result, zone_name).date()
    matches = RULES[rule]
    assert landed >= start_day
    assert matches(landed, start_day), f"{landed} does not match {rule}"
    assert result == expected_local_instant(landed, clock or dt.time(9, 0), zone_name)
    skipped = [ref_day + dt.timedelta(days=i) for i in range(1, (landed - ref_day).days)]
    assert not [d for d in skipped if d >= start_day and matches(d, start_day)], "an occurrence was skipped"


@PROPERTY
@given(case=from_a_fold())
def test_daily_rrule_from_a_fold_is_the_first_occurrence_after_the_reference(case: tuple[dt.datetime, str, int, dt.time]) -> None:
    reference, zone_name, _, clock = case
    rhythm_start = reference - dt.timedelta(days=30)
    result = due_at(
        Wait(rrule="FREQ=DAILY", at=hhmm(clock)),
        reference=reference,
        rhythm_start=rhythm_start,
        calendar=ContactCalendar(timezone=zone_name),
    ).at
    day = wall(reference, zone_name).date()
    expected = expected_local_instant(day, clock, zone_name)
    if expected <= reference:
        expected = expected_local_instant(day + dt.timedelta(days=1), clock, zone_name)
    assert result == expected


# --- every zone, once -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "wait", [{"days": 3, "at": "09:00"}, {"business_days": 2, "at": "09:00"}, {"rrule": "FREQ=WEEKLY;INTERVAL=2", "at": "09:00"}]
)
def test_every_zone_gets_nine_local(wait: dict[str, object]) -> None:
    reference = dt.datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
    for zone_name in ALL_ZONES:
        result = due_at(Wait(**wait), reference=reference, rhythm_start=reference, calendar=ContactCalendar(timezone=zone_name)).at
        assert result is not None and result > reference, zone_name
        local = result.astimezone(zoneinfo.ZoneInfo(zone_name))
        assert local.time() == dt.time(9, 0), zone_name
        if "business_days" in wait:
            assert local.weekday() < 5, zone_name
