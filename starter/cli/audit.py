"""`cadence audit ENROLLMENT` (the timeline) and `cadence audit verify` (the chain)."""

from __future__ import annotations

import json
import sys

import typer

from starter.cli.common import FAILED, Context, emit, guarded, make_table, out, run
from starter.service import audit as audit_service
from starter.service.backend import Backend
from starter.service.timeline import Timeline, to_csv


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
            result = run(audit_service.verify, obj.settings)
            emit(
                result,
                as_json=obj.json,
                table=lambda: (
                    f"audit log intact: {result.checked} entries verified"
                    if result.ok
                    else f"[red]audit log broken[/] after {result.checked} good entries: {result.problem}"
                ),
            )
            if not result.ok:
                raise typer.Exit(FAILED)
            return

        async def story(backend: Backend) -> list[Timeline]:
            if contact:
                return await audit_service.contact_timelines(backend, target)
            return [await audit_service.timeline(backend, target)]

        timelines = run(story, obj.settings)
        if csv_output:
            sys.stdout.write(to_csv(timelines))
            return
        if obj.json:
            out.print_json(json.dumps([t.model_dump(mode="json") for t in timelines]))
            return
        for timeline in timelines:
            out.print(
                make_table(
                    f"contact {timeline.contact_id} (suppressions, consent, events)"
                    if timeline.scope == "contact"
                    else f"enrollment {timeline.enrollment_id} (history: {timeline.history_source})",
                    ["when (UTC)", "what", "who", "from"],
                    [(f"{e.at:%Y-%m-%d %H:%M:%S}", e.summary, e.actor, e.source) for e in timeline.entries],
                )
            )
