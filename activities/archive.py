"""Archiving closed workflow histories to Postgres, before Temporal's retention drops them."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.dialects.postgresql import insert
from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus

from core.db import transaction
from models.payloads import WORKFLOW_TYPE, ArchiveInput, ArchiveResult
from models.tables import WorkflowHistory
from workflows import visibility


class ArchiveActivities:
    """archive_histories: list closed enrollment runs and store each full history once."""

    def __init__(self, engine: Engine, temporal: Client) -> None:
        self.engine = engine
        self.temporal = temporal

    @activity.defn(name="archive_histories")
    async def archive_histories(self, request: ArchiveInput) -> ArchiveResult:
        """Store the history of every closed run (completed, continued-as-new, failed...)
        not yet archived. Idempotent (one row per run); heartbeats as it goes."""
        query = f"WorkflowType='{WORKFLOW_TYPE}' AND ExecutionStatus != 'Running'"
        if request.since is not None:
            query += f" AND CloseTime >= '{request.since.astimezone(dt.UTC).isoformat().replace('+00:00', 'Z')}'"
        result = ArchiveResult()
        async for execution in self.temporal.list_workflows(query, limit=request.limit):
            result.seen += 1
            closed = execution.close_time
            if closed is not None and (result.latest_close is None or closed > result.latest_close):
                result.latest_close = closed
            history = await self.temporal.get_workflow_handle(execution.id, run_id=execution.run_id).fetch_history()
            enrollment = execution.typed_search_attributes.get(visibility.ENROLLMENT_ID)
            stored = await asyncio.to_thread(self._store, execution, history.to_json_dict(), enrollment, len(history.events))
            result.archived += stored
            activity.heartbeat(result.seen)
        return result

    def _store(self, execution: Any, history: dict[str, Any], enrollment: str | None, events: int) -> int:
        status = execution.status.name.lower() if isinstance(execution.status, WorkflowExecutionStatus) else str(execution.status)
        with transaction(self.engine) as session:
            inserted = session.exec(
                insert(WorkflowHistory)  # type: ignore[call-overload]
                .values(
                    id=uuid.uuid4(),
                    workflow_id=execution.id,
                    run_id=execution.run_id,
                    enrollment_id=uuid.UUID(enrollment) if enrollment else None,
                    status=status,
                    started_at=execution.start_time,
                    closed_at=execution.close_time,
                    events=events,
                    history=history,
                    archived_at=dt.datetime.now(dt.UTC),
                )
                .on_conflict_do_nothing(constraint="uq_workflow_histories_run")
                .returning(WorkflowHistory.id)
            ).first()
        return 1 if inserted is not None else 0
