#!/usr/bin/env python
"""Reports benchmark: how long the reports take over 100,000 enrollments and 1,000,000 touches.

    .venv/bin/python bench/reports.py                         # 100,000 x 10 (about 2 minutes to load)
    .venv/bin/python bench/reports.py --enrollments 20000     # smaller

A throwaway database (the schema by the migrations) is filled server-side with
`generate_series`: one cadence with 10 email steps (the first with two variants), 100
owners, contacts in 3 x 3 x 3 cohorts, `--enrollments` enrollments over the last 60 days
(70% ended: replied, meeting booked, switched, opted out, bounced, completed; the rest open)
and `--per` sent touches each, with about 0.6 engagements per touch (people's and Apple's opens,
clicks, replies by intent, bounces). The rollups are built from scratch (timed), then every
report the API serves, through the service layer (each catches the rollups up first),
`--runs` times each: p50 and max; and how long the catch-up takes after 1,000 and 10,000
enrollments changed. Figures go to stdout and bench/results/reports-<ts>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.engine import pick_postgres  # noqa: E402
from bench.stack import save_results  # noqa: E402

CADENCE = (
    """
key: report-bench
name: Report benchmark
steps:
  - id: s1
    type: email
    variants:
      - {id: a, weight: 1, template: t}
      - {id: b, weight: 1, template: t}
"""
    + "".join(f"  - {{id: s{i}, type: email, template: t, wait: {{days: 2}}}}\n" for i in range(2, 11))
    + """templates:
  t: {channel: email, subject: "Hi", html: "<p>Hi</p>", text: "Hi"}
