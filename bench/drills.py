#!/usr/bin/env python
"""Crash drills: "never twice, never lost" for email while the worker is killed or loses Postgres.

    cd /work/main
    .venv/bin/python bench/drills.py                      # 3 scenarios x 2 lookups, one after the other (~10 min)
    .venv/bin/python bench/drills.py --quick              # the same six runs, small and side by side (~2 min)
    .venv/bin/python bench/drills.py --scenario acceptance --lookup none    # one run

Every run has a stack of its own, removed afterwards: a throwaway Postgres database (the
server `bench/engine.py` picks), a Temporal dev server (core.devserver.start), the dev SMTP
sink (`starter.dev.SinkHandler`: it commits each message to dev_outbox, then answers 250)
and `worker.py` as a real process (EMAIL_LOOKUP=dev_outbox or none, UNCLEAR_EMAIL=hold,
open policy). N contacts are enrolled (from this process, `starter.local`, straight to
Postgres) in a cadence of S emails W seconds apart, all first emails due at one instant T;
then one scenario:

* `kills`: the worker is SIGKILLed at K random moments of the sends window (T .. T+S*W,
  and never sooner than a second after the previous restart) and restarted each time;
* `acceptance`: the sink SIGKILLs the worker right after writing its 250 for every k-th
  message (k = N*S/(K+1)), before the worker can record it; restarted each time;
* `outage`: the worker's DATABASE_URL goes through a TCP proxy (tests/support/tcp_proxy.py)
  that is cut O times for D seconds during the sends (open connections reset, new ones
  refused); this process and the sink keep the direct URL.

Then it waits until every enrollment has ended, stops the worker (SIGTERM: any attempt
still running finishes) and counts, against the N*S expected emails (an expected email is
one enrollment's step; it was delivered if dev_outbox holds a message to the contact with
that step's subject):

* delivered: dev_outbox rows; twice: (recipient, Message-ID) pairs seen more than once
  (also checked: recipient and step subject, i.e. a resend under another Message-ID);
* lost: an expected email neither delivered nor on a touch in status unclear or failed;
* unclear: touches held as unclear (of them, how many had in fact been delivered);
* reconciled: audit_log rows `send_reconciled` (a retry found its email accepted);
* in doubt: distinct touches left "claimed" by the kills (or by the outages).

An attempt on a SIGKILLed worker is retried only after its 60 s start-to-close timeout
(and the 10 s first retry interval), so a kill run lasts at least ~70 s past the last kill.
Results go to stdout and bench/results/drills-<timestamp>.json; exit 1 if any run missed
the target (0 twice and 0 lost) or did not finish.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.engine import free_port, pick_postgres  # noqa: E402
from bench.stack import OPEN_POLICY, save_results  # noqa: E402

SCENARIOS = ("kills", "acceptance", "outage")
LOOKUPS = ("dev_outbox", "none")
MIN_UP_S = 1.0  # a random kill comes at least this long after the worker polls again
MIGRATE_LOCK = asyncio.Lock()
QUICK = {"n": 30, "kills": 2, "outages": 1, "outage_seconds": 8.0, "wait_seconds": 3}
DEFAULTS = {"n": 120, "kills": 5, "outages": 2, "outage_seconds": 10.0, "wait_seconds": 5}


def stamp() -> str:
    return time.strftime("%H:%M:%S")


def subject(step: int) -> str:
    return f"Drill email {step}"


def cadence_doc(key: str, steps: int, wait_seconds: int) -> dict[str, Any]:
    """S emails, W seconds apart, each with a subject of its own (to tell the steps apart in
    the outbox whatever Message-ID they carry)."""
    return {
        "key": key,
        "name": "Crash drill",
        "steps": [
            {"id": f"email{i}", "type": "email", "template": f"t{i}", **({"wait": {"seconds": wait_seconds}} if i > 1 else {})}
            for i in range(1, steps + 1)
        ],
        "templates": {
            f"t{i}": {"channel": "email", "subject": subject(i), "html": f"<p>Drill email {i}</p>", "text": f"Drill email {i}"}
            for i in range(1, steps + 1)
        },
    }


# --- the sink ----------------------------------------------------------------------------


def drill_sink(engine: Any, kill_every: int, max_kills: int) -> Any:
    """The dev sink (commits each message to dev_outbox, then answers 250); with kill_every,
    it SIGKILLs the worker right after writing the 250 of every kill_every-th message."""
    from starter.dev import SinkHandler

    class DrillSink(SinkHandler):
        def __init__(self) -> None:
            super().__init__(engine)
            self.accepted = 0
            self.kill_every = kill_every
            self.max_kills = max_kills
            self.next_kill = kill_every
            self.victim: subprocess.Popen[bytes] | None = None
            self.kills: list[dict[str, Any]] = []
            self.killed_pids: set[int] = set()

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            status: str = await super().handle_DATA(server, session, envelope)
            self.accepted += 1
            victim = self.victim
            if (
                self.kill_every
                and len(self.kills) < self.max_kills
                and self.accepted >= self.next_kill
                and victim is not None
                and victim.poll() is None
            ):
                await server.push(status)  # the 250 is on the wire; the worker has not recorded it
                victim.send_signal(signal.SIGKILL)
                self.victim = None
                self.killed_pids.add(victim.pid)
                self.kills.append({"at_epoch": time.time(), "accepted": self.accepted, "pid": victim.pid})
                self.next_kill = self.accepted + self.kill_every
            return status

    return DrillSink()


# --- the worker process ------------------------------------------------------------------


@dataclass
class Worker:
    """worker.py as a subprocess; every incarnation logs to the same file."""

    env: dict[str, str]
    queue: str
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    ready_at: float = 0.0

    def start(self) -> subprocess.Popen[bytes]:
        self.starts += 1
        with self.log_path.open("ab") as f:
            f.write(f"\n===== [{stamp()}] drill: worker start #{self.starts} =====\n".encode())
        logf = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "worker.py")],
            cwd=str(ROOT),
            env=self.env,
            stdout=logf,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        logf.close()
        return self.process

    async def wait_polling(self, client: Any, timeout: float = 90.0) -> None:
        """Until this incarnation (by its pid in the poller identity) polls both queues: the
        killed one stays listed as a poller for a while."""
        from temporalio.api.enums.v1 import TaskQueueType
        from temporalio.api.taskqueue.v1 import TaskQueue
        from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

        assert self.process is not None
        want = f"{self.process.pid}@"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited with {self.process.returncode} while starting; see {self.log_path}")
            ready = True
            for kind in (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY):
                resp = await client.workflow_service.describe_task_queue(
                    DescribeTaskQueueRequest(namespace=client.namespace, task_queue=TaskQueue(name=self.queue), task_queue_type=kind)
                )
                ready = ready and any(p.identity.startswith(want) for p in resp.pollers)
            if ready:
                self.ready_at = time.time()
                return
            await asyncio.sleep(0.2)
        raise TimeoutError(f"worker pid {self.process.pid} did not poll within {timeout:.0f}s; see {self.log_path}")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    async def kill(self) -> None:
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGKILL)
        await asyncio.to_thread(self.process.wait)

    async def stop(self, timeout: float = 60.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(self.process.wait, timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            await asyncio.to_thread(self.process.wait)


# --- one run -----------------------------------------------------------------------------


@dataclass
class Run:
    scenario: str
    lookup: str
    args: argparse.Namespace
    rng: random.Random
    tmp: Path
    engine: Any = None
    client: Any = None
    sink: Any = None
    worker: Worker | None = None
    proxy: Any = None
    t_due: float = 0.0  # epoch at which every first email is due
    kills: list[dict[str, Any]] = field(default_factory=list)
    outages: list[dict[str, Any]] = field(default_factory=list)
    unexpected_exits: list[dict[str, Any]] = field(default_factory=list)
    in_doubt: set[str] = field(default_factory=set)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def name(self) -> str:
        return f"{self.scenario}/{self.lookup}"

    def log(self, msg: str) -> None:
        print(f"[{stamp()}] [{self.name}] {msg}", flush=True)

    def claimed_keys(self) -> set[str]:
        import sqlalchemy as sa

        with self.engine.connect() as conn:
            return {r[0] for r in conn.execute(sa.text("SELECT key FROM touches WHERE status = 'claimed'"))}

    async def after_kill(self, how: str, pid: int, returncode: int | None) -> None:
        """Record a dead worker (the claims it left open) and start the next one."""
        assert self.worker is not None
        claimed = await asyncio.to_thread(self.claimed_keys)
        self.in_doubt |= claimed
        at = time.time()
        self.worker.start()
        await self.worker.wait_polling(self.client)
        if self.scenario == "acceptance":
            self.sink.victim = self.worker.process
        entry = {
            "how": how,
            "at_s": round(at - self.t_due, 2),
            "pid": pid,
            "returncode": returncode,
            "accepted_so_far": self.sink.accepted,
            "claims_open": len(claimed),
            "restart_s": round(self.worker.ready_at - at, 2),
        }
        (self.kills if how != "unexpected" else self.unexpected_exits).append(entry)
        self.log(
            f"{how} kill of pid {pid} at T{entry['at_s']:+.1f}s ({entry['accepted_so_far']} accepted so far, "
            f"{entry['claims_open']} claims open); restarted in {entry['restart_s']:.1f}s"
            if how != "unexpected"
            else f"worker pid {pid} EXITED UNEXPECTEDLY ({returncode}) at T{entry['at_s']:+.1f}s; restarted"
        )

    async def supervise(self) -> None:
        """Restart a worker that died without the driver's doing (the sink's kills, or a crash)."""
        assert self.worker is not None
        while not self.done.is_set():
            await asyncio.sleep(0.05)
            proc = self.worker.process
            if proc is None or proc.poll() is None or self.lock.locked():
                continue
            async with self.lock:
                if self.worker.process is not proc:
                    continue
                how = "acceptance" if proc.pid in self.sink.killed_pids else "unexpected"
                await self.after_kill(how, proc.pid, proc.returncode)

    async def drive_kills(self) -> None:
        """K SIGKILLs at random moments of the sends window, a restart after each."""
        assert self.worker is not None
        window = self.args.steps * self.args.wait_seconds
        offsets = sorted(self.rng.uniform(0.0, window) for _ in range(self.args.kills))
        self.log("kill plan: " + ", ".join(f"T+{o:.1f}s" for o in offsets))
        for offset in offsets:
            at = max(self.t_due + offset, self.worker.ready_at + MIN_UP_S)
            await asyncio.sleep(max(0.0, at - time.time()))
            if self.done.is_set():
                self.log("every enrollment ended before the remaining kills")
                return
            async with self.lock:
                proc = self.worker.process
                assert proc is not None
                await self.worker.kill()
                await self.after_kill("random", proc.pid, proc.returncode)

    async def drive_outages(self) -> None:
        """O cuts of the worker's Postgres connection, D seconds each, during the sends."""
        start = self.t_due + self.rng.uniform(0.5, 2.0)
        for _ in range(self.args.outages):
            await asyncio.sleep(max(0.0, start - time.time()))
            if self.done.is_set():
                self.log("every enrollment ended before the remaining outages")
                return
            self.proxy.cut()
            began = time.time()
            self.log(f"Postgres cut for the worker at T{began - self.t_due:+.1f}s ({self.sink.accepted} accepted so far)")
            await asyncio.sleep(self.args.outage_seconds)
            claimed = await asyncio.to_thread(self.claimed_keys)
            self.in_doubt |= claimed
            self.proxy.restore()
            ended = time.time()
            self.outages.append(
                {
                    "at_s": round(began - self.t_due, 2),
                    "seconds": round(ended - began, 2),
                    "accepted_so_far": self.sink.accepted,
                    "claims_open_at_end": len(claimed),
                }
            )
            self.log(f"Postgres back for the worker at T{ended - self.t_due:+.1f}s ({len(claimed)} claims open)")
            start = ended + self.rng.uniform(2.0, 2.0 + self.args.wait_seconds)

    async def wait_done(self, ids: list[str], timeout: float) -> tuple[float, dict[str, int]]:
        import sqlalchemy as sa

        uuids = [uuid.UUID(i) for i in ids]
        query = sa.text("SELECT status, count(*) FROM enrollments WHERE id = ANY(:ids) GROUP BY 1")
        deadline = time.monotonic() + timeout
        last = time.monotonic()
        progress: tuple[Any, ...] = ()
        moved = time.monotonic()
        while True:
            with self.engine.connect() as conn:
                counts = {r[0]: int(r[1]) for r in conn.execute(query, {"ids": uuids})}
            open_ = sum(v for k, v in counts.items() if k in ("pending", "active", "paused"))
            if open_ == 0 and sum(counts.values()) == len(ids):
                return time.time(), counts
            now = (tuple(sorted(counts.items())), self.sink.accepted, len(self.kills), len(self.outages))
            if now != progress:
                progress, moved = now, time.monotonic()
            if time.monotonic() > deadline or time.monotonic() - moved > self.args.stall:
                why = "TIMEOUT" if time.monotonic() > deadline else f"STALLED (no progress for {self.args.stall:.0f}s)"
                self.log(f"{why}: {counts}; last worker errors: {last_errors(self.worker.log_path) if self.worker else []}")
                return time.time(), counts
            if time.monotonic() - last > 15:
                last = time.monotonic()
                self.log(f"... {counts}, {self.sink.accepted} emails accepted")
            await asyncio.sleep(0.5)


