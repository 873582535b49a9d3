"""Gate benchmark: 10,000 due touches through the gate.

    .venv/bin/python bench/gate.py [--touches 10000] [--contacts 2000] [--threads 8]

Two measurements in one run, on a throwaway database:

* pure decisions: `cadence.gate.decide` alone (windows, quiet hours, holidays, caps) for
  every touch, single-threaded: decisions per second and p50/p99 per decision;
* with the Postgres reservation: what the send activity does before calling a provider,
  per touch in its own transaction: the per-contact advisory lock, the gate with the
  contact's recent touches read from Postgres, and the claim row written (or the refusal
  audited). Run from several threads at once, like a worker's activity slots.

The touches are spread over contacts in several time zones, with a send window, caps of
3 per 7 days, and a realistic mix of allows, deferrals and skips. Figures go to stdout and
to bench/results/gate-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import os
import random
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.engine import pct, pick_postgres  # noqa: E402
from bench.stack import save_results  # noqa: E402
from cadence.gate import decide  # noqa: E402
from core.db import make_engine, transaction  # noqa: E402
from core.postgres import drop_database, ensure_database, migrate  # noqa: E402
from models import locks  # noqa: E402
from models.cadences import save_bundle  # noqa: E402
from models.contacts import policy_in_force, upsert_contact  # noqa: E402
from models.enrollments import create_or_get  # noqa: E402
from models.schemas import ContactIn  # noqa: E402
from models.tables import Contact, Touch  # noqa: E402
from starter.catalog import parse_policy, parse_text  # noqa: E402

POLICY = parse_policy("""
defaults:
  send_window: {days: [mon, tue, wed, thu, fri], start: "09:00", end: "17:00"}
  caps: {max_touches: 3, per_days: 7, min_gap_hours: 0}
  respect_holidays: true
  sender_daily_cap: 100000
  spread_minutes: 120
""")
ZONES = [
    ("America/Chicago", "US", "IL"),
    ("America/New_York", "US", "NY"),
    ("Europe/Berlin", "DE", None),
    ("Asia/Kolkata", "IN", None),
    ("Australia/Sydney", "AU", None),
    ("America/Los_Angeles", "US", "CA"),
    ("Europe/London", "GB", None),
]
CADENCE = """
key: gate-bench-{n}
name: Gate bench {n}
steps:
  - {{id: hello, type: email, template: hello}}
