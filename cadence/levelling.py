"""Levelling rep work: spread tasks over the weeks so an owner is not buried in week one.

Seed 002: "If you have 100 accounts with monthly check-ins, schedule 25 per week instead of
trying to do all 100 in week one." A task whose week is already full moves to the same
weekday of the first later week with room.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping


def week_of(instant: dt.datetime) -> dt.date:
    """The Monday (UTC) of the week an instant falls in: the key of weekly loads."""
    day = instant.astimezone(dt.UTC).date()
    return day - dt.timedelta(days=day.weekday())


def level(due: dt.datetime, *, loads: Mapping[dt.date, int], capacity: int | None, max_weeks: int = 26) -> dt.datetime:
    """The due time for a new task given the owner's open tasks per week.

    Without a capacity, or when every week up to `max_weeks` is full, the due time stays as
    asked (work is never dropped, only spread).
    """
    if capacity is None or capacity <= 0:
        return due
    for weeks in range(max_weeks):
        candidate = due + dt.timedelta(weeks=weeks)
        if loads.get(week_of(candidate), 0) < capacity:
            return candidate
    return due
