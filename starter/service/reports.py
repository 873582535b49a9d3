"""Reports: how the variants of a cadence's A/B-tested steps compare.

For each step with variants, the enrollments (started in the date range) that got each
variant (a touch of it went out), how many of them responded (the enrollment ended replied,
with a meeting booked, or switched to another cadence by a positive reply), the rate, and
the verdict of `cadence.experiments` (a two-proportion test of the leader against each other
arm, the probability each is the best, and "too early" below the minimum sample). Read
straight from the touches and enrollments tables: each enrollment is counted once per step,
whatever its retries.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from pydantic import BaseModel, Field
from sqlmodel import Session

from cadence.experiments import MIN_EXPOSED, MIN_RESPONSES, Arm, judge
from models.cadences import find_cadence, version_number
from starter.errors import Invalid, NotFound
from starter.service.backend import Backend

# An enrollment that ended in one of these responded.
RESPONDED = ("replied", "meeting_booked", "switched")
DELIVERED = ("sent", "delivered", "read")

_BY_VARIANT = sa.text("""
    SELECT t.step_id, t.variant,
           count(DISTINCT t.enrollment_id) AS exposed,
           count(DISTINCT t.enrollment_id) FILTER (WHERE e.status = ANY(:responded)) AS responded
      FROM touches t
      JOIN enrollments e ON e.id = t.enrollment_id
     WHERE e.cadence_id = :cadence
       AND (CAST(:version AS uuid) IS NULL OR e.cadence_version_id = CAST(:version AS uuid))
       AND e.created_at >= :since AND e.created_at < :until
       AND t.variant IS NOT NULL AND t.status = ANY(:delivered)
  GROUP BY t.step_id, t.variant
  ORDER BY t.step_id, t.variant
""")


class VariantOut(BaseModel):
    """One variant of a step: enrollments that got it, responses, rate, chance to be best."""

    variant: str
    exposed: int
    responded: int
    rate: float
    probability_best: float
    p_value_vs_leader: float | None = Field(description="Two-sided p-value of the leader against this variant (None: the leader)")


class StepTest(BaseModel):
    """A step's A/B test and its verdict."""

    step_id: str
    verdict: str = Field(description="winner, no_difference_yet or too_early")
    leader: str | None
    reason: str
    variants: list[VariantOut]


class VariantReport(BaseModel):
    """Every A/B-tested step of a cadence over a date range of enrollment starts."""

    cadence_key: str
    version: int | None
    since: dt.datetime
    until: dt.datetime
    min_exposed: int
    min_responses: int
    steps: list[StepTest]


async def variants(
    backend: Backend, cadence: str, *, since: dt.datetime | None = None, until: dt.datetime | None = None, version: int | None = None
) -> VariantReport:
    """The A/B report of a cadence (by id or key), optionally of one version, for
    enrollments started in [since, until) (default: the last 90 days)."""
    until = until or dt.datetime.now(dt.UTC)
    since = since or until - dt.timedelta(days=90)
    for name, value in (("since", since), ("until", until)):
        if value.tzinfo is None:
            raise Invalid(f"{name} must carry a time zone", {"field": name})
    if since >= until:
        raise Invalid("since must be before until", {"field": "since"})

    def load(session: Session) -> VariantReport:
        found = find_cadence(session, cadence)
        if found is None:
            raise NotFound(f"cadence {cadence!r} not found", {"field": "cadence"})
        version_id = None
        if version is not None:
            row = version_number(session, found, version)
            if row is None:
                raise NotFound(f"cadence {found.key!r} has no version {version}", {"field": "version"})
            version_id = str(row.id)
        rows = session.execute(
            _BY_VARIANT,
            {
                "cadence": found.id,
                "version": version_id,
                "since": since,
                "until": until,
                "responded": list(RESPONDED),
                "delivered": list(DELIVERED),
            },
        ).all()
        arms_by_step: dict[str, list[Arm]] = {}
        for step_id, variant, exposed, responded in rows:
            arms_by_step.setdefault(step_id, []).append(Arm(variant, int(exposed), int(responded)))
        steps = []
        for step_id, arms in arms_by_step.items():
            verdict = judge(arms)
            steps.append(
                StepTest(
                    step_id=step_id,
                    verdict=verdict.verdict,
                    leader=verdict.leader,
                    reason=verdict.reason,
                    variants=[
                        VariantOut(
                            variant=a.name,
                            exposed=a.exposed,
                            responded=a.responded,
                            rate=a.rate,
                            probability_best=a.probability_best,
                            p_value_vs_leader=a.p_value_vs_leader,
                        )
                        for a in verdict.arms
                    ],
                )
            )
        return VariantReport(
            cadence_key=found.key,
            version=version,
            since=since,
            until=until,
            min_exposed=MIN_EXPOSED,
            min_responses=MIN_RESPONSES,
            steps=steps,
        )

    return await backend.db(load)
