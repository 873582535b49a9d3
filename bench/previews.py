#!/usr/bin/env python
"""Preview benchmark: how long "what will this contact receive, and when?" takes for the
12-step outbound cadence, alone and 20 at once, and whether previews slow the engine.

    .venv/bin/python bench/previews.py                      # 60 single, 5 rounds of 20, 2 x 150 enrollments
    .venv/bin/python bench/previews.py --single 20 --rounds 2 --engine-n 60

On the product stack (the worker as its own process, the dev server, Postgres):
1. Single: `--single` previews one after another of `outbound-12-day` (12 steps, the
   shipped policy: windows, weekends, holidays, caps) for a stored contact in Chicago that
   has another open enrollment (its live state is read by a workflow query and stepped
   alongside). p50/p99 in ms.
2. Concurrent: `--rounds` rounds of 20 previews started at once: each preview's latency
   (p50/p99) and the round's wall time. The service lets PREVIEW_CONCURRENCY run at a time.
3. Engine: `--engine-n` enrollments of a 3-email cadence (1 s apart) run to completion
   twice, alternately with and without 20 previews at a time running throughout: steps/s
   of each, their ratio (1.0: previews cost the engine nothing), and the latency of the
   previews made while the engine ran.
4. Forecast: `--forecast-n` running enrollments of `outbound-12-day` (10 owners, three
   zones, first step tomorrow): the capacity forecast of every owner for 12 weeks, 3 runs.

Figures go to stdout and bench/results/previews-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.stack import product_stack, save_results, summary_ms  # noqa: E402

QUICK = """
key: preview-bench-engine
name: Preview benchmark engine load
steps:
  - {id: one, type: email, template: t}
  - {id: two, type: email, template: t, wait: {seconds: 1}}
  - {id: three, type: email, template: t, wait: {seconds: 1}}
templates:
  t: {channel: email, subject: "Hello", html: "<p>Hello</p>", text: "Hello"}
