"""Reports per message: how a cadence's emails and texts did by step, channel or variant;
its sends, opens, clicks and replies day by day; and two cadences (or two versions of one)
side by side with a verdict.

Per message, the denominators are the ones email marketers use: delivery per message sent
(accepted by the mail server or Twilio), opens, clicks and replies per message delivered (an
email accepted and not bounced; a text with the carrier's receipt), click-to-open per
opened, bounces per sent. Opens and clicks are people's (a machine's, such as Apple's
privacy proxy or a link scanner, are counted apart); a click counts as an open. The
enrollments are those of `starter.service.reports.scope`: started in the range, with the
same filters as every other report.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, Field
from sqlmodel import Session

from cadence.experiments import MIN_EXPOSED, MIN_RESPONSES, Arm, judge
from models import rollups
from starter.errors import Invalid
from starter.service.backend import Backend
from starter.service.reports import (
    NO_FILTERS,
    OUTCOMES_SQL,
    Filters,
    OutcomeRow,
    Scope,
    date_range,
    fresh,
    outcome_row,
    ratio,
    read,
    regulated_industries,
    scope,
    step_order,
)

TouchDimension = Literal["step", "channel", "variant"]
_KEY = {"step": "r.step_id", "channel": "r.channel", "variant": "r.step_id || ' / ' || coalesce(nullif(r.variant, ''), '-')"}
_COUNTS = [name for name in rollups.STEP_COUNTS if name != "touches"]
_TOUCHES = {
    by: rollups.totals_query(
        "report_step_totals",
        "report_steps",
        rollups.STEP_KEYS,
        rollups.STEP_ROW,
        group=key,
        columns=["touches", *_COUNTS],
        having="HAVING sum(r.touches) > 0",
    )
    for by, key in _KEY.items()
}


class TouchRow(BaseModel):
    """One step, channel or step/variant: its messages and what became of them."""

    key: str
    sent: int = Field(description="Accepted by the mail server or Twilio")
    delivered: int = Field(description="Emails accepted and not bounced; texts with the carrier's delivery receipt")
    skipped: int = Field(description="Not sent: the gate said no (quiet hours, caps, suppression...)")
    failed: int
    opened: int = Field(description="Messages a person opened (or clicked in)")
    machine_opened: int = Field(description="Opened only by a machine (Apple's privacy proxy, a scanner): not counted as opened")
    clicked: int
    machine_clicked: int
    replied: int
    bounced: int
    opted_out: int
    complained: int
    delivery_rate: float = Field(description="delivered / sent")
    open_rate: float = Field(description="opened / delivered")
    click_rate: float = Field(description="clicked / delivered")
    click_to_open_rate: float = Field(description="clicked / opened")
    reply_rate: float = Field(description="replied / delivered")
    bounce_rate: float = Field(description="bounced / sent")
    opt_out_rate: float = Field(description="opted_out / delivered")


class TouchReport(BaseModel):
    """A cadence's messages by step, channel or step and variant."""

    cadence_key: str
    by: str
    since: dt.datetime
    until: dt.datetime
    filters: Filters = Field(default_factory=Filters)
    rows: list[TouchRow]


async def touches(
    backend: Backend,
    cadence: str,
    *,
    by: TouchDimension,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    filters: Filters = NO_FILTERS,
) -> TouchReport:
    """Messages of the cadence's enrollments (started in the range) by step (in the published
    version's order), channel, or step and variant."""
    if by not in _KEY:
        raise Invalid(f"by: one of {', '.join(_KEY)}", {"field": "by"})
    start, end = date_range(since, until)

    def load(session: Session, sc: Scope) -> TouchReport:
        query = _TOUCHES[by].format(cube=sc.cube, edge=sc.edge)
        rows = [_touch_row(r) for r in session.execute(sa.text(query), sc.params).mappings().all()]
        order = {step: i for i, step in enumerate(step_order(session, sc.cadence))}
        rows.sort(key=lambda r: (order.get(r.key.split(" / ")[0], len(order)), r.key) if by != "channel" else (0, r.key))
        return TouchReport(cadence_key=sc.cadence.key, by=by, since=start, until=end, filters=filters, rows=rows)

    return await read(backend, cadence, start, end, filters, load)


def _touch_row(r: Any) -> TouchRow:
    counts = {name: int(r[name]) for name in _COUNTS}
    return TouchRow(
        key=r["grp"],
        **counts,
        delivery_rate=ratio(counts["delivered"], counts["sent"]),
        open_rate=ratio(counts["opened"], counts["delivered"]),
        click_rate=ratio(counts["clicked"], counts["delivered"]),
        click_to_open_rate=ratio(counts["clicked"], counts["opened"]),
        reply_rate=ratio(counts["replied"], counts["delivered"]),
        bounce_rate=ratio(counts["bounced"], counts["sent"]),
        opt_out_rate=ratio(counts["opted_out"], counts["delivered"]),
    )


# --- day by day ------------------------------------------------------------------------

_DAILY = rollups.totals_query(
    "report_day_totals", "report_days", rollups.DAY_KEYS, rollups.DAY_ROW, group="r.day", columns=["sent", "opened", "clicked", "replied"]
)
MAX_DAYS = 400


