"""`cadence report`: what became of a cadence's enrollments, how its messages did, its step
funnel, its activity by day, its A/B tests, and how it compares with another.

cadence report outbound-12-day                               # by version, the last 90 days
cadence report outbound-12-day --by owner --since 2026-10-01T00:00:00+00:00
cadence report outbound-12-day --by cohort --csv > cohorts.csv
cadence report outbound-12-day --by step                     # messages per step, then the funnel
cadence report outbound-12-day --by channel --owner rep-7    # one owner's enrollments only
cadence report outbound-12-day --by day --persona executive  # sends, opens, clicks, replies per day
cadence report outbound-12-day --by variant --version 3      # A/B verdicts
cadence report outbound-12-day@3 --compare outbound-12-day@4 # two versions side by side
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import typer

from starter.cli.common import Context, emit, guarded, make_table, out, parse_when, run
from starter.service import engagement_reports, reports
from starter.service.engagement_reports import Comparison, DailyReport, TouchReport
from starter.service.reports import Filters, FunnelReport, OutcomeReport, VariantReport


class By(StrEnum):
    """What a report groups by."""

    version = "version"
    owner = "owner"
    cohort = "cohort"
    step = "step"
    channel = "channel"
    day = "day"
    variant = "variant"


class IndustryGroup(StrEnum):
    """The contact policy's industry groups."""

    regulated = "regulated"
    standard = "standard"


def _pct(value: float) -> str:
    return f"{value:.1%}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds / 60:.1f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h" if seconds < 172800 else f"{seconds / 86400:.1f} d"


def _outcomes(result: OutcomeReport) -> Any:
    title = f"{result.cadence_key} by {result.by}: enrollments started {result.since:%Y-%m-%d} to {result.until:%Y-%m-%d}"
    columns = ["", "enrolled", "touched", "opened", "clicked", "replied +/-/=", "meetings", "switched", "opted out", "bounced"]
    columns += ["completed", "open", "response", "open rate", "click rate", "opt-out", "first touch p50", "first reply p50"]
    rows = [
        (
            r.key, r.enrolled, r.touched, r.opened, r.clicked, f"{r.replied_positive}/{r.replied_negative}/{r.replied_neutral}",
            r.meetings, r.switched, r.opted_out, r.bounced, r.completed, r.still_open, _pct(r.response_rate), _pct(r.open_rate),
            _pct(r.click_rate), _pct(r.opt_out_rate), _duration(r.first_touch_p50_seconds), _duration(r.first_reply_p50_seconds),
        )
        for r in result.rows
    ]  # fmt: skip
    return make_table(title, columns, rows)


def _touches(result: TouchReport) -> Any:
    title = f"{result.cadence_key}: messages by {result.by}, enrollments started {result.since:%Y-%m-%d} to {result.until:%Y-%m-%d}"
    columns = ["", "sent", "delivered", "opened", "clicked", "replied", "bounced", "opted out", "skipped", "machine opens"]
    columns += ["open rate", "click rate", "reply rate", "bounce rate"]
    rows = [
        (
            r.key, r.sent, r.delivered, r.opened, r.clicked, r.replied, r.bounced, r.opted_out, r.skipped, r.machine_opened,
            _pct(r.open_rate), _pct(r.click_rate), _pct(r.reply_rate), _pct(r.bounce_rate),
        )
        for r in result.rows
    ]  # fmt: skip
    table = make_table(title, columns, rows)
    if not rows:
        table.caption = "no email or text of these enrollments yet"
    return table


def _daily(result: DailyReport) -> Any:
    title = f"{result.cadence_key}: day by day (UTC), enrollments started {result.since:%Y-%m-%d} to {result.until:%Y-%m-%d}"
    return make_table(
        title, ["day", "sent", "opened", "clicked", "replied"], [(d.day, d.sent, d.opened, d.clicked, d.replied) for d in result.days]
    )


def _comparison(result: Comparison) -> Any:
    rows = [
        (
            side.label, side.outcomes.enrolled, side.outcomes.touched, side.outcomes.replied + side.outcomes.meetings + side.outcomes.switched,
            _pct(side.outcomes.response_rate), _pct(side.outcomes.open_rate), f"{side.probability_best:.0%}",
            "leader" if side.label == result.leader else f"p = {side.p_value_vs_leader:.3f}" if side.p_value_vs_leader is not None else "",
        )
        for side in result.sides
    ]  # fmt: skip
    columns = ["", "enrolled", "touched", "responded", "response", "open rate", "P(best)", "vs leader"]
    table = make_table(f"{result.verdict.replace('_', ' ')}: {result.reason}", columns, rows)
    return table


def _funnel(result: FunnelReport) -> Any:
    title = f"{result.cadence_key}: {result.enrolled} enrollments started {result.since:%Y-%m-%d} to {result.until:%Y-%m-%d}, step by step"
    rows = [
        (
            s.step_index + 1 if s.step_index is not None else "-",
            s.step_id,
            s.reached,
            s.sent,
            s.skipped,
            s.failed,
            ", ".join(f"{n} {status.replace('_', ' ')}" for status, n in sorted(s.ended_here.items())) or "-",
        )
        for s in result.steps
    ]
    return make_table(title, ["#", "step", "reached", "sent", "skipped", "failed", "ended here"], rows)


