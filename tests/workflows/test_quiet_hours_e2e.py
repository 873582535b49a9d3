"""End to end on the time-skipping server with the REAL activities, Postgres and the fake
Twilio server: an SMS step due at 03:00 contact-local time goes out at 08:00 or later."""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import uuid
import zoneinfo

import pytest
from sqlalchemy import Engine
from sqlmodel import select
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from core.db import transaction
from core.settings import Settings
from models.cadences import save_bundle
from models.contacts import upsert_contact
from models.payloads import StatusView
from models.schemas import ContactIn
from models.tables import AuditEntry, Touch
from starter.catalog import parse_policy, parse_text
from starter.local import LocalCadence
from tests.support.fake_twilio import TEST_FROM_OK, FakeTwilio
from worker import build_activities, workflow_runner
from workflows.registry import WORKFLOWS

pytestmark = pytest.mark.integration

QUIET_ONLY = parse_policy("""
defaults:
  send_window: null
  caps: null
  respect_holidays: false
  spread_minutes: 0
""")

CADENCE = """
key: night-text
name: Night text
steps:
  - {id: ping, type: sms, template: ping}
templates:
  ping: {channel: sms, body: "Hi {{ contact.first_name or 'there' }}, your order shipped."}
"""


async def test_sms_due_at_3am_local_goes_out_at_8am_or_later(
    ts_env: WorkflowEnvironment, clean_db: Engine, twilio: FakeTwilio, db_url: str
) -> None:
    chicago = zoneinfo.ZoneInfo("America/Chicago")
    settings = Settings(
        _env_file=None,
        database_url=db_url,
        twilio_account_sid=twilio.account_sid,
        twilio_auth_token=twilio.auth_token,
        twilio_api_base=twilio.url,
        twilio_from_number=TEST_FROM_OK,
        task_queue=f"tq-{uuid.uuid4()}",
    )
    with transaction(clean_db) as session:
        save_bundle(session, parse_text(CADENCE))
        upsert_contact(
            session,
            ContactIn(
                external_id="night-owl",
                phone="+13125550199",
                first_name="Nia",
                timezone="America/Chicago",
                country="US",
                consent={"sms": {"granted": True}},
            ),
        )
    now = (await ts_env.get_current_time()).astimezone(chicago)
    three_am = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(3, 0), tzinfo=chicago)
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as executor:
        async with Worker(
            ts_env.client,
            task_queue=settings.task_queue,
            workflows=WORKFLOWS,
            activities=build_activities(clean_db, settings, temporal=ts_env.client, policy=QUIET_ONLY),
            activity_executor=executor,
            workflow_runner=workflow_runner(WORKFLOWS),
        ):
            client = LocalCadence(ts_env.client, clean_db, task_queue=settings.task_queue)
            info = await client.enroll("night-text", "night-owl", start_at=three_am)
            handle = ts_env.client.get_workflow_handle(info.workflow_id)
            await ts_env.sleep(dt.timedelta(days=2))  # well past 08:00 the next morning
            result = await handle.query("status", result_type=StatusView)
    assert result.status == "completed" and result.counters.sent == 1 and result.counters.deferred == 1
    texts = [m for m in twilio.messages if m["to"] == "+13125550199"]
    assert len(texts) == 1 and texts[0]["body"].startswith("Hi Nia, your order shipped.")
    with transaction(clean_db) as session:
        touch = session.exec(select(Touch).where(Touch.key.like(f"{info.id}:%"))).one()  # type: ignore[attr-defined]
        deferral = session.exec(
            select(AuditEntry).where(AuditEntry.enrollment_id == uuid.UUID(info.id), AuditEntry.action == "gate_defer")
        ).one()
    sent_local = touch.claimed_at.astimezone(chicago)
    assert sent_local.date() == three_am.date() and sent_local.time() >= dt.time(8, 0)
    assert deferral.reason is not None and "outside quiet hours" in deferral.reason and "08:00" in deferral.reason
