"""Reports: how the variants of a cadence's A/B-tested steps compare; what became of its
enrollments by version, owner or cohort; and its step funnel.

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
from typing import Literal

import sqlalchemy as sa
from pydantic import BaseModel, Field
from sqlmodel import Session

from cadence.experiments import MIN_EXPOSED, MIN_RESPONSES, Arm, judge
from models.cadences import bundle_of, find_cadence, published_version, version_number
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
    since, until = _range(since, until)

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


# --- outcomes by version, owner or cohort, and the step funnel ----------------------------

Dimension = Literal["version", "owner", "cohort"]
_GROUP = {
    "version": "'v' || v.version",
    "owner": "coalesce(e.owner_id, '(no owner)')",
    "cohort": "coalesce(c.persona, '-') || ' / ' || coalesce(c.industry, '-') || ' / ' || coalesce(c.tier, '-')",
}
_OUTCOMES = """
    WITH t AS (
        SELECT t.enrollment_id, min(coalesce(t.sent_at, t.claimed_at)) AS first_touch, count(*) AS sent
          FROM touches t
          JOIN enrollments e ON e.id = t.enrollment_id
         WHERE e.cadence_id = :cadence AND e.created_at >= :since AND e.created_at < :until AND t.status = ANY(:delivered)
      GROUP BY t.enrollment_id
    ), e AS (
        SELECT e.status, e.created_at, e.ended_at, {group} AS grp, t.first_touch, coalesce(t.sent, 0) AS sent
          FROM enrollments e
          JOIN contacts c ON c.id = e.contact_id
          JOIN cadence_versions v ON v.id = e.cadence_version_id
          LEFT JOIN t ON t.enrollment_id = e.id
         WHERE e.cadence_id = :cadence AND e.created_at >= :since AND e.created_at < :until
    )
    SELECT grp,
           count(*) AS enrolled,
           count(first_touch) AS touched,
           coalesce(sum(sent), 0) AS sent,
           count(*) FILTER (WHERE status = 'replied') AS replied,
           count(*) FILTER (WHERE status = 'meeting_booked') AS meetings,
           count(*) FILTER (WHERE status = 'switched') AS switched,
           count(*) FILTER (WHERE status = 'opted_out') AS opted_out,
           count(*) FILTER (WHERE status = 'bounced') AS bounced,
           count(*) FILTER (WHERE status = 'completed') AS completed,
           count(*) FILTER (WHERE status IN ('pending', 'active', 'paused')) AS still_open,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM first_touch - created_at)) AS first_touch_p50,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM first_touch - created_at)) AS first_touch_p95,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM ended_at - created_at))
               FILTER (WHERE status = ANY(:responded)) AS response_p50
      FROM e
  GROUP BY grp
  ORDER BY grp
"""


class OutcomeRow(BaseModel):
    """One group's enrollments (started in the range) and what became of them. Rates are
    per enrollment touched (at least one email or text went out), completion per enrolled."""

    key: str
    enrolled: int
    touched: int
    sent: int
    replied: int
    meetings: int
    switched: int = Field(description="Switched to another cadence by a positive reply")
    opted_out: int
    bounced: int
    completed: int
    still_open: int
    response_rate: float = Field(description="(replied + meetings + switched) / touched")
    opt_out_rate: float
    bounce_rate: float
    completion_rate: float = Field(description="completed / enrolled")
    first_touch_p50_seconds: float | None = Field(description="From enrollment to its first email or text went out")
    first_touch_p95_seconds: float | None
    response_p50_seconds: float | None = Field(description="From enrollment to the response that ended it")


class OutcomeReport(BaseModel):
    """A cadence's enrollments by version, owner or cohort (persona / industry / tier)."""

    cadence_key: str
    by: str
    since: dt.datetime
    until: dt.datetime
    rows: list[OutcomeRow]


