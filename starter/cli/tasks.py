"""`cadence tasks list|complete|skip`: the rep task queue from the terminal."""

from __future__ import annotations

import typer
from rich.table import Table

from starter.cli.common import Context, actor, emit, guarded, make_table, run
from starter.service import tasks
from starter.service.tasks import TaskOut

app = typer.Typer(no_args_is_help=True)


def _task_table(task: TaskOut) -> Table:
    return make_table(
        None,
        ["", ""],
        [("task", task.id), ("title", task.title), ("status", task.status), ("outcome", task.outcome), ("enrollment", task.enrollment_id)],
    )


@app.command("list")
@guarded
def list_tasks(
    ctx: typer.Context,
    owner: str | None = typer.Option(None, help="Only this owner's tasks"),
    status: str | None = typer.Option(None, help="open, overdue, completed or skipped (default: open and overdue)"),
    limit: int = typer.Option(100, min=1, max=500),
) -> None:
    """Tasks, soonest due first."""
    obj: Context = ctx.obj
    page = run(lambda backend: tasks.list_tasks(backend, owner=owner, status=status, limit=limit), obj.settings)
    emit(
        page,
        as_json=obj.json,
        table=lambda: make_table(
            f"{page.total} task(s)",
            ["id", "owner", "kind", "title", "due", "status"],
            [(t.id, t.owner_id, t.kind, t.title, t.due_at, t.status) for t in page.items],
        ),
    )


@app.command("complete")
@guarded
def complete(
    ctx: typer.Context, task: str = typer.Argument(..., help="Task id"), outcome: str = typer.Option("completed", help="What came of it")
) -> None:
    """Mark a task done; the enrollment waiting for it moves on."""
    obj: Context = ctx.obj
    done = run(lambda backend: tasks.close_task(backend, task, actor=actor(), outcome=outcome, skipped=False), obj.settings)
    emit(done, as_json=obj.json, table=lambda: _task_table(done))


@app.command("skip")
@guarded
def skip(ctx: typer.Context, task: str = typer.Argument(..., help="Task id"), reason: str = typer.Option("skipped", help="Why")) -> None:
    """Skip a task; the enrollment waiting for it moves on."""
    obj: Context = ctx.obj
    done = run(lambda backend: tasks.close_task(backend, task, actor=actor(), outcome=reason, skipped=True), obj.settings)
    emit(done, as_json=obj.json, table=lambda: _task_table(done))
