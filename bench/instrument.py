"""Timing hooks for a benchmark worker process (`bench/engine.py --instrument`).

Installed by the worker wrapper before the worker starts; nothing in the product imports
this. It records, per named section, call count, wall time and the calling thread's CPU
time (wall - CPU = waiting: I/O, locks or the GIL), SQL statement counts and time, pool
checkouts and pre-pings, SMTP connects, and a GIL-lag probe (how late a thread that
sleeps 5 ms wakes up). It also keeps a map of OS thread id -> Python thread name so the
benchmark can split the worker's CPU by thread kind. `dump(path)` writes it all as JSON.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

_lock = threading.Lock()
_sections: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0])  # count, wall, cpu
_sql: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])  # count, wall
_counters: dict[str, int] = defaultdict(int)
_lag: list[tuple[float, float]] = []  # (epoch, lag seconds)
_threads: dict[int, str] = {}
_stop = threading.Event()


def _add(name: str, wall: float, cpu: float) -> None:
    with _lock:
        entry = _sections[name]
        entry[0] += 1
        entry[1] += wall
        entry[2] += cpu


def count(name: str, n: int = 1) -> None:
    """Bump a counter."""
    with _lock:
        _counters[name] += n


def wrap(owner: Any, attr: str, name: str) -> None:
    """Time every call of `owner.attr` (a function on a class or module) as section `name`."""
    original = getattr(owner, attr)

    @functools.wraps(original)
    def timed(*args: Any, **kwargs: Any) -> Any:
        wall0 = time.perf_counter()
        cpu0 = time.thread_time()
        try:
            return original(*args, **kwargs)
        finally:
            _add(name, time.perf_counter() - wall0, time.thread_time() - cpu0)

    setattr(owner, attr, timed)


def _install_sql() -> None:
    from sqlalchemy import event
    from sqlalchemy.engine import Engine
    from sqlalchemy.pool import Pool

    @event.listens_for(Engine, "before_cursor_execute")
    def _before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        conn.info.setdefault("_bench_t", []).append(time.perf_counter())

    @event.listens_for(Engine, "after_cursor_execute")
    def _after(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        started = conn.info["_bench_t"].pop()
        kind = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else "?"
        if kind == "SELECT" and "pg_advisory_xact_lock" in statement:
            kind = "SELECT advisory_lock"
        with _lock:
            entry = _sql[kind]
            entry[0] += 1
            entry[1] += time.perf_counter() - started

    @event.listens_for(Engine, "commit")
    def _commit(conn: Any) -> None:
        count("sql_commits")

    @event.listens_for(Pool, "checkout")
    def _checkout(dbapi_conn: Any, record: Any, proxy: Any) -> None:
        count("pool_checkouts")

    @event.listens_for(Pool, "connect")
    def _connect(dbapi_conn: Any, record: Any) -> None:
        count("pool_new_connections")

    from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg

    wrap(PGDialect_psycopg, "do_ping", "db.pre_ping (pool_pre_ping SELECT 1)")


def _install_cadence() -> None:
    from activities.channels import SmtpMailer
    from activities.enrollments import EnrollmentActivities
    from activities.touches import TouchActivities

    wrap(TouchActivities, "_send", "send_email (whole activity body)")
    wrap(TouchActivities, "_claim", "send_email.claim txn (lock, gate, render, insert)")
    wrap(TouchActivities, "_deliver_email", "send_email.deliver (build message + SMTP)")
    wrap(TouchActivities, "_sent", "send_email.mark_sent txn (touch + mirror)")
    wrap(SmtpMailer, "_connection", "smtp.connection (NOOP check / reconnect)")
    wrap(SmtpMailer, "_connect", "smtp.connect (new TCP + EHLO)")
    wrap(SmtpMailer, "send", "smtp.send (connection + DATA)")
    # record_transition carries its activity definition; functools.wraps keeps it.
    wrap(EnrollmentActivities, "record_transition", "record_transition (whole activity body)")
    from activities import touches

    if hasattr(touches, "render_email"):
        wrap(touches, "render_email", "send_email.claim.render_email")
    if hasattr(touches, "contact_facts"):
        wrap(touches, "contact_facts", "send_email.claim.contact_facts")
    if hasattr(touches, "decide_touch"):
        wrap(touches, "decide_touch", "send_email.claim.decide_touch (gate)")
    from activities import gatekeeping

    for name, label in (("gate_reads", "gate.gate_reads (touches, sender count, suppressions)"),):
        if hasattr(gatekeeping, name):
            wrap(gatekeeping, name, label)
    if hasattr(gatekeeping, "contact_facts"):
        wrap(gatekeeping, "contact_facts", "gate.contact_facts")


def _install_baseline() -> None:
    """Nothing to wrap: the no-op activities are too small; SQL hooks and the probe suffice."""


def _probe() -> None:
    """Every 5 ms: how late did a sleeping thread get the GIL back? Also map thread ids."""
    last_map = 0.0
    while not _stop.is_set():
        t0 = time.perf_counter()
        time.sleep(0.005)
        lag = time.perf_counter() - t0 - 0.005
        now = time.time()
        with _lock:
            _lag.append((now, lag))
        if now - last_map > 0.5:
            last_map = now
            for thread in threading.enumerate():
                if thread.native_id is not None:
                    _threads[thread.native_id] = thread.name


def reset(*_: Any) -> None:
    """Forget sections, SQL and counters (SIGUSR1: the benchmark's measured window starts)."""
    with _lock:
        _sections.clear()
        _sql.clear()
        _counters.clear()


def install(kind: str) -> None:
    """Hook everything for a `cadence` or `baseline` worker and start the probe thread."""
    import signal

    signal.signal(signal.SIGUSR1, reset)
    _install_sql()
    if kind == "cadence":
        _install_cadence()
    else:
        _install_baseline()
    threading.Thread(target=_probe, name="bench-gil-probe", daemon=True).start()


def dump(path: Path) -> None:
    """Write everything recorded so far."""
    _stop.set()
    with _lock:
        data = {
            "sections": {k: {"count": int(v[0]), "wall_s": v[1], "cpu_s": v[2]} for k, v in _sections.items()},
            "sql": {k: {"count": int(v[0]), "wall_s": v[1]} for k, v in _sql.items()},
            "counters": dict(_counters),
            "lag": _lag,
            "threads": {str(k): v for k, v in _threads.items()},
        }
    path.write_text(json.dumps(data))