class FunnelStep(BaseModel):
    """One step of the funnel: enrollments that reached it (a touch or task for it), how
    its touches went, and the enrollments that ended there, by how they ended."""

    step_index: int | None
    step_id: str
    reached: int
    sent: int
    skipped: int
    failed: int
    ended_here: dict[str, int]


class FunnelReport(BaseModel):
    """Where a cadence's enrollments (started in the range) go, step by step, and where and
    why they leave."""

    cadence_key: str
    since: dt.datetime
    until: dt.datetime
    enrolled: int
    steps: list[FunnelStep]


def _range(since: dt.datetime | None, until: dt.datetime | None) -> tuple[dt.datetime, dt.datetime]:
    until = until or dt.datetime.now(dt.UTC)
    since = since or until - dt.timedelta(days=90)
    for name, value in (("since", since), ("until", until)):
        if value.tzinfo is None:
            raise Invalid(f"{name} must carry a time zone", {"field": name})
    if since >= until:
        raise Invalid("since must be before until", {"field": "since"})
    return since, until


def _ratio(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def _seconds(value: object) -> float | None:
    return round(float(value), 1) if value is not None else None  # type: ignore[arg-type]


async def outcomes(
    backend: Backend, cadence: str, *, by: Dimension, since: dt.datetime | None = None, until: dt.datetime | None = None
) -> OutcomeReport:
    """Enrolled, touched, sent, each ending and the rates, per version, owner or cohort."""
    if by not in _GROUP:
        raise Invalid(f"by: one of {', '.join(_GROUP)}", {"field": "by"})
    start, end = _range(since, until)

    def load(session: Session) -> OutcomeReport:
        found = find_cadence(session, cadence)
        if found is None:
            raise NotFound(f"cadence {cadence!r} not found", {"field": "cadence"})
        params = {"cadence": found.id, "since": start, "until": end, "delivered": list(DELIVERED), "responded": list(RESPONDED)}
        rows = session.execute(sa.text(_OUTCOMES.format(group=_GROUP[by])), params).mappings().all()
        out = []
        for r in rows:
            responses = r["replied"] + r["meetings"] + r["switched"]
            out.append(
                OutcomeRow(
                    key=r["grp"],
                    enrolled=r["enrolled"],
                    touched=r["touched"],
                    sent=int(r["sent"]),
                    replied=r["replied"],
                    meetings=r["meetings"],
                    switched=r["switched"],
                    opted_out=r["opted_out"],
                    bounced=r["bounced"],
                    completed=r["completed"],
                    still_open=r["still_open"],
                    response_rate=_ratio(responses, r["touched"]),
                    opt_out_rate=_ratio(r["opted_out"], r["touched"]),
                    bounce_rate=_ratio(r["bounced"], r["touched"]),
                    completion_rate=_ratio(r["completed"], r["enrolled"]),
                    first_touch_p50_seconds=_seconds(r["first_touch_p50"]),
                    first_touch_p95_seconds=_seconds(r["first_touch_p95"]),
                    response_p50_seconds=_seconds(r["response_p50"]),
                )
            )
        return OutcomeReport(cadence_key=found.key, by=by, since=start, until=end, rows=out)

    return await backend.db(load)


_FUNNEL_TOUCHES = sa.text("""
    SELECT t.step_id,
           count(DISTINCT t.enrollment_id) AS reached,
           count(DISTINCT t.enrollment_id) FILTER (WHERE t.status = ANY(:delivered)) AS sent,
           count(DISTINCT t.enrollment_id) FILTER (WHERE t.status = 'skipped') AS skipped,
           count(DISTINCT t.enrollment_id) FILTER (WHERE t.status = 'failed') AS failed
      FROM touches t JOIN enrollments e ON e.id = t.enrollment_id
     WHERE e.cadence_id = :cadence AND e.created_at >= :since AND e.created_at < :until
  GROUP BY t.step_id
""")
_FUNNEL_TASKS = sa.text("""
    SELECT k.step_id, count(DISTINCT k.enrollment_id) AS reached
      FROM tasks k JOIN enrollments e ON e.id = k.enrollment_id
     WHERE e.cadence_id = :cadence AND e.created_at >= :since AND e.created_at < :until
  GROUP BY k.step_id
""")
_FUNNEL_ENDS = sa.text("""
    SELECT e.cadence_version_id, e.current_step, e.status, count(*) AS n
      FROM enrollments e
     WHERE e.cadence_id = :cadence AND e.created_at >= :since AND e.created_at < :until
  GROUP BY e.cadence_version_id, e.current_step, e.status
""")


async def funnel(backend: Backend, cadence: str, *, since: dt.datetime | None = None, until: dt.datetime | None = None) -> FunnelReport:
    """Step by step, in the published version's order (steps only older versions have come
    after): how many enrollments reached each step, how its touches went, and how many ended
    there and how (replied, opted out, bounced, completed...)."""
    start, end = _range(since, until)

    def load(session: Session) -> FunnelReport:
        found = find_cadence(session, cadence)
        if found is None:
            raise NotFound(f"cadence {cadence!r} not found", {"field": "cadence"})
        params = {"cadence": found.id, "since": start, "until": end, "delivered": list(DELIVERED)}
        touches = {r.step_id: r for r in session.execute(_FUNNEL_TOUCHES, params).all()}
        tasks = {r.step_id: int(r.reached) for r in session.execute(_FUNNEL_TASKS, params).all()}
        ends: dict[str, dict[str, int]] = {}
        enrolled = 0
        for version_id, index, status, n in session.execute(_FUNNEL_ENDS, params).all():
            enrolled += int(n)
            if status in ("pending", "active", "paused"):
                continue
            steps = bundle_of(session, version_id).definition.steps
            where = steps[index].id if index is not None and 0 <= index < len(steps) else "(after the last step)"
            ends.setdefault(where, {})
            ends[where][status] = ends[where].get(status, 0) + int(n)
        published = published_version(session, found)
        order = [s.id for s in bundle_of(session, published.id).definition.steps] if published else []
        known = order + sorted((set(touches) | set(tasks) | set(ends)) - set(order))
        rows = []
        for step_id in known:
            t = touches.get(step_id)
            rows.append(
                FunnelStep(
                    step_index=order.index(step_id) if step_id in order else None,
                    step_id=step_id,
                    reached=int(t.reached if t else 0) + tasks.get(step_id, 0),
                    sent=int(t.sent) if t else 0,
                    skipped=int(t.skipped) if t else 0,
                    failed=int(t.failed) if t else 0,
                    ended_here=ends.get(step_id, {}),
                )
            )
        return FunnelReport(cadence_key=found.key, since=start, until=end, enrolled=enrolled, steps=rows)

    return await backend.db(load)


def rows_csv(rows: list[BaseModel]) -> str:
    """A report's rows as CSV (one column per field, in the model's order; nested values
    as JSON), for spreadsheets."""
    import csv
    import io
    import json

    out = io.StringIO()
    if not rows:
        return ""
    fields = list(type(rows[0]).model_fields)
    writer = csv.writer(out)
    writer.writerow(fields)
    for row in rows:
        data = row.model_dump(mode="json")
        writer.writerow([json.dumps(data[f]) if isinstance(data[f], dict | list) else data[f] for f in fields])
    return out.getvalue()


def variant_rows(report: VariantReport) -> list[BaseModel]:
    """The A/B report flattened: one row per step and variant, with the step's verdict."""
    return [
        VariantCsvRow(step_id=s.step_id, verdict=s.verdict, leader=s.leader, **v.model_dump()) for s in report.steps for v in s.variants
    ]


class VariantCsvRow(VariantOut):
    """One variant of a step with its step's verdict (a CSV row)."""

    step_id: str
    verdict: str
    leader: str | None
