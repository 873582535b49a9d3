"""Business days, public holidays and local-time conversion across DST gaps and folds."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cadence.calendar import add_business_days, from_local, is_business_day, is_holiday, is_supported_country, to_local, weekend, zone
from tests.unit.cadence.support import ALL_ZONES, UTC, all_transitions, expected_local_instant, occurrences, wall

D = dt.date


# --- weekends -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("country", "days"),
    [("IL", {4, 5}), ("US", {5, 6}), ("DE", {5, 6}), ("AE", {5, 6}), ("SA", {4, 5}), (None, {5, 6}), ("", {5, 6}), ("XX", {5, 6})],
)
def test_weekend_days_per_country(country: str | None, days: set[int]) -> None:
    assert weekend(country) == frozenset(days)


def test_israel_works_sunday_to_thursday() -> None:
    week = [D(2026, 1, 4) + dt.timedelta(days=i) for i in range(7)]  # Sunday .. Saturday
    assert [is_business_day(d, "IL") for d in week] == [True, True, True, True, True, False, False]
    assert add_business_days(D(2026, 1, 8), 1, "IL") == D(2026, 1, 11)  # Thursday -> Sunday


# --- holidays -------------------------------------------------------------------------------


def test_thanksgiving_is_a_us_holiday_and_not_a_business_day() -> None:
    thanksgiving = D(2026, 11, 26)
    assert is_holiday(thanksgiving, "US")
    assert not is_business_day(thanksgiving, "US")
    assert not is_holiday(thanksgiving, "GB")
    assert is_business_day(thanksgiving, "GB")
    assert add_business_days(D(2026, 11, 25), 1, "US") == D(2026, 11, 27)


def test_us_holidays_2026() -> None:
    for day in [D(2026, 1, 1), D(2026, 1, 19), D(2026, 7, 3), D(2026, 9, 7), D(2026, 12, 25)]:
        assert is_holiday(day, "US"), day  # 2026-07-03 is the observed Independence Day
    assert not is_holiday(D(2026, 7, 6), "US")


def test_yom_kippur_is_not_a_business_day_in_israel() -> None:
    assert is_holiday(D(2026, 9, 21), "IL")
    assert add_business_days(D(2026, 9, 20), 1, "IL") == D(2026, 9, 22)


def test_subdivision_holidays_apply_only_there() -> None:
    cesar_chavez = D(2026, 3, 31)
    assert is_holiday(cesar_chavez, "US", "CA")
    assert not is_holiday(cesar_chavez, "US")
    assert not is_holiday(cesar_chavez, "US", "NY")


def test_unknown_subdivision_falls_back_to_the_national_calendar() -> None:
    assert is_holiday(D(2026, 11, 26), "US", "ZZ")
    assert not is_business_day(D(2026, 11, 26), "US", "ZZ")


def test_unknown_or_missing_country_has_no_holidays_but_weekends() -> None:
    assert not is_holiday(D(2026, 12, 25), None)
    assert not is_holiday(D(2026, 12, 25), "XX")
    assert is_business_day(D(2026, 12, 25), None)  # a Friday
    assert not is_business_day(D(2026, 12, 26), None)  # a Saturday


@pytest.mark.parametrize(("country", "subdiv"), [("us", None), ("Us", None), ("us", "ca"), ("US", "Ca")])
def test_country_and_subdivision_codes_are_case_insensitive(country: str, subdiv: str | None) -> None:
    assert is_holiday(D(2026, 11, 26), country, subdiv)
    assert not is_business_day(D(2026, 11, 26), country, subdiv)
    # California also closes the day after Thanksgiving and on Cesar Chavez Day.
    assert add_business_days(D(2026, 11, 25), 1, country, subdiv) == (D(2026, 11, 30) if subdiv else D(2026, 11, 27))
    assert is_holiday(D(2026, 3, 31), country, subdiv) is (subdiv is not None)


def test_weekend_is_case_insensitive() -> None:
    assert weekend("il") == weekend("IL") == frozenset({4, 5})
    assert is_business_day(D(2026, 1, 11), "il")  # Sunday
    assert not is_business_day(D(2026, 1, 9), "il")  # Friday


def test_mixed_case_subdivisions_of_the_holidays_package_still_work() -> None:
    assert "Augsburg" in holidays.list_supported_countries()["DE"]
    assert is_holiday(D(2026, 8, 8), "DE", "Augsburg")  # Augsburger Friedensfest


def test_supported_countries() -> None:
    assert is_supported_country("US")
    assert is_supported_country("IL")
    assert not is_supported_country("XX")


# --- adding business days -------------------------------------------------------------------


def test_add_zero_business_days_keeps_a_business_day_or_moves_to_the_next() -> None:
    assert add_business_days(D(2026, 11, 24), 0, "US") == D(2026, 11, 24)
    assert add_business_days(D(2026, 11, 26), 0, "US") == D(2026, 11, 27)  # Thanksgiving
    assert add_business_days(D(2026, 11, 28), 0, "US") == D(2026, 11, 30)  # Saturday
    assert add_business_days(D(2026, 1, 9), 0, "IL") == D(2026, 1, 11)  # Friday in Israel


def test_five_business_days_over_thanksgiving_and_a_weekend() -> None:
    # Fri 20 -> Mon 23, Tue 24, Wed 25, (Thu 26 holiday) Fri 27, (weekend) Mon 30
    assert add_business_days(D(2026, 11, 20), 5, "US") == D(2026, 11, 30)


def test_business_days_across_new_year() -> None:
    # Wed 2026-12-30 -> Thu 31, (Fri 2027-01-01 holiday, weekend) Mon 2027-01-04
    assert add_business_days(D(2026, 12, 30), 2, "US") == D(2027, 1, 4)


COUNTRIES = ["US", "IL", "GB", "DE", "AE", "SA", "NP", "CL", "CU", "AU", "IN", "JP", None]


def _oracle_business(day: D, country: str | None) -> bool:
    if country is None:
        return day.weekday() < 5
    table = holidays.country_holidays(country, years=day.year)
    return day.weekday() not in table.weekend and day not in table


@settings(max_examples=150, deadline=None)
@given(start=st.dates(D(2024, 1, 1), D(2030, 6, 30)), count=st.integers(0, 40), country=st.sampled_from(COUNTRIES))
def test_add_business_days_counts_exactly_the_working_days(start: D, count: int, country: str | None) -> None:
    end = add_business_days(start, count, country)
    assert _oracle_business(end, country)
    assert end >= start
    between = [start + dt.timedelta(days=i) for i in range(1, (end - start).days + 1)]
    worked = sum(_oracle_business(d, country) for d in between)
    if count == 0:
        assert all(not _oracle_business(start + dt.timedelta(days=i), country) for i in range((end - start).days))
    else:
        assert worked == count


# --- local time -------------------------------------------------------------------------------


def test_zone_none_is_utc() -> None:
    assert zone(None).key == "UTC"
    assert zone("Asia/Kathmandu").key == "Asia/Kathmandu"


def test_to_local_keeps_the_instant() -> None:
    instant = dt.datetime(2026, 7, 1, 3, 15, tzinfo=UTC)
    local = to_local(instant, zone("Asia/Kathmandu"))
    assert local == instant
    assert (local.hour, local.minute) == (9, 0)


@pytest.mark.parametrize(
    ("zone_name", "day", "clock", "expected_utc", "expected_local"),
    [
        # plain, non-whole-hour offset
        ("Asia/Kathmandu", D(2026, 7, 1), dt.time(9, 0), dt.datetime(2026, 7, 1, 3, 15), "09:00"),
        # New York / Chicago spring forward: 02:30 does not exist, it moves forward by the hour
        ("America/New_York", D(2026, 3, 8), dt.time(2, 30), dt.datetime(2026, 3, 8, 7, 30), "03:30"),
        ("America/Chicago", D(2026, 3, 8), dt.time(2, 30), dt.datetime(2026, 3, 8, 8, 30), "03:30"),
        # fall back: 01:30 happens twice, the first one counts
        ("America/New_York", D(2026, 11, 1), dt.time(1, 30), dt.datetime(2026, 11, 1, 5, 30), "01:30"),
        ("America/Chicago", D(2026, 11, 1), dt.time(1, 30), dt.datetime(2026, 11, 1, 6, 30), "01:30"),
        # Havana changes at midnight: 00:00 and 00:30 do not exist on 2026-03-08
        ("America/Havana", D(2026, 3, 8), dt.time(0, 0), dt.datetime(2026, 3, 8, 5, 0), "01:00"),
        ("America/Havana", D(2026, 3, 8), dt.time(0, 30), dt.datetime(2026, 3, 8, 5, 30), "01:30"),
        ("America/Havana", D(2026, 11, 1), dt.time(0, 30), dt.datetime(2026, 11, 1, 4, 30), "00:30"),
        # Lord Howe moves by 30 minutes
        ("Australia/Lord_Howe", D(2026, 10, 4), dt.time(2, 15), dt.datetime(2026, 10, 3, 15, 45), "02:45"),
        ("Australia/Lord_Howe", D(2026, 4, 5), dt.time(1, 45), dt.datetime(2026, 4, 4, 14, 45), "01:45"),
        # Easter Island: 21:30 on 2026-04-04 is both 02:30Z and 03:30Z; the first one counts
        ("Pacific/Easter", D(2026, 4, 4), dt.time(21, 30), dt.datetime(2026, 4, 5, 2, 30), "21:30"),
        ("Pacific/Easter", D(2026, 9, 5), dt.time(22, 30), dt.datetime(2026, 9, 6, 4, 30), "23:30"),
        # Troll moves by two hours
        ("Antarctica/Troll", D(2026, 3, 29), dt.time(1, 30), dt.datetime(2026, 3, 29, 1, 30), "03:30"),
    ],
)
def test_from_local_vectors(zone_name: str, day: D, clock: dt.time, expected_utc: dt.datetime, expected_local: str) -> None:
    instant = from_local(day, clock, zoneinfo.ZoneInfo(zone_name))
    assert instant == expected_utc.replace(tzinfo=UTC)
    assert instant.utcoffset() == dt.timedelta(0)
    local = wall(instant, zone_name)
    assert local.date() == day
    assert f"{local:%H:%M}" == expected_local


def test_from_local_over_every_transition_2024_2030() -> None:
    """Every DST gap and fold of every zone: a wall time inside a gap lands that far after the
    gap, on the same date; one inside a fold is its first occurrence."""
    checked = 0
    for t in all_transitions():
        inside = (t.wall_start + t.size / 2).replace(second=0, microsecond=0)
        tz = zoneinfo.ZoneInfo(t.zone)
        instant = from_local(inside.date(), inside.time(), tz)
        if t.is_gap:
            assert wall(instant, t.zone) == inside + t.size, t
            assert instant >= t.at, t
        else:
            first, second = occurrences(inside, t.zone)
            assert instant == first, t
            assert second - first == t.size
        checked += 1
    assert checked > 2000  # 2,821 transitions in 2024-2030 on this tzdata


@settings(max_examples=200, deadline=None)
@given(
    day=st.dates(D(2024, 1, 1), D(2030, 12, 31)),
    clock=st.times().map(lambda t: t.replace(second=0, microsecond=0)),
    zone_name=st.sampled_from(ALL_ZONES),
)
def test_from_local_matches_the_oracle(day: D, clock: dt.time, zone_name: str) -> None:
    instant = from_local(day, clock, zoneinfo.ZoneInfo(zone_name))
    assert instant == expected_local_instant(day, clock, zone_name)
