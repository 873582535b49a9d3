"""The test helper that picks a zone where it is daytime now."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from tests.support.clock import daytime_zone


@given(st.datetimes(min_value=dt.datetime(2024, 1, 1), max_value=dt.datetime(2031, 1, 1), timezones=st.just(dt.UTC)))
def test_it_is_always_noonish_in_the_chosen_zone(now: dt.datetime) -> None:
    local = now.astimezone(ZoneInfo(daytime_zone(now)))
    assert 12 <= local.hour < 13
