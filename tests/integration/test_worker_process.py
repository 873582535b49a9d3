"""worker.py as a real process: it picks up enrollments, serves its metrics (its own series
and the Temporal SDK's), and stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from core.db import transaction
from core.settings import Settings
from models.cadences import save_bundle
from models.contacts import upsert_contact
from models.schemas import ContactIn
from starter.catalog import parse_text
from starter.local import LocalCadence
from tests.support.smtp import SmtpServer, free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CADENCE = """
key: worker-process
name: Worker process
steps:
  - {id: hello, type: email, template: hello}
templates:
  hello: {channel: email, subject: "Hello", html: "<p>Hello</p>", text: "Hello"}
"""


async def test_worker_runs_enrollments_and_stops_on_sigterm(
    dev_env: WorkflowEnvironment, clean_db: Engine, settings: Settings, smtp: SmtpServer
) -> None:
    queue = f"tq-{uuid.uuid4()}"
    metrics_port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "TASK_QUEUE": queue,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp.port),
        "SMS_OUTBOX": "true",
        "LINK_SECRET": "worker-process-link-secret-0123",
        "INBOUND_EMAIL_SECRET": "worker-process-inbound-secret-0123",
        "POLICY_FILE": str(ROOT / "tests" / "support" / "open-policy.yaml"),
        "WORKER_METRICS_ADDRESS": f"127.0.0.1:{metrics_port}",
    }
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "worker.py")], env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        with transaction(clean_db) as session:
            save_bundle(session, parse_text(CADENCE))
            upsert_contact(session, ContactIn(external_id="wp-1", email="wp1@example.com"))
        client = LocalCadence(dev_env.client, clean_db, task_queue=queue)
        info = await client.enroll("worker-process", "wp-1")
        await asyncio.to_thread(smtp.sink.wait_for, "wp1@example.com", 1, 60)
        for _ in range(200):
            if (await client.get(info.id)).status == "completed":
                break
            await asyncio.sleep(0.1)
        assert (await client.get(info.id)).status == "completed"
        scrape = await asyncio.to_thread(httpx.get, f"http://127.0.0.1:{metrics_port}/metrics", timeout=10)
        assert scrape.status_code == 200 and scrape.headers["content-type"].startswith("text/plain")
        series = scrape.text
        for line in (
            'cadence_touches_total{channel="email",outcome="sent"} 1.0',
            'cadence_gate_decisions_total{action="allow",code="allowed"} 1.0',
            'cadence_enrollments_ended_total{status="completed"} 1.0',
        ):
            assert line in series.splitlines(), line
        assert "# TYPE temporal_" in series and "temporal_worker_task_slots_available" in series  # the SDK's own
        assert (await asyncio.to_thread(httpx.get, f"http://127.0.0.1:{metrics_port}/other", timeout=10)).status_code == 404
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = await asyncio.to_thread(process.communicate, timeout=60)
    assert process.returncode == 0, output.decode()
    assert b"shutting down" in output
