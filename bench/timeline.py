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
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.stack import product_stack, save_results, summary_ms  # noqa: E402

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


async def main_async(args: argparse.Namespace) -> int:
    import httpx

    from core.db import transaction
    from models.cadences import save_bundle
    from models.contacts import upsert_contact
    from models.keys import Role, create_key
    from models.schemas import ContactIn
    from starter.catalog import parse_text
    from starter.local import LocalCadence

    async with product_stack("timeline") as stack:
        engine, sink, pg_source = stack.engine, stack.sink, stack.pg_source
        with transaction(engine) as session:
            save_bundle(session, parse_text(json.dumps(CADENCE)))
            upsert_contact(session, ContactIn(external_id="tl-1", email="tl1@bench.example.com", first_name="Tess"))
            _, key = create_key(session, name="bench-auditor", role=Role.cs_lead)
        client = LocalCadence(stack.temporal, engine, task_queue=stack.queue)
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
        async with httpx.AsyncClient(base_url=stack.api_url, timeout=60, follow_redirects=False) as http:
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
            "timeline_api": summary_ms(timeline_times),
            "console_enrollment_page": summary_ms(page_times),
            "console_enrollment_list": summary_ms(list_times),
        }
        print(f"\nenrollment with {args.events} events: {entries} timeline entries (history from {first['history_source']})")
        for name in ("timeline_api", "console_enrollment_page", "console_enrollment_list"):
            print(f"{name:26s} p50 {report[name]['p50_ms']:7.1f} ms   p99 {report[name]['p99_ms']:7.1f} ms")
        print(f"results: {save_results('timeline', report)}  (Postgres: {pg_source})")
        return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=50)
    parser.add_argument("--calls", type=int, default=50)
    status = asyncio.run(main_async(parser.parse_args()))
    sys.stdout.flush()
    os._exit(status)


if __name__ == "__main__":
    main()