async def run_one(scenario: str, lookup: str, args: argparse.Namespace, server_url: str, seed: int) -> dict[str, Any]:
    from aiosmtpd.controller import Controller
    from sqlalchemy.engine import make_url

    from core import devserver
    from core.db import make_engine
    from core.postgres import drop_database, ensure_database, migrate
    from starter.catalog import load_policy
    from starter.local import LocalCadence
    from tests.support.tcp_proxy import TcpProxy
    from workflows import visibility

    tmp = Path(tempfile.mkdtemp(prefix=f"cadence-drill-{scenario}-{lookup}-"))
    run = Run(scenario, lookup, args, random.Random(f"{seed}:{scenario}:{lookup}"), tmp)
    dbname = f"cadence_drill_{uuid.uuid4().hex[:10]}"
    server = None
    controller = None
    created = False
    report: dict[str, Any] = {"scenario": scenario, "lookup": lookup, "ok": False, "tmp": str(tmp)}
    setup_t0 = time.time()
    try:
        db_url = await asyncio.to_thread(ensure_database, server_url, dbname)
        created = True
        async with MIGRATE_LOCK:  # alembic's command API keeps module-level state
            await asyncio.to_thread(migrate, db_url)
        run.engine = make_engine(db_url, pool_size=10)
        total = args.n * args.steps
        kill_every = max(1, total // (args.kills + 1)) if scenario == "acceptance" else 0
        run.sink = drill_sink(run.engine, kill_every, args.kills if scenario == "acceptance" else 0)
        smtp_port = free_port()
        controller = Controller(run.sink, hostname="127.0.0.1", port=smtp_port)
        controller.start()
        server = devserver.start(tmp / "temporal", search_attributes=visibility.ALL_KEYS, port=free_port(), ui_port=None)
        run.client = await devserver.wait_ready(server)
        worker_db = db_url
        if scenario == "outage":
            url = make_url(db_url)
            run.proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432).__enter__()
            worker_db = url.set(host="127.0.0.1", port=run.proxy.port).render_as_string(hide_password=False)

        key = "drill"
        emails = await asyncio.to_thread(prepare, run.engine, key, args.n, args.steps, args.wait_seconds)
        queue = f"drill-{scenario}-{lookup}-{uuid.uuid4().hex[:6]}"
        env = {k: v for k, v in os.environ.items() if k not in ("TEST_DATABASE_URL",)}
        env.update(
            DATABASE_URL=worker_db,
            TEMPORAL_ADDRESS=server.address,
            TEMPORAL_NAMESPACE="default",
            TASK_QUEUE=queue,
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=str(smtp_port),
            EMAIL_LOOKUP=lookup,
            UNCLEAR_EMAIL="hold",
            SMS_OUTBOX="true",
            POLICY_FILE=str(OPEN_POLICY),
            LINK_SECRET=secrets.token_urlsafe(24),
            INBOUND_EMAIL_SECRET=secrets.token_urlsafe(24),
            LOG_LEVEL=os.environ.get("LOG_LEVEL", "INFO"),
            PYTHONUNBUFFERED="1",
        )
        run.worker = Worker(env, queue, tmp / "worker.log")
        run.worker.start()
        await run.worker.wait_polling(run.client)
        if scenario == "acceptance":
            run.sink.victim = run.worker.process
        setup_s = time.time() - setup_t0

        local = LocalCadence(run.client, run.engine, task_queue=queue, policy=load_policy(OPEN_POLICY))
        lead = 2.0 + args.n / 25.0
        t0 = time.time()
        run.t_due = t0 + lead
        start_at = dt.datetime.fromtimestamp(run.t_due, dt.UTC)
        sem = asyncio.Semaphore(16)

        async def enroll(contact: str) -> tuple[str, str]:
            async with sem:
                info = await local.enroll(key, contact, start_at=start_at, actor="drill")
            return info.id, info.workflow_id

        enrolled = await asyncio.gather(*(enroll(c) for c in emails))
        ids = [e[0] for e in enrolled]
        run.log(
            f"enrolled {len(ids)} in {time.time() - t0:.1f}s; first emails due at T = now+{run.t_due - time.time():.1f}s; "
            f"{'k=' + str(kill_every) if kill_every else ''}"
        )
        supervisor = asyncio.create_task(run.supervise())
        driver: asyncio.Task[None] | None = None
        if scenario == "kills":
            driver = asyncio.create_task(run.drive_kills())
        elif scenario == "outage":
            driver = asyncio.create_task(run.drive_outages())
        ended, statuses = await run.wait_done(ids, args.timeout)
        run.done.set()
        finished = all(k not in ("pending", "active", "paused") for k in statuses) and sum(statuses.values()) == len(ids)
        for task in (driver, supervisor):
            if task is not None:
                if not finished:
                    task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if run.proxy is not None:
            run.proxy.restore()
        async with run.lock:
            await run.worker.stop()  # SIGTERM: an attempt still running anywhere ends before the count
        wall = ended - t0
        run.log(f"ended in {wall:.1f}s: {statuses}")
        await asyncio.sleep(0.5)  # the sink's last commits
        counts = await asyncio.to_thread(tally, run.engine, args.steps, dict(zip(ids, emails.values(), strict=True)))
        sink_kills = [dict(k, at_s=round(k["at_epoch"] - run.t_due, 2)) for k in run.sink.kills]
        report.update(
            {
                "ok": finished and counts["twice"] == 0 and counts["lost"] == 0,
                "finished": finished,
                "seed": seed,
                "n": args.n,
                "steps": args.steps,
                "wait_seconds": args.wait_seconds,
                "kill_every": kill_every or None,
                "setup_s": round(setup_s, 1),
                "wall_s": round(wall, 1),
                "enrollment_statuses": statuses,
                "kills": run.kills,
                "sink_kills": sink_kills,
                "outages": run.outages,
                "unexpected_exits": run.unexpected_exits,
                "worker_starts": run.worker.starts,
                "in_doubt": len(run.in_doubt),
                "in_doubt_outcomes": dict(Counter(counts["status_by_key"].get(k, "missing") for k in run.in_doubt)),
                **{k: v for k, v in counts.items() if k != "status_by_key"},
            }
        )
        report["problems_logs"] = problem_logs(counts, run.worker.log_path, dict(enrolled))
        report["worker_log_levels"] = log_levels(run.worker.log_path)
        report["worker_last_errors"] = last_errors(run.worker.log_path)
    except Exception as exc:  # noqa: BLE001 - report the run as failed, keep its logs
        traceback.print_exc()
        report["error"] = f"{type(exc).__name__}: {exc}"
        args.keep = True
    finally:
        if run.worker is not None:
            with contextlib.suppress(Exception):
                await run.worker.stop(30)
        if run.proxy is not None:
            with contextlib.suppress(Exception):
                run.proxy.__exit__(None, None, None)
        if server is not None:
            server.stop()
        if controller is not None:
            with contextlib.suppress(Exception):
                controller.stop()
        if run.engine is not None:
            run.engine.dispose()
        if created and not args.keep:
            await asyncio.to_thread(drop_database, server_url, dbname)
        elif created:
            report["database"] = dbname
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    return report


