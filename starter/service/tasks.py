"""Rep tasks: the queue per owner, and completing or skipping a task (the enrollment waiting
for it moves on)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field
from sqlmodel import Session, func, select

from cadence.calendar import zone
from cadence.events import EventKind
from models import audit
from models.contacts import as_uuid
from models.tables import Contact, Task
from starter.errors import Conflict, NotFound
from starter.service import events
from starter.service.backend import Backend

OPEN_TASKS = ("open", "overdue")


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
    due_local: str | None = Field(default=None, description="The due time on the contact's clock, e.g. 'Tue 01 Dec 09:00 America/Chicago'")


class TaskPage(BaseModel):
    """One page of tasks."""

    items: list[TaskOut]
    total: int


def task_out(row: Task, timezone: str | None = None) -> TaskOut:
    """The caller's view of a task (with its due time on the contact's clock)."""
    return TaskOut(
        **{**row.model_dump(), "id": str(row.id), "enrollment_id": str(row.enrollment_id), "contact_id": str(row.contact_id)},
        due_local=local_due(row.due_at, timezone),
    )


def local_due(due: dt.datetime | None, timezone: str | None) -> str | None:
    """A due time as the contact's clock shows it (UTC when the contact has no zone)."""
    if due is None:
        return None
    name = timezone or "UTC"
    return f"{due.astimezone(zone(name)):%a %d %b %H:%M} {name}"


async def list_tasks(
    backend: Backend, *, owner: str | None = None, status: str | None = None, limit: int = 100, offset: int = 0
) -> TaskPage:
    """Tasks, soonest due first; open and overdue ones unless a status is asked for."""

    def load(session: Session) -> TaskPage:
        conditions: list[Any] = [Task.owner_id == owner] if owner else []
        conditions.append(Task.status == status if status else Task.status.in_(OPEN_TASKS))  # type: ignore[attr-defined]
        total = session.exec(select(func.count()).select_from(Task).where(*conditions)).one()
        query = (
            select(Task, Contact.timezone)
            .join(Contact, Contact.id == Task.contact_id)  # type: ignore[arg-type]
            .where(*conditions)
            .order_by(Task.due_at, Task.id)  # type: ignore[arg-type]
            .limit(limit)
            .offset(offset)
        )
        return TaskPage(items=[task_out(r, tz) for r, tz in session.exec(query).all()], total=total)

    return await backend.db(load)


async def close_task(backend: Backend, task_id: str, *, actor: str, outcome: str, skipped: bool) -> TaskOut:
    """Complete or skip a task (audited) and let its enrollment move on."""

    def update(session: Session) -> tuple[Task, str | None]:
        ref = as_uuid(task_id)
        row = session.exec(select(Task).where(Task.id == ref).with_for_update()).first() if ref else None
        if row is None:
            raise NotFound(f"task {task_id!r} not found", {"field": "task_id"})
        if row.status not in OPEN_TASKS:
            raise Conflict(f"the task is already {row.status}")
        row.status = "skipped" if skipped else "completed"
        row.outcome = outcome
        row.completed_by = actor
        row.completed_at = dt.datetime.now(dt.UTC)
        session.add(row)
        audit.append(
            session,
            actor=actor,
            action="task_skipped" if skipped else "task_completed",
            enrollment_id=row.enrollment_id,
            contact_id=row.contact_id,
            reason=outcome,
            details={"task_id": str(row.id), "step_id": row.step_id},
        )
        contact = session.get(Contact, row.contact_id)
        return row, contact.timezone if contact else None

    row, timezone = await backend.db(update)
    # The task row is the record; the event lets the waiting enrollment move on (applied once).
    await events.send_event(
        backend,
        EventKind.task_completed,
        str(row.contact_id),
        event_id=f"task:{row.id}:{row.status}",
        task_id=str(row.id),
        outcome=outcome,
        source="tasks",
    )
    return task_out(row, timezone)
