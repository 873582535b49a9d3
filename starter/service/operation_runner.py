"""Applying a bulk operation, a batch at a time (what the worker's `apply_operation_batch`
activity runs): each pending item is applied at the operation's rate, by an update of the
enrollment's own workflow, and its result recorded at once, so a batch retried after a
crash carries on with what is still pending.

An item ends as applied, stale (the enrollment changed since the preview: its workflow
refused, and nothing changed), skipped (nothing to do any more: it ended, or is already
paused) or failed. A migration's update carries the operation's id, so one applied just
before a crash is not applied again; a pause, resume or stop carries an update id of its
own for the same reason.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
import uuid
from collections.abc import Callable

import sqlalchemy as sa
from sqlmodel import Session, col, select

from cadence.definition import CadenceBundle
from cadence.migration import Landing
from models import audit
from models.cadences import bundle_of
from models.payloads import MigrateRequest, OperationProgress
from models.tables import CadenceVersion, Enrollment, Operation, OperationItem
from starter.errors import Conflict
from starter.service import commands
from starter.service.backend import Backend
from starter.service.operations import ITEM_STATUSES

log = logging.getLogger("cadence.operations")
CONCURRENCY = 16


async def run_batch(backend: Backend, operation_id: str, limit: int, beat: Callable[[], None]) -> OperationProgress:
    """Apply up to `limit` pending items; done once none is pending (the operation is then
    marked done and audited with its counts)."""
    operation, items = await backend.db(lambda session: _pending(session, operation_id, limit))
    if operation is None:
        return OperationProgress(done=True)
    if items:
        await _apply_all(backend, operation, items, beat)
    return await backend.db(lambda session: _settle(session, operation.id))


def _pending(session: Session, operation_id: str, limit: int) -> tuple[Operation | None, list[OperationItem]]:
    operation = session.get(Operation, uuid.UUID(operation_id))
    if operation is None or operation.status != "applying":
        return None, []
    items = session.exec(
        select(OperationItem)
        .where(OperationItem.operation_id == operation.id, OperationItem.status == "pending")
        .order_by(col(OperationItem.seq))
        .limit(limit)
    ).all()
    session.expunge_all()
    return operation, list(items)


async def _apply_all(backend: Backend, operation: Operation, items: list[OperationItem], beat: Callable[[], None]) -> None:
    """Start one item every 1/rate seconds, at most CONCURRENCY at once."""
    loop = asyncio.get_running_loop()
    interval = 1.0 / operation.rate_per_second
    gate = asyncio.Semaphore(max(1, min(CONCURRENCY, math.ceil(operation.rate_per_second))))
    context = await backend.db(lambda session: _Context.load(session, operation, items))

    async def one(item: OperationItem) -> None:
        async with gate:
            status, message = await apply_item(backend, operation, item, context)
            await backend.db(lambda session: _record(session, item, status, message))
            beat()

    tasks: list[asyncio.Task[None]] = []
    next_at = loop.time()
    for item in items:
        delay = next_at - loop.time()
        while delay > 0:
            await asyncio.sleep(min(delay, 5.0))
            beat()  # a slow rate is not a stuck attempt
            delay = next_at - loop.time()
        next_at = max(next_at, loop.time()) + interval
        await gate.acquire()  # do not run ahead of the slots (the pace is per started item)
        gate.release()
        tasks.append(asyncio.create_task(one(item)))
    await asyncio.gather(*tasks)


class _Context:
    """What the items of one batch share: the target version's definition, and the
    workflow id of each enrollment (read in one query)."""

    def __init__(self, target: CadenceVersion | None, bundle: CadenceBundle | None, workflows: dict[uuid.UUID, str]) -> None:
        self.target = target
        self.bundle = bundle
        self.workflows = workflows

    @classmethod
    def load(cls, session: Session, operation: Operation, items: list[OperationItem]) -> _Context:
        ids = [item.enrollment_id for item in items]
        workflows = dict(session.exec(select(Enrollment.id, Enrollment.workflow_id).where(col(Enrollment.id).in_(ids))).all())
        if operation.to_version_id is None:
            return cls(None, None, workflows)
        target = session.get(CadenceVersion, operation.to_version_id)
        assert target is not None
        session.expunge(target)
        return cls(target, bundle_of(session, target.id), workflows)


async def apply_item(backend: Backend, operation: Operation, item: OperationItem, context: _Context) -> tuple[str, str | None]:
    """Apply one item; returns (status, message). Temporal or Postgres being away raises
    (the batch is retried and the item is still pending)."""
    enrollment_id = str(item.enrollment_id)
    actor = operation.applied_by or operation.created_by
    request_id = f"op:{operation.id}:{enrollment_id}"
    try:
        if operation.action == "migrate":
            return await _migrate(backend, operation, item, context, actor)
        if operation.action == "pause":
            await commands.pause(backend, enrollment_id, actor=actor, reason=operation.reason, until=operation.until, request_id=request_id)
        elif operation.action == "resume":
            await commands.resume(backend, enrollment_id, actor=actor, reason=operation.reason, request_id=request_id)
        else:
            await commands.stop(backend, enrollment_id, actor=actor, reason=operation.reason, request_id=request_id)
    except Conflict as err:
        return "skipped", err.message
    return "applied", None


async def _migrate(backend: Backend, operation: Operation, item: OperationItem, context: _Context, actor: str) -> tuple[str, str | None]:
    preview = item.preview
    target, bundle = context.target, context.bundle
    assert target is not None and bundle is not None
    workflow_id = context.workflows[item.enrollment_id]
    spread = 0.0
    if "due_now_index" in preview and operation.applied_at is not None:
        # Steps made due now are spread from the moment applying began, not bunched per batch.
        due = operation.applied_at + dt.timedelta(seconds=preview["due_now_index"] / operation.spread_per_second)
        spread = max((due - dt.datetime.now(dt.UTC)).total_seconds(), 0.0)
    planned_from = preview.get("planned_from")
    request = MigrateRequest(
        operation_id=str(operation.id),
        actor=actor,
        reason=operation.reason,
        from_version_id=preview["from_version_id"],
        to_version_id=str(target.id),
        to_version_hash=target.content_hash,
        from_version=preview["from_version"],
        to_version=target.version,
        definition=bundle.definition,
        expected=Landing.model_validate(preview["landing"]),
        planned_from=dt.datetime.fromisoformat(planned_from) if planned_from else None,
        spread_seconds=spread,
    )
    try:
        result = await backend.workflows.migrate(workflow_id, request)
    except Conflict as err:
        code = (err.details or {}).get("code") if isinstance(err.details, dict) else None
        return ("stale" if code == "stale" else "skipped"), err.message
    if not result.applied:
        return "applied", "already applied (a retried update)"
    return "applied", result.landing.sentence if result.landing else None


def _record(session: Session, item: OperationItem, status: str, message: str | None) -> None:
    session.execute(
        sa.update(OperationItem)
        .where(
            col(OperationItem.operation_id) == item.operation_id,
            col(OperationItem.enrollment_id) == item.enrollment_id,
            col(OperationItem.status) == "pending",
        )
        .values(status=status, message=message, applied_at=dt.datetime.now(dt.UTC))
    )


def _settle(session: Session, operation_id: uuid.UUID) -> OperationProgress:
    """Counts by status; the operation is done (and audited) when nothing is pending."""
    operation = session.exec(select(Operation).where(Operation.id == operation_id).with_for_update()).one()
    rows = session.exec(
        select(OperationItem.status, sa.func.count()).where(OperationItem.operation_id == operation_id).group_by(col(OperationItem.status))
    ).all()
    counts = {status: dict(rows).get(status, 0) for status in ITEM_STATUSES}
    done = counts["pending"] == 0
    if done and operation.status == "applying":
        operation.status = "done"
        operation.finished_at = dt.datetime.now(dt.UTC)
        session.add(operation)
        session.flush()
        summary = ", ".join(f"{n} {status}" for status, n in counts.items() if n)
        audit.append(
            session,
            actor=operation.applied_by or "system",
            action="operation_finished",
            reason=f"{operation.action}: {summary}",
            details={"operation_id": str(operation.id), **counts},
        )
    return OperationProgress(counts=counts, done=done)
