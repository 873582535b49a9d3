"""Integration fixtures: the real worker (real activities) on the dev server, with Postgres,
a real SMTP server and the fake Twilio HTTP server."""

from __future__ import annotations

import concurrent.futures
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from core.db import transaction
from core.settings import Settings
from models.cadences import save_bundle
from models.contacts import upsert_contact
from models.schemas import ContactIn
from models.tables import Contact, Owner
from starter.catalog import TEMPLATES_DIR, folder_lookup, load_policy, parse_text
from starter.local import LocalCadence
from tests.support.clock import daytime_zone
from tests.support.fake_twilio import TEST_FROM_OK, FakeTwilio
from tests.support.smtp import SmtpServer
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
OPEN_POLICY = load_policy(Path(__file__).resolve().parents[1] / "support" / "open-policy.yaml")


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