"""
)

FILL = [
    """INSERT INTO owners (id, name, created_at)
       SELECT 'rep-' || g, 'Rep ' || g, now() FROM generate_series(1, 100) g""",
    """INSERT INTO contacts (id, external_id, email, persona, industry, tier, owner_id, consent, preferences, dates, fields, created_at, updated_at)
       SELECT md5('c' || g)::uuid, 'rb-' || g, 'rb' || g || '@example.com',
              (ARRAY['executive', 'practitioner', 'procurement'])[1 + g % 3],
              (ARRAY['software', 'finance', 'health'])[1 + (g / 3) % 3],
              (ARRAY['smb', 'mid', 'enterprise'])[1 + (g / 9) % 3],
              'rep-' || (1 + g % 100), '{}', '{}', '{}', '{}', now() - interval '90 days', now() - interval '90 days'
         FROM generate_series(1, :n) g""",
    """INSERT INTO enrollments (id, cadence_id, cadence_version_id, contact_id, owner_id, workflow_id, status, current_step,
                               touches_sent, enrolled_by, started_at, ended_at, created_at, updated_at)
       SELECT md5('e' || g)::uuid, :cadence, :version, md5('c' || g)::uuid, 'rep-' || (1 + g % 100), 'rb-wf-' || g,
              (ARRAY['replied', 'meeting_booked', 'switched', 'opted_out', 'bounced', 'completed', 'completed',
                     'active', 'active', 'paused'])[1 + g % 10],
              g % 10, :per, 'bench',
              now() - (g % 60) * interval '1 day', CASE WHEN g % 10 < 7 THEN now() - (g % 60) * interval '1 day' + interval '3 days' END,
              now() - (g % 60) * interval '1 day',
              -- last written when it ended, or (still open) at its latest step
              least(now(), CASE WHEN g % 10 < 7 THEN now() - (g % 60) * interval '1 day' + interval '3 days'
                                ELSE now() - (g % 60) * interval '1 day' + interval '2 days' * least(g % 60 / 2, :per) END)
         FROM generate_series(1, :n) g""",
    """INSERT INTO touches (id, key, enrollment_id, contact_id, step_id, channel, variant, template, status, attempts,
                           claimed_at, sent_at)
       SELECT md5('t' || g || '.' || s)::uuid, 'rb:' || g || ':' || s, md5('e' || g)::uuid, md5('c' || g)::uuid, 's' || s, 'email',
              CASE WHEN s = 1 THEN (ARRAY['a', 'b'])[1 + g % 2] END, 't', 'sent', 1,
              now() - (g % 60) * interval '1 day' + s * interval '2 days', now() - (g % 60) * interval '1 day' + s * interval '2 days'
         FROM generate_series(1, :n) g, generate_series(1, :per) s""",
    # Engagement: a third of the emails opened by a person two hours after they went, one in ten
    # by Apple's proxy at once, one in twenty clicked; a reply (by intent) on the last email of
    # each enrollment that responded; a hard bounce on each bounced one.
    """INSERT INTO engagements (dedup_key, kind, touch_id, enrollment_id, contact_id, machine, detail, at)
       SELECT 'o:' || t.id, 'opened', t.id, t.enrollment_id, t.contact_id, false, '{}'::jsonb, t.sent_at + interval '2 hours'
         FROM touches t WHERE abs(hashtext(t.key)) % 3 = 0
       UNION ALL
       SELECT 'm:' || t.id, 'opened', t.id, t.enrollment_id, t.contact_id, true, '{}'::jsonb, t.sent_at + interval '1 second'
         FROM touches t WHERE abs(hashtext(t.key)) % 10 = 1
       UNION ALL
       SELECT 'c:' || t.id, 'clicked', t.id, t.enrollment_id, t.contact_id, false, '{}'::jsonb, t.sent_at + interval '3 hours'
         FROM touches t WHERE abs(hashtext(t.key)) % 20 = 0""",
    """INSERT INTO engagements (dedup_key, kind, touch_id, enrollment_id, contact_id, machine, detail, at)
       SELECT 'r:' || t.id, CASE WHEN e.status = 'bounced' THEN 'bounced' ELSE 'replied' END, t.id, t.enrollment_id, t.contact_id,
              false,
              CASE WHEN e.status = 'bounced' THEN '{"type": "hard"}'::jsonb
                   ELSE jsonb_build_object('intent', (ARRAY['positive', 'neutral', 'negative'])[1 + abs(hashtext(t.key)) % 3]) END,
              e.ended_at
         FROM enrollments e JOIN touches t ON t.enrollment_id = e.id AND t.step_id = 's' || :per
        WHERE e.status IN ('replied', 'meeting_booked', 'switched', 'bounced')""",
    # Nothing happened in the future, nor in the last hour (the last hour is what a refresh
    # looks at; the catch-up figures below write into it on purpose).
    "UPDATE touches SET sent_at = least(sent_at, now() - interval '1 hour'), claimed_at = least(claimed_at, now() - interval '1 hour')"
    " WHERE claimed_at > now() - interval '1 hour'",
    "UPDATE engagements SET at = now() - interval '1 hour' WHERE at > now() - interval '1 hour'",
    "UPDATE enrollments SET ended_at = least(ended_at, now() - interval '1 hour'), updated_at = least(updated_at, now() - interval '1 hour')"
    " WHERE updated_at > now() - interval '1 hour' OR ended_at > now() - interval '1 hour'",
    "ANALYZE",
]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    import sqlalchemy as sa
    from temporalio.client import Client

    from core.db import make_engine, transaction
    from core.postgres import drop_database, ensure_database, migrate
    from models.cadences import find_cadence
    from starter.local import LocalCadence
    from starter.service import engagement_reports, reports

    server_url, handle, source = pick_postgres()
    name = f"cadence_reports_{uuid.uuid4().hex[:8]}"
    db_url = await asyncio.to_thread(ensure_database, server_url, name)
    report: dict[str, Any] = {"enrollments": args.enrollments, "touches": args.enrollments * args.per, "postgres": source}
    try:
        await asyncio.to_thread(migrate, db_url)
        engine = make_engine(db_url, pool_size=2)
        temporal = await Client.connect("127.0.0.1:1", lazy=True)  # reports never ask Temporal
        client = LocalCadence(temporal, engine)
        await client.publish_cadence(CADENCE, actor="bench")
        with transaction(engine) as session:
            cadence = find_cadence(session, "report-bench")
            assert cadence is not None and cadence.published_version_id is not None
            ids = {"cadence": cadence.id, "version": cadence.published_version_id}
        started = time.perf_counter()
        for statement in FILL:
            with engine.begin() as conn:
                conn.execute(sa.text(statement), {"n": args.enrollments, "per": args.per, **ids})
        report["load_s"] = time.perf_counter() - started
        with engine.begin() as conn:
            report["engagements"] = conn.execute(sa.text("SELECT count(*) FROM engagements")).scalar()
        log(
            f"loaded {args.enrollments} enrollments, {args.enrollments * args.per} touches and {report['engagements']} engagements"
            f" in {report['load_s']:.0f} s"
        )
        from models import rollups

        def refresh(full: bool) -> Any:
            with transaction(engine) as session:
                return rollups.refresh(session, full=full)

        built = await asyncio.to_thread(refresh, True)
        report["rollup_build_s"] = built.seconds
        log(f"rollups built from scratch: {built.enrollments} enrollments in {built.seconds:.1f} s")
        idle = [(await asyncio.to_thread(refresh, False)).seconds for _ in range(args.runs)]
        report["idle_catch_up_s"] = statistics.median(idle)
        log(f"catch-up with nothing changed (what every report pays first): p50 {statistics.median(idle) * 1000:.0f} ms")
        backend = client.backend
        runs: dict[str, Any] = {
            "by version": lambda: reports.outcomes(backend, "report-bench", by="version"),
            "by owner": lambda: reports.outcomes(backend, "report-bench", by="owner"),
            "by cohort": lambda: reports.outcomes(backend, "report-bench", by="cohort"),
            "funnel": lambda: reports.funnel(backend, "report-bench"),
            "variants": lambda: reports.variants(backend, "report-bench"),
            "messages by step": lambda: engagement_reports.touches(backend, "report-bench", by="step"),
            "messages by channel": lambda: engagement_reports.touches(backend, "report-bench", by="channel"),
            "day by day": lambda: engagement_reports.daily(backend, "report-bench"),
            "one owner, by cohort": lambda: reports.outcomes(backend, "report-bench", by="cohort", filters=reports.Filters(owner="rep-7")),
            "compare v1 with all": lambda: engagement_reports.compare(backend, "report-bench@1", "report-bench"),
        }
        timings = {}
        for label, call in runs.items():
            times = []
            for _ in range(args.runs):
                t0 = time.perf_counter()
                await call()
                times.append(time.perf_counter() - t0)
            timings[label] = {"p50_s": statistics.median(times), "max_s": max(times)}
            log(f"{label}: p50 {statistics.median(times):.2f} s, max {max(times):.2f} s")
        report["timings"] = timings
        # What a busy minute leaves for the next refresh: enrollments moved on and new opens.
        catch_up = {}
        for changed in (1_000, 10_000):
            with engine.begin() as conn:
                conn.execute(
                    sa.text(
                        "UPDATE enrollments SET updated_at = now() WHERE id IN (SELECT id FROM enrollments ORDER BY random() LIMIT :n)"
                    ),
                    {"n": changed},
                )
                conn.execute(
                    sa.text(
                        "INSERT INTO engagements (dedup_key, kind, touch_id, enrollment_id, contact_id, detail, at)"
                        " SELECT 'late:' || :n || ':' || t.id, 'opened', t.id, t.enrollment_id, t.contact_id, '{}'::jsonb, now()"
                        "   FROM touches t WHERE t.step_id = 's1' ORDER BY random() LIMIT :n"
                    ),
                    {"n": changed},
                )
            done = await asyncio.to_thread(refresh, False)
            catch_up[changed] = {"enrollments": done.enrollments, "seconds": done.seconds}
            log(f"catch-up after {changed} enrollments and {changed} opens changed: {done.enrollments} recomputed in {done.seconds:.2f} s")
        report["catch_up"] = catch_up
        engine.dispose()
    finally:
        await asyncio.to_thread(drop_database, server_url, name)
        del handle
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--enrollments", type=int, default=100_000)
    parser.add_argument("--per", type=int, default=10, help="sent touches per enrollment")
    parser.add_argument("--runs", type=int, default=3)
    report = asyncio.run(bench(parser.parse_args()))
    print(f"results: {save_results('reports', report)}", flush=True)


if __name__ == "__main__":
    main()
