#!/usr/bin/env python
"""The 09:00 wave: N enrollments whose next email falls due before the send window opens
are held by the gate and all go out when it opens, spread over its first minutes.

    .venv/bin/python bench/wave.py                              # 10,000 contacts, one zone, spread 10 min (~12 min)
    .venv/bin/python bench/wave.py --n 2000 --spread 0          # smaller, everyone at the opening minute
    .venv/bin/python bench/wave.py --zones 10                   # contacts over 10 zones (see below)

One product stack (bench/stack.py: the API and the worker as processes, a Temporal dev
server, Postgres, an SMTP sink). The cadence's policy has a send window that opens at a
local clock time a few minutes after the starts are done ("09:00"; the benchmark picks the
minute so that the run does not wait for a real 09:00), on every day of the week, no caps,
and `spread_minutes` = --spread. Every enrollment starts with its first email due
--early minutes before the window opens, so each first attempt is deferred by the gate (the
night-before load) to the opening plus its spread offset, as at a real 09:00. With --zones
K the contacts are spread over K time zones that share the UTC offset of the first one at
this moment (their windows open at the same instant; what differs is each contact's
calendar).

Measured from Postgres (touches.sent_at, and the deferral each first attempt recorded):
sent before the window opened (must be 0), sent before the slot the spread gave it (must be
0: the spreading policy honoured), the drain curve (emails sent per minute after the
opening), lateness after the slot (p50/p99/max), and how long after the opening the last one
went out (target: within the spread + 10 minutes). Figures go to stdout and to
bench/results/wave-<ts>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import sys
import time
import zoneinfo
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.engine import pct  # noqa: E402
from bench.stack import product_stack, save_results  # noqa: E402

KEY = "wave-bench"
CONTACTS = """
    INSERT INTO contacts (id, external_id, email, timezone, consent, preferences, dates, fields, created_at, updated_at)
    SELECT md5('w' || g)::uuid, 'wave-' || g, 'wave' || g || '@example.com', (CAST(:zones AS text[]))[1 + g % cardinality(CAST(:zones AS text[]))],
           '{}', '{}', '{}', '{}', now(), now()
      FROM generate_series(1, :n) g