def prepare(engine: Any, key: str, n: int, steps: int, wait_seconds: int) -> dict[str, str]:
    """Save the cadence and N contacts; returns contact id -> email, in order."""
    from core.db import transaction
    from models.cadences import save_bundle
    from models.contacts import upsert_contact
    from models.schemas import ContactIn
    from starter.catalog import parse_text

    out: dict[str, str] = {}
    with transaction(engine) as session:
        save_bundle(session, parse_text(json.dumps(cadence_doc(key, steps, wait_seconds)), source="drill.json"), actor="drill")
        for i in range(n):
            person, _ = upsert_contact(session, ContactIn(external_id=f"drill-{i}", email=f"drill{i}@drill.example.com"))
            out[str(person.id)] = f"drill{i}@drill.example.com"
    return out


def tally(engine: Any, steps: int, enrollments: dict[str, str]) -> dict[str, Any]:
    """Expected emails against the outbox, the touches and the audit log."""
    import sqlalchemy as sa

    from cadence.ids import message_id
    from core.settings import Settings

    domain = Settings.model_fields["message_id_domain"].default
    with engine.connect() as conn:
        touches = conn.execute(
            sa.text("SELECT id, key, enrollment_id, step_id, status, attempts, error_code, provider_id FROM touches")
        ).all()
        outbox = conn.execute(sa.text("SELECT \"to\", message_id, subject, created_at FROM dev_outbox WHERE channel = 'email'")).all()
        audit = {r[0]: int(r[1]) for r in conn.execute(sa.text("SELECT action, count(*) FROM audit_log GROUP BY 1"))}
    by_step = {(str(t.enrollment_id), t.step_id): t for t in touches}
    by_mid = Counter((o[0], o[1]) for o in outbox)
    by_subject = Counter((o[0], o[2]) for o in outbox)
    twice = [{"to": to, "message_id": mid, "copies": c} for (to, mid), c in by_mid.items() if c > 1]
    twice_by_step = [{"to": to, "subject": s, "copies": c} for (to, s), c in by_subject.items() if c > 1]
    lost: list[dict[str, Any]] = []
    unclear_delivered = unclear_not = sent_not_delivered = 0
    wrong_mid = 0
    mids = {(o[0], o[2]): o[1] for o in outbox}
    for eid, email in enrollments.items():
        for i in range(1, steps + 1):
            touch = by_step.get((eid, f"email{i}"))
            copies = by_subject.get((email, subject(i)), 0)
            status = touch.status if touch is not None else None
            if status == "unclear":
                if copies:
                    unclear_delivered += 1
                else:
                    unclear_not += 1
            if copies and touch is not None and mids.get((email, subject(i))) != message_id(touch.key, domain):
                wrong_mid += 1
            if copies == 0 and status == "sent":
                sent_not_delivered += 1
            if copies == 0 and status not in ("unclear", "failed"):
                lost.append(
                    {
                        "enrollment_id": eid,
                        "step": f"email{i}",
                        "touch_key": touch.key if touch is not None else None,
                        "touch_id": str(touch.id) if touch is not None else None,
                        "status": status,
                        "attempts": touch.attempts if touch is not None else None,
                        "error_code": touch.error_code if touch is not None else None,
                    }
                )
    twice_touches = []
    for item in twice_by_step:
        step = next((i for i in range(1, steps + 1) if subject(i) == item["subject"]), None)
        owner = next((e for e, m in enrollments.items() if m == item["to"]), "")
        touch = by_step.get((owner, f"email{step}"))
        twice_touches.append(
            dict(
                item,
                enrollment_id=owner or None,
                touch_key=touch.key if touch is not None else None,
                touch_id=str(touch.id) if touch is not None else None,
                status=touch.status if touch is not None else None,
                attempts=touch.attempts if touch is not None else None,
            )
        )
    return {
        "expected": len(enrollments) * steps,
        "touches": len(touches),
        "touch_statuses": dict(Counter(t.status for t in touches)),
        "delivered": len(outbox),
        "twice": sum(c - 1 for (_, _), c in by_mid.items() if c > 1),
        "twice_pairs": twice,
        "twice_same_step": sum(c - 1 for c in by_subject.values() if c > 1),
        "twice_detail": twice_touches,
        "lost": len(lost),
        "lost_detail": lost,
        "unclear": sum(1 for t in touches if t.status == "unclear"),
        "unclear_delivered": unclear_delivered,
        "unclear_not_delivered": unclear_not,
        "sent_not_delivered": sent_not_delivered,
        "message_id_mismatch": wrong_mid,
        "reconciled": audit.get("send_reconciled", 0),
        "audit_send_unclear": audit.get("send_unclear", 0),
        "status_by_key": {t.key: t.status for t in touches},
    }


