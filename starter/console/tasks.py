"""The task queue: reps' open and overdue manual steps (calls, LinkedIn, QBR prep), soonest
due first, and marking one done (with its outcome) or skipped, so the enrollment moves on."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import Query, Request, Response

from starter.console.pages import ConsoleError, backend_of, console_router, redirect, render
from starter.console.session import Action, Viewer
from starter.errors import CadenceError
from starter.service import overviews
from starter.service import tasks as task_service

router = console_router()
DONE = {"completed": "Task marked done; the enrollment moves on.", "skipped": "Task skipped; the enrollment moves on."}


async def tasks_page(
    request: Request, owner: str | None, *, status: int = 200, error: str | None = None, notice: str | None = None
) -> Response:
    """Render the queue, optionally for one owner."""
    data = await overviews.task_queue(backend_of(request), owner)
    return render(request, "tasks.html", status=status, section="tasks", owner=owner or "", error=error, notice=notice, **data)


@router.get("/tasks")
async def tasks(
    request: Request,
    user: Viewer,
    owner: Annotated[str | None, Query(max_length=100)] = None,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    """Open and overdue tasks, soonest due first (optionally one owner's)."""
    return await tasks_page(request, owner or None, notice=DONE.get(done or ""))


async def _finish(request: Request, task_id: str, form: Action, *, skipped: bool) -> Response:
    owner = form.fields.get("owner", "")[:100] or None
    try:
        if skipped:
            outcome = form.text("reason", label="A reason", max_length=500) or "skipped"
        else:
            outcome = form.text("outcome", label="The outcome", max_length=500) or "completed"
        await task_service.close_task(backend_of(request), task_id, actor=form.user.actor, outcome=outcome, skipped=skipped)
    except (ConsoleError, CadenceError) as err:
        return await tasks_page(request, owner, status=err.status, error=err.message)
    query = urlencode({**({"owner": owner} if owner else {}), "done": "skipped" if skipped else "completed"})
    return redirect(f"/console/tasks?{query}")


@router.post("/tasks/{task_id}/complete")
async def complete(request: Request, task_id: str, form: Action) -> Response:
    """Mark a task done with its outcome ("connected", "left voicemail")."""
    return await _finish(request, task_id, form, skipped=False)


@router.post("/tasks/{task_id}/skip")
async def skip(request: Request, task_id: str, form: Action) -> Response:
    """Skip a task, with a reason."""
    return await _finish(request, task_id, form, skipped=True)
