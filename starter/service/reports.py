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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import sqlalchemy as sa
from pydantic import BaseModel, Field
from sqlmodel import Session

from cadence.experiments import MIN_EXPOSED, MIN_RESPONSES, Arm, judge
from models import rollups
from models.cadences import bundle_of, find_cadence, published_version, version_number
from models.rollups import Refreshed
from models.tables import Cadence
from starter.errors import Invalid, NotFound
from starter.service.backend import Backend

T = TypeVar("T")


class Filters(BaseModel):
    """Which of a cadence's enrollments a report counts, besides the date range of their
    starts: one version, one owner, one cohort (any of persona, industry or industry group,
    tier)."""

    version: int | None = Field(default=None, ge=1)
    owner: str | None = Field(default=None, max_length=100)
    persona: str | None = Field(default=None, max_length=50)
    industry: str | None = Field(default=None, max_length=100)
    industry_group: Literal["regulated", "standard"] | None = Field(
        default=None, description="regulated: the contact policy's regulated industries; standard: every other"
    )
    tier: str | None = Field(default=None, max_length=50)


NO_FILTERS = Filters()


@dataclass(frozen=True)
class Scope:
    """The enrollments a report counts, as conditions on `models.rollups`' tables (alias `r`):
    `rows` on the per-enrollment rows; for `models.rollups.totals_query`, `cube` on the totals
    for the whole UTC days of enrollment start inside [since, until) and `edge` on the rows
    for the hours before the first and after the last of them; with their parameters."""

    cadence: Cadence
    rows: str
    cube: str
    edge: str
    params: dict[str, Any]


def scope(session: Session, cadence: str, since: dt.datetime, until: dt.datetime, filters: Filters, regulated: list[str]) -> Scope:
    """The report's scope (an unknown cadence or version is NotFound, naming the field)."""
    found, conditions, params = _conditions(session, cadence, filters, regulated)
    params.update(since=since, until=until)
    rows = " AND ".join([*conditions, "r.created_at >= :since", "r.created_at < :until"])
    first = (
        (since + dt.timedelta(days=1) if since.astimezone(dt.UTC).timetz() != dt.time(tzinfo=dt.UTC) else since).astimezone(dt.UTC).date()
    )
    last = until.astimezone(dt.UTC).date()
    if first >= last:
        return Scope(found, rows, "false", rows, params)
    params.update(
        first_day=first,
        last_day=last,
        first_at=dt.datetime.combine(first, dt.time(), tzinfo=dt.UTC),
        last_at=dt.datetime.combine(last, dt.time(), tzinfo=dt.UTC),
    )
    cube = " AND ".join([*conditions, "r.created_day >= :first_day", "r.created_day < :last_day"])
    edge = f"{rows} AND NOT (r.created_at >= :first_at AND r.created_at < :last_at)"
    return Scope(found, rows, cube, edge, params)


async def read(
    backend: Backend, cadence: str, since: dt.datetime, until: dt.datetime, filters: Filters, load: Callable[[Session, Scope], T]
) -> T:
    """Catch the rollups up, then run `load` over the report's scope (its own transaction)."""
    regulated = regulated_industries(backend)
    await fresh(backend)
    return await backend.db(lambda session: load(session, scope(session, cadence, since, until, filters, regulated)))


def _conditions(session: Session, cadence: str, filters: Filters, regulated: list[str]) -> tuple[Cadence, list[str], dict[str, Any]]:
    found = find_cadence(session, cadence)
    if found is None:
        raise NotFound(f"cadence {cadence!r} not found", {"field": "cadence"})
    params: dict[str, Any] = {"cadence": found.id, "regulated": regulated, "responded": list(rollups.RESPONDED)}
    where = ["r.cadence_id = :cadence"]
    if filters.version is not None:
        row = version_number(session, found, filters.version)
        if row is None:
            raise NotFound(f"cadence {found.key!r} has no version {filters.version}", {"field": "version"})
        where.append("r.version_id = :version_id")
        params["version_id"] = row.id
    for name, column in (("owner", "owner_id"), ("persona", "persona"), ("industry", "industry"), ("tier", "tier")):
        value = getattr(filters, name)
        if value is not None:
            where.append(f"r.{column} = :{name}")
            params[name] = value
    if filters.industry_group is not None:
        where.append(f"{INDUSTRY_GROUP} = :industry_group")
        params["industry_group"] = filters.industry_group
    return found, where, params


def regulated_industries(backend: Backend) -> list[str]:
    """The contact policy's regulated industries, lower-cased (for `INDUSTRY_GROUP`)."""
    return sorted(i.lower() for i in backend.policy.regulated.industries)


