"""The task queue: reps' open and overdue manual steps (calls, LinkedIn, QBR prep), soonest
due first, and marking one done (with its outcome) or skipped, so the enrollment moves on."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Query, Request, Response
from sqlmodel import Session, func, select

from models.tables import Contact, Task
from starter.api.routes.tasks import close_task
from starter.console.enrollments import contact_label
from starter.console.pages import ConsoleError, client_of, console_router, db, redirect, render
from starter.console.session import Action, Viewer
from starter.errors import CadenceError

router = console_router()
LIMIT = 200
DONE = {"completed": "Task marked done; the enrollment moves on.", "skipped": "Task skipped; the enrollment moves on."}


def _load(session: Session, owner: str | None) -> dict[str, Any]:
    conditions: list[Any] = [Task.status.in_(("open", "overdue"))]  # type: ignore[attr-defined]
    if owner:
        conditions.append(Task.owner_id == owner)
    total = session.exec(select(func.count()).select_from(Task).where(*conditions)).one()
    rows = session.exec(select(Task).where(*conditions).order_by(Task.due_at.asc().nulls_last(), Task.created_at, Task.id).limit(LIMIT)).all()  # type: ignore[union-attr,arg-type]
    ids = {t.contact_id for t in rows}
    people = {c.id: contact_label(c) for c in session.exec(select(Contact).where(Contact.id.in_(ids))).all()} if ids else {}  # type: ignore[attr-defined]
    owners = session.exec(select(Task.owner_id).where(Task.status.in_(("open", "overdue")), Task.owner_id.is_not(None)).distinct()).all()  # type: ignore[attr-defined,union-attr]
    now = dt.datetime.now(dt.UTC)
    tasks = [{"row": t, "contact": people.get(t.contact_id, str(t.contact_id)),
              "overdue": t.status == "overdue" or (t.due_at is not None and t.due_at < now)} for t in rows]
    return {"tasks": tasks, "total": total, "owners": sorted(o for o in owners if o)}


async def tasks_page(request: Request, owner: str | None, *, status: int = 200, error: str | None = None, notice: str | None = None) -> Response:
    """Render the queue, optionally for one owner."""
    data = await db(request, lambda s: _load(s, owner))
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
        await close_task(client_of(request), task_id, actor=form.user.actor, outcome=outcome, skipped=skipped)
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
