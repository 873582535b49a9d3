"""A/B verdicts on fixed counts: the z-test against a hand computation, the Bayesian
probability to be best, and the minimum-sample rule."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from cadence.experiments import Arm, judge, probability_best, two_proportion_p_value


def test_the_two_proportion_p_value_is_the_pooled_z_test() -> None:
    a, b = Arm("idea", 1000, 120), Arm("question", 1000, 90)
    pooled = 210 / 2000
    z = (0.12 - 0.09) / math.sqrt(pooled * (1 - pooled) * (2 / 1000))  # 2.188
    assert abs(two_proportion_p_value(a, b) - math.erfc(z / math.sqrt(2))) < 1e-12
    assert abs(two_proportion_p_value(a, b) - 0.0287) < 5e-4
    assert two_proportion_p_value(a, Arm("empty", 0, 0)) == 1.0
    assert two_proportion_p_value(Arm("x", 10, 0), Arm("y", 10, 0)) == 1.0


def test_probability_to_be_best() -> None:
    even = probability_best([Arm("a", 500, 50), Arm("b", 500, 50)])
    assert abs(even[0] - 0.5) < 0.01 and abs(sum(even) - 1) < 1e-9
    clear = probability_best([Arm("a", 2000, 300), Arm("b", 2000, 200)])
    assert clear[0] > 0.999
    three = probability_best([Arm("a", 1000, 100), Arm("b", 1000, 110), Arm("c", 1000, 60)])
    assert three[1] > three[0] > three[2] and abs(sum(three) - 1) < 1e-9


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3000), st.floats(0, 1)), min_size=2, max_size=4))
def test_probabilities_sum_to_one_and_follow_the_rates(counts: list[tuple[int, float]]) -> None:
    arms = [Arm(f"v{i}", n, int(n * share)) for i, (n, share) in enumerate(counts)]
    p = probability_best(arms)
    assert abs(sum(p) - 1) < 1e-6 and all(0 <= x <= 1 for x in p)


def test_the_verdict_waits_for_enough_data_then_names_a_winner_only_when_it_is_clear() -> None:
    early = judge([Arm("idea", 60, 9), Arm("question", 60, 3)])
    assert early.verdict == "too_early" and "below 100 enrollments" in early.reason and early.leader == "idea"
    clear = judge([Arm("idea", 1000, 120), Arm("question", 1000, 90)])
    assert clear.verdict == "winner" and clear.leader == "idea" and "p = 0.029" in clear.reason
    question = next(a for a in clear.arms if a.name == "question")
    assert question.p_value_vs_leader is not None and abs(question.p_value_vs_leader - 0.0287) < 5e-4
    close = judge([Arm("idea", 1000, 100), Arm("question", 1000, 95)])
    assert close.verdict == "no_difference_yet" and close.leader == "idea"
    assert judge([Arm("only", 500, 50)]).verdict == "too_early"
