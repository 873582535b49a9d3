"""Enrollment commands: enroll (one or a CSV), list, status, pause, resume, stop, skip, events."""

from __future__ import annotations

import csv
import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from cadence.events import EventKind
from models.payloads import StatusView
from starter.cli.common import INVALID, NOT_FOUND, Context, actor, emit, fail, guarded, make_table, out, parse_when, run
from starter.service import commands, events, reads
from starter.service.backend import Backend
from starter.service.enroll import BulkRow, bulk_enroll, enroll_contact
from starter.service.reads import EnrollmentDetail, EnrollmentInfo, EnrollmentSort

events_app = typer.Typer(no_args_is_help=True)


def _info_table(info: EnrollmentInfo) -> Any:
    rows = [
        ("enrollment", info.id),
        ("workflow", info.workflow_id),
        ("cadence", f"{info.cadence_key} v{info.cadence_version}"),
        ("contact", info.contact_id),
        ("status", info.status),
        ("next step", info.next_step_id),
        ("due", info.next_step_at),
        ("why", info.waiting_reason),
        ("touches sent", info.touches_sent),
        ("outcome", info.outcome_reason),
    ]
    return make_table(None, ["", ""], [r for r in rows if r[1] is not None])


def _status_table(view: StatusView) -> Any:
    rows: list[tuple[str, Any]] = [
        ("status", view.status.value),
        ("step", f"{(view.step_index or 0) + 1} {view.step_id} ({view.step_type})" if view.step_id else None),
        ("next due", view.next_due_at),
        ("why", view.waiting_reason),
        ("sent / skipped / deferred", f"{view.counters.sent} / {view.counters.skipped} / {view.counters.deferred}"),
    ]
    if view.pause:
        rows.append(
            ("paused by", f"{view.pause.actor}: {view.pause.reason}" + (f" (until {view.pause.until})" if view.pause.until else ""))
        )
    if view.outcome_reason:
        rows.append(("outcome", view.outcome_reason))
    return make_table(None, ["", ""], [r for r in rows if r[1] is not None])


def register(app: typer.Typer) -> None:
    """Add the enrollment commands to the top-level app."""

    @app.command("enroll")
    @guarded
    def enroll(
        ctx: typer.Context,
        cadence: str = typer.Argument(..., help="Cadence key or id"),
        contact: str | None = typer.Argument(None, help="Contact id or external id"),
        csv_file: Path | None = typer.Option(None, "--csv", help="Enroll every contact in a CSV (column external_id or contact_id)"),
        strict: bool = typer.Option(False, "--strict", help="With --csv: enroll nothing if any row has no contact"),
        start_at: str | None = typer.Option(None, "--start-at", help="ISO 8601 with a time zone"),
        rate: float | None = typer.Option(None, help="Starts per second for --csv (default BULK_STARTS_PER_SECOND)"),
    ) -> None:
        """Enroll one contact, or every contact of a CSV with a progress bar."""
        obj: Context = ctx.obj
        when = parse_when(start_at)
        if (contact is None) == (csv_file is None):
            fail("give a contact or --csv FILE (not both)", code=INVALID, as_json=obj.json)
        if contact is not None:
            info = run(lambda b: enroll_contact(b, cadence, contact, start_at=when, actor=actor()), obj.settings)
            emit(info, as_json=obj.json, table=lambda: _info_table(info))
            if not obj.json:
                out.print("[green]enrolled[/]" if info.created else "[yellow]already enrolled[/] (returned the open enrollment)")
            return
        assert csv_file is not None
        refs = _csv_contacts(csv_file, strict=strict)
        rows = _bulk(obj, cadence, refs, when, rate or obj.settings.bulk_starts_per_second)
        failed = [r for r in rows if not r.ok]
        emit(
            rows,
            as_json=obj.json,
            table=lambda: make_table(
                f"enrolled {sum(r.ok and r.created for r in rows)}, already enrolled {sum(r.ok and not r.created for r in rows)}, failed {len(failed)}",
                ["row", "contact", "problem"],
                [(r.row + 1, r.contact, r.error) for r in failed],
            ),
        )
        if failed:
            raise typer.Exit(INVALID)

    @app.command("list")
    @guarded
    def list_enrollments(
        ctx: typer.Context,
        cadence: str | None = typer.Option(None, help="Cadence key or id"),
        contact: str | None = typer.Option(None, help="Contact id or external id"),
        status: str | None = typer.Option(None, help="active, paused, completed, replied, ..."),
        owner: str | None = typer.Option(None),
        by_score: bool = typer.Option(False, "--by-score", help="The contacts with the highest lead score first"),
        limit: int = typer.Option(50, min=1, max=500),
        offset: int = typer.Option(0, min=0),
    ) -> None:
        """Enrollments, newest first (or by the contact's lead score), with that score."""
        obj: Context = ctx.obj
        sort: EnrollmentSort = "score" if by_score else "newest"
        page = run(
            lambda b: reads.list_enrollments(
                b, cadence=cadence, contact=contact, status=status, owner=owner, sort=sort, limit=limit, offset=offset
            ),
            obj.settings,
        )
        emit(
            page,
            as_json=obj.json,
            table=lambda: make_table(
                f"{page.total} enrollment(s), showing {offset + 1}-{offset + len(page.items)}",
                ["id", "cadence", "contact", "score", "status", "next due", "why"],
                [(i.id, i.cadence_key, i.contact_id, i.contact_score, i.status, i.next_step_at, i.waiting_reason) for i in page.items],
            ),
        )

    @app.command("status")
    @guarded
    def status(ctx: typer.Context, enrollment: str = typer.Argument(..., help="Enrollment id")) -> None:
        """What the enrollment is doing now, what comes next and why, and its touches."""
        obj: Context = ctx.obj
        detail: EnrollmentDetail = run(lambda b: reads.status(b, enrollment), obj.settings)

        def table() -> Any:
            if detail.live:
                out.print(_status_table(detail.live))
            else:
                out.print(_info_table(detail))
                out.print(f"[yellow]{detail.live_error}[/]")
            return make_table(
                "touches",
                ["step", "channel", "status", "sent", "template"],
                [(t.step_id, t.channel, t.status, t.sent_at, f"{t.template}@{t.template_version}") for t in detail.touches],
            )

        emit(detail, as_json=obj.json, table=table)

    def command(verb: str, call: Any, needs_reason: bool) -> None:
        @app.command(verb, help=f"{verb.capitalize()} an enrollment (recorded with your name and reason).")
        @guarded
        def handler(
            ctx: typer.Context,
            enrollment: str = typer.Argument(..., help="Enrollment id"),
            reason: str | None = typer.Option(None, help="Why (required for pause and stop)"),
            until: str | None = typer.Option(None, help="pause only: resume by itself at this ISO 8601 time"),
        ) -> None:
            obj: Context = ctx.obj
            if needs_reason and not reason:
                fail(f"{verb} needs --reason", code=INVALID, as_json=obj.json)
            if until is not None and verb != "pause":
                fail("--until only applies to pause", code=INVALID, as_json=obj.json)
            when = parse_when(until)
            view: StatusView = run(lambda b: call(b, enrollment, reason, when), obj.settings)
            emit(view, as_json=obj.json, table=lambda: _status_table(view))

    command("pause", lambda b, e, r, u: commands.pause(b, e, actor=actor(), reason=r, until=u), True)
    command("resume", lambda b, e, r, u: commands.resume(b, e, actor=actor(), reason=r), False)
    command("stop", lambda b, e, r, u: commands.stop(b, e, actor=actor(), reason=r), True)
    command("skip", lambda b, e, r, u: commands.skip(b, e, actor=actor(), reason=r), False)


