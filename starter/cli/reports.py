"""`cadence report`: how a cadence's A/B-tested steps compare.

cadence report outbound-12-day --by variant                  # the last 90 days of enrollments
cadence report outbound-12-day --by variant --since 2026-10-01T00:00:00+00:00 --version 3 --json
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import typer

from starter.cli.common import Context, emit, guarded, make_table, parse_when, run
from starter.service import reports
from starter.service.reports import VariantReport


class By(StrEnum):
    """What a report compares (variants today)."""

    variant = "variant"


def _table(result: VariantReport) -> Any:
    title = f"{result.cadence_key}{f' v{result.version}' if result.version else ''}: A/B tests, enrollments started {result.since:%Y-%m-%d} to {result.until:%Y-%m-%d}"
    rows = []
    for step in result.steps:
        for v in step.variants:
            leads = "leader" if v.variant == step.leader else (f"p = {v.p_value_vs_leader:.3f}" if v.p_value_vs_leader is not None else "")
            rows.append((step.step_id, v.variant, v.exposed, v.responded, f"{v.rate:.1%}", f"{v.probability_best:.0%}", leads, step.reason))
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
        by: By = typer.Option(By.variant, "--by", help="What to compare"),
        since: str | None = typer.Option(None, "--since", help="Enrollments started from (ISO 8601 with a zone; default 90 days ago)"),
        until: str | None = typer.Option(None, "--until", help="Enrollments started before (default now)"),
        version: int | None = typer.Option(None, "--version", help="One version of the cadence"),
    ) -> None:
        """Each A/B-tested step's variants: who got them, who responded, and the verdict."""
        obj: Context = ctx.obj
        start, end = parse_when(since), parse_when(until)
        result = run(lambda b: reports.variants(b, cadence, since=start, until=end, version=version), obj.settings)
        emit(result, as_json=obj.json, table=lambda: _table(result))
