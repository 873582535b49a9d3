"""The product, started for a benchmark: Postgres database, Temporal dev server, SMTP sink,
the worker and the API as separate processes (like production); and where results go.

Shared by bench/inbound.py and bench/timeline.py; bench/engine.py runs its own two workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import secrets
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.engine import RESULTS_DIR, ROOT, SmtpSink, WorkerProc, free_port, pct, pick_postgres

OPEN_POLICY = ROOT / "tests" / "support" / "open-policy.yaml"


def summary_ms(samples: list[float]) -> dict[str, float]:
    """p50/p99/max of latencies in seconds, as milliseconds."""
    return {
        "p50_ms": (pct(samples, 50) or 0) * 1e3,
        "p99_ms": (pct(samples, 99) or 0) * 1e3,
        "max_ms": max(samples, default=0) * 1e3,
        "n": len(samples),
    }


def save_results(kind: str, report: dict[str, Any]) -> Path:
    """Write a report to bench/results/<kind>-<UTC timestamp>.json."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{kind}-{dt.datetime.now(dt.UTC):%Y%m%d-%H%M%S}.json"
    path.write_text(json.dumps(report, indent=2, default=str))
    return path


@dataclass
class Stack:
    """A running product: what a benchmark drives."""

    engine: Any
    temporal: Any
    queue: str
    api_url: str
    sink: SmtpSink
    worker: WorkerProc
    temporal_address: str
    pg_source: str


@contextlib.asynccontextmanager
async def product_stack(name: str, extra_env: dict[str, str] | None = None, pool_size: int = 5) -> AsyncIterator[Stack]:
    """Start everything on a throwaway database (open policy: the gate never holds a touch
    back), wait until the worker polls and the API answers, and remove it all afterwards."""
    import httpx

    from core import devserver
    from core.db import make_engine
    from core.postgres import drop_database, ensure_database, migrate
    from workflows import visibility

    tmp = Path(tempfile.mkdtemp(prefix=f"cadence-{name}-bench-"))
    server_url, pg_handle, pg_source = pick_postgres()
    dbname = f"cadence_{name}_{uuid.uuid4().hex[:8]}"
    db_url = await asyncio.to_thread(ensure_database, server_url, dbname)
    await asyncio.to_thread(migrate, db_url)
    sink = SmtpSink()
    sink.start()
    server = devserver.start(tmp / "temporal", search_attributes=visibility.ALL_KEYS, port=free_port(), ui_port=None)
    engine = make_engine(db_url, pool_size=pool_size)
    worker: WorkerProc | None = None
    api: subprocess.Popen[bytes] | None = None
    try:
        temporal = await devserver.wait_ready(server)
        port = free_port()
        api_url = f"http://127.0.0.1:{port}"
        queue = f"{name}-bench-{uuid.uuid4().hex[:6]}"
        env = {k: v for k, v in os.environ.items() if k != "TEST_DATABASE_URL"}
        env.update(
            DATABASE_URL=db_url,
            TEMPORAL_ADDRESS=server.address,
            TASK_QUEUE=queue,
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=str(sink.port),
            PUBLIC_BASE_URL=api_url,
            LOG_LEVEL="WARNING",
            POLICY_FILE=str(OPEN_POLICY),
            LINK_SECRET=secrets.token_urlsafe(24),
            INBOUND_EMAIL_SECRET=secrets.token_urlsafe(24),
            **(extra_env or {}),
        )
        worker = WorkerProc("cadence", queue, env, tmp / "worker.log")
        worker.start()
        await worker.wait_polling(temporal)
        api = subprocess.Popen(
            [str(Path(sys.executable).parent / "cadence"), "api", "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=(tmp / "api.log").open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
            for _ in range(300):
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get("/healthz")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
            else:
                raise TimeoutError(f"the API did not answer within 30 s; see {tmp / 'api.log'}")
        yield Stack(engine, temporal, queue, api_url, sink, worker, server.address, pg_source)
    finally:
        if api is not None:
            api.terminate()
            api.wait(30)
        if worker is not None and worker.process is not None:
            worker.process.terminate()
            worker.process.wait(60)
        server.stop()
        sink.stop()
        engine.dispose()
        drop_database(server_url, dbname)
        del pg_handle


@dataclass
class Repliers:
    """Bare workflows that wait for a `reply` signal and end, on a queue of their own."""

    queue: str
    start: Callable[[], Awaitable[list[Any]]]


@contextlib.asynccontextmanager
async def bare_repliers(stack: Stack, name: str, n: int) -> AsyncIterator[Repliers]:
    """A bare worker process for N bench.bare.BareReplied workflows on the stack's dev
    server; `start()` starts them, 16 at a time, and returns their handles (the caller times
    what it needs). The worker stops on the way out."""
    from temporalio.common import WorkflowIDConflictPolicy

    from bench.bare import BARE_REPLIED

    queue = f"{name}-bare-{uuid.uuid4().hex[:6]}"
    env = {k: v for k, v in os.environ.items() if k != "TEST_DATABASE_URL"}
    env.update(TEMPORAL_ADDRESS=stack.temporal_address, TASK_QUEUE=queue, LOG_LEVEL="WARNING")
    worker = WorkerProc("baseline", queue, env, Path(os.devnull))
    worker.start()
    try:
        await worker.wait_polling(stack.temporal)
        slots = asyncio.Semaphore(16)

        async def one(i: int) -> Any:
            async with slots:
                return await stack.temporal.start_workflow(
                    BARE_REPLIED, id=f"{queue}-{i}", task_queue=queue, id_conflict_policy=WorkflowIDConflictPolicy.FAIL
                )

        async def start() -> list[Any]:
            return list(await asyncio.gather(*(one(i) for i in range(n))))

        yield Repliers(queue, start)
    finally:
        worker.stop()
