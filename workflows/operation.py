"""OperationWorkflow: applies one previewed bulk operation (a migration to another version,
or a pause, resume or stop of many enrollments) batch by batch until no item is pending.

The items and their results live in Postgres, so the workflow's history stays small and a
crash anywhere resumes where it stopped: a batch retried after a worker crash finds only
what is still pending. Orchestration only: the work is the `apply_operation_batch` activity.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from models.payloads import OperationBatch, OperationInput, OperationProgress
    from workflows import calls

OPERATION_WORKFLOW = "Operation"
BATCH = 100


def operation_workflow_id(operation_id: str) -> str:
    """One workflow per operation: applying twice attaches to the same one."""
    return f"operation-{operation_id}"


@workflow.defn(name=OPERATION_WORKFLOW)
class OperationWorkflow:
    """Work through the operation's pending items; return the final counts."""

    def __init__(self) -> None:
        self.progress = OperationProgress()

    @workflow.run
    async def run(self, input: OperationInput) -> OperationProgress:
        """Batch after batch until the activity says nothing is pending."""
        while not self.progress.done:
            self.progress = await workflow.execute_activity(
                calls.apply_operation_batch,
                OperationBatch(operation_id=input.operation_id, limit=BATCH),
                summary="apply the next items",
                **calls.OPERATION,
            )
        return self.progress

    @workflow.query(name="progress")
    def current(self) -> OperationProgress:
        """Items by status after the last batch."""
        return self.progress
