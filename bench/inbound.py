"""Inbound benchmark: Twilio reply webhooks at 50 requests per second.

    .venv/bin/python bench/inbound.py [--contacts 1000] [--rate 50]

Starts a Temporal dev server, a throwaway Postgres database, an SMTP sink, the product's
worker and its API (`cadence api`) as separate processes, enrolls N contacts in a two-step
cadence (an email now, the next one in a day), waits until every first email is out, then
sends each contact's reply as a signed Twilio inbound-SMS webhook, N of them at the given
rate. Measured:

* acknowledgement latency: from sending the webhook to Twilio getting its 200 (the event
  and its effects are committed to Postgres before the answer);
* reply-to-halted latency: from sending the webhook to the workflow applying the reply and
  ending the enrollment (the time the workflow recorded for its "ended" transition).

With --background B (default 500), B other enrollments (three emails, 2 s apart) are all
due when the replies begin, so the engine is sending while the replies arrive. Then, on the
same dev server, the physical limit: N bare workflows that wait for a signal and end
(bench.bare.BareReplied, on a bare worker process), signalled at the same rate; signal ->
workflow closed (the close time Temporal recorded) beside reply -> halted.

Figures go to stdout and to bench/results/inbound-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.engine import log  # noqa: E402
from bench.stack import bare_repliers, product_stack, save_results, summary_ms  # noqa: E402

AUTH_TOKEN = "bench-twilio-auth-token"
CADENCE = {
    "key": "inbound-bench",
    "name": "Inbound benchmark",
    "steps": [{"id": "hello", "type": "email", "template": "t"}, {"id": "later", "type": "email", "template": "t", "wait": {"days": 1}}],
    "templates": {"t": {"channel": "email", "subject": "Hello", "html": "<p>Hello</p>", "text": "Hello"}},
}
BACKGROUND = {
    "key": "inbound-background",
    "name": "Sending meanwhile",
    "steps": [{"id": f"s{i}", "type": "email", "template": "t", "wait": {"seconds": 2}} for i in range(3)],
    "templates": CADENCE["templates"],
}


def phone(i: int) -> str:
    """A valid, distinct North American number per contact."""
    return f"+1212{2000000 + i:07d}"


async def main_async(args: argparse.Namespace) -> int:
    import httpx
    import sqlalchemy as sa
    from twilio.request_validator import RequestValidator

    from core.db import transaction
    from models.cadences import save_bundle
    from models.contacts import upsert_contact
    from models.schemas import ContactIn
    from starter.catalog import parse_text
    from starter.local import LocalCadence

    async with product_stack("inbound", {"TWILIO_AUTH_TOKEN": AUTH_TOKEN, "SMS_OUTBOX": "true"}, pool_size=10) as stack:
        engine, sink, api_url = stack.engine, stack.sink, stack.api_url
        log(f"API {api_url}, worker pid {stack.worker.pid}, Temporal {stack.temporal_address}, Postgres {stack.pg_source}")

        with transaction(engine) as session:
            save_bundle(session, parse_text(json.dumps(CADENCE)))
            save_bundle(session, parse_text(json.dumps(BACKGROUND)))
            for i in range(args.contacts):
                upsert_contact(session, ContactIn(external_id=f"ib-{i}", email=f"ib{i}@bench.example.com", phone=phone(i)))
            for i in range(args.background):
                upsert_contact(session, ContactIn(external_id=f"bg-{i}", email=f"bg{i}@bench.example.com"))
        client = LocalCadence(stack.temporal, engine, task_queue=stack.queue)
        sem = asyncio.Semaphore(16)

        async def enroll(i: int) -> str:
            async with sem:
                return (await client.enroll("inbound-bench", f"ib-{i}")).id

        started = time.monotonic()
        enrollment_ids = await asyncio.gather(*[enroll(i) for i in range(args.contacts)])
        log(f"enrolled {len(enrollment_ids)} in {time.monotonic() - started:.1f} s; waiting for the first emails")
        while sink.count < args.contacts:
            await asyncio.sleep(0.5)
        if args.background:
            replies_begin = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=args.background / 40 + 5)

            async def enroll_background(i: int) -> str:
                async with sem:
                    return (await client.enroll("inbound-background", f"bg-{i}", start_at=replies_begin)).id

            await asyncio.gather(*[enroll_background(i) for i in range(args.background)])
            log(f"{args.background} background enrollments due at {replies_begin:%H:%M:%S}, when the replies begin")
            await asyncio.sleep(max(0.0, (replies_begin - dt.datetime.now(dt.UTC)).total_seconds()))
        background_base = sink.count

        validator = RequestValidator(AUTH_TOKEN)
        url = f"{api_url}/webhooks/twilio/sms"
        sent_at: dict[str, float] = {}
        acks: list[float] = []
        failures = 0
        interval = 1.0 / args.rate
        loop = asyncio.get_running_loop()

        async def post(http: httpx.AsyncClient, i: int) -> None:
            nonlocal failures
            params = {
                "MessageSid": "SM" + uuid.uuid4().hex,
                "AccountSid": "AC" + "0" * 32,
                "From": phone(i),
                "To": "+15005550006",
                "Body": "Who is this?",
                "NumMedia": "0",
            }
            headers = {"X-Twilio-Signature": validator.compute_signature(url, params)}
            start = time.time()
            sent_at[enrollment_ids[i]] = start
            t0 = time.perf_counter()
            response = await http.post(url, data=params, headers=headers)
            acks.append(time.perf_counter() - t0)
            if response.status_code != 200:
                failures += 1

        log(f"sending {args.contacts} signed replies at {args.rate}/s")
        async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=64)) as http:
            tasks = []
            begin = loop.time()
            for i in range(args.contacts):
                delay = begin + i * interval - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(post(http, i)))
            await asyncio.gather(*tasks)
            achieved = args.contacts / (loop.time() - begin)

        deadline = time.monotonic() + args.timeout
        halted: dict[str, dt.datetime] = {}
        while time.monotonic() < deadline and len(halted) < args.contacts:
            with engine.connect() as conn:
                rows = conn.execute(sa.text("SELECT id, ended_at FROM enrollments WHERE status = 'replied'")).all()
            halted = {str(r[0]): r[1] for r in rows if r[1] is not None}
            await asyncio.sleep(0.5)
        halt_latency = [halted[e].timestamp() - sent_at[e] for e in sent_at if e in halted]
        background_sent = sink.count - background_base
        bare = await bare_phase(stack, args) if args.bare else None
        report = {
            "benchmark": "inbound",
            "when": dt.datetime.now(dt.UTC).isoformat(),
            "contacts": args.contacts,
            "rate_asked": args.rate,
            "rate_achieved": achieved,
            "failures": failures,
            "halted_count": len(halted),
            "ack": summary_ms(acks),
            "halted": summary_ms(halt_latency) if halt_latency else None,
            "background": args.background,
            "background_emails_sent_meanwhile": background_sent,
            "bare": bare,
        }
        print(f"\nwebhooks: {args.contacts} at {achieved:.1f}/s ({failures} not 200); halted {len(halted)}/{args.contacts}")
        print(f"meanwhile {background_sent} emails of {args.background} background enrollments went out")
        for label, key in (("acknowledgement", "ack"), ("reply -> halted", "halted")):
            if report[key]:
                print(
                    f"{label + ':':18s} p50 {report[key]['p50_ms']:7.1f} ms   p99 {report[key]['p99_ms']:7.1f} ms   max {report[key]['max_ms']:7.1f} ms"
                )
        if bare:
            b = bare["closed"]
            print(
                f"{'bare signal->closed:':18s} p50 {b['p50_ms']:7.1f} ms   p99 {b['p99_ms']:7.1f} ms   max {b['max_ms']:7.1f} ms"
                f"   ({bare['closed_count']}/{args.contacts} closed, signals at {bare['rate_achieved']:.1f}/s)"
            )
        print(f"results: {save_results('inbound', report)}")
        return 0 if failures == 0 and len(halted) == args.contacts else 1


async def bare_phase(stack: Any, args: argparse.Namespace) -> dict[str, Any]:
    """N bare workflows waiting for a signal on a bare worker; signalled at the same rate."""
    from bench.bare import BARE_REPLIED

    async with bare_repliers(stack, "inbound", args.contacts) as bare:
        handles = await bare.start()
        await asyncio.sleep(3)
        log(f"bare: {len(handles)} waiting; signalling at {args.rate}/s")
        signalled: dict[str, float] = {}
        loop = asyncio.get_running_loop()
        begin = loop.time()
        tasks = []

        async def signal(handle: Any) -> None:
            signalled[handle.id] = time.time()
            await handle.signal("reply")

        for i, handle in enumerate(handles):
            delay = begin + i / args.rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(signal(handle)))
        await asyncio.gather(*tasks)
        achieved = len(handles) / (loop.time() - begin)
        closed: dict[str, float] = {}
        deadline = time.monotonic() + args.timeout
        query = f"WorkflowType = '{BARE_REPLIED}' AND TaskQueue = '{bare.queue}' AND ExecutionStatus = 'Completed'"
        while time.monotonic() < deadline and len(closed) < len(handles):
            async for execution in stack.temporal.list_workflows(query):
                if execution.close_time is not None:
                    closed[execution.id] = execution.close_time.timestamp()
            await asyncio.sleep(1)
        latency = [closed[w] - signalled[w] for w in signalled if w in closed]
        return {"rate_achieved": achieved, "closed_count": len(closed), "closed": summary_ms(latency)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--background", type=int, default=500, help="enrollments sending while the replies arrive (default 500)")
    parser.add_argument("--no-bare", dest="bare", action="store_false", help="skip the bare signal -> closed baseline")
    status = asyncio.run(main_async(parser.parse_args()))
    sys.stdout.flush()
    os._exit(status)


if __name__ == "__main__":
    main()