def last_errors(log_path: Path, n: int = 3) -> list[str]:
    """The last ERROR lines of a log and the exception line after each."""
    try:
        lines = log_path.read_text(errors="replace").splitlines()
    except OSError:
        return []
    out: list[str] = []
    for i, line in enumerate(lines):
        if " ERROR " in line:
            tail = next((x for x in lines[i + 1 : i + 80] if x and not x.startswith((" ", "Traceback"))), "")
            out.append(f"{line[:200]} -> {tail[:200]}")
    return out[-n:]


def log_levels(log_path: Path) -> dict[str, int]:
    try:
        text = log_path.read_text(errors="replace")
    except OSError:
        return {}
    return {level: text.count(f" {level} ") for level in ("WARNING", "ERROR", "CRITICAL")}


def problem_logs(counts: dict[str, Any], log_path: Path, workflow_ids: dict[str, str]) -> dict[str, list[str]]:
    """Worker log lines that mention a touch delivered twice or lost (its id, key or workflow)."""
    items = list(counts["lost_detail"]) + list(counts["twice_detail"])
    if not items:
        return {}
    try:
        lines = log_path.read_text(errors="replace").splitlines()
    except OSError:
        return {}
    out: dict[str, list[str]] = {}
    for item in items[:20]:
        needles = [x for x in (item.get("touch_id"), item.get("touch_key"), workflow_ids.get(item.get("enrollment_id") or "")) if x]
        label = item.get("touch_key") or item.get("enrollment_id") or "?"
        out[label] = [line[:400] for line in lines if any(n in line for n in needles)][:12]
    return out