"""


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def same_offset_zones(first: str, k: int, at: dt.datetime) -> list[str]:
    """`first` and up to k-1 other zones with its UTC offset at `at`."""
    offset = at.astimezone(zoneinfo.ZoneInfo(first)).utcoffset()
    zones = [first]
    for name in sorted(zoneinfo.available_timezones()):
        if len(zones) >= k:
            break
        if name != first and "/" in name and not name.startswith(("Etc/", "SystemV/", "US/", "posix/", "right/")):
            if at.astimezone(zoneinfo.ZoneInfo(name)).utcoffset() == offset:
                zones.append(name)
    return zones


def cadence(opening_local: dt.time, spread: int, zone: str) -> dict[str, Any]:
    """Two email steps (the second a week later); the window opens at `opening_local`."""
    start = opening_local.strftime("%H:%M")
    return {
        "key": KEY,
        "name": "Wave benchmark",
        "steps": [
            {"id": "first", "type": "email", "template": "hello"},
            {"id": "later", "type": "email", "template": "hello", "wait": {"days": 7}},
        ],
        "policy": {
            "send_window": {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "start": start, "end": "23:59"},
            "caps": {"max_touches": 1000, "per_days": 1, "min_gap_hours": 0},
            "respect_holidays": False,
            "timezone": zone,
            "no_contact_days": 0,
            "blackouts": [],
            "sender_daily_cap": 1_000_000,
            "spread_minutes": spread,
        },
        "templates": {
            "hello": {
                "channel": "email",
                "subject": "Good morning {{ contact.first_name or 'there' }}",
                "html": "<p>Good morning, a note from the wave benchmark.</p>",
                "text": "Good morning, a note from the wave benchmark.",
            }
        },
    }


async def main_async(args: argparse.Namespace) -> int:
    import sqlalchemy as sa

    from core.db import transaction
    from models.cadences import save_bundle
    from starter.catalog import parse_text
    from starter.local import LocalCadence

    now = dt.datetime.now(dt.UTC)
    zones = same_offset_zones(args.zone, args.zones, now)
    tz = zoneinfo.ZoneInfo(args.zone)
    # The window opens at the first whole minute after the starts can be done.
    opening = (now + dt.timedelta(seconds=args.lead + 60)).replace(second=0, microsecond=0)
    opening_local = opening.astimezone(tz)
    if opening_local.date() != (opening_local - dt.timedelta(minutes=args.early + 1)).date() or opening_local.hour >= 23:
        log("the window would open around local midnight; pick another --zone")
        return 2
    due = opening - dt.timedelta(minutes=args.early)
    log(f"zones {zones}; window opens {opening_local:%H:%M} local ({opening:%H:%M} UTC); first emails due {args.early} min before")
    async with product_stack("wave", pool_size=10) as stack:
        with transaction(stack.engine) as session:
            save_bundle(session, parse_text(json.dumps(cadence(opening_local.time(), args.spread, args.zone)), source="wave.json"))
        with stack.engine.begin() as conn:
            conn.execute(sa.text(CONTACTS), {"n": args.n, "zones": zones})
        client = LocalCadence(stack.temporal, stack.engine, task_queue=stack.queue)
        slots = asyncio.Semaphore(32)

        async def enroll(i: int) -> str:
            async with slots:
                return (await client.enroll(KEY, f"wave-{i}", start_at=due, actor="bench")).id

        t0 = time.perf_counter()
        await asyncio.gather(*(enroll(i) for i in range(1, args.n + 1)))
        start_s = time.perf_counter() - t0
        log(f"{args.n} enrollments started in {start_s:.0f} s ({args.n / start_s:.0f}/s)")
        if dt.datetime.now(dt.UTC) > opening:
            log("WARNING: the starts ran past the opening (raise --lead)")
        deadline = opening + dt.timedelta(minutes=args.spread + args.limit)
        per_minute: dict[int, int] = {}
        while dt.datetime.now(dt.UTC) < deadline:
            with stack.engine.connect() as conn:
                sent = conn.execute(sa.text("SELECT count(*) FROM touches WHERE step_id = 'first' AND status = 'sent'")).scalar_one()
            if sent >= args.n:
                break
            await asyncio.sleep(2)
        with stack.engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT t.sent_at, e.deferred_until FROM touches t "
                    "LEFT JOIN LATERAL (SELECT (a.details->>'until')::timestamptz AS deferred_until FROM audit_log a "
                    "  WHERE a.enrollment_id = t.enrollment_id AND a.action = 'gate_defer' ORDER BY a.id LIMIT 1) e ON true "
                    "WHERE t.step_id = 'first'"
                )
            ).all()
            deferred = conn.execute(
                sa.text("SELECT count(*) FROM enrollments WHERE next_step_at >= :o AND current_step = 0"), {"o": opening}
            ).scalar_one()
    sent_rows = [r for r in rows if r.sent_at is not None]
    early = sum(1 for r in sent_rows if r.sent_at < opening)
    with_slot = [r for r in sent_rows if r.deferred_until is not None]
    before_slot = sum(1 for r in with_slot if r.sent_at < r.deferred_until)
    lateness = [(r.sent_at - r.deferred_until).total_seconds() for r in with_slot]
    for r in sent_rows:
        minute = int((r.sent_at - opening).total_seconds() // 60)
        per_minute[minute] = per_minute.get(minute, 0) + 1
    last = max((r.sent_at for r in sent_rows), default=None)
    report: dict[str, Any] = {
        "benchmark": "wave",
        "when": dt.datetime.now(dt.UTC).isoformat(),
        "args": vars(args),
        "zones": zones,
        "cpus": os.cpu_count(),
        "opening_utc": opening.isoformat(),
        "start_per_s": args.n / start_s,
        "sent": len(sent_rows),
        "sent_before_opening": early,
        "with_recorded_slot": len(with_slot),
        "sent_before_slot": before_slot,
        "still_deferred": deferred,
        "lateness_after_slot_s": {"p50": pct(lateness, 50), "p99": pct(lateness, 99), "max": max(lateness, default=None)},
        "last_sent_after_opening_s": (last - opening).total_seconds() if last else None,
        "sent_per_minute": dict(sorted(per_minute.items())),
    }
    print(f"\n09:00 wave: {args.n} enrollments, window opening {opening_local:%H:%M} local, spread {args.spread} min, zones {len(zones)}")
    print(
        f"sent {len(sent_rows)} of {args.n}; before the opening {early}; before their spread slot {before_slot} (of {len(with_slot)} with a slot)"
    )
    lat = report["lateness_after_slot_s"]
    if lateness:
        print(f"lateness after the slot: p50 {lat['p50']:.1f} s, p99 {lat['p99']:.1f} s, max {lat['max']:.1f} s")
    if last is not None:
        print(f"last email {report['last_sent_after_opening_s']:.0f} s after the opening")
    print("sent per minute after the opening: " + ", ".join(f"{m:+d}: {c}" for m, c in sorted(per_minute.items())))
    print(f"results: {save_results('wave', report)}", flush=True)
    return 0 if early == 0 and before_slot == 0 and len(sent_rows) == args.n else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000, help="enrollments (default 10,000)")
    parser.add_argument("--zone", default="UTC", help="the contacts' time zone (default UTC)")
    parser.add_argument("--zones", type=int, default=1, help="spread the contacts over this many zones of the same offset")
    parser.add_argument("--spread", type=int, default=10, help="the policy's spread_minutes (default 10)")
    parser.add_argument("--early", type=int, default=30, help="minutes before the opening the first emails fall due (default 30)")
    parser.add_argument("--lead", type=float, default=240.0, help="seconds allowed for the starts (default 240)")
    parser.add_argument("--limit", type=float, default=10.0, help="minutes after the spread to wait for the last email (default 10)")
    status = asyncio.run(main_async(parser.parse_args()))
    sys.stdout.flush()
    os._exit(status)  # sdk-python #300


if __name__ == "__main__":
    main()
