"""Integration fixtures: the real worker (real activities) on the dev server, with Postgres,
a real SMTP server and the fake Twilio HTTP server."""

from __future__ import annotations

import concurrent.futures
import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from core.db import transaction
from core.settings import Settings
from models.cadences import save_bundle
from models.contacts import upsert_contact
from models.keys import Role, create_key
from models.schemas import ContactIn
from models.tables import Contact, Owner
from starter.api import create_app
from starter.catalog import TEMPLATES_DIR, folder_lookup, load_policy, parse_text
from starter.local import LocalCadence
from tests.support.clock import daytime_zone
from tests.support.fake_twilio import TEST_FROM_OK, FakeTwilio
from tests.support.server import serve
from tests.support.smtp import SmtpServer, free_port
from worker import build_activities, build_worker

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def settings(db_url: str, smtp: SmtpServer, twilio: FakeTwilio) -> Settings:
    return Settings(
        _env_file=None,
        database_url=db_url,
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        twilio_account_sid=twilio.account_sid,
        twilio_auth_token=twilio.auth_token,
        twilio_api_base=twilio.url,
        twilio_from_number=TEST_FROM_OK,
        public_base_url="http://127.0.0.1:8000",
        sender_postal_address="1 Test Plaza, Testville, TS 00001, USA",
        sender_company="Cadence Test Co.",
        link_secret="integration-link-secret-0123456789",
        inbound_email_secret="integration-inbound-secret-0123456789",
        # The suite sends thousands of requests from one address; tests of the limits set theirs.
        rate_limit_per_key=1_000_000,
        rate_limit_per_address=1_000_000,
        rate_limit_webhooks=1_000_000,
    )


@dataclass
class Stack:
    """A running worker and a client bound to its task queue."""

    client: LocalCadence
    env: WorkflowEnvironment
    engine: Engine
    settings: Settings
    smtp: SmtpServer
    twilio: FakeTwilio

    def load(self, yaml_text: str, actor: str = "test") -> Any:
        bundle = parse_text(yaml_text, source="test.yaml", lookup=folder_lookup(TEMPLATES_DIR))
        with transaction(self.engine) as session:
            cadence, version, _ = save_bundle(session, bundle, actor=actor)
            return cadence, version

    def contact(self, **fields: Any) -> Contact:
        fields.setdefault("external_id", f"c-{uuid.uuid4().hex[:12]}")
        # Texts really go out now only where it is daytime (quiet hours hold for every policy).
        fields.setdefault("timezone", daytime_zone())
        with transaction(self.engine) as session:
            person, _ = upsert_contact(session, ContactIn(**fields))
            return person

    def owner(self, owner_id: str, **fields: Any) -> Owner:
        with transaction(self.engine) as session:
            row = session.get(Owner, owner_id) or Owner(id=owner_id, name=fields.pop("name", owner_id.title()))
            for k, v in fields.items():
                setattr(row, k, v)
            session.add(row)
            return row


# Rules that never get in the way, for tests about something else; gate tests set their own.
OPEN_POLICY_FILE = Path(__file__).resolve().parents[1] / "support" / "open-policy.yaml"
OPEN_POLICY = load_policy(OPEN_POLICY_FILE)


@pytest.fixture
async def stack(
    dev_env: WorkflowEnvironment, clean_db: Engine, settings: Settings, smtp: SmtpServer, twilio: FakeTwilio
) -> AsyncIterator[Stack]:
    queue = f"tq-{uuid.uuid4()}"
    local = settings.model_copy(update={"task_queue": queue})
    smtp.sink.messages.clear()
    smtp.sink.fail.clear()
    with concurrent.futures.ThreadPoolExecutor(max_workers=local.worker_max_concurrent_activities) as executor:
        worker = build_worker(
            dev_env.client, local, build_activities(clean_db, local, temporal=dev_env.client, policy=OPEN_POLICY), executor
        )
        async with worker:
            yield Stack(
                LocalCadence(dev_env.client, clean_db, task_queue=queue, policy=OPEN_POLICY), dev_env, clean_db, local, smtp, twilio
            )


Waiter = Callable[..., Any]


@dataclass
class Inbound:
    url: str
    stack: Stack
    admin: str
    lead: str
    settings: Any

    def http(self, key: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=30, follow_redirects=False)

    def sms(self, from_: str, body: str, **kw: Any) -> Any:
        return self.stack.twilio.send_inbound_sms(f"{self.url}/webhooks/twilio/sms", from_=from_, body=body, **kw)

    def email(self, payload: dict[str, Any], secret: str | None = None) -> httpx.Response:
        raw = json.dumps(payload).encode()
        signature = "sha256=" + hmac.new((secret or self.settings.inbound_email_secret).encode(), raw, hashlib.sha256).hexdigest()
        return httpx.post(
            f"{self.url}/webhooks/email", content=raw, headers={"X-Cadence-Signature": signature, "content-type": "application/json"}
        )


@pytest.fixture
def inbound(stack: Stack) -> Iterator[Inbound]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = stack.settings.model_copy(
        update={
            "temporal_address": stack.env.client.service_client.config.target_host,
            "public_base_url": url,
            "policy_file": "tests/support/open-policy.yaml",
        }
    )
    with transaction(stack.engine) as session:
        _, admin = create_key(session, name="admin", role=Role.admin)
        _, lead = create_key(session, name="lead@acme", role=Role.cs_lead)
    with serve(create_app(settings), port=port):
        yield Inbound(url, stack, admin, lead, settings)
