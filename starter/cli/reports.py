"""`cadence report`: what became of a cadence's enrollments, its step funnel, and its A/B tests.

cadence report outbound-12-day                               # by version, the last 90 days
cadence report outbound-12-day --by owner --since 2026-10-01T00:00:00+00:00
cadence report outbound-12-day --by cohort --csv > cohorts.csv
cadence report outbound-12-day --by step                     # the funnel
cadence report outbound-12-day --by variant --version 3      # A/B verdicts
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import typer

from starter.cli.common import Context, emit, guarded, make_table, out, parse_when, run
from starter.service import reports
from starter.service.reports import FunnelReport, OutcomeReport, VariantReport


class By(StrEnum):
    """What a report groups by."""

    version = "version"
    owner = "owner"
    cohort = "cohort"
    step = "step"
    variant = "variant"


def _pct(value: float) -> str:
    return f"{value:.1%}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds / 60:.1f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h" if seconds < 172800 else f"{seconds / 86400:.1f} d"


def _outcomes(result: OutcomeReport) -> Any:
    title = f"{result.cadence_key} by {result.by}: enrollments started {result.since:%Y-%m-%d} to {result.until:%Y-%m-%d}"
    columns = ["", "enrolled", "touched", "sent", "replied", "meetings", "switched", "opted out", "bounced", "completed", "open"]
    columns += ["response", "opt-out", "first touch p50", "response p50"]
    rows = [
        (
            r.key, r.enrolled, r.touched, r.sent, r.replied, r.meetings, r.switched, r.opted_out, r.bounced, r.completed, r.still_open,
            _pct(r.response_rate), _pct(r.opt_out_rate), _duration(r.first_touch_p50_seconds), _duration(r.response_p50_seconds),
        )
        for r in result.rows
    ]  # fmt: skip
    return make_table(title, columns, rows)


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
        cadence: str = typer.Argument(..., help="Cadence key or id"),
        by: By = typer.Option(By.version, "--by", help="version, owner, cohort, step (the funnel) or variant (A/B verdicts)"),
        since: str | None = typer.Option(None, "--since", help="Enrollments started from (ISO 8601 with a zone; default 90 days ago)"),
        until: str | None = typer.Option(None, "--until", help="Enrollments started before (default now)"),
        version: int | None = typer.Option(None, "--version", help="With --by variant: one version of the cadence"),
        csv: bool = typer.Option(False, "--csv", help="The rows as CSV (not for --by step)"),
    ) -> None:
        """What became of a cadence's enrollments, where they leave, and which variants win."""
        obj: Context = ctx.obj
        start, end = parse_when(since), parse_when(until)
        if by == By.step:
            funnel = run(lambda b: reports.funnel(b, cadence, since=start, until=end), obj.settings)
            emit(funnel, as_json=obj.json, table=lambda: _funnel(funnel))
        elif by == By.variant:
            tests = run(lambda b: reports.variants(b, cadence, since=start, until=end, version=version), obj.settings)
            if csv:
                out.print(reports.rows_csv(reports.variant_rows(tests)), end="", markup=False, soft_wrap=True)
            else:
                emit(tests, as_json=obj.json, table=lambda: _variants(tests))
        else:
            grouped = run(lambda b: reports.outcomes(b, cadence, by=by.value, since=start, until=end), obj.settings)  # type: ignore[arg-type]
            if csv:
                out.print(reports.rows_csv(list(grouped.rows)), end="", markup=False, soft_wrap=True)
            else:
                emit(grouped, as_json=obj.json, table=lambda: _outcomes(grouped))