templates:
  hello: {{channel: email, subject: "Hello", html: "<p>Hello</p>", text: "Hello"}}
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--touches", type=int, default=10_000)
    parser.add_argument("--contacts", type=int, default=2_000)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    rng = random.Random(7)
    server, handle, _ = pick_postgres()
    name = f"cadence_gate_bench_{uuid.uuid4().hex[:8]}"
    migrate(ensure_database(server, name))
    engine = make_engine(ensure_database(server, name), pool_size=args.threads + 2)
    try:
        print(f"setting up {args.contacts} contacts and {args.touches} touches...", flush=True)
        cadences = []
        with transaction(engine) as session:
            for n in range(args.touches // args.contacts + 1):
                cadences.append(save_bundle(session, parse_text(CADENCE.format(n=n)))[:2])
        contacts: list[Contact] = []
        with transaction(engine) as session:
            for i in range(args.contacts):
                zone, country, region = ZONES[i % len(ZONES)]
                person, _ = upsert_contact(
                    session, ContactIn(external_id=f"gb-{i}", email=f"c{i}@example.com", timezone=zone, country=country, region=region)
                )
                contacts.append(person)
        touches: list[tuple[Contact, str, str]] = []
        with transaction(engine) as session:
            for t in range(args.touches):
                person = contacts[t % args.contacts]
                cadence, version = cadences[t // args.contacts]
                row, _ = create_or_get(session, cadence=cadence, version=version, contact=person, actor="bench")
                touches.append((person, str(row.id), str(version.id)))
        rng.shuffle(touches)
        # One instant for every touch: "10,000 due at the same time" (a weekday, 14:00 UTC).
        now = dt.datetime(2026, 12, 2, 14, 0, tzinfo=dt.UTC)

        # 1. Pure decisions, with each contact's earlier touches as recent history.
        from activities.gatekeeping import contact_facts

        with transaction(engine) as session:
            facts = {c.id: contact_facts(session, c) for c in contacts}
        history: dict[uuid.UUID, list[dt.datetime]] = {}
        pure_times = []
        outcomes: dict[str, int] = {}
        from cadence.gate import Recent

        for person, enrollment_id, _ in touches:
            policy = policy_in_force(POLICY, person, None, None)
            recent = Recent(contact=tuple(history.get(person.id, ())))
            start = time.perf_counter()
            decision = decide(
                facts[person.id],
                "email",
                "sales",
                requested=now,
                policy=policy,
                recent=recent,
                timezone=person.timezone,
                country=person.country,
                region=person.region,
                spread_key=enrollment_id,
            )
            pure_times.append(time.perf_counter() - start)
            outcomes[decision.action] = outcomes.get(decision.action, 0) + 1
            if decision.action == "allow":
                history.setdefault(person.id, []).append(now)
        pure_total = sum(pure_times)

        # 2. With the Postgres reservation, concurrently.
        from activities.gatekeeping import decide_touch, record_decision
        from models.payloads import TouchInput

        def reserve(item: tuple[Contact, str, str]) -> tuple[float, str]:
            person, enrollment_id, version_id = item
            start = time.perf_counter()
            with transaction(engine) as session:
                locks.hold_contact(session, person.id)
                contact = session.get(Contact, person.id)
                assert contact is not None
                decision = decide_touch(
                    session,
                    contact=contact,
                    account=None,
                    channel="email",
                    topic="sales",
                    cadence_rules=None,
                    config=POLICY,
                    now=now,
                    sender="bench@example.com",
                    spread_key=enrollment_id,
                )
                if decision.action == "allow":
                    session.add(
                        Touch(
                            key=f"{enrollment_id}:hello:0.0",
                            enrollment_id=uuid.UUID(enrollment_id),
                            contact_id=person.id,
                            step_id="hello",
                            channel="email",
                            template="hello",
                            sender="bench@example.com",
                            status="claimed",
                            attempts=1,
                            scheduled_at=now,
                            claimed_at=now,
                        )
                    )
                else:
                    record_decision(
                        session,
                        TouchInput(
                            enrollment_id=enrollment_id,
                            cadence_version_id=version_id,
                            contact_id=str(person.id),
                            step_id="hello",
                            step_index=0,
                            channel="email",
                            template="hello",
                            scheduled_at=now,
                        ),
                        decision,
                    )
            return time.perf_counter() - start, decision.action

        wall_start = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(max_workers=args.threads) as pool:
            results = list(pool.map(reserve, touches))
        wall = time.perf_counter() - wall_start
        db_times = [r[0] for r in results]
        db_outcomes: dict[str, int] = {}
        for _, action in results:
            db_outcomes[action] = db_outcomes.get(action, 0) + 1
        assert db_outcomes == outcomes, f"the concurrent run decided differently: {db_outcomes} vs {outcomes}"

        report = {
            "benchmark": "gate",
            "when": dt.datetime.now(dt.UTC).isoformat(),
            "touches": args.touches,
            "contacts": args.contacts,
            "threads": args.threads,
            "outcomes": outcomes,
            "pure": {
                "decisions_per_s": args.touches / pure_total,
                "p50_us": (pct(pure_times, 50) or 0.0) * 1e6,
                "p99_us": (pct(pure_times, 99) or 0.0) * 1e6,
            },
            "postgres": {
                "decisions_per_s": args.touches / wall,
                "p50_ms": (pct(db_times, 50) or 0.0) * 1e3,
                "p99_ms": (pct(db_times, 99) or 0.0) * 1e3,
                "mean_ms": statistics.mean(db_times) * 1e3,
                "wall_s": wall,
            },
        }
        print(f"\noutcomes: {outcomes}")
        print(
            f"pure gate:           {report['pure']['decisions_per_s']:8.0f} decisions/s   p50 {report['pure']['p50_us']:6.0f} µs   p99 {report['pure']['p99_us']:6.0f} µs"
        )
        print(
            f"with PG reservation: {report['postgres']['decisions_per_s']:8.0f} decisions/s   p50 {report['postgres']['p50_ms']:6.1f} ms   "
            f"p99 {report['postgres']['p99_ms']:6.1f} ms   ({args.threads} threads, {wall:.1f} s)"
        )
        print(f"results: {save_results('gate', report)}")
        return 0
    finally:
        engine.dispose()
        drop_database(server, name)
        del handle


if __name__ == "__main__":
    status = main()
    sys.stdout.flush()
    os._exit(status)
