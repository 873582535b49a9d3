#!/usr/bin/env python
"""Status API under load: the enrollment read, the enrollment list and the console
enrollment page at a fixed request rate, quiet and while the engine sends.

    .venv/bin/python bench/status_api.py                       # 1000 enrollments x 3 steps, 200 req/s (~4 min)
    .venv/bin/python bench/status_api.py --n 300 --rate 100    # smaller

One product stack (bench/stack.py: the API and the worker as processes, a Temporal dev
server, Postgres, an SMTP sink). N enrollments of S email steps W seconds apart, all first
due at the same instant (the engine benchmark's herd), give the engine its work. An
open-loop load generator sends RATE requests/s on a fixed schedule, whatever the answers'
latency (a slow server cannot slow the offered load down; latency counts from the moment a
request was due, so queueing in the generator is counted too): half
`GET /v1/enrollments/{id}?live=false` (the mirror; what polling uses), half
`GET /v1/enrollments?cadence=..&limit=50`, for random enrollments. Beside it, at CONSOLE_RATE
requests/s each, the console enrollment page and `GET /v1/enrollments/{id}` with the live
status (a query to the workflow). Two windows: `quiet` (before the first step is due) and
`engine` (from the first due step until every enrollment has ended). Reported per kind and
window: p50/p99/max latency, errors, achieved rate; and the engine's steps/s in the window.
Figures go to stdout and bench/results/status-api-<ts>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.engine import BENCH_POLICY, cadence_doc, create_contacts  # noqa: E402
from bench.stack import product_stack, save_results, summary_ms  # noqa: E402

KEY = "status-bench"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


class Load:
    """Open-loop request streams; latencies per (window, kind)."""

    def __init__(self, http: Any, ids: list[str]) -> None:
        self.http = http
        self.ids = ids
        self.window = "quiet"
        self.latency: dict[tuple[str, str], list[float]] = defaultdict(list)
        self.errors: dict[tuple[str, str], int] = defaultdict(int)
        self.sent: dict[tuple[str, str], int] = defaultdict(int)
        self.running = True
        self.tasks: set[asyncio.Task[None]] = set()

    def path(self, kind: str, rnd: random.Random) -> str:
        eid = rnd.choice(self.ids)
        if kind == "read":
            return f"/v1/enrollments/{eid}?live=false"
        if kind == "list":
            return f"/v1/enrollments?cadence={KEY}&limit=50&offset={rnd.randrange(0, max(len(self.ids) - 50, 1))}"
        if kind == "read_live":
            return f"/v1/enrollments/{eid}"
        return f"/console/enrollments/{eid}"

    async def one(self, kind: str, path: str, due: float) -> None:
        window = self.window
        self.sent[(window, kind)] += 1
        try:
            response = await self.http.get(path)
            ok = response.status_code == 200
        except Exception:  # noqa: BLE001 - counted as an error
            ok = False
        done = time.perf_counter()
        if ok:
            self.latency[(window, kind)].append(done - due)
        else:
            self.errors[(window, kind)] += 1

    async def stream(self, kinds: list[str], rate: float, seed: int) -> None:
        """Send `rate` requests/s, cycling through `kinds`, on a fixed schedule."""
        rnd = random.Random(seed)
        interval = 1.0 / rate
        due = time.perf_counter()
        i = 0
        while self.running:
            # Always yield: a generator behind its schedule must not starve the loop.
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            kind = kinds[i % len(kinds)]
            task = asyncio.create_task(self.one(kind, self.path(kind, rnd), due))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
            i += 1
            due += interval

    async def drain(self) -> None:
        self.running = False
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=30)


async def main_async(args: argparse.Namespace) -> int:
    import httpx
    import sqlalchemy as sa

    from core.db import transaction
    from models.cadences import save_bundle
    from models.keys import Role, create_key
    from starter.catalog import parse_text
    from starter.local import LocalCadence

    async with product_stack("status", pool_size=10) as stack:
        with transaction(stack.engine) as session:
            bundle = parse_text(json.dumps(cadence_doc(KEY, args.steps, args.wait_seconds, dict(BENCH_POLICY))), source="bench.json")
            save_bundle(session, bundle)
            _, key = create_key(session, name="bench-reader", role=Role.cs_lead)
        contacts = await asyncio.to_thread(create_contacts, stack.engine, "st", args.n)
        client = LocalCadence(stack.temporal, stack.engine, task_queue=stack.queue)
        first_due = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=args.lead)
        slots = asyncio.Semaphore(16)

        async def enroll(contact: str) -> str:
            async with slots:
                return (await client.enroll(KEY, contact, start_at=first_due, actor="bench")).id

        t0 = time.perf_counter()
        ids = list(await asyncio.gather(*(enroll(c) for c in contacts)))
        log(f"{len(ids)} enrollments started in {time.perf_counter() - t0:.0f} s; first step due {first_due:%H:%M:%S}")
        if dt.datetime.now(dt.UTC) > first_due - dt.timedelta(seconds=args.quiet_seconds):
            log("WARNING: the starts ate into the quiet window (raise --lead)")
        limits = httpx.Limits(max_connections=args.connections, max_keepalive_connections=args.connections)
        async with httpx.AsyncClient(base_url=stack.api_url, timeout=30, limits=limits, follow_redirects=False) as http:
            login = await http.get("/console/login")
            token = login.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
            signed_in = await http.post("/console/login", data={"api_key": key, "csrf": token, "next": "/console/enrollments"})
            assert signed_in.status_code in (302, 303), signed_in.text[:300]
            http.headers["Authorization"] = f"Bearer {key}"
            load = Load(http, ids)
            await asyncio.sleep(max(0.0, (first_due - dt.timedelta(seconds=args.quiet_seconds) - dt.datetime.now(dt.UTC)).total_seconds()))
            log(f"quiet window: {args.rate:.0f} req/s API, {args.console_rate:.0f} req/s each console page and live read")
            streams = [
                asyncio.create_task(load.stream(["read", "list"], args.rate, 1)),
                asyncio.create_task(load.stream(["console"], args.console_rate, 2)),
                asyncio.create_task(load.stream(["read_live"], args.console_rate, 3)),
            ]
            await asyncio.sleep(max(0.0, (first_due - dt.datetime.now(dt.UTC)).total_seconds()))
            load.window = "engine"
            window_start = time.time()
            log("engine window: the first steps are due")
            uuids = [uuid_of(i) for i in ids]
            deadline = time.monotonic() + args.timeout
            while time.monotonic() < deadline:
                with stack.engine.connect() as conn:
                    open_ = conn.execute(
                        sa.text("SELECT count(*) FROM enrollments WHERE id = ANY(:ids) AND status IN ('pending', 'active', 'paused')"),
                        {"ids": uuids},
                    ).scalar_one()
                if open_ == 0:
                    break
                await asyncio.sleep(0.5)
            window_s = time.time() - window_start
            await load.drain()
            for task in streams:
                task.cancel()
            with stack.engine.connect() as conn:
                sent = conn.execute(
                    sa.text("SELECT count(*) FROM touches WHERE enrollment_id = ANY(:ids) AND status = 'sent'"), {"ids": uuids}
                ).scalar_one()
    windows = {"quiet": float(args.quiet_seconds), "engine": window_s}
    report: dict[str, Any] = {
        "benchmark": "status-api",
        "when": dt.datetime.now(dt.UTC).isoformat(),
        "args": vars(args),
        "cpus": os.cpu_count(),
        "steps_sent": sent,
        "engine_window_s": window_s,
        "engine_steps_per_s": sent / window_s if window_s else None,
        "kinds": {},
    }
    print(
        f"\nStatus API at {args.rate:.0f} req/s (read ?live=false + list), console page and live read at {args.console_rate:.0f} req/s each"
    )
    print(f"engine: {sent} of {args.n * args.steps} emails sent in the engine window of {window_s:.1f} s ({sent / window_s:.1f} steps/s)")
    print(f"{'window':<7} {'kind':<10} {'sent':>6} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'errors':>7}")
    for (window, kind), samples in sorted(load.latency.items()):
        s = summary_ms(samples)
        sent_n = load.sent[(window, kind)]
        errors = load.errors[(window, kind)]
        report["kinds"][f"{window}/{kind}"] = {**s, "sent": sent_n, "errors": errors, "rate": sent_n / windows[window]}
        print(
            f"{window:<7} {kind:<10} {sent_n:>6} {sent_n / windows[window]:>7.1f} {s['p50_ms']:>8.1f} {s['p99_ms']:>8.1f} {s['max_ms']:>8.1f} {errors:>7}"
        )
    print(f"results: {save_results('status-api', report)}", flush=True)
    return 0


def uuid_of(value: str) -> Any:
    import uuid

    return uuid.UUID(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000, help="enrollments sending (default 1000)")
    parser.add_argument("--steps", type=int, default=3, help="email steps each (default 3)")
    parser.add_argument("--wait-seconds", type=int, default=2, help="wait before each step (default 2 s)")
    parser.add_argument("--rate", type=float, default=200.0, help="API requests/s, read and list (default 200)")
    parser.add_argument("--console-rate", type=float, default=5.0, help="console page and live read requests/s each (default 5)")
    parser.add_argument("--connections", type=int, default=64, help="HTTP connections (default 64)")
    parser.add_argument("--lead", type=float, default=60.0, help="seconds from the first start to the first due step (default 60)")
    parser.add_argument("--quiet-seconds", type=float, default=15.0, help="load before the first due step (default 15)")
    parser.add_argument("--timeout", type=float, default=600.0, help="limit for the engine window (default 600 s)")
    status = asyncio.run(main_async(parser.parse_args()))
    sys.stdout.flush()
    os._exit(status)  # sdk-python #300


if __name__ == "__main__":
    main()
