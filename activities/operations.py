"""Applying a bulk operation: the next pending items, at the operation's rate.

What applying one item means (a `migrate` update, a pause...) belongs to the service layer,
which the worker injects as a `BatchRunner` (activities never import `starter`). This
adapter gives it what an activity has: the attempt's heartbeat, and the retry policy the
workflow declares (`workflows.calls.OPERATION`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from temporalio import activity
from temporalio.exceptions import ApplicationError

from models.payloads import OperationBatch, OperationProgress
from workflows.calls import INVALID_INPUT


class BatchRunner(Protocol):
    """Applies up to `limit` pending items of an operation, recording each result as it
    goes (so a retried batch only sees what is still pending), calling `beat` between items."""

    def __call__(self, operation_id: str, limit: int, beat: Callable[[], None]) -> Awaitable[OperationProgress]: ...


class OperationActivities:
    """apply_operation_batch."""

    def __init__(self, runner: BatchRunner | None) -> None:
        self.runner = runner

    @activity.defn(name="apply_operation_batch")
    async def apply_operation_batch(self, batch: OperationBatch) -> OperationProgress:
        """Apply the next items of the operation. Retried until it succeeds: an item
        already applied is never pending again, and the updates are idempotent per operation."""
        if self.runner is None:
            raise ApplicationError("this worker cannot apply operations (no Temporal client)", type=INVALID_INPUT, non_retryable=True)
        return await self.runner(batch.operation_id, batch.limit, activity.heartbeat)
