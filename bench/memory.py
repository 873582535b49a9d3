#!/usr/bin/env python
"""Memory benchmark: one worker's RSS with N enrollments sleeping (their first email days
away), for each workflow cache size, and how long a sleeping enrollment takes to answer
(a live-status query: from the cache, or replayed after eviction).

    .venv/bin/python bench/memory.py                              # 10,000 sleeping, cache 1000 and 10000 (~8 min)
    .venv/bin/python bench/memory.py --n 2000 --cache 500 2000    # smaller

Each cache size gets a fresh product stack (bench/stack.py: Postgres database, Temporal dev
server, the worker and the API as processes). Contacts are written server-side; the
enrollments are started through the service layer, 32 at a time, with `start_at` three days
ahead, so each workflow runs its first task and sleeps. Once every one is in the mirror as
active and the worker has gone idle, its RSS is sampled for 10 s (max), and 40 random enrollments are asked
their live status one after the other (p50/p99, and how many got no answer in time). Figures go to stdout and
bench/results/memory-<ts>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.stack import product_stack, save_results, summary_ms  # noqa: E402

SLEEPY = """
key: sleepy
name: Sleepy
steps:
  - {id: hello, type: email, template: hello}
  - {id: later, type: email, template: hello, wait: {days: 7}}
templates:
  hello: {channel: email, subject: "Hello", html: "<p>Hello</p>", text: "Hello"}
"""
CONTACTS = """
    INSERT INTO contacts (id, external_id, email, consent, preferences, dates, fields, created_at, updated_at)
    SELECT md5('m' || g)::uuid, 'mem-' || g, 'mem' || g || '@example.com', '{}', '{}', '{}', '{}', now(), now()
      FROM generate_series(1, :n) g
"""


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def rss_mb(pid: int) -> float:
    """The process's resident set size, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def until_idle(pid: int, limit: float = 180.0) -> None:
    """Until the process uses under 5% of a core over two seconds (or `limit` passes)."""
    from bench.engine import proc_cpu

    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        before = proc_cpu(pid) or 0.0
        await asyncio.sleep(2)
        if (proc_cpu(pid) or 0.0) - before < 0.1:
            return


async def one_size(n: int, cache: int, env: list[str]) -> dict[str, Any]:
    import sqlalchemy as sa

    from starter.local import LocalCadence

    extra = {"WORKER_MAX_CACHED_WORKFLOWS": str(cache), **dict(e.split("=", 1) for e in env)}
    async with product_stack("memory", extra_env=extra) as stack:
        client = LocalCadence(stack.temporal, stack.engine, task_queue=stack.queue)
        await client.publish_cadence(SLEEPY, actor="bench")
        with stack.engine.begin() as conn:
            conn.execute(sa.text(CONTACTS), {"n": n})
        await asyncio.sleep(2)
        idle = rss_mb(stack.worker.pid)
        start_at = dt.datetime.now(dt.UTC) + dt.timedelta(days=3)
        slots = asyncio.Semaphore(32)

        async def enroll(i: int) -> str:
            async with slots:
                return (await client.enroll("sleepy", f"mem-{i}", start_at=start_at, actor="bench")).id

        started = time.perf_counter()
        ids = await asyncio.gather(*(enroll(i) for i in range(1, n + 1)))
        start_s = time.perf_counter() - started
        log(f"cache {cache}: {n} enrollments started in {start_s:.0f} s ({n / start_s:.0f}/s)")
        for _ in range(1200):
            with stack.engine.begin() as conn:
                active = conn.execute(sa.text("SELECT count(*) FROM enrollments WHERE status = 'active'")).scalar_one()
            if active == n:
                break
            await asyncio.sleep(1)
        # The row says active as soon as the workflow is started; the worker may still be
        # running first workflow tasks: wait until it is idle.
        await until_idle(stack.worker.pid)
        settled_s = time.perf_counter() - started
        samples = []
        for _ in range(10):
            samples.append(rss_mb(stack.worker.pid))
            await asyncio.sleep(1)
        asleep = max(samples)
        log(f"cache {cache}: {active} sleeping after {settled_s:.0f} s; worker RSS {idle:.0f} MB idle, {asleep:.0f} MB with them asleep")
        latencies, unanswered = [], []
        for enrollment_id in random.Random(7).sample(ids, min(40, len(ids))):
            t0 = time.perf_counter()
            detail = await client.status(enrollment_id)
            latencies.append(time.perf_counter() - t0)
            if detail.live is None:
                unanswered.append(detail.live_error or "no answer")
        wake = summary_ms(latencies)
        log(
            f"cache {cache}: live status of a sleeping enrollment p50 {wake['p50_ms']:.0f} ms, p99 {wake['p99_ms']:.0f} ms;"
            f" {len(unanswered)} of {len(latencies)} unanswered {sorted(set(unanswered))}"
        )
        return {
            "cache": cache,
            "n": n,
            "sleeping": active,
            "start_per_s": n / start_s,
            "rss_idle_mb": idle,
            "rss_asleep_mb": asleep,
            "kb_per_sleeping": (asleep - idle) * 1024 / n,
            "status_query": wake,
            "status_query_mean_ms": statistics.mean(latencies) * 1e3,
            "status_unanswered": len(unanswered),
            "status_errors": sorted(set(unanswered)),
        }


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    runs = [await one_size(args.n, cache, args.env) for cache in args.cache]
    print(f"\nWorker memory with {args.n} enrollments asleep (first email 3 days away), one worker, 2 CPUs")
    print("cache   RSS idle   RSS asleep   KB/enrollment   status query p50 / p99   unanswered")
    for r in runs:
        q = r["status_query"]
        print(
            f"{r['cache']:>5}   {r['rss_idle_mb']:>5.0f} MB   {r['rss_asleep_mb']:>7.0f} MB"
            f"   {r['kb_per_sleeping']:>13.1f}   {q['p50_ms']:.0f} / {q['p99_ms']:.0f} ms   {r['status_unanswered']} of {q['n']}"
        )
    return {"n": args.n, "runs": runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000, help="enrollments asleep")
    parser.add_argument("--cache", type=int, nargs="+", default=[1000, 10_000], help="WORKER_MAX_CACHED_WORKFLOWS values")
    parser.add_argument("--env", nargs="*", default=[], metavar="NAME=VALUE", help="more settings for the worker (experiments)")
    report = asyncio.run(bench(parser.parse_args()))
    print(f"results: {save_results('memory', report)}", flush=True)


if __name__ == "__main__":
    main()
