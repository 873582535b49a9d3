"""Live edits and bulk operations on the command line:

    cadence cadences draft playbooks/outbound.yaml          # validate and keep as the draft
    cadence cadences diff outbound                          # published -> draft, as sentences
    cadence cadences publish outbound --reason "..."        # the draft becomes what new enrollments get
    cadence cadences publish outbound --version 3           # roll back: publish v3 again
    cadence cadences migrate outbound --preview --reason "..."   # where each running enrollment would land
    cadence cadences migrate outbound --apply OPERATION_ID  # apply that preview, with a progress bar
    cadence enrollments pause --where cadence=outbound --where owner=rep-7 --reason "..."
    cadence operations show OPERATION_ID                    # progress, and the items: `items`

A bulk pause, resume or stop previews first (the count and the first rows), asks before it
applies (`--yes` skips the question, `--preview` stops there), then follows the operation
to its end with a progress bar.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Literal

import typer
from pydantic import ValidationError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from starter.cli.common import INVALID, NOT_FOUND, Context, actor, emit, fail, guarded, make_table, out, parse_when, run
from starter.errors import Invalid
from starter.service import operations, publishing
from starter.service.backend import Backend
from starter.service.cadences import parse
from starter.service.operations import OperationFilter, OperationOut, OperationRequest
from starter.service.publishing import Side

enrollments_app = typer.Typer(no_args_is_help=True)
operations_app = typer.Typer(no_args_is_help=True)

# --where KEY=VALUE, as the filter's fields.
WHERE_KEYS = {
    "cadence": "cadence_id",
    "version": "versions",
    "status": "status",
    "owner": "owner",
    "account": "account_id",
    "persona": "persona",
    "industry": "industry",
    "tier": "tier",
    "enrolled-after": "enrolled_after",
    "enrolled-before": "enrolled_before",
}


def parse_where(items: list[str]) -> OperationFilter:
    """`--where cadence=outbound --where version=1,2` as a filter (exit 5 naming the bad one)."""
    fields: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        name = WHERE_KEYS.get(key.strip())
        if not sep or name is None or not value.strip():
            fail(f"--where {item!r}: use KEY=VALUE with KEY one of {', '.join(WHERE_KEYS)}", code=INVALID)
        value = value.strip()
        if name == "versions":
            if not all(part.strip().isdigit() for part in value.split(",")):
                fail(f"--where {item!r}: version takes numbers, e.g. version=1,2", code=INVALID)
            fields[name] = [int(part) for part in value.split(",")]
        elif name in ("enrolled_after", "enrolled_before"):
            fields[name] = parse_when(value)
        else:
            fields[name] = value
    try:
        return OperationFilter.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        fail(f"--where {first['loc'][0]}: {first['msg']}", code=INVALID)


def _summary(op: OperationOut) -> Any:
    outcomes = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in op.outcomes.items() if n)
    title = f"{op.action} of {op.total} enrollment(s)" + (f" to v{op.to_version}" if op.to_version else "") + f": {outcomes}"
    return make_table(
        title,
        ["contact", "from", "outcome", "step", "due", "what happens"],
        [(i.contact, f"v{i.from_version}", i.outcome, i.step_id, i.due_at, i.sentence) for i in op.items[:20]],
    )


async def _follow(backend: Backend, op: OperationOut, as_json: bool) -> OperationOut:
    """Wait for the operation to end, with a progress bar for people."""
    current = op
    if as_json:
        while current.status == "applying":
            await asyncio.sleep(0.5)
            current = await operations.get_operation(backend, op.id)
        return current
    columns = (TextColumn(f"{op.action}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=out) as progress:
        task = progress.add_task(op.action, total=op.total)
        while True:
            progress.update(task, completed=op.total - current.progress.get("pending", 0))
            if current.status != "applying":
                return current
            await asyncio.sleep(0.5)
            current = await operations.get_operation(backend, op.id)


def _result(done: OperationOut) -> str:
    counts = ", ".join(f"{n} {status}" for status, n in done.progress.items() if n)
    return f"operation {done.id} {done.status}: {counts}"


def _apply_and_follow(obj: Context, operation_id: str) -> OperationOut:
    async def go(backend: Backend) -> OperationOut:
        started = await operations.apply(backend, operation_id, actor=actor())
        return await _follow(backend, started, obj.json)

    return run(go, obj.settings)


def register(cadences: typer.Typer) -> None:
    """Add the editing commands to `cadence cadences`."""

    @cadences.command("draft")
    @guarded
    def draft(
        ctx: typer.Context,
        file: Path = typer.Argument(..., help="A definition (YAML or JSON; templates inline or from the shipped folder)"),
        cadence: str | None = typer.Option(None, help="The cadence (default: the definition's key)"),
    ) -> None:
        """Validate a definition and keep it as the cadence's draft (nothing runs from it)."""
        obj: Context = ctx.obj
        if not file.is_file():
            fail(f"{file}: no such file", code=NOT_FOUND, as_json=obj.json)
        text = file.read_text(encoding="utf-8")
        key = cadence or _key_of(text)
        saved = run(lambda b: publishing.save_draft(b, key, text, actor=actor()), obj.settings)
        emit(saved, as_json=obj.json, table=lambda: "\n".join([f"draft of {saved.key} saved ({saved.content_hash[:12]}):", *saved.changes]))

    @cadences.command("diff")
    @guarded
    def diff(
        ctx: typer.Context,
        cadence: str = typer.Argument(..., help="Key or id"),
        before: str = typer.Option("published", "--from", help="A version number, draft or published"),
        after: str = typer.Option("draft", "--to", help="A version number, draft or published"),
    ) -> None:
        """What changed between two versions (or the draft), as sentences or --json."""
        obj: Context = ctx.obj
        result = run(lambda b: publishing.compare(b, cadence, _side(before), _side(after)), obj.settings)
        emit(result, as_json=obj.json, table=lambda: "\n".join([f"{result.key}: {result.before} -> {result.after}", *result.text]))

    @cadences.command("publish")
    @guarded
    def publish(
        ctx: typer.Context,
        cadence: str = typer.Argument(..., help="Key or id"),
        version: int | None = typer.Option(None, help="Publish this version again (a rollback); default: the draft"),
        reason: str | None = typer.Option(None, help="Why (recorded)"),
    ) -> None:
        """Make the draft (or an earlier version) what new enrollments get."""
        obj: Context = ctx.obj
        done = run(lambda b: publishing.publish(b, cadence, actor=actor(), version=version, reason=reason), obj.settings)
        was = f" (was v{done.previous_version})" if done.previous_version else ""
        follow = f"; running enrollments follow: operation {done.follow_operation_id}" if done.follow_operation_id else ""
        emit(done, as_json=obj.json, table=lambda: f"{done.key} v{done.version} published{was}{follow}")

    @cadences.command("follow")
    @guarded
    def follow(
        ctx: typer.Context,
        cadence: str = typer.Argument(..., help="Key or id"),
        on: bool = typer.Option(..., "--on/--off", help="Running enrollments move to each newly published version, or stay pinned"),
    ) -> None:
        """Whether running enrollments follow each published version."""
        obj: Context = ctx.obj
        now = run(lambda b: publishing.set_follow(b, cadence, on, actor=actor()), obj.settings)
        emit({"follow_published": now}, as_json=obj.json, table=lambda: "follows published versions" if now else "pinned")

    @cadences.command("migrate")
    @guarded
    def migrate(
        ctx: typer.Context,
        cadence: str = typer.Argument(..., help="Key or id"),
        preview: bool = typer.Option(False, "--preview", help="Work out where each running enrollment would land"),
        apply: str | None = typer.Option(None, "--apply", metavar="OPERATION", help="Apply a previewed migration"),
        to: int | None = typer.Option(None, help="The version to move to (default: the published one)"),
        where: list[str] = typer.Option([], help="Only these: KEY=VALUE (version, status, owner, account, ...)"),
        reason: str | None = typer.Option(None, help="Why (required to preview)"),
        rate: float = typer.Option(20.0, help="Enrollments migrated per second"),
        spread: float = typer.Option(10.0, help="Steps made due now, per second"),
    ) -> None:
        """Move running enrollments to another version: --preview first, then --apply it."""
        obj: Context = ctx.obj
        if preview == (apply is not None):
            fail("give --preview or --apply OPERATION", code=INVALID, as_json=obj.json)
        if apply is not None:
            done = _apply_and_follow(obj, apply)
            emit(done, as_json=obj.json, table=lambda: _result(done))
            return
        if not reason:
            fail("a migration needs --reason", code=INVALID, as_json=obj.json)
        filters = parse_where(where).model_copy(update={"cadence_id": cadence})
        request = _request("migrate", filters, reason, to_version=to, rate_per_second=rate, spread_per_second=spread)
        planned = run(lambda b: operations.preview(b, request, actor=actor()), obj.settings)
        emit(planned, as_json=obj.json, table=lambda: _summary(planned))
        if not obj.json:
            out.print(f"apply it with: cadence cadences migrate {cadence} --apply {planned.id}")

    def bulk(action: Literal["pause", "resume", "stop"]) -> None:
        @enrollments_app.command(action, help=f"{action.capitalize()} every open enrollment that matches --where (previewed first).")
        @guarded
        def handler(
            ctx: typer.Context,
            where: list[str] = typer.Option([], help="KEY=VALUE: cadence, version, status, owner, account, persona, tier, ..."),
            reason: str | None = typer.Option(None, help="Why (required; recorded on each enrollment)"),
            until: str | None = typer.Option(None, help="pause only: resume by itself at this ISO 8601 time"),
            preview: bool = typer.Option(False, "--preview", help="Only show what it would do"),
            yes: bool = typer.Option(False, "--yes", "-y", help="Apply without asking"),
            rate: float = typer.Option(20.0, help="Enrollments changed per second"),
        ) -> None:
            obj: Context = ctx.obj
            if not where:
                fail("give at least one --where KEY=VALUE (a bulk command never means every enrollment)", code=INVALID, as_json=obj.json)
            if not reason:
                fail(f"{action} needs --reason", code=INVALID, as_json=obj.json)
            request = _request(action, parse_where(where), reason, until=parse_when(until), rate_per_second=rate)
            planned = run(lambda b: operations.preview(b, request, actor=actor()), obj.settings)
            if preview or not obj.json:  # one JSON document per command: the operation as it ends
                emit(planned, as_json=obj.json, table=lambda: _summary(planned))
            if preview:
                return
            if not yes and not obj.json and not typer.confirm(f"{action} these {planned.total} enrollment(s)?"):
                out.print(f"not applied; apply it later with: cadence operations apply {planned.id}")
                return
            done = _apply_and_follow(obj, planned.id)
            emit(done, as_json=obj.json, table=lambda: _result(done))

    for name in ("pause", "resume", "stop"):
        bulk(name)


