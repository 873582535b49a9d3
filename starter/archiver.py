"""Starting the history archiver (one per namespace; starting it again is harmless)."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy

from models.payloads import ArchiverInput
from workflows.archiver import ARCHIVER_ID


async def ensure_archiver(client: Client, task_queue: str, *, interval_seconds: int = 60) -> None:
    """Start the HistoryArchiver workflow unless it is already running."""
    await client.start_workflow(
        "HistoryArchiver",
        ArchiverInput(interval_seconds=interval_seconds),
        id=ARCHIVER_ID,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        static_summary="archives closed enrollment histories to Postgres",
    )
