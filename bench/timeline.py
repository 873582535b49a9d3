"""Timeline and console benchmark: an enrollment with 50 events.

    .venv/bin/python bench/timeline.py [--events 50] [--calls 50]

Starts a Temporal dev server, a throwaway Postgres database and the product's worker, runs
one enrollment through two steps, then sends it 50 named events that it records but does
not exit on (each one a signal in its history and an entry in the audit log). Then it
measures, with the worker and API running:

* the timeline: GET /v1/enrollments/{id}/timeline (audit log, touches, inbound events and
  the live Temporal history, merged), p50/p99 over --calls calls;
* the console: GET /console/enrollments/{id} (the enrollment page with its timeline) and
  GET /console/enrollments (the list), signed in, p50/p99.

Figures go to stdout and to bench/results/timeline-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.engine import SmtpSink, WorkerProc, free_port, pct, pick_postgres  # noqa: E402

CADENCE = {
    "key": "timeline-bench",
    "name": "Timeline benchmark",
    "exit_on": ["reply"],
    "steps": [
        {"id": "hello", "type": "email", "template": "t"},
        {"id": "again", "type": "email", "template": "t", "wait": {"seconds": 1}},
        {"id": "later", "type": "email", "template": "t", "wait": {"days": 30}},
    ],
    "templates": {"t": {"channel": "email", "subject": "Hello", "html": "<p>Hello</p>", "text": "Hello"}},
}


def summary(samples: list[float]) -> dict[str, float]:
    return {"p50_ms": (pct(samples, 0.5) or 0) * 1e3, "p99_ms": (pct(samples, 0.99) or 0) * 1e3, "n": len(samples)}


async def main_async(args: argparse.Namespace) -> int:
    import httpx

    from core import devserver
    from core.db import make_engine, transaction
    from core.postgres import drop_database, ensure_database, migrate
    from models.cadences import save_bundle
    from models.catalog import parse_text
    from models.contacts import upsert_contact
    from models.keys import Role, create_key
    from models.schemas import ContactIn
    from starter.client import CadenceClient

    tmp = Path(tempfile.mkdtemp(prefix="cadence-timeline-bench-"))
    server_url, pg_handle, pg_source = pick_postgres()
    dbname = f"cadence_timeline_{uuid.uuid4().hex[:8]}"
    db_url = await asyncio.to_thread(ensure_database, server_url, dbname)
    await asyncio.to_thread(migrate, db_url)
    sink = SmtpSink()
    sink.start()
    server = devserver.start(tmp / "temporal", port=free_port(), ui_port=None)
    engine = make_engine(db_url, pool_size=5)
    worker: WorkerProc | None = None
    api: subprocess.Popen[bytes] | None = None
    try:
        temporal = await devserver.wait_ready(server)
        queue = f"timeline-bench-{uuid.uuid4().hex[:6]}"
        port = free_port()
        env = {k: v for k, v in os.environ.items() if k != "TEST_DATABASE_URL"}
        env.update(DATABASE_URL=db_url, TEMPORAL_ADDRESS=server.address, TASK_QUEUE=queue, SMTP_HOST="127.0.0.1", SMTP_PORT=str(sink.port),
                   LOG_LEVEL="WARNING", POLICY_FILE=str(ROOT / "tests" / "support" / "open-policy.yaml"), PUBLIC_BASE_URL=f"http://127.0.0.1:{port}")
        worker = WorkerProc("cadence", queue, env, tmp / "worker.log")
        worker.start()
        await worker.wait_polling(temporal)
        api = subprocess.Popen([str(Path(sys.executable).parent / "cadence"), "api", "--port", str(port)], env=env, cwd=ROOT,
                               stdout=(tmp / "api.log").open("ab"), stderr=subprocess.STDOUT, start_new_session=True)
        with transaction(engine) as session:
            save_bundle(session, parse_text(json.dumps(CADENCE)))
            upsert_contact(session, ContactIn(external_id="tl-1", email="tl1@bench.example.com", first_name="Tess"))
            _, key = create_key(session, name="bench-auditor", role=Role.cs_lead)
        client = CadenceClient(temporal, engine, task_queue=queue)
        info = await client.enroll("timeline-bench", "tl-1", actor="bench")
        while sink.count < 2:
            await asyncio.sleep(0.2)
        for n in range(args.events):
            await client.send_event("event", "tl-1", event_id=f"bench-{n}", name="page_viewed")
        while True:
            detail = await client.status(info.id)
            if detail.live is not None and detail.live.counters.events >= args.events:
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)  # let the last transitions reach the audit log
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base, timeout=60, follow_redirects=False) as http:
            for _ in range(300):
                try:
                    if (await http.get("/healthz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
            headers = {"Authorization": f"Bearer {key}"}
            first = (await http.get(f"/v1/enrollments/{info.id}/timeline", headers=headers)).json()
            entries = len(first["entries"])
            timeline_times = []
            for _ in range(args.calls):
                t0 = time.perf_counter()
                response = await http.get(f"/v1/enrollments/{info.id}/timeline", headers=headers)
                timeline_times.append(time.perf_counter() - t0)
                assert response.status_code == 200
            login = await http.get("/console/login")
            token = login.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
            signed_in = await http.post("/console/login", data={"api_key": key, "csrf": token, "next": "/console/enrollments"})
            assert signed_in.status_code in (302, 303), signed_in.text[:500]
            page_times, list_times = [], []
            for _ in range(args.calls):
                t0 = time.perf_counter()
                page = await http.get(f"/console/enrollments/{info.id}")
                page_times.append(time.perf_counter() - t0)
                assert page.status_code == 200, page.status_code
                t0 = time.perf_counter()
                listing = await http.get("/console/enrollments")
                list_times.append(time.perf_counter() - t0)
                assert listing.status_code == 200
        report = {
            "benchmark": "timeline",
            "when": dt.datetime.now(dt.UTC).isoformat(),
            "events_sent": args.events,
            "timeline_entries": entries,
            "history_source": first["history_source"],
            "timeline_api": summary(timeline_times),
            "console_enrollment_page": summary(page_times),
            "console_enrollment_list": summary(list_times),
        }
        print(f"\nenrollment with {args.events} events: {entries} timeline entries (history from {first['history_source']})")
        for name in ("timeline_api", "console_enrollment_page", "console_enrollment_list"):
            print(f"{name:26s} p50 {report[name]['p50_ms']:7.1f} ms   p99 {report[name]['p99_ms']:7.1f} ms")
        out = ROOT / "bench" / "results"
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"timeline-{dt.datetime.now(dt.UTC):%Y%m%d-%H%M%S}.json"
        path.write_text(json.dumps(report, indent=2))
        print(f"results: {path}  (Postgres: {pg_source})")
        return 0
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=50)
    parser.add_argument("--calls", type=int, default=50)
    status = asyncio.run(main_async(parser.parse_args()))
    sys.stdout.flush()
    os._exit(status)


if __name__ == "__main__":
    main()
