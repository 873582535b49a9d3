#!/usr/bin/env python
"""Live edits benchmark: how long a migration preview takes, and how fast one is applied
against bare Temporal updates on the same server in the same run.

    .venv/bin/python bench/live_edits.py                         # preview 10,000; apply 1,000
    .venv/bin/python bench/live_edits.py --preview-n 2000 --apply-n 300 --runs 3

1. Preview: 10,000 open enrollments of one cadence (mirror rows written straight into
   Postgres: a preview reads only the mirror, never a workflow), then `--runs` previews of
   a migration to a version that changes the wait of the step they wait for, through the
   service layer (what the API runs). Reported: p50 and each run's time, and the first
   page of items.
2. Apply: `--apply-n` real enrollments (the product's worker as a separate process, first
   step a day away so nothing is sent), a migration previewed and applied unthrottled
   (rate 500/s; the runner keeps up to 16 updates in flight): enrollments migrated per second,
   from the apply call until the operation is done.
3. Baseline: as many bare workflows (a workflow that waits, with an update handler that
   changes one field) served by a bare worker process on the same dev server, and as many
   updates sent 16 at a time: updates per second. The ratio compares the two.

Figures go to stdout and bench/results/live-edits-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.bare import BARE_MIGRATABLE, BareMigratable  # noqa: E402
from bench.stack import product_stack, save_results  # noqa: E402

V1 = """
key: live-bench
name: Live edits benchmark
steps:
  - {id: hello, type: email, template: t, wait: {days: 1}}
  - {id: follow, type: email, template: t, wait: {days: 3}}
  - {id: last, type: email, template: t, wait: {days: 3}}
templates:
  t: {channel: email, subject: "Hello", html: "<p>Hello</p>", text: "Hello"}
