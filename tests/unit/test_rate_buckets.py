"""The token buckets behind the API's rate limits: a burst up to the limit, then one request
per 1/rate seconds, and the wait a refused request is told is exactly what it needs."""

from __future__ import annotations

import pytest

from starter.api.limits import Buckets


def test_a_burst_up_to_the_limit_then_the_refill_rate() -> None:
    buckets = Buckets(per_minute=60)
    assert [buckets.take("k", now=0.0) for _ in range(60)] == [0.0] * 60
    assert buckets.take("k", now=0.0) == pytest.approx(1.0)  # one token a second
    assert buckets.take("k", now=0.5) == pytest.approx(0.5)
    assert buckets.take("k", now=1.0) == 0.0
    assert buckets.take("other", now=1.0) == 0.0  # each name has its own bucket


def test_an_idle_bucket_fills_up_but_never_past_the_burst() -> None:
    buckets = Buckets(per_minute=10)
    for _ in range(10):
        buckets.take("k", now=0.0)
    assert [buckets.take("k", now=3600.0) for _ in range(10)] == [0.0] * 10
    assert buckets.take("k", now=3600.0) > 0