async def fresh(backend: Backend, *, full: bool = False) -> Refreshed:
    """Bring the report rollups up to now (its own transaction: reports then read in
    parallel); `full` recomputes every enrollment."""
    return await backend.db(lambda session: rollups.refresh(session, full=full))


# An enrollment that ended in one of these responded.
RESPONDED = rollups.RESPONDED

_BY_VARIANT = (
    rollups.totals_query(
        "report_step_totals",
        "report_steps",
        rollups.STEP_KEYS,
        rollups.STEP_ROW,
        group="r.step_id || '/' || r.variant",
        columns=["with_sent", "responded"],
        having="HAVING sum(r.with_sent) > 0",
    )
    .replace("WHERE {edge}", "WHERE {edge} AND r.variant IS NOT NULL")
    .replace("WHERE {cube}", "WHERE {cube} AND r.variant <> ''")
)


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
    filters: Filters = Field(default_factory=Filters)
    min_exposed: int
    min_responses: int
    steps: list[StepTest]


def _step_test(step_id: str, arms: list[Arm]) -> StepTest:
    verdict = judge(arms)
    return StepTest(
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


async def variants(
    backend: Backend,
    cadence: str,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    version: int | None = None,
    filters: Filters = NO_FILTERS,
) -> VariantReport:
    """The A/B report of a cadence (by id or key), optionally of one version, for
    enrollments started in [since, until) (default: the last 90 days)."""
    since, until = date_range(since, until)
    if version is not None:
        filters = filters.model_copy(update={"version": version})

    def load(session: Session, sc: Scope) -> VariantReport:
        arms_by_step: dict[str, list[Arm]] = {}
        for key, exposed, responded in sorted(session.execute(sa.text(_BY_VARIANT.format(cube=sc.cube, edge=sc.edge)), sc.params).all()):
            step_id, variant = key.split("/", 1)
            arms_by_step.setdefault(step_id, []).append(Arm(variant, int(exposed), int(responded)))
        return VariantReport(
            cadence_key=sc.cadence.key,
            version=filters.version,
            since=since,
            until=until,
            filters=filters,
            min_exposed=MIN_EXPOSED,
            min_responses=MIN_RESPONSES,
            steps=[_step_test(step_id, arms) for step_id, arms in arms_by_step.items()],
        )

    return await read(backend, cadence, since, until, filters, load)


# --- outcomes by version, owner or cohort, and the step funnel ----------------------------

Dimension = Literal["version", "owner", "cohort"]
# The contact policy's industry groups (seed 003: persona + regulated vs. non-regulated).
INDUSTRY_GROUP = "(CASE WHEN lower(r.industry) = ANY(:regulated) THEN 'regulated' ELSE 'standard' END)"
_GROUP = {
    "version": "'v' || v.version",
    "owner": "coalesce(r.owner_id, '(no owner)')",
    "cohort": "coalesce(r.persona, '-') || ' / ' || " + INDUSTRY_GROUP + " || ' / ' || coalesce(r.tier, '-')",
}
OUTCOMES_SQL = """
    SELECT {group} AS grp,
           count(*) AS enrolled,
           count(r.first_touch_at) AS touched,
           coalesce(sum(r.sent), 0) AS sent,
           count(*) FILTER (WHERE r.emailed) AS emailed,
           count(*) FILTER (WHERE r.opened) AS opened,
           count(*) FILTER (WHERE r.clicked) AS clicked,
           count(*) FILTER (WHERE r.reply_intent = 'positive') AS replied_positive,
           count(*) FILTER (WHERE r.reply_intent = 'negative') AS replied_negative,
           count(*) FILTER (WHERE r.reply_intent = 'neutral') AS replied_neutral,
           count(*) FILTER (WHERE r.status = 'replied') AS replied,
           count(*) FILTER (WHERE r.status = 'meeting_booked') AS meetings,
           count(*) FILTER (WHERE r.status = 'switched') AS switched,
           count(*) FILTER (WHERE r.status = 'opted_out') AS opted_out,
           count(*) FILTER (WHERE r.status = 'bounced') AS bounced,
           count(*) FILTER (WHERE r.complained) AS complained,
           count(*) FILTER (WHERE r.status = 'completed') AS completed,
           count(*) FILTER (WHERE r.status IN ('pending', 'active', 'paused')) AS still_open,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM r.first_touch_at - r.created_at)) AS first_touch_p50,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM r.first_touch_at - r.created_at)) AS first_touch_p95,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM r.first_reply_at - r.created_at)) AS first_reply_p50,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM r.ended_at - r.created_at))
               FILTER (WHERE r.status = ANY(:responded)) AS response_p50
      FROM report_enrollments r
      JOIN cadence_versions v ON v.id = r.version_id
     WHERE {where}
  GROUP BY 1
  ORDER BY 1
"""


class OutcomeRow(BaseModel):
    """One group's enrollments (started in the range) and what became of them. Response,
    opt-out and bounce rates are per enrollment touched (at least one email or text went
    out); open and click rates per enrollment emailed; completion per enrolled. Opens and
    clicks are people's (a machine's are not counted); a click counts as an open."""

    key: str
    enrolled: int
    touched: int
    sent: int
    emailed: int = Field(description="Enrollments with at least one email accepted by the mail server")
    opened: int = Field(description="Enrollments whose contact opened (or clicked in) at least one email")
    clicked: int = Field(description="Enrollments whose contact clicked a link in at least one email")
    replied_positive: int = Field(description="By the intent of the enrollment's first reply (out-of-office not counted)")
    replied_negative: int
    replied_neutral: int
    replied: int = Field(description="Enrollments that ended because the contact replied")
    meetings: int
    switched: int = Field(description="Switched to another cadence by a positive reply")
    opted_out: int
    bounced: int
    complained: int = Field(description="Marked an email as spam")
    completed: int
    still_open: int
    response_rate: float = Field(description="(replied + meetings + switched) / touched")
    open_rate: float = Field(description="opened / emailed")
    click_rate: float = Field(description="clicked / emailed")
    opt_out_rate: float
    bounce_rate: float
    completion_rate: float = Field(description="completed / enrolled")
    first_touch_p50_seconds: float | None = Field(description="From enrollment to its first email or text went out")
    first_touch_p95_seconds: float | None
    first_reply_p50_seconds: float | None = Field(description="From enrollment to the contact's first reply")
    response_p50_seconds: float | None = Field(description="From enrollment to the response that ended it")


class OutcomeReport(BaseModel):
    """A cadence's enrollments by version, owner or cohort (persona / industry group / tier)."""

    cadence_key: str
    by: str
    since: dt.datetime
    until: dt.datetime
    filters: Filters = Field(default_factory=Filters)
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
    filters: Filters = Field(default_factory=Filters)
    enrolled: int
    steps: list[FunnelStep]


def date_range(since: dt.datetime | None, until: dt.datetime | None) -> tuple[dt.datetime, dt.datetime]:
    until = until or dt.datetime.now(dt.UTC)
    since = since or until - dt.timedelta(days=90)
    for name, value in (("since", since), ("until", until)):
        if value.tzinfo is None:
            raise Invalid(f"{name} must carry a time zone", {"field": name})
    if since >= until:
        raise Invalid("since must be before until", {"field": "since"})
    return since, until


def ratio(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def _seconds(value: object) -> float | None:
    return round(float(value), 1) if value is not None else None  # type: ignore[arg-type]


async def outcomes(
    backend: Backend,
    cadence: str,
    *,
    by: Dimension,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    filters: Filters = NO_FILTERS,
) -> OutcomeReport:
    """Enrolled, touched, sent, opened, clicked, replied by intent, each ending and the
    rates, per version, owner or cohort."""
    if by not in _GROUP:
        raise Invalid(f"by: one of {', '.join(_GROUP)}", {"field": "by"})
    start, end = date_range(since, until)

    def load(session: Session, sc: Scope) -> OutcomeReport:
        rows = session.execute(sa.text(OUTCOMES_SQL.format(where=sc.rows, group=_GROUP[by])), sc.params).mappings().all()
        return OutcomeReport(
            cadence_key=sc.cadence.key, by=by, since=start, until=end, filters=filters, rows=[outcome_row(r) for r in rows]
        )

    return await read(backend, cadence, start, end, filters, load)


def outcome_row(r: Any) -> OutcomeRow:
    """A row of `OUTCOMES_SQL` with its rates."""
    responses = r["replied"] + r["meetings"] + r["switched"]
    return OutcomeRow(
        key=r["grp"],
        enrolled=r["enrolled"],
        touched=r["touched"],
        sent=int(r["sent"]),
        emailed=r["emailed"],
        opened=r["opened"],
        clicked=r["clicked"],
        replied_positive=r["replied_positive"],
        replied_negative=r["replied_negative"],
        replied_neutral=r["replied_neutral"],
        replied=r["replied"],
        meetings=r["meetings"],
        switched=r["switched"],
        opted_out=r["opted_out"],
        bounced=r["bounced"],
        complained=r["complained"],
        completed=r["completed"],
        still_open=r["still_open"],
        response_rate=ratio(responses, r["touched"]),
        open_rate=ratio(r["opened"], r["emailed"]),
        click_rate=ratio(r["clicked"], r["emailed"]),
        opt_out_rate=ratio(r["opted_out"], r["touched"]),
        bounce_rate=ratio(r["bounced"], r["touched"]),
        completion_rate=ratio(r["completed"], r["enrolled"]),
        first_touch_p50_seconds=_seconds(r["first_touch_p50"]),
        first_touch_p95_seconds=_seconds(r["first_touch_p95"]),
        first_reply_p50_seconds=_seconds(r["first_reply_p50"]),
        response_p50_seconds=_seconds(r["response_p50"]),
    )


# Each enrollment counts once per step, whatever its retries and rounds (one rollup row).
_FUNNEL_STEPS = rollups.totals_query(
    "report_step_totals",
    "report_steps",
    rollups.STEP_KEYS,
    rollups.STEP_ROW,
    group="r.step_id",
    columns=["enrollments", "with_sent", "with_skipped", "with_failed"],
)
_FUNNEL_ENDS = """
    SELECT r.version_id, r.current_step, r.status, count(*) AS n
      FROM report_enrollments r
     WHERE {where}
  GROUP BY r.version_id, r.current_step, r.status
"""


async def funnel(
    backend: Backend, cadence: str, *, since: dt.datetime | None = None, until: dt.datetime | None = None, filters: Filters = NO_FILTERS
) -> FunnelReport:
    """Step by step, in the published version's order (steps only older versions have come
    after): how many enrollments reached each step, how its touches went, and how many ended
    there and how (replied, opted out, bounced, completed...)."""
    start, end = date_range(since, until)

    def load(session: Session, sc: Scope) -> FunnelReport:
        touches = {r.grp: r for r in session.execute(sa.text(_FUNNEL_STEPS.format(cube=sc.cube, edge=sc.edge)), sc.params).all()}
        ends: dict[str, dict[str, int]] = {}
        enrolled = 0
        for version_id, index, status, n in session.execute(sa.text(_FUNNEL_ENDS.format(where=sc.rows)), sc.params).all():
            enrolled += int(n)
            if status in ("pending", "active", "paused"):
                continue
            steps = bundle_of(session, version_id).definition.steps
            where = steps[index].id if index is not None and 0 <= index < len(steps) else "(after the last step)"
            ends.setdefault(where, {})
            ends[where][status] = ends[where].get(status, 0) + int(n)
        order = step_order(session, sc.cadence)
        known = order + sorted((set(touches) | set(ends)) - set(order))
        rows = []
        for step_id in known:
            t = touches.get(step_id)
            rows.append(
                FunnelStep(
                    step_index=order.index(step_id) if step_id in order else None,
                    step_id=step_id,
                    reached=int(t.enrollments) if t else 0,
                    sent=int(t.with_sent) if t else 0,
                    skipped=int(t.with_skipped) if t else 0,
                    failed=int(t.with_failed) if t else 0,
                    ended_here=ends.get(step_id, {}),
                )
            )
        return FunnelReport(cadence_key=sc.cadence.key, since=start, until=end, filters=filters, enrolled=enrolled, steps=rows)

    return await read(backend, cadence, start, end, filters, load)


def step_order(session: Session, cadence: Cadence) -> list[str]:
    """The step ids of the cadence's published version, in order (reports list steps so)."""
    published = published_version(session, cadence)
    return [s.id for s in bundle_of(session, published.id).definition.steps] if published else []


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


def ended_statuses(report: FunnelReport) -> list[str]:
    """Every way an enrollment ended at some step, sorted: the funnel's extra columns."""
    return sorted({status for step in report.steps for status in step.ended_here})


def funnel_csv(report: FunnelReport) -> str:
    """The funnel as CSV: one row per step, ended_here flattened to one column per status."""
    statuses = ended_statuses(report)
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["step_index", "step_id", "reached", "sent", "skipped", "failed", *(f"ended_{s}" for s in statuses)])
    for step in report.steps:
        writer.writerow(
            [
                "" if step.step_index is None else step.step_index,
                step.step_id,
                step.reached,
                step.sent,
                step.skipped,
                step.failed,
                *(step.ended_here.get(s, 0) for s in statuses),
            ]
        )
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