def _variants(result: VariantReport) -> Any:
    title = f"{result.cadence_key}{f' v{result.version}' if result.version else ''}: A/B tests, enrollments started {result.since:%Y-%m-%d} to {result.until:%Y-%m-%d}"
    rows = []
    for step in result.steps:
        for v in step.variants:
            leads = "leader" if v.variant == step.leader else (f"p = {v.p_value_vs_leader:.3f}" if v.p_value_vs_leader is not None else "")
            rows.append((step.step_id, v.variant, v.exposed, v.responded, _pct(v.rate), f"{v.probability_best:.0%}", leads, step.reason))
    table = make_table(title, ["step", "variant", "got it", "responded", "rate", "P(best)", "vs leader", "verdict"], rows)
    if not rows:
        table.caption = "no A/B-tested step has been sent in this range"
    return table


def register(app: typer.Typer) -> None:
    """Add `cadence report` to the top-level app."""

    @app.command("report")
    @guarded
    def report(
        ctx: typer.Context,
        cadence: str = typer.Argument(..., help="Cadence key or id (key@N for one version with --compare)"),
        by: By = typer.Option(
            By.version, "--by", help="version, owner, cohort, step (messages, then the funnel), channel, day, or variant (A/B verdicts)"
        ),
        since: str | None = typer.Option(None, "--since", help="Enrollments started from (ISO 8601 with a zone; default 90 days ago)"),
        until: str | None = typer.Option(None, "--until", help="Enrollments started before (default now)"),
        version: int | None = typer.Option(None, "--version", min=1, help="Only enrollments of this version of the cadence"),
        owner: str | None = typer.Option(None, "--owner", help="Only this owner's enrollments"),
        persona: str | None = typer.Option(None, "--persona", help="Only contacts of this persona"),
        industry: str | None = typer.Option(None, "--industry", help="Only contacts in this industry"),
        industry_group: IndustryGroup | None = typer.Option(None, "--industry-group", help="regulated or standard (the contact policy's)"),
        tier: str | None = typer.Option(None, "--tier", help="Only contacts of this tier"),
        compare: str | None = typer.Option(None, "--compare", help="Another cadence or version (key@N) to compare with"),
        csv: bool = typer.Option(False, "--csv", help="The rows as CSV"),
    ) -> None:
        """What became of a cadence's enrollments, how its messages did, where they leave, and which variants win."""
        obj: Context = ctx.obj
        start, end = parse_when(since), parse_when(until)
        group = industry_group.value if industry_group else None
        filters = Filters(version=version, owner=owner, persona=persona, industry=industry, industry_group=group, tier=tier)
        if compare is not None:
            other = compare
            result = run(lambda b: engagement_reports.compare(b, cadence, other, since=start, until=end, filters=filters), obj.settings)
            if csv:
                _print_csv(reports.rows_csv([side.outcomes.model_copy(update={"key": side.label}) for side in result.sides]))
            else:
                emit(result, as_json=obj.json, table=lambda: _comparison(result))
        elif by in (By.step, By.channel):
            messages = run(
                lambda b: engagement_reports.touches(b, cadence, by=by.value, since=start, until=end, filters=filters),  # type: ignore[arg-type]
                obj.settings,
            )
            funnel = (
                run(lambda b: reports.funnel(b, cadence, since=start, until=end, filters=filters), obj.settings) if by == By.step else None
            )
            if csv:
                _print_csv(reports.rows_csv(list(messages.rows)))
            elif obj.json:
                emit({"messages": messages, "funnel": funnel} if funnel else messages, as_json=True)
            else:
                out.print(_touches(messages))
                if funnel is not None:
                    out.print(_funnel(funnel))
        elif by == By.day:
            days = run(lambda b: engagement_reports.daily(b, cadence, since=start, until=end, filters=filters), obj.settings)
            if csv:
                _print_csv(reports.rows_csv(list(days.days)))
            else:
                emit(days, as_json=obj.json, table=lambda: _daily(days))
        elif by == By.variant:
            tests = run(lambda b: reports.variants(b, cadence, since=start, until=end, filters=filters), obj.settings)
            if csv:
                _print_csv(reports.rows_csv(reports.variant_rows(tests)))
            else:
                emit(tests, as_json=obj.json, table=lambda: _variants(tests))
        else:
            grouped = run(lambda b: reports.outcomes(b, cadence, by=by.value, since=start, until=end, filters=filters), obj.settings)  # type: ignore[arg-type]
            if csv:
                _print_csv(reports.rows_csv(list(grouped.rows)))
            else:
                emit(grouped, as_json=obj.json, table=lambda: _outcomes(grouped))

    @app.command("rollups")
    @guarded
    def refresh_rollups(
        ctx: typer.Context, full: bool = typer.Option(False, "--full", help="Recompute every enrollment, not only what changed")
    ) -> None:
        """Bring the report rollups up to date now (reports do it themselves before they read;
        --full after restoring a backup or changing touches by hand)."""
        obj: Context = ctx.obj
        done = run(lambda b: reports.fresh(b, full=full), obj.settings)
        emit(
            done,
            as_json=obj.json,
            table=lambda: f"{done.enrollments} enrollment(s) recomputed in {done.seconds:.1f} s{' (all)' if done.full else ''}",
        )


def _print_csv(text: str) -> None:
    out.print(text, end="", markup=False, soft_wrap=True)