def _request(action: str, filters: OperationFilter, reason: str, **extra: Any) -> OperationRequest:
    try:
        return OperationRequest.model_validate({"action": action, "filter": filters, "reason": reason, **extra})
    except ValidationError as exc:
        first = exc.errors()[0]
        raise Invalid(f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}", {"field": first["loc"][0]}) from None


def _side(value: str) -> Side:
    if value in ("draft", "published"):
        return value  # type: ignore[return-value]
    if value.isdigit():
        return int(value)
    fail(f"{value!r} is not a version number, draft or published", code=INVALID)


def _key_of(text: str) -> str:
    return parse(text).definition.key


@operations_app.command("list")
@guarded
def list_operations(
    ctx: typer.Context,
    cadence: str | None = typer.Option(None, help="Key or id"),
    status: str | None = typer.Option(None, help="previewed, applying, done, expired"),
) -> None:
    """Bulk operations, newest first."""
    obj: Context = ctx.obj
    found = run(lambda b: operations.list_operations(b, cadence=cadence, status=status), obj.settings)
    emit(
        found,
        as_json=obj.json,
        table=lambda: make_table(
            "Operations",
            ["id", "action", "cadence", "status", "total", "applied", "stale", "by", "reason"],
            [
                (o.id, o.action, o.cadence_key, o.status, o.total, o.progress["applied"], o.progress["stale"], o.created_by, o.reason)
                for o in found
            ],
        ),
    )