def _csv_contacts(path: Path, *, strict: bool) -> list[str]:
    """The contact of each row, in file order (a blank one is reported as that row's error;
    with `strict`, any blank row refuses the whole file before anything is enrolled)."""
    if not path.is_file():
        fail(f"{path}: no such file", code=NOT_FOUND)
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        column = next((c for c in ("external_id", "contact_id", "contact") if c in (reader.fieldnames or [])), None)
        if column is None:
            fail(f"{path}: needs a column named external_id or contact_id", code=INVALID)
        refs = [(row.get(column) or "").strip() for row in reader]
    blank = [i + 2 for i, ref in enumerate(refs) if not ref]
    if blank and strict:
        fail(f"{path}: row(s) {', '.join(map(str, blank[:10]))} have no {column}; nothing was enrolled (--strict)", code=INVALID)
    return refs


def _bulk(obj: Context, cadence: str, refs: list[str], when: dt.datetime | None, rate: float) -> list[BulkRow]:
    async def go(backend: Backend) -> list[BulkRow]:
        if obj.json:
            return await bulk_enroll(backend, cadence, refs, actor=actor(), start_at=when, per_second=rate)
        with Progress(TextColumn("enrolling"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=out) as progress:
            task = progress.add_task("enroll", total=len(refs))
            return await bulk_enroll(
                backend, cadence, refs, actor=actor(), start_at=when, per_second=rate, on_row=lambda _row: progress.advance(task)
            )

    return run(go, obj.settings)


@events_app.command("send")
@guarded
def send_event(
    ctx: typer.Context,
    type_: str = typer.Argument(..., metavar="TYPE", help=", ".join(EventKind)),
    contact: str = typer.Argument(..., help="Contact id or external id"),
    event_id: str | None = typer.Option(None, help="Your id for the event (default: a new one); repeats apply once"),
    intent: str | None = typer.Option(None, help="reply: positive, negative, neutral, out_of_office"),
    return_date: str | None = typer.Option(None, help="reply out_of_office: YYYY-MM-DD"),
    name: str | None = typer.Option(None, help="event: its name, e.g. renewal_signed"),
    task_id: str | None = typer.Option(None, help="task_completed: the task id"),
    outcome: str | None = typer.Option(None, help="task_completed: what happened"),
) -> None:
    """Deliver an event to every open enrollment of a contact."""
    obj: Context = ctx.obj
    if intent is not None and intent not in ("positive", "negative", "neutral", "out_of_office"):
        fail(f"unknown intent {intent!r}", code=INVALID, as_json=obj.json)
    back = None
    if return_date:
        try:
            back = dt.date.fromisoformat(return_date)
        except ValueError:
            fail(f"{return_date!r} is not a date (YYYY-MM-DD)", code=INVALID, as_json=obj.json)
    eid = event_id or f"cli-{uuid.uuid4()}"
    result = run(
        lambda b: events.send_event(
            b, type_, contact, event_id=eid, intent=intent, return_date=back, name=name, task_id=task_id, outcome=outcome
        ),
        obj.settings,
    )
    if result.status == "unmatched":
        emit(result, as_json=obj.json, table=lambda: f"event {eid} recorded, but no contact {contact!r} exists: kept as unmatched")
        raise typer.Exit(NOT_FOUND)
    emit(
        result,
        as_json=obj.json,
        table=lambda: (
            f"event {eid} delivered to {len(result.delivered_to)} enrollment(s)"
            + (f"; {len(result.not_running)} no longer running" if result.not_running else "")
            + (" (already received before)" if result.duplicate else "")
        ),
    )
