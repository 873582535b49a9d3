"""Local time, business days and public holidays of a contact's country.

Pure functions over the `holidays` package and the IANA database (pinned through `tzdata`),
so the same inputs always give the same instants, in a workflow or in a test.
"""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo

import holidays

UTC = dt.UTC


@functools.lru_cache(maxsize=1024)
def zone(name: str | None) -> zoneinfo.ZoneInfo:
    """The IANA zone by name; None means UTC (a contact without a known time zone)."""
    return zoneinfo.ZoneInfo(name or "UTC")


@functools.lru_cache(maxsize=4096)
def _holiday_dates(country: str, subdiv: str | None, year: int) -> frozenset[dt.date]:
    try:
        table = holidays.country_holidays(country, subdiv=subdiv, years=year)
    except NotImplementedError:
        # A subdivision the package does not know: fall back to the national calendar.
        if subdiv is None:
            return frozenset()
        table = holidays.country_holidays(country, years=year)
    return frozenset(table.keys())


@functools.lru_cache(maxsize=512)
def weekend(country: str | None) -> frozenset[int]:
    """Weekday numbers (Mon=0) that are not working days in the country (Fri/Sat in Israel)."""
    if not country:
        return frozenset({5, 6})
    try:
        return frozenset(holidays.country_holidays(country.upper(), years=2026).weekend)
    except NotImplementedError:
        return frozenset({5, 6})


def is_supported_country(country: str) -> bool:
    """Whether the holidays package has a calendar for this ISO 3166 alpha-2 code."""
    return country.upper() in holidays.list_supported_countries()


@functools.lru_cache(maxsize=1024)
def _subdivision(country: str, subdiv: str | None) -> str | None:
    """The package's own spelling of a subdivision (some are mixed case, e.g. DE "Augsburg")."""
    if subdiv is None:
        return None
    known = holidays.list_supported_countries().get(country, [])
    return next((s for s in known if s.lower() == subdiv.lower()), subdiv)


def is_holiday(day: dt.date, country: str | None, subdiv: str | None = None) -> bool:
    """A public holiday in the contact's country (and state or province, when known)."""
    if not country:
        return False
    try:
        code = country.upper()
        return day in _holiday_dates(code, _subdivision(code, subdiv), day.year)
    except NotImplementedError:
        return False


def is_business_day(day: dt.date, country: str | None, subdiv: str | None = None) -> bool:
    """A working day: not a weekend day of the country and not one of its public holidays."""
    return day.weekday() not in weekend(country) and not is_holiday(day, country, subdiv)


def add_business_days(day: dt.date, count: int, country: str | None, subdiv: str | None = None) -> dt.date:
    """The date `count` business days after `day`; with 0, `day` itself or the next business day."""
    current = day
    if count == 0:
        while not is_business_day(current, country, subdiv):
            current += dt.timedelta(days=1)
        return current
    remaining = count
    while remaining:
        current += dt.timedelta(days=1)
        if is_business_day(current, country, subdiv):
            remaining -= 1
    return current


def to_local(instant: dt.datetime, tz: zoneinfo.ZoneInfo) -> dt.datetime:
    """An aware instant as contact-local wall time."""
    return instant.astimezone(tz)


def from_local(day: dt.date, clock: dt.time, tz: zoneinfo.ZoneInfo) -> dt.datetime:
    """The UTC instant of a local wall time.

    A wall time that does not exist (skipped by a DST gap) moves forward by the gap, so
    02:30 on a spring-forward night becomes 03:30. A repeated wall time (DST fold) means its
    first occurrence.
    """
    # fold=0 resolves a gap with the offset before the transition, which lands after the gap.
    return dt.datetime.combine(day, clock).replace(tzinfo=tz, fold=0).astimezone(UTC)
