"""`cadence audit ENROLLMENT` (the timeline) and `cadence audit verify` (the chain)."""

from __future__ import annotations

import json
import sys

import typer

from core.db import make_engine, transaction
from models import audit as audit_log
from starter.cli.common import FAILED, Context, emit, guarded, make_table, out, run
from starter.timeline import Timeline, to_csv


def register(app: typer.Typer) -> None:
    """Add `cadence audit` to the top-level app."""

    @app.command("audit")
    @guarded
    def audit(
        ctx: typer.Context,
        target: str = typer.Argument(..., help="An enrollment id, or 'verify' to check the audit chain"),
        contact: bool = typer.Option(False, "--contact", help="TARGET is a contact: every enrollment of it"),
        csv_output: bool = typer.Option(False, "--csv", help="CSV, one row per entry"),
    ) -> None:
        """The full story of an enrollment (or a contact), or a check of the audit chain."""
        obj: Context = ctx.obj
        if target == "verify":
            engine = make_engine(obj.settings.database_url, 2)
            with transaction(engine) as session:
                result = audit_log.verify(session)
            engine.dispose()
            data = {"ok": result.ok, "checked": result.checked, "broken_entry": result.broken.id if result.broken else None, "problem": result.problem}
            emit(data, as_json=obj.json, table=lambda: f"audit log intact: {result.checked} entries verified" if result.ok
                 else f"[red]audit log broken[/] after {result.checked} good entries: {result.problem}")
            if not result.ok:
                raise typer.Exit(FAILED)
            return
        timelines: list[Timeline] = run(lambda c: c.contact_timelines(target) if contact else _one(c, target), obj.settings)
        if csv_output:
            sys.stdout.write(to_csv(timelines))
            return
        if obj.json:
            out.print_json(json.dumps([t.model_dump(mode="json") for t in timelines]))
            return
        for timeline in timelines:
            out.print(make_table(
                f"enrollment {timeline.enrollment_id} (history: {timeline.history_source})", ["when (UTC)", "what", "who", "from"],
                [(f"{e.at:%Y-%m-%d %H:%M:%S}", e.summary, e.actor, e.source) for e in timeline.entries],
            ))


async def _one(client: object, enrollment_id: str) -> list[Timeline]:
    from starter.client import CadenceClient

    assert isinstance(client, CadenceClient)
    return [await client.timeline(enrollment_id)]
