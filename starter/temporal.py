"""Every start, signal, update and query Cadence sends to Temporal, in one place.

Calls go through typed references to the workflow classes (`EnrollmentWorkflow.pause`, never
the string "pause"), so a renamed handler or a changed payload is a type error here, not a
surprise in production. Temporal's own errors become the service layer's: an illegal
transition the workflow refused is a `Conflict` with the workflow's reason, Temporal or a
worker that does not answer is `Unavailable`.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable
from typing import Any, TypeVar, cast

from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from cadence import events
from models.payloads import (
    ActorRequest,
    ArchiverInput,
    ContactEventSignal,
    DatesChangedSignal,
    EnrollmentInput,
    EnrollmentParams,
    MigrateRequest,
    MigrateResult,
    Mirror,
    NamedEventSignal,
    OperationInput,
    PauseRequest,
    ReplySignal,
    StatusView,
    StopRequest,
    TaskCompletedSignal,
)
from starter.errors import Conflict, Unavailable
from workflows import visibility
from workflows.archiver import ARCHIVER_ID, HistoryArchiver
from workflows.enrollment import EnrollmentWorkflow
from workflows.operation import OperationWorkflow, operation_workflow_id

Signal = ReplySignal | ContactEventSignal | NamedEventSignal | TaskCompletedSignal | DatesChangedSignal

# The workflow's signal handlers by the vocabulary's signal names.
_SIGNALS: dict[str, Any] = {
    events.REPLY_SIGNAL: EnrollmentWorkflow.reply,
    events.MEETING_SIGNAL: EnrollmentWorkflow.meeting_booked,
    events.BOUNCE_SIGNAL: EnrollmentWorkflow.bounce,
    events.OPT_OUT_SIGNAL: EnrollmentWorkflow.opt_out,
    events.NAMED_EVENT_SIGNAL: EnrollmentWorkflow.named_event,
    events.TASK_COMPLETED_SIGNAL: EnrollmentWorkflow.task_completed,
    events.DATES_CHANGED_SIGNAL: EnrollmentWorkflow.dates_changed,
}
UPDATE_TIMEOUT = 30.0
T = TypeVar("T")
QUERY_TIMEOUT = 10.0


class Workflows:
    """Cadence's conversation with Temporal for one namespace and task queue."""

    def __init__(self, client: Client, task_queue: str) -> None:
        self.client = client
        self.task_queue = task_queue

    def _handle(self, workflow_id: str) -> WorkflowHandle[EnrollmentWorkflow, StatusView]:
        return self.client.get_workflow_handle_for(EnrollmentWorkflow.run, workflow_id)

    # --- starting --------------------------------------------------------------------------

    async def start_enrollment(self, params: EnrollmentParams, opening: Mirror, workflow_id: str) -> str | None:
        """Start the enrollment's workflow, told what its row says (`opening`: the first step
        as planned at enrollment); returns its run id. A retry after a crash between the
        row's insert and the start attaches to the running workflow (USE_EXISTING)."""
        try:
            handle = await self.client.start_workflow(
                EnrollmentWorkflow.run,
                EnrollmentInput(params=params, mirrored=opening),
                id=workflow_id,
                task_queue=self.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                search_attributes=visibility.start_attributes(params, opening),
                static_summary=f"{params.cadence_key} enrollment",
            )
        except RPCError as err:
            raise Unavailable(f"Temporal refused to start the enrollment: {err.message}") from err
        return handle.result_run_id or handle.first_execution_run_id

    async def ensure_archiver(self, interval_seconds: int = 60) -> None:
        """Start the history archiver unless it is already running (one per namespace)."""
        await self.client.start_workflow(
            HistoryArchiver.run,
            ArchiverInput(interval_seconds=interval_seconds),
            id=ARCHIVER_ID,
            task_queue=self.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            static_summary="archives closed enrollment histories to Postgres",
        )

    async def start_operation(self, operation_id: str, summary: str) -> None:
        """Start applying a bulk operation (a second start attaches to the first)."""
        try:
            await self.client.start_workflow(
                OperationWorkflow.run,
                OperationInput(operation_id=operation_id),
                id=operation_workflow_id(operation_id),
                task_queue=self.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                static_summary=summary,
            )
        except RPCError as err:
            if err.status == RPCStatusCode.ALREADY_EXISTS:
                return  # it ran to its end already
            raise Unavailable(f"Temporal refused to start the operation: {err.message}") from err

    # --- operator commands (updates: a refused one leaves no trace) -------------------------

    async def pause(self, workflow_id: str, request: PauseRequest, request_id: str | None = None) -> StatusView:
        """Pause; `request_id` makes a retried command apply once."""
        return await self._update(
            workflow_id,
            "pause",
            self._handle(workflow_id).execute_update(EnrollmentWorkflow.pause, request, id=request_id or str(uuid.uuid4())),
        )

    async def resume(self, workflow_id: str, request: ActorRequest, request_id: str | None = None) -> StatusView:
        """Resume a paused enrollment."""
        return await self._update(
            workflow_id,
            "resume",
            self._handle(workflow_id).execute_update(EnrollmentWorkflow.resume, request, id=request_id or str(uuid.uuid4())),
        )

    async def stop(self, workflow_id: str, request: StopRequest, request_id: str | None = None) -> StatusView:
        """Stop for good."""
        return await self._update(
            workflow_id,
            "stop",
            self._handle(workflow_id).execute_update(EnrollmentWorkflow.stop, request, id=request_id or str(uuid.uuid4())),
        )

    async def skip(self, workflow_id: str, request: ActorRequest, request_id: str | None = None) -> StatusView:
        """Skip the step the enrollment waits for."""
        return await self._update(
            workflow_id,
            "skip",
            self._handle(workflow_id).execute_update(EnrollmentWorkflow.skip_step, request, id=request_id or str(uuid.uuid4())),
        )

    async def migrate(self, workflow_id: str, request: MigrateRequest) -> MigrateResult:
        """Move the enrollment to another version (once per operation: the update id)."""
        # The SDK types an async update handler's result as a coroutine of one.
        call = cast(
            Awaitable[MigrateResult],
            self._handle(workflow_id).execute_update(EnrollmentWorkflow.migrate, request, id=f"migrate:{request.operation_id}"),
        )
        return await self._update(workflow_id, "migrate", call)

    async def _update(self, workflow_id: str, verb: str, call: Awaitable[T]) -> T:
        try:
            return await asyncio.wait_for(call, timeout=UPDATE_TIMEOUT)
        except WorkflowUpdateFailedError as err:
            cause = err.cause
            if isinstance(cause, ApplicationError):
                code = cause.details[0].get("code") if cause.details and isinstance(cause.details[0], dict) else None
                raise Conflict(cause.message, {"code": code} if code else None) from None
            raise Conflict(str(cause)) from None
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise Conflict("the enrollment's workflow is no longer running") from None
            raise Unavailable(f"Temporal did not accept the command: {err.message}") from None
        except TimeoutError:
            raise Unavailable(f"no worker answered within {UPDATE_TIMEOUT:.0f} seconds; is the worker running?") from None

    # --- events -----------------------------------------------------------------------------

    async def signal(self, workflow_id: str, signal_name: str, payload: Signal) -> bool:
        """Deliver an event to one enrollment; False when its workflow is no longer running."""
        try:
            await self._handle(workflow_id).signal(_SIGNALS[signal_name], payload)
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return False
            raise Unavailable(f"Temporal did not accept the event: {err.message}") from None
        return True

    # --- reading ----------------------------------------------------------------------------

    async def status(self, workflow_id: str) -> StatusView:
        """The live status, from the workflow itself (needs a worker to answer)."""
        return await asyncio.wait_for(self._handle(workflow_id).query(EnrollmentWorkflow.status), timeout=QUERY_TIMEOUT)

    async def snapshot(self, workflow_id: str) -> EnrollmentInput:
        """The enrollment's parameters and whole state, from the workflow itself."""
        return await asyncio.wait_for(self._handle(workflow_id).query(EnrollmentWorkflow.snapshot), timeout=QUERY_TIMEOUT)

    async def histories(self, enrollment_id: str, skip: set[str]) -> dict[str, dict[str, Any]]:
        """Every run of an enrollment Temporal still has (except `skip`), as JSON histories."""
        found: dict[str, dict[str, Any]] = {}
        async for execution in self.client.list_workflows(f"{visibility.ENROLLMENT_ID.name} = '{enrollment_id}'", limit=100):
            if execution.run_id not in skip:
                fetched = await self.client.get_workflow_handle(execution.id, run_id=execution.run_id).fetch_history()
                found[execution.run_id] = fetched.to_json_dict()
        return found

    async def ping(self, timeout: float = 5.0) -> None:
        """Raise unless the Temporal namespace answers within `timeout` seconds."""
        request = DescribeNamespaceRequest(namespace=self.client.namespace)
        await asyncio.wait_for(self.client.workflow_service.describe_namespace(request), timeout=timeout)
