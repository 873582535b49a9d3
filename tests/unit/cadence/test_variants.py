"""A/B variant assignment: stable per enrollment and step, proportional to the weights."""

from __future__ import annotations

import uuid
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cadence.steps import Variant
from cadence.variants import bucket, choose


def arms(*weights: int) -> list[Variant]:
    return [Variant(id=f"v{i}", weight=w, template=f"tpl-{i}") for i, w in enumerate(weights)]


def ids(n: int, seed: str = "enrollments") -> list[str]:
    return [str(uuid.uuid5(uuid.NAMESPACE_URL, f"{seed}/{i}")) for i in range(n)]


@settings(max_examples=100, deadline=None)
@given(
    enrollment=st.text(min_size=1, max_size=40),
    step=st.from_regex(r"[a-z0-9][a-z0-9_-]{0,20}", fullmatch=True),
    weights=st.lists(st.integers(1, 50), min_size=2, max_size=10),
)
def test_assignment_is_stable_and_one_of_the_arms(enrollment: str, step: str, weights: list[int]) -> None:
    variants = arms(*weights)
    first = choose(enrollment, step, variants)
    assert first in variants
    assert all(choose(enrollment, step, variants) == first for _ in range(3))


def test_assignment_is_pinned_across_releases() -> None:
    # Enrollments already running must keep their arm after a deploy (replay, continue-as-new):
    # these values were recorded once and must never change.
    variants = [Variant(id="a", weight=1, template="t-a"), Variant(id="b", weight=3, template="t-b")]
    assert [choose(f"enr-{i}", "intro", variants).id for i in range(12)] == ["b", "a", "a", "b", "a", "b", "a", "b", "b", "b", "b", "a"]
    assert bucket("enr-1", "intro", 1000) == 424


@pytest.mark.parametrize("weights", [(1, 1), (1, 3), (1, 2, 7), (5, 5, 5, 5), (1, 99)])
def test_weights_are_respected_over_many_enrollments(weights: tuple[int, ...]) -> None:
    variants = arms(*weights)
    n = 20_000
    counts = Counter(choose(e, "intro", variants).id for e in ids(n))
    total = sum(weights)
    for variant in variants:
        share = counts[variant.id] / n
        expected = variant.weight / total
        assert abs(share - expected) < 0.02, (variant.id, share, expected)


def test_each_step_is_an_independent_experiment() -> None:
    variants = arms(1, 1)
    population = ids(10_000)
    intro = [choose(e, "intro", variants).id for e in population]
    follow = [choose(e, "follow-up", variants).id for e in population]
    same = sum(a == b for a, b in zip(intro, follow, strict=True)) / len(population)
    assert 0.47 < same < 0.53  # neither always equal nor always opposite


@settings(max_examples=100, deadline=None)
@given(enrollment=st.text(max_size=30), step=st.text(max_size=30), modulus=st.integers(1, 10_000))
def test_bucket_is_in_range(enrollment: str, step: str, modulus: int) -> None:
    assert 0 <= bucket(enrollment, step, modulus) < modulus
