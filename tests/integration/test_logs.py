"""No email address or phone number in any log line: a scripted run of the worker and the
API as separate processes at DEBUG (every library talking), texts reconciled with Twilio
(its SDK logs each request URL with the number in it), a bounce whose SMTP refusal quotes
the address, inbound texts and email; then the logs are searched."""

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
from models.keys import Role, create_key
from tests.integration.conftest import Stack
from tests.support.fake_twilio import TEST_FROM_OK, FakeTwilio
from tests.support.smtp import SmtpServer, free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CADENCE = Path(sys.executable).parent / "cadence"
DEFINITION = """
key: log-check
name: Log check
steps:
  - {id: hello, type: email, template: hello}
  - {id: ping, type: sms, template: ping}
templates:
  hello: {channel: email, subject: "Hi {{ contact.first_name or 'there' }}", html: "<p>Hi</p>", text: "Hi"}
  ping: {channel: sms, body: "Hi {{ contact.first_name or 'there' }}, a quick question."}
"""
PEOPLE = [("log-ada", "ada.lovelace@example.com", "+14155550133"), ("log-bob", "bob.bounce@example.com", "+14155550144")]


async def test_no_address_or_number_reaches_a_log(
    stack: Stack, dev_env: WorkflowEnvironment, clean_db: Engine, settings: Settings, smtp: SmtpServer, twilio: FakeTwilio, tmp_path: Path
) -> None:
    stack.load(DEFINITION)
    for external_id, address, phone in PEOPLE:
        stack.contact(external_id=external_id, email=address, phone=phone, first_name="Pat", consent={"sms": {"granted": True}})
    smtp.sink.fail[PEOPLE[1][1]] = f"550 5.1.1 <{PEOPLE[1][1]}>: no such user"
    twilio.fail_next(status=500, create=True)  # the text is created but the answer says 500: the retry asks Twilio
    with transaction(clean_db) as session:
        _, key = create_key(session, name="log-check", role=Role.admin)
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "TASK_QUEUE": f"tq-logs-{uuid.uuid4().hex[:8]}",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp.port),
        "TWILIO_ACCOUNT_SID": twilio.account_sid,
        "TWILIO_AUTH_TOKEN": twilio.auth_token,
        "TWILIO_API_BASE": twilio.url,
        "TWILIO_FROM_NUMBER": TEST_FROM_OK,
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "POLICY_FILE": str(ROOT / "tests" / "support" / "open-policy.yaml"),
        "LINK_SECRET": settings.link_secret,
        "INBOUND_EMAIL_SECRET": settings.inbound_email_secret,
        "LOG_LEVEL": "DEBUG",
    }
    logs = {name: (tmp_path / f"{name}.log").open("wb") for name in ("worker", "api")}
    worker = subprocess.Popen(
        [sys.executable, str(ROOT / "worker.py")], env=env, cwd=tmp_path, stdout=logs["worker"], stderr=subprocess.STDOUT
    )
    api = subprocess.Popen([str(CADENCE), "api", "--port", str(port)], env=env, cwd=tmp_path, stdout=logs["api"], stderr=subprocess.STDOUT)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {key}"}, timeout=30) as http:
            for _ in range(150):
                try:
                    if (await http.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)
            await http.post("/v1/contacts", json={"external_id": "log-cy", "email": "cy.someone@example.com", "phone": "+14155550155"})
            ids = [
                (await http.post("/v1/enrollments", json={"cadence_id": "log-check", "contact_external_id": p[0]})).json()["id"]
                for p in PEOPLE
            ]
            await asyncio.to_thread(smtp.sink.wait_for, PEOPLE[0][1])
            for _ in range(300):  # Ada gets both steps; Bob's address bounces, which ends his enrollment
                statuses = [(await http.get(f"/v1/enrollments/{i}")).json()["status"] for i in ids]
                if statuses == ["completed", "bounced"]:
                    break
                await asyncio.sleep(0.2)
            assert statuses == ["completed", "bounced"]
            assert any(r.method == "GET" for r in twilio.requests)  # the retry looked the text up
            assert len([m for m in twilio.messages if m["to"] == PEOPLE[0][2]]) == 1  # and did not send it twice
            reply = await asyncio.to_thread(
                twilio.send_inbound_sms, f"http://127.0.0.1:{port}/webhooks/twilio/sms", from_=PEOPLE[0][2], body="who is this?"
            )
            assert reply.status == 200
            await http.get("/v1/enrollments", params={"contact_id": "log-ada"})
            await http.get("/v1/contacts/nobody@example.com")  # a 404 that names an address
    finally:
        for process in (api, worker):
            process.send_signal(signal.SIGTERM)
        for process in (api, worker):
            await asyncio.to_thread(process.wait, 60)
        for handle in logs.values():
            handle.close()
    text = "\n".join((tmp_path / f"{name}.log").read_text(errors="replace") for name in logs)
    assert "worker polling" in text and "GET /healthz" in text  # the logs were written, at DEBUG
    assert "[phone]" in text and "[email]" in text  # and addresses were there to be redacted
    secrets = [
        v
        for _, address, phone in [*PEOPLE, ("", "cy.someone@example.com", "+14155550155"), ("", "nobody@example.com", "")]
        for v in (address, phone)
        if v
    ]
    for value in secrets:
        for form in {value, value.replace("@", "%40"), value.replace("+", "%2B"), value[1:] if value.startswith("+") else value}:
            assert form not in text, f"{form} appears in the logs"
