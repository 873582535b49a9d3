"""`cadence preview`: what a contact will receive, and when, as the engine will do it; and
`cadence forecast`: the rep tasks each owner will get per week.

    cadence preview outbound-12-day --contact crm-42             # a stored contact, not enrolled
    cadence preview outbound-12-day --timezone Asia/Tokyo --country JP --consent sms
    cadence preview outbound-12-day --contact crm-42 --version draft --reply day-4-cold-email:positive
    cadence preview --enrollment ENROLLMENT_ID                     # what happens next
    cadence preview outbound-12-day --contact crm-42 --ics calendar.ics
    cadence forecast --owner csm-7 --weeks 12                     # tasks per week vs the allowance

A table for people, `--json` for machines, `--ics FILE` for a calendar. Writes nothing.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError

from starter.cli.common import INVALID, Context, emit, fail, guarded, make_table, out, parse_when, run
from starter.service import forecast, previews
from starter.service.forecast import ForecastOut
from starter.service.previews import InlineContact, PreviewOut, PreviewRequest, ReplyWhatIf, WhatIfs


def _table(result: PreviewOut) -> Any:
    title = (
        f"{result.cadence_key} {result.version} for {result.contact_id or 'a sample contact'} ({result.timezone}): "
        f"{result.counts.get('touch', 0)} touches, {result.counts.get('task', 0)} tasks, "
        f"{result.counts.get('deferred', 0)} deferred, {result.counts.get('skipped', 0)} skipped; ends {result.outcome}"
    )
    return make_table(
        title,
        ["local time", "UTC", "what", "step", "channel", "template", "why"],
        [
            (
                i.label,
                f"{i.at:%Y-%m-%d %H:%M}",
                i.kind,
                i.step_id,
                i.channel,
                f"{i.template} ({i.variant})" if i.variant else i.template,
                (f"[{i.code}] " if i.code and i.kind != "ended" else "") + (i.reason or ""),
            )
            for i in result.items
        ],
    )


def _replies(values: list[str]) -> list[ReplyWhatIf]:
    found = []
    for value in values:
        step, _, intent = value.partition(":")
        try:
            found.append(ReplyWhatIf(step_id=step, intent=intent or "positive"))
        except ValidationError as exc:
            fail(
                f"--reply {value!r}: use STEP:INTENT with INTENT positive, negative, neutral or out_of_office ({exc.errors()[0]['msg']})",
                code=INVALID,
            )
    return found


def register(app: typer.Typer) -> None:
    """Add `cadence preview` to the top-level app."""

    @app.command("preview")
    @guarded
    def preview(
        ctx: typer.Context,
        cadence: str | None = typer.Argument(None, help="Cadence key or id (not with --enrollment)"),
        contact: str | None = typer.Option(None, "--contact", help="A stored contact (id or external id)"),
        enrollment: str | None = typer.Option(None, "--enrollment", help="What happens next in this running enrollment"),
        version: str = typer.Option("published", help="published, draft or a version number"),
        timezone: str | None = typer.Option(None, help="A sample contact's IANA time zone (instead of --contact)"),
        country: str | None = typer.Option(None, help="A sample contact's country (ISO 3166 alpha-2)"),
        consent: list[str] = typer.Option([], "--consent", help="A sample contact's consents: sms, call (repeatable)"),
        start_at: str | None = typer.Option(None, "--start-at", help="When the enrollment would start (ISO 8601 with a zone)"),
        days: int = typer.Option(previews.DEFAULT_HORIZON_DAYS, "--days", help="How far ahead to look"),
        reply: list[str] = typer.Option([], "--reply", help="What if the contact replies after STEP: STEP:INTENT (repeatable)"),
        ics: Path | None = typer.Option(None, "--ics", help="Also write the touches and tasks to this iCalendar file"),
    ) -> None:
        """Every touch and task with its time in the contact's zone and UTC, and every deferral
        and skip with the gate's reason, as the engine will do it."""
        obj: Context = ctx.obj
        try:
            if enrollment is not None:
                if cadence is not None or contact is not None:
                    fail("--enrollment previews a running enrollment: give no cadence or --contact with it", code=INVALID, as_json=obj.json)
                what_ifs = WhatIfs(horizon_days=days, replies=_replies(reply))
                result = run(lambda b: previews.preview_enrollment(b, enrollment, what_ifs), obj.settings)
            else:
                if cadence is None:
                    fail("give a cadence (or --enrollment ID)", code=INVALID, as_json=obj.json)
                sample = None
                if contact is None:
                    sample = InlineContact(timezone=timezone, country=country, consent=dict.fromkeys(consent, True))
                elif timezone or country or consent:
                    fail(
                        "--timezone, --country and --consent describe a sample contact: not with --contact", code=INVALID, as_json=obj.json
                    )
                request = PreviewRequest(
                    cadence=cadence,
                    version=int(version) if version.isdigit() else version,
                    contact_id=contact,
                    contact=sample,
                    start_at=parse_when(start_at),
                    horizon_days=days,
                    replies=_replies(reply),
                )
                result = run(lambda b: previews.preview(b, request), obj.settings)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "input"
            fail(f"{where}: {first['msg']}", code=INVALID, as_json=obj.json)
        if ics is not None:
            ics.write_text(previews.ics(result), newline="")
        emit(result, as_json=obj.json, table=lambda: _table(result))
        if ics is not None and not obj.json:
            out.print(f"calendar written to {ics}")


def register_forecast(app: typer.Typer) -> None:
    """Add `cadence forecast` to the top-level app."""

    @app.command("forecast")
    @guarded
    def capacity(
        ctx: typer.Context,
        owner: str | None = typer.Option(None, "--owner", help="One owner only"),
        weeks: int = typer.Option(forecast.DEFAULT_WEEKS, "--weeks", help="How many weeks ahead (1-26)"),
    ) -> None:
        """The rep tasks each owner will get per week from every running enrollment, against
        their weekly allowance (weeks over it in red)."""
        obj: Context = ctx.obj
        result = run(lambda b: forecast.forecast(b, owner=owner, weeks=weeks), obj.settings)
        emit(result, as_json=obj.json, table=lambda: _forecast_table(result))


def _forecast_table(result: ForecastOut) -> Any:
    title = f"rep tasks per week from {result.start} ({result.enrollments} running enrollments)"
    if result.unreadable:
        title += f"; {result.unreadable} did not answer and are left out"
    columns = ["owner", "allowance", *(f"{w:%d %b}" for w in (result.start + dt.timedelta(weeks=i) for i in range(result.weeks)))]
    rows = []
    for owner in result.owners:
        cells = [
            f"[bold red]{w.total}/{w.asked}[/]" if w.over else f"{w.total}" + (f"/{w.asked}" if w.asked != w.total else "")
            for w in owner.weeks
        ]
        rows.append((owner.owner_id or "(no owner)", owner.capacity if owner.capacity is not None else "-", *cells))
    table = make_table(title, columns, rows)
    table.caption = "each week: tasks due (/ asked for before levelling moved some on); red: more asked than the allowance"
    return table