# --- the report --------------------------------------------------------------------------


def print_table(reports: list[dict[str, Any]], mode: str) -> None:
    print()
    print(f"crash drills ({mode}): target 0 delivered twice and 0 lost without a trace in every run")
    head = (
        f"{'scenario':<11} {'EMAIL_LOOKUP':<12} {'kills/outages':>13} {'expected':>8} {'touches':>7} {'delivered':>9} "
        f"{'twice':>5} {'lost':>4} {'unclear (of them delivered)':>27} {'reconciled':>10} {'in doubt':>8} {'wall s':>7}  result"
    )
    print(head)
    print("-" * len(head))
    for r in reports:
        if "error" in r and "delivered" not in r:
            print(f"{r['scenario']:<11} {r['lookup']:<12} FAILED: {r['error']}")
            continue
        chaos = (
            f"{len(r['outages'])} x {r['outages'][0]['seconds'] if r['outages'] else 0:.0f} s"
            if r["scenario"] == "outage"
            else f"{len(r['kills'])} kills"
        )
        unclear = f"{r['unclear']} ({r['unclear_delivered']})"
        result = "ok" if r["ok"] else ("NOT FINISHED" if not r["finished"] else "MISSED")
        lookup = "none (hold)" if r["lookup"] == "none" else r["lookup"]
        print(
            f"{r['scenario']:<11} {lookup:<12} {chaos:>13} {r['expected']:>8} {r['touches']:>7} {r['delivered']:>9} "
            f"{r['twice']:>5} {r['lost']:>4} {unclear:>27} {r['reconciled']:>10} {r['in_doubt']:>8} {r['wall_s']:>7.1f}  {result}"
        )
    print()
    for r in reports:
        if "delivered" not in r:
            continue
        notes = [
            f"touches {r['touch_statuses']}",
            f"enrollments {r['enrollment_statuses']}",
            f"in-doubt claims ended {r['in_doubt_outcomes']}",
            f"worker starts {r['worker_starts']}",
            f"setup {r['setup_s']} s",
            f"worker log {r['worker_log_levels']}",
        ]
        if r["unexpected_exits"]:
            notes.append(f"UNEXPECTED worker exits {len(r['unexpected_exits'])}")
        if r["twice_same_step"] != r["twice"]:
            notes.append(f"same recipient+step twice (any Message-ID): {r['twice_same_step']}")
        if r["sent_not_delivered"]:
            notes.append(f"marked sent but not in the outbox: {r['sent_not_delivered']}")
        if r["message_id_mismatch"]:
            notes.append(f"Message-ID not the touch's: {r['message_id_mismatch']}")
        print(f"  {r['scenario']}/{r['lookup']}: " + "; ".join(notes))
        for item in (r["twice_detail"] + r["lost_detail"])[:10]:
            print(f"    PROBLEM {item}")
            for line in r["problems_logs"].get(item.get("touch_key") or item.get("enrollment_id") or "?", []):
                print(f"      | {line}")


