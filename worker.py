"""The worker process: runs enrollment workflows and their activities until SIGTERM.

    python worker.py            # or: cadence worker

Settings come from the environment and `.env` (see `.env.example`). On SIGTERM or Ctrl-C
the worker stops polling, lets running activities finish (up to the grace period), and
exits; workflows simply continue on the next worker.

This is where the layers meet: the activities get their clients here, and the one thing
they need from the service layer (enrolling a contact in the follow-up cadence of a
switch) is injected here, so activities never import `starter`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable, Sequence
from typing import Any

import httpx
from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities import mailer, sms_sender
from activities.archive import ArchiveActivities
from activities.channels import SmsSender, SmtpMailer
from activities.enrollments import Enroller, EnrollmentActivities
from activities.lookups import SentLookup, sent_lookup
from activities.operations import BatchRunner, OperationActivities
from activities.touches import TouchActivities
from activities.work import WorkActivities
from cadence.contact_policy import ContactPolicy
from core import codecache, logs, metrics
from core.db import make_engine
from core.settings import InsecureSettings, Settings, get_settings
from core.temporal import connect, metrics_runtime, register_search_attributes
from models.payloads import OperationProgress, SwitchResult
from starter.catalog import load_policy, load_rules
from starter.errors import Conflict, NotFound
from starter.service.backend import Backend
from starter.service.enroll import enroll_contact
from starter.service.operation_runner import run_batch
from starter.temporal import Workflows
from workflows import visibility
from workflows.registry import WORKFLOWS

log = logging.getLogger("cadence.worker")

# Domain modules are pure and deterministic; importing them once (not per workflow run)
# keeps workflow start-up in milliseconds.
PASSTHROUGH = ("cadence", "models", "holidays", "dateutil", "yaml", "jinja2", "markupsafe")


def workflow_runner(workflows: Sequence[type]) -> SandboxedWorkflowRunner:
    """The workflow sandbox with the pure domain modules passed through.

    The modules the sandbox re-imports for each workflow instance (the workflows' own
    packages) are compiled once per process, with or without bytecode on disk.
    """
    codecache.install(wf.__module__.partition(".")[0] for wf in workflows)
    return SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH))


def enroller(backend: Backend) -> Enroller:
    """The switch activity's way to start the follow-up enrollment: the service layer's
    idempotent enroll; a missing cadence or a no-contact period is a reason, not an error."""

    async def enroll(cadence_key: str, contact_id: str, *, actor: str) -> SwitchResult:
        try:
            info = await enroll_contact(backend, cadence_key, contact_id, actor=actor)
        except (NotFound, Conflict) as err:
            return SwitchResult(reason=err.message)
        return SwitchResult(enrollment_id=info.id, workflow_id=info.workflow_id, created=info.created)

    return enroll


def batch_runner(backend: Backend) -> BatchRunner:
    """How the operation activity applies a batch: the service layer's runner."""

    async def run(operation_id: str, limit: int, beat: Callable[[], None]) -> OperationProgress:
        return await run_batch(backend, operation_id, limit, beat)

    return run


def build_activities(
    engine: Engine,
    settings: Settings,
    *,
    mail: SmtpMailer | None = None,
    sms: SmsSender | None = None,
    http: httpx.Client | None = None,
    temporal: Client | None = None,
    policy: ContactPolicy | None = None,
    lookup: SentLookup | None = None,
) -> list[Callable[..., Any]]:
    """Every activity the workflows call, bound to its clients (`lookup`: how a send
    retried after a crash learns whether its email was accepted; EMAIL_LOOKUP by default).

    With `temporal`, the switch activity can enroll the contact in a follow-up cadence, the
    archiver can read closed histories and bulk operations can be applied.
    """
    policy = policy or load_policy(settings.policy_file)
    touches = TouchActivities(
        engine, settings, mail or mailer(settings), sms or sms_sender(settings, engine), policy, lookup or sent_lookup(settings, engine)
    )
    work = WorkActivities(engine, http or httpx.Client(timeout=30.0), policy)
    switch = runner = None
    if temporal is not None:
        backend = Backend(engine, temporal, task_queue=settings.task_queue, policy=policy, rules=load_rules(settings.rules_file))
        switch = enroller(backend)
        runner = batch_runner(backend)
    enrollments = EnrollmentActivities(engine, switch)
    operations = OperationActivities(runner)
    archive = [ArchiveActivities(engine, temporal).archive_histories] if temporal is not None else []
    return [
        *archive,
        touches.send_email,
        touches.send_sms,
        work.create_task,
        work.escalate_task,
        work.crm_update,
        enrollments.record_transition,
        enrollments.switch_cadence,
        operations.apply_operation_batch,
    ]


def build_worker(
    client: Client, settings: Settings, activities: Sequence[Callable[..., Any]], executor: concurrent.futures.Executor
) -> Worker:
    """The worker with every workflow and activity registered."""
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=WORKFLOWS,
        activities=activities,
        activity_executor=executor,
        max_concurrent_activities=settings.worker_max_concurrent_activities,
        max_cached_workflows=settings.worker_max_cached_workflows,
        graceful_shutdown_timeout=datetime.timedelta(seconds=settings.worker_shutdown_grace_seconds),
        workflow_runner=workflow_runner(WORKFLOWS),
    )


async def run(settings: Settings, stop: asyncio.Event) -> None:
    """Connect, register search attributes, and run until `stop` is set."""
    settings.require_real_secrets()
    runtime = None
    if settings.worker_metrics_address:
        # The SDK exports on a private local port; the worker's /metrics appends it to its own.
        sdk = f"127.0.0.1:{_free_port()}"
        runtime = metrics_runtime(sdk)
        metrics.serve(settings.worker_metrics_address, sdk_url=f"http://{sdk}/metrics")
        log.info("metrics at http://%s/metrics", settings.worker_metrics_address)
    client = await connect(settings.temporal_address, settings.temporal_namespace, runtime=runtime)
    await register_search_attributes(client, visibility.ALL_KEYS)
    engine = make_engine(settings.database_url, settings.db_pool_size)
    with concurrent.futures.ThreadPoolExecutor(max_workers=settings.worker_max_concurrent_activities) as executor:
        worker = build_worker(client, settings, build_activities(engine, settings, temporal=client), executor)
        log.info("worker polling %s on %s", settings.task_queue, settings.temporal_address)
        async with worker:
            await Workflows(client, settings.task_queue).ensure_archiver()
            await stop.wait()
            log.info("shutting down: finishing running activities")
    engine.dispose()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main() -> int:
    """Entry point; returns the exit status."""
    settings = get_settings()
    logs.configure(settings.log_level)
    stop = asyncio.Event()

    async def runner() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run(settings, stop)

    try:
        asyncio.run(runner())
    except InsecureSettings as refused:
        log.error("refusing to start: %s", refused)
        return 2
    except Exception:
        log.exception("worker failed")
        return 1
    return 0


if __name__ == "__main__":
    status = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)  # sdk-python #300: the Temporal runtime can abort during interpreter exit