@operations_app.command("show")
@guarded
def show(ctx: typer.Context, operation: str = typer.Argument(..., help="Operation id")) -> None:
    """An operation: what it was previewed to do, and how far it got."""
    obj: Context = ctx.obj
    found = run(lambda b: operations.get_operation(b, operation), obj.settings)
    emit(found, as_json=obj.json, table=lambda: f"{_result(found)} (previewed: {found.outcomes}; by {found.created_by}: {found.reason})")


@operations_app.command("items")
@guarded
def items(
    ctx: typer.Context,
    operation: str = typer.Argument(..., help="Operation id"),
    status: str | None = typer.Option(None, help="pending, applied, stale, skipped, failed"),
    limit: int = typer.Option(100, min=1, max=500),
    offset: int = typer.Option(0, min=0),
) -> None:
    """The enrollments of an operation: what the preview said, and what happened."""
    obj: Context = ctx.obj
    page = run(lambda b: operations.list_items(b, operation, status=status, limit=limit, offset=offset), obj.settings)
    emit(
        page,
        as_json=obj.json,
        table=lambda: make_table(
            f"{page.total} item(s)",
            ["enrollment", "contact", "outcome", "status", "what", "message"],
            [(i.enrollment_id, i.contact, i.outcome, i.status, i.sentence, i.message) for i in page.items],
        ),
    )


@operations_app.command("apply")
@guarded
def apply_operation(ctx: typer.Context, operation: str = typer.Argument(..., help="Operation id")) -> None:
    """Apply a previewed operation and follow it to its end."""
    obj: Context = ctx.obj
    done = _apply_and_follow(obj, operation)
    emit(done, as_json=obj.json, table=lambda: _result(done))