class DayActivity(BaseModel):
    """One UTC day: messages sent, and people's opens, clicks and replies that day."""

    day: dt.date
    sent: int
    opened: int
    clicked: int
    replied: int


class DailyReport(BaseModel):
    """What the cadence's enrollments (started in the range) did, day by day (UTC), from
    the first day with activity to the last; days without any are listed with zeros."""

    cadence_key: str
    since: dt.datetime
    until: dt.datetime
    filters: Filters = Field(default_factory=Filters)
    days: list[DayActivity]


async def daily(
    backend: Backend, cadence: str, *, since: dt.datetime | None = None, until: dt.datetime | None = None, filters: Filters = NO_FILTERS
) -> DailyReport:
    """Sends, opens, clicks and replies per day (at most the last `MAX_DAYS` days of activity)."""
    start, end = date_range(since, until)

    def load(session: Session, sc: Scope) -> DailyReport:
        got = {r.grp: r for r in session.execute(sa.text(_DAILY.format(cube=sc.cube, edge=sc.edge)), sc.params).all()}
        days: list[DayActivity] = []
        if got:
            first, last = max(min(got), max(got) - dt.timedelta(days=MAX_DAYS - 1)), max(got)
            for n in range((last - first).days + 1):
                day = first + dt.timedelta(days=n)
                r = got.get(day)
                days.append(
                    DayActivity(day=day, sent=int(r.sent), opened=int(r.opened), clicked=int(r.clicked), replied=int(r.replied))
                    if r
                    else DayActivity(day=day, sent=0, opened=0, clicked=0, replied=0)
                )
        return DailyReport(cadence_key=sc.cadence.key, since=start, until=end, filters=filters, days=days)

    return await read(backend, cadence, start, end, filters, load)


# --- two cadences, or two versions, side by side ------------------------------------------

_SIDE = re.compile(r"^(?P<cadence>[^@]{1,200})(?:@v?(?P<version>[0-9]{1,6}))?$")


class ComparedSide(BaseModel):
    """One side: its outcomes (as in the outcome report), its response rate and its chance
    to be the better one."""

    label: str = Field(description="As asked: a cadence key or id, with @N for one version")
    cadence_key: str
    version: int | None
    outcomes: OutcomeRow
    probability_best: float
    p_value_vs_leader: float | None


class Comparison(BaseModel):
    """Two cadences (or versions) compared on responses per enrollment touched, with the
    same verdict as an A/B test: winner, no_difference_yet, or too_early below the minimum."""

    since: dt.datetime
    until: dt.datetime
    filters: Filters = Field(default_factory=Filters)
    verdict: str
    leader: str | None
    reason: str
    min_exposed: int
    min_responses: int
    sides: list[ComparedSide]


def _side(text: str, field: str) -> tuple[str, int | None]:
    match = _SIDE.match(text.strip())
    if match is None:
        raise Invalid(f"{field}: a cadence key or id, optionally with @N for one version (e.g. outbound-12-day@3)", {"field": field})
    version = match.group("version")
    return match.group("cadence"), int(version) if version else None


async def compare(
    backend: Backend, a: str, b: str, *, since: dt.datetime | None = None, until: dt.datetime | None = None, filters: Filters = NO_FILTERS
) -> Comparison:
    """Compare `a` and `b` ("key" or "key@N") over enrollments started in the range."""
    sides = [_side(a, "a"), _side(b, "b")]
    if sides[0] == sides[1]:
        raise Invalid("a and b are the same cadence and version", {"field": "b"})
    start, end = date_range(since, until)

    regulated = regulated_industries(backend)

    def load(session: Session) -> list[tuple[str, OutcomeRow, int | None]]:
        out = []
        for cadence, version in sides:
            narrowed = filters.model_copy(update={"version": version}) if version is not None else filters
            sc = scope(session, cadence, start, end, narrowed, regulated)
            rows = session.execute(sa.text(OUTCOMES_SQL.format(where=sc.rows, group="'all'")), sc.params).mappings().all()
            out.append((sc.cadence.key, outcome_row(rows[0] if rows else _NOTHING), version))
        return out

    await fresh(backend)
    got = await backend.db(load)
    labels = [a.strip(), b.strip()]
    verdict = judge(
        [Arm(label, row.touched, row.replied + row.meetings + row.switched) for label, (_, row, _) in zip(labels, got, strict=True)]
    )
    by_name = {arm.name: arm for arm in verdict.arms}
    return Comparison(
        since=start,
        until=end,
        filters=filters,
        verdict=verdict.verdict,
        leader=verdict.leader,
        reason=verdict.reason,
        min_exposed=MIN_EXPOSED,
        min_responses=MIN_RESPONSES,
        sides=[
            ComparedSide(
                label=label,
                cadence_key=key,
                version=version,
                outcomes=row,
                probability_best=by_name[label].probability_best,
                p_value_vs_leader=by_name[label].p_value_vs_leader,
            )
            for label, (key, row, version) in zip(labels, got, strict=True)
        ],
    )


# The outcome row of a side with no enrollments in the range.
_NOTHING: dict[str, Any] = {
    "grp": "all",
    **{name: 0 for name in OutcomeRow.model_fields if not name.endswith(("_rate", "_seconds")) and name != "key"},
    **dict.fromkeys(("first_touch_p50", "first_touch_p95", "first_reply_p50", "response_p50")),
}