"""
V2 = V1.replace("wait: {days: 1}", "wait: {days: 2}").replace("  - {id: last, type: email, template: t, wait: {days: 3}}\n", "")


def bare_worker(address: str, queue: str) -> None:
    """The baseline's worker process."""
    from temporalio.client import Client
    from temporalio.worker import Worker

    async def main() -> None:
        client = await Client.connect(address)
        async with Worker(client, task_queue=queue, workflows=[BareMigratable]):
            await asyncio.Event().wait()

    asyncio.run(main())


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def insert_mirror_rows(engine: Any, n: int, version_id: uuid.UUID, cadence_id: uuid.UUID) -> None:
    """n contacts, each with an open enrollment waiting for its first step, as the mirror
    shows them (fast: no workflow behind them; a preview reads only the mirror)."""
    import sqlalchemy as sa

    from core.db import transaction
    from models.tables import Contact, Enrollment

    now = dt.datetime.now(dt.UTC)
    contacts = [
        {"id": uuid.uuid4(), "external_id": f"pv-{i}", "email": f"pv{i}@example.com", "timezone": "America/Chicago"} for i in range(n)
    ]
    rows = [
        {
            "id": uuid.uuid4(),
            "cadence_id": cadence_id,
            "cadence_version_id": version_id,
            "contact_id": c["id"],
            "workflow_id": f"preview-only-{c['id']}",
            "status": "active",
            "current_step": 0,
            "next_step_at": now + dt.timedelta(days=1),
            "planned_from": now,
            "waiting_on": "time",
            "started_at": now,
            "created_at": now,
            "updated_at": now,
        }
        for c in contacts
    ]
    with transaction(engine) as session:
        for start in range(0, n, 2000):
            session.execute(sa.insert(Contact), [{**c, "created_at": now, "updated_at": now} for c in contacts[start : start + 2000]])
            session.execute(sa.insert(Enrollment), rows[start : start + 2000])


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    import sqlalchemy as sa
    from sqlmodel import func, select
    from temporalio.client import Client

    from core.db import transaction
    from models.cadences import find_cadence
    from models.tables import Enrollment, Operation, OperationItem
    from starter.local import LocalCadence
    from starter.service.operations import OperationFilter, OperationRequest

    report: dict[str, Any] = {"preview_n": args.preview_n, "apply_n": args.apply_n, "runs": args.runs}
    async with product_stack("live", pool_size=10) as stack:
        client = LocalCadence(stack.temporal, stack.engine, task_queue=stack.queue)
        report["postgres"] = stack.pg_source
        await client.publish_cadence(V1, actor="bench")

        # 1. Preview of preview_n open enrollments.
        with transaction(stack.engine) as session:
            cadence = find_cadence(session, "live-bench")
            assert cadence is not None and cadence.published_version_id is not None
            v1_id, cadence_id = cadence.published_version_id, cadence.id
        log(f"writing {args.preview_n} enrollments' mirror rows")
        insert_mirror_rows(stack.engine, args.preview_n, v1_id, cadence_id)
        await client.save_draft("live-bench", V2, actor="bench")
        await client.publish("live-bench", actor="bench")
        request = OperationRequest(action="migrate", filter=OperationFilter(cadence_id="live-bench"), reason="bench", rate_per_second=500)
        times = []
        for run in range(args.runs):
            started = time.perf_counter()
            planned = await client.preview_operation(request, actor="bench")
            times.append(time.perf_counter() - started)
            log(f"preview {run + 1}: {planned.total} enrollments {planned.outcomes} in {times[-1]:.2f} s")
        started = time.perf_counter()
        await client.operation_items(planned.id, limit=100, offset=5000)
        report["preview"] = {"seconds": times, "p50_s": statistics.median(times), "items_page_ms": (time.perf_counter() - started) * 1e3}
        # The preview-only rows go (with the previews of them): the apply needs real workflows.
        with transaction(stack.engine) as session:
            for table in (OperationItem, Operation, Enrollment):
                session.execute(sa.delete(table))

        # 2. Apply a migration of apply_n real enrollments.
        await client.publish("live-bench", actor="bench", version=1)
        people = [f"pv-{i}" for i in range(args.apply_n)]
        later = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
        log(f"enrolling {args.apply_n} (first step a day away)")
        rows = await client.bulk_enroll("live-bench", people, start_at=later, per_second=200)
        assert all(r.ok for r in rows), [r.error for r in rows if not r.ok][:3]
        while True:
            with transaction(stack.engine) as session:
                active = session.exec(select(func.count()).select_from(Enrollment).where(Enrollment.status == "active")).one()
            if active == args.apply_n:
                break
            await asyncio.sleep(0.5)
        await client.publish("live-bench", actor="bench", version=2)
        planned = await client.preview_operation(request, actor="bench")
        started = time.perf_counter()
        await client.apply_operation(planned.id, actor="bench")
        while (done := await client.operation(planned.id)).status == "applying":
            await asyncio.sleep(0.25)
        took = time.perf_counter() - started
        report["apply"] = {"seconds": took, "per_second": done.progress["applied"] / took, "progress": done.progress}
        log(f"applied {done.progress} in {took:.1f} s: {report['apply']['per_second']:.1f}/s")

        # 3. Bare Temporal updates on the same server.
        queue = f"bare-updates-{uuid.uuid4().hex[:6]}"
        worker = subprocess.Popen(
            [sys.executable, __file__, "--bare-worker", stack.temporal_address, queue],
            cwd=ROOT,
            env=dict(os.environ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        try:
            bare: Client = stack.temporal
            handles = []
            for i in range(args.apply_n):
                handles.append(await bare.start_workflow(BARE_MIGRATABLE, id=f"bare-{queue}-{i}", task_queue=queue))
            gate = asyncio.Semaphore(16)  # as many in flight as the runner keeps

            async def one(handle: Any) -> None:
                async with gate:
                    await handle.execute_update("migrate", 2)

            await one(handles[0])  # the worker is up
            started = time.perf_counter()
            await asyncio.gather(*(one(h) for h in handles[1:]))
            took = time.perf_counter() - started
            report["bare"] = {"seconds": took, "per_second": (len(handles) - 1) / took}
            log(f"bare updates: {len(handles) - 1} in {took:.1f} s: {report['bare']['per_second']:.1f}/s")
            await asyncio.gather(*(h.signal("finish") for h in handles))
        finally:
            worker.terminate()
            worker.wait(30)
    report["ratio"] = report["apply"]["per_second"] / report["bare"]["per_second"]
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preview-n", type=int, default=10_000)
    parser.add_argument("--apply-n", type=int, default=1_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--bare-worker", nargs=2, metavar=("ADDRESS", "QUEUE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_worker:
        bare_worker(*args.bare_worker)
        return 0
    report = asyncio.run(bench(args))
    path = save_results("live-edits", report)
    p = report["preview"]
    print(
        f"\npreview of {args.preview_n} open enrollments: p50 {p['p50_s']:.2f} s over {args.runs} runs "
        f"({', '.join(f'{s:.2f}' for s in p['seconds'])}); a page of 100 items {p['items_page_ms']:.0f} ms\n"
        f"apply of {args.apply_n}: {report['apply']['per_second']:.1f} enrollments/s; "
        f"bare Temporal updates {report['bare']['per_second']:.1f}/s; ratio {report['ratio']:.2f}\n"
        f"results: {path}"
    )
    sys.stdout.flush()
    os._exit(0)  # sdk-python #300


if __name__ == "__main__":
    sys.exit(main())
