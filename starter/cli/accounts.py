"""`cadence accounts show|pause|resume`: a whole customer at once (a CS lead pausing every
enrollment of an account during a renewal negotiation, say)."""

from __future__ import annotations

import typer
from rich.table import Table

from starter.cli.common import INVALID, Context, actor, emit, fail, guarded, make_table, parse_when, run
from starter.service import commands, contacts
from starter.service.commands import AccountCommandResult
from starter.service.contacts import AccountPause

app = typer.Typer(no_args_is_help=True)


def _result_table(verb: str, result: AccountCommandResult) -> Table:
    return make_table(
        f"{verb} {result.changed} enrollment(s) of account {result.account_id}; {result.unchanged} unchanged",
        ["enrollment", "status", "problem"],
        [(o.enrollment_id, o.status, o.error) for o in result.enrollments],
    )


@app.command("show")
@guarded
def show(ctx: typer.Context, account: str = typer.Argument(..., help="Account id or external id")) -> None:
    """The account, how many open enrollments its contacts have, and its pause."""
    obj: Context = ctx.obj
    found = run(lambda backend: contacts.get_account(backend, account), obj.settings)
    emit(
        found,
        as_json=obj.json,
        table=lambda: make_table(
            None,
            ["", ""],
            [
                ("account", found.id),
                ("external id", found.external_id),
                ("name", found.name),
                ("industry", found.industry),
                ("tier", found.tier),
                ("owner", found.owner_id),
                ("open enrollments", found.open_enrollments),
                ("paused", _pause_line(found.pause) if found.pause else "no"),
            ],
        ),
    )


@app.command("pause")
@guarded
def pause(
    ctx: typer.Context,
    account: str = typer.Argument(..., help="Account id or external id"),
    reason: str | None = typer.Option(None, help="Why (required; recorded on every enrollment)"),
    until: str | None = typer.Option(None, help="Resume by itself at this ISO 8601 time"),
) -> None:
    """Pause the account: every open enrollment of its contacts, and new ones start paused."""
    obj: Context = ctx.obj
    if not reason:
        fail("pause needs --reason", code=INVALID, as_json=obj.json)
    when = parse_when(until)
    result = run(lambda backend: commands.pause_account(backend, account, actor=actor(), reason=reason, until=when), obj.settings)
    emit(result, as_json=obj.json, table=lambda: _result_table("paused", result))


@app.command("resume")
@guarded
def resume(
    ctx: typer.Context,
    account: str = typer.Argument(..., help="Account id or external id"),
    reason: str | None = typer.Option(None, help="An optional note"),
) -> None:
    """Resume every paused enrollment of the account's contacts."""
    obj: Context = ctx.obj
    result = run(lambda backend: commands.resume_account(backend, account, actor=actor(), reason=reason), obj.settings)
    emit(result, as_json=obj.json, table=lambda: _result_table("resumed", result))


def _pause_line(pause: AccountPause) -> str:
    until = f" until {pause.until:%Y-%m-%d %H:%M} UTC" if pause.until else ""
    return f"by {pause.actor} since {pause.at:%Y-%m-%d %H:%M} UTC{until}: {pause.reason}"
