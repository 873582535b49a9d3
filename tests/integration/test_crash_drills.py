"""Crash drills with `worker.py` as a real process: the worker is SIGKILLed at the instant
the SMTP server accepts a message (250 written, the worker not yet told Postgres), while 50
emails are due at once. After a restart every recipient has exactly one email: the retry
of the interrupted send asks the transport (the dev SMTP sink's table, EMAIL_LOOKUP=
dev_outbox) and finds it accepted, and the sends killed before acceptance go out once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine
from sqlmodel import func, select
from temporalio.testing import WorkflowEnvironment

from core.db import transaction
from core.settings import Settings
from models.cadences import save_bundle
from models.contacts import upsert_contact
from models.schemas import ContactIn
from models.tables import AuditEntry, DevOutbox, Enrollment, Touch
from starter.catalog import parse_text
from starter.dev import SinkHandler
from starter.local import LocalCadence
from tests.support.smtp import free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DUE = 50
KILL_AT = 10  # the worker dies the instant the 10th message is accepted
CADENCE = """
key: drill
name: Drill
steps:
  - {id: hello, type: email, template: hello}
templates:
  hello: {channel: email, subject: "Hello", html: "<p>Hello</p>", text: "Hello"}
"""


class KillingSink(SinkHandler):
    """The dev sink (it commits each message to dev_outbox, then answers 250) that SIGKILLs
    the worker right after writing its KILL_AT-th 250, before the worker can record it."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.accepted = 0
        self.victim: subprocess.Popen[bytes] | None = None
        self.kills = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        status = await super().handle_DATA(server, session, envelope)
        self.accepted += 1
        if self.accepted == KILL_AT and self.victim is not None:
            await server.push(status)
            self.victim.send_signal(signal.SIGKILL)
            self.kills += 1
        return status


def start_worker(settings: Settings, dev_env: WorkflowEnvironment, queue: str, smtp_port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "TASK_QUEUE": queue,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp_port),
        "EMAIL_LOOKUP": "dev_outbox",
        "SMS_OUTBOX": "true",
        "LINK_SECRET": "crash-drill-link-secret-0123456",
        "INBOUND_EMAIL_SECRET": "crash-drill-inbound-secret-0123",
        "POLICY_FILE": str(ROOT / "tests" / "support" / "open-policy.yaml"),
    }
    return subprocess.Popen([sys.executable, str(ROOT / "worker.py")], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


async def test_a_worker_killed_at_acceptance_with_50_due_sends_each_email_once(
    dev_env: WorkflowEnvironment, clean_db: Engine, settings: Settings
) -> None:
    queue = f"tq-{uuid.uuid4()}"
    sink = KillingSink(clean_db)
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    with transaction(clean_db) as session:
        save_bundle(session, parse_text(CADENCE))
        for n in range(DUE):
            upsert_contact(session, ContactIn(external_id=f"due-{n}", email=f"due{n}@example.com"))
    client = LocalCadence(dev_env.client, clean_db, task_queue=queue)
    first = start_worker(settings, dev_env, queue, port)
    sink.victim = first
    second = None
    try:
        ids = [(await client.enroll("drill", f"due-{n}")).id for n in range(DUE)]
        await asyncio.to_thread(first.wait, 120)
        assert first.returncode == -signal.SIGKILL and sink.kills == 1
        second = start_worker(settings, dev_env, queue, port)

        async def all_done() -> bool:
            with transaction(clean_db) as session:
                done = session.exec(select(func.count()).select_from(Enrollment).where(Enrollment.status == "completed")).one()
            return done == DUE

        for _ in range(1800):  # the killed attempts come back after their 60 s timeout
            if await all_done():
                break
            await asyncio.sleep(0.1)
        assert await all_done()
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                await asyncio.to_thread(process.wait, 60)
        controller.stop()
    with transaction(clean_db) as session:
        delivered = session.exec(select(DevOutbox.to).where(DevOutbox.channel == "email")).all()
        statuses = session.exec(select(Touch.status)).all()
        reconciled = session.exec(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "send_reconciled")).one()
    assert sorted(delivered) == sorted(f"due{n}@example.com" for n in range(DUE))  # 0 twice, 0 lost
    assert sorted(statuses) == ["sent"] * DUE and len(ids) == DUE
    assert reconciled >= 1  # the email accepted at the kill was found, not resent