async def main_async(args: argparse.Namespace) -> int:
    server_url, pg_handle, pg_source = pick_postgres()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 1_000_000)
    runs = [(s, lk) for s in args.scenario for lk in args.lookup]
    mode = "side by side" if args.parallel else "one after the other"
    print(
        f"[{stamp()}] Postgres: {pg_source}; seed {seed}; N={args.n} x {args.steps} emails, {args.wait_seconds} s apart; "
        f"{args.kills} kills, {args.outages} outages of {args.outage_seconds:g} s; {len(runs)} runs {mode}",
        flush=True,
    )
    t0 = time.time()
    try:
        if args.parallel:
            reports = list(await asyncio.gather(*(run_one(s, lk, args, server_url, seed) for s, lk in runs)))
        else:
            reports = [await run_one(s, lk, args, server_url, seed) for s, lk in runs]
    finally:
        del pg_handle
    total = time.time() - t0
    print_table(reports, f"{mode}, N={args.n}, seed {seed}, {total:.0f} s in all")
    report = {
        "benchmark": "drills",
        "when": dt.datetime.now(dt.UTC).isoformat(),
        "args": vars(args),
        "postgres": pg_source,
        "seed": seed,
        "total_s": round(total, 1),
        "runs": reports,
    }
    print(f"results: {save_results('drills', report)}")
    if args.keep:
        for r in reports:
            print(f"kept {r['scenario']}/{r['lookup']}: {r['tmp']}" + (f", database {r['database']}" if "database" in r else ""))
    return 0 if all(r.get("ok") for r in reports) else 1


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenario", action="append", choices=SCENARIOS, help="kills, acceptance, outage (repeatable; default all)")
    p.add_argument("--lookup", action="append", choices=LOOKUPS, help="EMAIL_LOOKUP: dev_outbox, none (repeatable; default both)")
    p.add_argument("--quick", action="store_true", help=f"small runs side by side: {QUICK} (~2 min)")
    p.add_argument("--parallel", action="store_true", help="run the selected runs side by side (each its own stack)")
    p.add_argument("--n", type=int, help=f"enrollments per run (default {DEFAULTS['n']})")
    p.add_argument("--steps", type=int, default=3, help="emails per enrollment (default 3)")
    p.add_argument("--wait-seconds", type=int, help=f"wait between the emails (default {DEFAULTS['wait_seconds']})")
    p.add_argument("--kills", type=int, help=f"worker kills per kill run (default {DEFAULTS['kills']})")
    p.add_argument("--outages", type=int, help=f"Postgres outages per outage run (default {DEFAULTS['outages']})")
    p.add_argument("--outage-seconds", type=float, help=f"length of each outage (default {DEFAULTS['outage_seconds']:g})")
    p.add_argument("--seed", type=int, help="random seed for the kill moments and outage gaps (default: a fresh one, printed)")
    p.add_argument("--timeout", type=float, default=420.0, help="per-run limit for every enrollment to end (default 420 s)")
    p.add_argument("--stall", type=float, default=150.0, help="give up on a run after this long without progress (default 150 s)")
    p.add_argument("--keep", action="store_true", help="keep each run's temp dir (worker and dev server logs) and database")
    args = p.parse_args()
    preset = QUICK if args.quick else DEFAULTS
    for name, value in preset.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.quick:
        args.parallel = True
    args.scenario = list(dict.fromkeys(args.scenario or SCENARIOS))
    args.lookup = list(dict.fromkeys(args.lookup or LOOKUPS))
    if args.n < 1 or args.steps < 1 or args.wait_seconds < 0 or args.kills < 0 or args.outages < 0:
        p.error("--n and --steps must be >= 1, the others >= 0")
    return args


def main() -> None:
    args = parse_args()
    status = 1
    try:
        status = asyncio.run(main_async(args))
    except KeyboardInterrupt:
        status = 130
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)  # sdk-python #300: the Temporal runtime can abort during interpreter exit


if __name__ == "__main__":
    main()
