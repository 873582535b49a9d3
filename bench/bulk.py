#!/usr/bin/env python
"""Bulk enrollment: N contacts enrolled from a CSV through the CLI, and through the bulk
endpoint, against bare workflow starts on the same server.

    .venv/bin/python bench/bulk.py                 # 10,000 contacts each way (~6 min)
    .venv/bin/python bench/bulk.py --n 2000        # smaller

One product stack (bench/stack.py: the API and the worker as processes, a Temporal dev
server, Postgres). 2N contacts are written server-side. Then, one after the other:

* cli:  `cadence enroll KEY --csv FILE --rate R` as a subprocess (the user's
        command, progress bar and all; R high enough not to throttle), N contacts;
* api:  `POST /v1/enrollments/bulk` with 1,000 contacts per request, two requests in
        flight, the other N contacts (the API's BULK_STARTS_PER_SECOND set to R);
* bare: N bare workflows started with the Temporal client, 16 in flight (the engine
        benchmark's start concurrency), on a bare worker process: what starting a workflow
        costs on this server with nothing else.

The cadence's one email is a week after the start, so each workflow runs its first task and
sleeps (as the bare ones do). Rate = N / wall time; ratio = rate / bare rate (target >= 0.8). Figures go to
stdout and bench/results/bulk-<ts>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.stack import bare_repliers, product_stack, save_results  # noqa: E402

KEY = "bulk-bench"
CADENCE = {
    "key": KEY,
    "name": "Bulk benchmark",
    "steps": [{"id": "hello", "type": "email", "template": "t", "wait": {"days": 7}}],
    "templates": {"t": {"channel": "email", "subject": "Hello", "html": "<p>Hello</p>", "text": "Hello"}},
}
CONTACTS = """
    INSERT INTO contacts (id, external_id, email, consent, preferences, dates, fields, created_at, updated_at)
    SELECT md5('b' || g)::uuid, 'bulk-' || g, 'bulk' || g || '@example.com', '{}', '{}', '{}', '{}', now(), now()
      FROM generate_series(1, :n) g
"""


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


async def enrolled(engine: Any) -> int:
    import sqlalchemy as sa

    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM enrollments WHERE status <> 'pending'")).scalar_one())


async def via_cli(stack: Any, env: dict[str, str], refs: list[str], rate: float, tmp: Path) -> float:
    path = tmp / "contacts.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["external_id"])
        writer.writerows([r] for r in refs)
    command = [str(Path(sys.executable).parent / "cadence"), "enroll", KEY, "--csv", str(path), "--rate", str(rate)]
    t0 = time.perf_counter()
    done = await asyncio.to_thread(subprocess.run, command, env=env, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"the CLI failed ({done.returncode}): {done.stderr[-2000:]}")
    return wall


async def via_api(stack: Any, key: str, refs: list[str]) -> float:
    import httpx

    chunks = [refs[i : i + 1000] for i in range(0, len(refs), 1000)]
    slots = asyncio.Semaphore(2)
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=600, headers={"Authorization": f"Bearer {key}"}) as http:

        async def post(chunk: list[str]) -> None:
            async with slots:
                response = await http.post("/v1/enrollments/bulk", json={"cadence_id": KEY, "contacts": chunk})
                body = response.json()
                if response.status_code != 200 or body.get("failed"):
                    raise RuntimeError(f"bulk request answered {response.status_code}: {json.dumps(body)[:500]}")

        t0 = time.perf_counter()
        await asyncio.gather(*(post(c) for c in chunks))
        return time.perf_counter() - t0


async def bare_starts(stack: Any, n: int) -> float:
    async with bare_repliers(stack, "bulk", n) as bare:
        t0 = time.perf_counter()
        await bare.start()
        return time.perf_counter() - t0


async def main_async(args: argparse.Namespace) -> int:
    import tempfile

    import sqlalchemy as sa

    from core.db import transaction
    from models.cadences import save_bundle
    from models.keys import Role, create_key
    from starter.catalog import parse_text

    env_extra = {"BULK_STARTS_PER_SECOND": str(args.rate)}
    async with product_stack("bulk", env_extra, pool_size=10) as stack:
        with transaction(stack.engine) as session:
            save_bundle(session, parse_text(json.dumps(CADENCE)))
            _, key = create_key(session, name="bench-service", role=Role.service)
        with stack.engine.begin() as conn:
            conn.execute(sa.text(CONTACTS), {"n": 2 * args.n})
        env = {k: v for k, v in os.environ.items() if k != "TEST_DATABASE_URL"}
        env.update(
            DATABASE_URL=str(stack.engine.url.render_as_string(hide_password=False)),
            TEMPORAL_ADDRESS=stack.temporal_address,
            TASK_QUEUE=stack.queue,
            LOG_LEVEL="WARNING",
        )
        refs = [f"bulk-{i}" for i in range(1, 2 * args.n + 1)]
        tmp = Path(tempfile.mkdtemp(prefix="cadence-bulk-bench-"))
        results: dict[str, Any] = {}
        for phase in args.phases:
            if phase == "cli":
                wall = await via_cli(stack, env, refs[: args.n], args.rate, tmp)
            elif phase == "api":
                wall = await via_api(stack, key, refs[args.n :])
            else:
                wall = await bare_starts(stack, args.n)
            results[phase] = {"n": args.n, "wall_s": wall, "per_s": args.n / wall}
            log(f"{phase}: {args.n} in {wall:.1f} s ({args.n / wall:.0f}/s)")
            await asyncio.sleep(3)
        started = await enrolled(stack.engine)
    bare = results.get("bare", {}).get("per_s")
    print(f"\nBulk enrollment of {args.n} contacts each way (CLI --rate {args.rate:.0f}, API BULK_STARTS_PER_SECOND={args.rate:.0f})")
    for phase, r in results.items():
        ratio = f"  ratio to bare {r['per_s'] / bare:.2f}" if bare and phase != "bare" else ""
        print(f"{phase:<5} {r['wall_s']:7.1f} s  {r['per_s']:6.0f}/s{ratio}")
        if bare and phase != "bare":
            r["ratio_to_bare"] = r["per_s"] / bare
    print(f"enrollments started: {started}")
    report = {"benchmark": "bulk", "when": dt.datetime.now(dt.UTC).isoformat(), "args": vars(args), "results": results, "started": started}
    print(f"results: {save_results('bulk', report)}", flush=True)
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000, help="contacts each way (default 10,000)")
    parser.add_argument("--rate", type=float, default=10_000.0, help="the starts-per-second throttle given to the CLI and the API")
    parser.add_argument("--phases", nargs="+", default=["bare", "cli", "api"], choices=["bare", "cli", "api"])
    status = asyncio.run(main_async(parser.parse_args()))
    sys.stdout.flush()
    os._exit(status)  # sdk-python #300


if __name__ == "__main__":
    main()
