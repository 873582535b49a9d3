"""A/B verdicts: which variant of a step gets more responses, and how sure that is.

Pure functions over counts (enrollments that got each variant, and how many of them
responded). Two views a sales manager can act on: a two-proportion z-test of the leader
against each other arm (the p-value of "they respond at the same rate"), and a Bayesian
probability that each arm is the best (Beta(1 + responses, 1 + misses) posteriors, integrated
numerically, so the same counts always give the same answer). Below a minimum sample the
verdict says so instead of naming a winner.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

# Fewer exposures, or fewer responses, than this in any arm: too early to call.
MIN_EXPOSED = 100
MIN_RESPONSES = 10
# The leader wins when every other arm differs from it at this significance level.
ALPHA = 0.05

Verdict = Literal["winner", "no_difference_yet", "too_early"]


@dataclass(frozen=True)
class Arm:
    """One variant: how many enrollments got it, and how many of them responded."""

    name: str
    exposed: int
    responded: int

    @property
    def rate(self) -> float:
        """Responses per enrollment that got this variant (0 when none did)."""
        return self.responded / self.exposed if self.exposed else 0.0


@dataclass(frozen=True)
class ArmResult:
    """An arm's rate, its chance of being the best, and the leader's p-value against it."""

    name: str
    exposed: int
    responded: int
    rate: float
    probability_best: float
    p_value_vs_leader: float | None


@dataclass(frozen=True)
class Judgement:
    """The verdict over all arms, with each arm's figures and the reason in words."""

    verdict: Verdict
    leader: str | None
    arms: list[ArmResult]
    reason: str


def two_proportion_p_value(a: Arm, b: Arm) -> float:
    """Two-sided p-value of "a and b respond at the same rate" (pooled z-test); 1.0 when
    either arm is empty or nobody (or everybody) responded."""
    if not a.exposed or not b.exposed:
        return 1.0
    pooled = (a.responded + b.responded) / (a.exposed + b.exposed)
    variance = pooled * (1 - pooled) * (1 / a.exposed + 1 / b.exposed)
    if variance <= 0:
        return 1.0
    z = (a.rate - b.rate) / math.sqrt(variance)
    return math.erfc(abs(z) / math.sqrt(2))


def probability_best(arms: Sequence[Arm], steps: int = 2000) -> list[float]:
    """P(arm i has the highest true rate) under Beta(1 + responded, 1 + misses) posteriors:
    the integral over x of pdf_i(x) times the product of the other arms' cdf(x), by the
    midpoint rule on `steps` points (exact enough to two decimals for any counts)."""
    if not arms:
        return []
    grid = [(k + 0.5) / steps for k in range(steps)]
    logs = [_log_beta_pdf(arm, grid) for arm in arms]
    cdfs = [_cumulative(values) for values in logs]
    out = []
    for i in range(len(arms)):
        total = 0.0
        for k in range(steps):
            density = math.exp(logs[i][k])
            if density == 0.0:
                continue
            others = 1.0
            for j in range(len(arms)):
                if j != i:
                    others *= cdfs[j][k]
            total += density * others / steps
        out.append(total)
    norm = sum(out) or 1.0
    return [p / norm for p in out]


def _log_beta_pdf(arm: Arm, grid: list[float]) -> list[float]:
    a, b = 1 + arm.responded, 1 + max(arm.exposed - arm.responded, 0)
    log_norm = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
    return [log_norm + (a - 1) * math.log(x) + (b - 1) * math.log1p(-x) for x in grid]


def _cumulative(log_pdf: list[float]) -> list[float]:
    """The cdf at each grid midpoint (the mass below it, plus half of its own cell)."""
    steps = len(log_pdf)
    cells = [math.exp(v) / steps for v in log_pdf]
    total = sum(cells) or 1.0
    out, below = [], 0.0
    for cell in cells:
        out.append((below + cell / 2) / total)
        below += cell
    return out


def judge(arms: Sequence[Arm]) -> Judgement:
    """The verdict: too early (an arm below the minimum sample), a winner (the leader differs
    from every other arm at ALPHA), or no difference yet."""
    best = probability_best(arms)
    leader = max(arms, key=lambda arm: (arm.rate, arm.exposed), default=None)
    results = [
        ArmResult(
            name=arm.name,
            exposed=arm.exposed,
            responded=arm.responded,
            rate=round(arm.rate, 4),
            probability_best=round(p, 4),
            p_value_vs_leader=None if leader is None or arm is leader else round(two_proportion_p_value(leader, arm), 4),
        )
        for arm, p in zip(arms, best, strict=True)
    ]
    if leader is None or len(arms) < 2:
        return Judgement("too_early", None, results, "fewer than two variants have been sent")
    small = [arm.name for arm in arms if arm.exposed < MIN_EXPOSED or arm.responded < MIN_RESPONSES]
    if small:
        return Judgement(
            "too_early",
            leader.name,
            results,
            f"too early to call: {', '.join(small)} below {MIN_EXPOSED} enrollments or {MIN_RESPONSES} responses",
        )
    worst_p = max(r.p_value_vs_leader or 0.0 for r in results)
    if worst_p < ALPHA:
        share = next(r.probability_best for r in results if r.name == leader.name)
        return Judgement(
            "winner",
            leader.name,
            results,
            f"{leader.name} responds at {leader.rate:.1%}, ahead of every other variant (p = {worst_p:.3f}; {share:.0%} likely the best)",
        )
    return Judgement(
        "no_difference_yet",
        leader.name,
        results,
        f"{leader.name} leads at {leader.rate:.1%} but the difference is not significant yet (p = {worst_p:.3f})",
    )
