"""Rep tasks: the queue per owner, and completing or skipping a task (the enrollment moves on)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from starter.api.deps import BackendDep, Offset, Operator, Reader
from starter.api.schemas import CompleteBody, SkipBody
from starter.service import tasks
from starter.service.tasks import TaskOut, TaskPage

router = APIRouter(prefix="/v1/tasks", tags=["tasks"])


@router.get("", response_model=TaskPage)
async def list_tasks(
    backend: BackendDep,
    caller: Reader,
    owner: Annotated[str | None, Query(max_length=100)] = None,
    status: Literal["open", "overdue", "completed", "skipped"] | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Offset = 0,
) -> TaskPage:
    """Tasks, soonest due first; open and overdue by default."""
    return await tasks.list_tasks(backend, owner=owner, status=status, limit=limit, offset=offset)


@router.post("/{task_id}/complete", response_model=TaskOut)
async def complete(task_id: str, backend: BackendDep, caller: Operator, body: CompleteBody | None = None) -> TaskOut:
    """Mark the task done; the enrollment waiting for it continues."""
    return await tasks.close_task(backend, task_id, actor=caller.actor, outcome=(body or CompleteBody()).outcome, skipped=False)


@router.post("/{task_id}/skip", response_model=TaskOut)
async def skip(task_id: str, backend: BackendDep, caller: Operator, body: SkipBody | None = None) -> TaskOut:
    """Skip the task; the enrollment waiting for it continues."""
    return await tasks.close_task(backend, task_id, actor=caller.actor, outcome=(body or SkipBody()).reason, skipped=True)
