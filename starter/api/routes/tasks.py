"""Rep tasks: the queue per owner, and completing or skipping a task (the enrollment moves on)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session, func, select

from models import audit
from models.contacts import as_uuid
from models.tables import Task
from starter.api.deps import ClientDep, Operator, Reader
from starter.errors import Conflict, NotFound

router = APIRouter(prefix="/v1/tasks", tags=["tasks"])


class TaskOut(BaseModel):
    """A rep task as the queue shows it."""

    id: str
    enrollment_id: str
    contact_id: str
    owner_id: str | None
    step_id: str
    kind: str
    title: str
    instructions: str | None
    status: str
    outcome: str | None
    due_at: dt.datetime | None
    sla_at: dt.datetime | None
    escalated_to: str | None
    completed_by: str | None
    completed_at: dt.datetime | None
    created_at: dt.datetime


class TaskPage(BaseModel):
    """One page of tasks."""

    items: list[TaskOut]
    total: int


def task_out(row: Task) -> TaskOut:
    """The API shape of a task."""
    return TaskOut(**{**row.model_dump(), "id": str(row.id), "enrollment_id": str(row.enrollment_id), "contact_id": str(row.contact_id)})


@router.get("", response_model=TaskPage)
async def list_tasks(
    client: ClientDep,
    caller: Reader,
    owner: Annotated[str | None, Query(max_length=100)] = None,
    status: Literal["open", "overdue", "completed", "skipped"] | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> TaskPage:
    """Tasks, soonest due first; open and overdue by default."""

    def load(session: Session) -> TaskPage:
        conditions = [Task.owner_id == owner] if owner else []
        conditions.append(Task.status == status if status else Task.status.in_(("open", "overdue")))  # type: ignore[attr-defined]
        total = session.exec(select(func.count()).select_from(Task).where(*conditions)).one()
        rows = session.exec(select(Task).where(*conditions).order_by(Task.due_at, Task.id).limit(limit).offset(offset)).all()  # type: ignore[arg-type]
        return TaskPage(items=[task_out(r) for r in rows], total=total)

    return await client._db(load)


class CompleteBody(BaseModel):
    """What came of the task."""

    model_config = ConfigDict(extra="forbid")
    outcome: str = Field(default="completed", min_length=1, max_length=500, description="e.g. connected, left voicemail")


class SkipBody(BaseModel):
    """Why the task was skipped."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(default="skipped", min_length=1, max_length=500)


async def close_task(client: ClientDep, task_id: str, *, actor: str, outcome: str, skipped: bool) -> TaskOut:
    """Complete or skip a task and let its enrollment move on (shared with the console)."""
    def update(session: Session) -> Task:
        ref = as_uuid(task_id)
        row = session.exec(select(Task).where(Task.id == ref).with_for_update()).first() if ref else None
        if row is None:
            raise NotFound(f"task {task_id!r} not found", {"field": "task_id"})
        if row.status not in ("open", "overdue"):
            raise Conflict(f"the task is already {row.status}")
        row.status = "skipped" if skipped else "completed"
        row.outcome = outcome
        row.completed_by = actor
        row.completed_at = dt.datetime.now(dt.UTC)
        session.add(row)
        audit.append(
            session, actor=actor, action="task_skipped" if skipped else "task_completed", enrollment_id=row.enrollment_id,
            contact_id=row.contact_id, reason=outcome, details={"task_id": str(row.id), "step_id": row.step_id},
        )
        return row

    row = await client._db(update)
    # The task row is the record; the signal lets the waiting enrollment move on (applied once).
    await client.send_event(
        "task_completed", str(row.contact_id), event_id=f"task:{row.id}:{row.status}", task_id=str(row.id), outcome=outcome, source="tasks"
    )
    return task_out(row)


@router.post("/{task_id}/complete", response_model=TaskOut)
async def complete(task_id: str, client: ClientDep, caller: Operator, body: CompleteBody | None = None) -> TaskOut:
    """Mark the task done; the enrollment waiting for it continues."""
    return await close_task(client, task_id, actor=caller.actor, outcome=(body or CompleteBody()).outcome, skipped=False)


@router.post("/{task_id}/skip", response_model=TaskOut)
async def skip(task_id: str, client: ClientDep, caller: Operator, body: SkipBody | None = None) -> TaskOut:
    """Skip the task; the enrollment waiting for it continues."""
    return await close_task(client, task_id, actor=caller.actor, outcome=(body or SkipBody()).reason, skipped=True)