"""


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    from sqlmodel import func, select

    from core.db import transaction
    from models.contacts import upsert_contact
    from models.schemas import ContactIn
    from models.tables import Enrollment
    from starter.catalog import load_policy, playbook_files
    from starter.local import LocalCadence
    from starter.service.previews import PreviewRequest

    report: dict[str, Any] = {"single": args.single, "rounds": args.rounds, "engine_n": args.engine_n}
    async with product_stack("previews", pool_size=10) as stack:
        client = LocalCadence(stack.temporal, stack.engine, task_queue=stack.queue, policy=load_policy())
        report["postgres"] = stack.pg_source
        for name in ("outbound-12-day", "email-call-5-day"):
            await client.publish_cadence(next(p for p in playbook_files() if p.stem == name).read_text(), actor="bench")
        quick_id = uuid.UUID((await client.publish_cadence(QUICK, actor="bench")).id)
        with transaction(stack.engine) as session:
            upsert_contact(
                session,
                ContactIn(
                    external_id="bench-pv",
                    email="pv@example.com",
                    phone="+14155552671",
                    timezone="America/Chicago",
                    country="US",
                    consent={"call": {"granted": True}},
                ),
            )
            for i in range(args.engine_n * 4):
                upsert_contact(session, ContactIn(external_id=f"bench-load-{i}", email=f"load{i}@example.com"))
        if args.other:
            other = await client.enroll("email-call-5-day", "bench-pv", start_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=1))
            for _ in range(100):
                if (await client.status(other.id)).live is not None:
                    break
                await asyncio.sleep(0.1)
        request = PreviewRequest(cadence="outbound-12-day", contact_id="bench-pv")
        first = await client.preview(request)
        assert first.other_open_enrollments == int(args.other), first.other_open_enrollments
        report["items"] = [i.sentence for i in first.items]
        log(f"{len(first.items)} items, {first.counts}")

        async def timed() -> float:
            started = time.perf_counter()
            await client.preview(request)
            return time.perf_counter() - started

        single = [await timed() for _ in range(args.single)]
        report["single_ms"] = summary_ms(single)
        log(f"single: p50 {report['single_ms']['p50_ms']:.1f} ms, p99 {report['single_ms']['p99_ms']:.1f} ms")
        each, walls = [], []
        for _ in range(args.rounds):
            started = time.perf_counter()
            each += await asyncio.gather(*(timed() for _ in range(20)))
            walls.append(time.perf_counter() - started)
        report["concurrent_ms"] = {**summary_ms(each), "round_wall_s": walls}
        log(f"20 at once: p50 {report['concurrent_ms']['p50_ms']:.0f} ms, p99 {report['concurrent_ms']['p99_ms']:.0f} ms, rounds {walls}")

        async def engine_run(tag: str, loaded: bool) -> float:
            base = runs_done[0] * args.engine_n
            people = [f"bench-load-{i}" for i in range(base, base + args.engine_n)]
            stop = asyncio.Event()

            async def load() -> None:
                while not stop.is_set():
                    under_load.extend(await asyncio.gather(*(timed() for _ in range(20))))

            loader = asyncio.create_task(load()) if loaded else None
            started = time.perf_counter()
            rows = await client.bulk_enroll("preview-bench-engine", people, per_second=500)
            assert all(r.ok for r in rows), [r.error for r in rows if not r.ok][:3]
            while True:
                with transaction(stack.engine) as session:
                    done = session.exec(
                        select(func.count())
                        .select_from(Enrollment)
                        .where(Enrollment.status == "completed", Enrollment.cadence_id == quick_id)
                    ).one()
                if done >= base + len(people):
                    break
                await asyncio.sleep(0.25)
            took = time.perf_counter() - started
            stop.set()
            if loader is not None:
                await loader
            runs_done[0] += 1
            rate = len(people) * 3 / took
            log(f"engine {tag}: {len(people)} x 3 steps in {took:.1f} s = {rate:.1f} steps/s")
            return rate

        runs_done = [0]
        under_load: list[float] = []
        plain: list[float] = []
        loaded: list[float] = []
        for round_ in range(2):
            for with_load in (False, True) if round_ % 2 == 0 else (True, False):
                (loaded if with_load else plain).append(await engine_run("with previews" if with_load else "alone", with_load))
        report["engine_steps_per_s"] = {"alone": plain, "with_previews": loaded}
        report["engine_ratio_median"] = statistics.median(loaded) / statistics.median(plain)
        log(f"engine with 20 previews at a time running / alone: {report['engine_ratio_median']:.2f}")
        report["concurrent_while_engine_runs_ms"] = summary_ms(under_load)
        log(
            f"{len(under_load)} previews, 20 at a time, while the engine ran: "
            f"p50 {report['concurrent_while_engine_runs_ms']['p50_ms']:.0f} ms, p99 {report['concurrent_while_engine_runs_ms']['p99_ms']:.0f} ms"
        )
        # 4. The capacity forecast over --forecast-n running enrollments (first step tomorrow).
        if not args.forecast_n:
            return report
        people = [f"bench-fc-{i}" for i in range(args.forecast_n)]
        with transaction(stack.engine) as session:
            for i, ref in enumerate(people):
                upsert_contact(
                    session,
                    ContactIn(
                        external_id=ref,
                        email=f"fc{i}@example.com",
                        phone="+14155552671",
                        timezone=("America/Chicago", "Europe/Berlin", "Asia/Tokyo")[i % 3],
                        country=("US", "DE", "JP")[i % 3],
                        owner_id=f"rep-{i % 10}",
                        consent={"call": {"granted": True}},
                    ),
                )
        tomorrow = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
        rows = await client.bulk_enroll("outbound-12-day", people, start_at=tomorrow, per_second=200)
        assert all(r.ok for r in rows), [r.error for r in rows if not r.ok][:3]
        times = []
        for _ in range(3):
            started = time.perf_counter()
            fc = await client.forecast()
            times.append(time.perf_counter() - started)
        report["forecast"] = {
            "enrollments": fc.enrollments,
            "owners": len(fc.owners),
            "seconds": times,
            "p50_s": statistics.median(times),
            "tasks": sum(w.forecast for o in fc.owners for w in o.weeks),
            "over_weeks": sum(o.over_weeks for o in fc.owners),
        }
        log(f"forecast of {fc.enrollments} running enrollments, {len(fc.owners)} owners: {report['forecast']}")
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--single", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--engine-n", type=int, default=150)
    parser.add_argument("--forecast-n", type=int, default=500)
    parser.add_argument(
        "--other", action=argparse.BooleanOptionalAction, default=True, help="the previewed contact has another open enrollment"
    )
    args = parser.parse_args()
    report = asyncio.run(bench(args))
    path = save_results("previews", report)
    print(f"results: {path}", flush=True)


if __name__ == "__main__":
    main()
