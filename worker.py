"""The worker process: runs enrollment workflows and their activities until SIGTERM.

    python worker.py            # or: cadence worker

Settings come from the environment and `.env` (see `.env.example`). On SIGTERM or Ctrl-C
the worker stops polling, lets running activities finish (up to the grace period), and
exits; workflows simply continue on the next worker.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities import build_activities
from core import codecache
from core.db import make_engine
from core.settings import Settings, get_settings
from core.temporal import connect, register_search_attributes
from starter.archiver import ensure_archiver
from workflows import WORKFLOWS

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


def build_worker(client: Client, settings: Settings, activities: Sequence[Callable[..., Any]], executor: concurrent.futures.Executor) -> Worker:
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
    client = await connect(settings.temporal_address, settings.temporal_namespace)
    await register_search_attributes(client)
    engine = make_engine(settings.database_url, settings.db_pool_size)
    with concurrent.futures.ThreadPoolExecutor(max_workers=settings.worker_max_concurrent_activities) as executor:
        worker = build_worker(client, settings, build_activities(engine, settings, temporal=client), executor)
        log.info("worker polling %s on %s", settings.task_queue, settings.temporal_address)
        async with worker:
            await ensure_archiver(client, settings.task_queue)
            await stop.wait()
            log.info("shutting down: finishing running activities")
    engine.dispose()


def main() -> int:
    """Entry point; returns the exit status."""
    settings = get_settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = asyncio.Event()

    async def runner() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run(settings, stop)

    try:
        asyncio.run(runner())
    except Exception:
        log.exception("worker failed")
        return 1
    return 0


if __name__ == "__main__":
    status = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)  # sdk-python #300: the Temporal runtime can abort during interpreter exit
