"""A text retried through a Twilio 429 storm that runs past 21:00 contact-local time: on the
time-skipping server with the REAL activities, Postgres and the fake Twilio server. Every
attempt is judged by the gate at its own moment, so the attempt at 21:00 is deferred to the
next morning instead of going out; each request to Twilio carries a validity period that
ends at 21:00, so a text Twilio queues cannot go out late either."""

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

from activities.channels import MAX_VALIDITY_SECONDS
from core.db import transaction
from core.settings import Settings
from models.cadences import save_bundle
from models.contacts import upsert_contact
from models.payloads import StatusView
from models.schemas import ContactIn
from models.tables import AuditEntry
from starter.catalog import parse_text
from starter.local import LocalCadence
from tests.support.fake_twilio import TEST_FROM_OK, FakeTwilio
from tests.workflows.test_quiet_hours_e2e import CADENCE, QUIET_ONLY
from worker import build_activities, workflow_runner
from workflows.registry import WORKFLOWS

pytestmark = pytest.mark.integration


async def test_a_429_storm_across_nine_pm_defers_the_text_to_the_morning(
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
                external_id="late-text",
                phone="+13125550142",
                first_name="Lee",
                timezone="America/Chicago",
                country="US",
                consent={"sms": {"granted": True}},
            ),
        )
    now = (await ts_env.get_current_time()).astimezone(chicago)
    due = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(20, 59, 20), tzinfo=chicago)  # 40 s before 21:00
    before = len(twilio.requests)
    twilio.throttle_next(4)  # 20:59:20, :30, :40, :50 all get 429 (Twilio says retry in 10 s)
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
            info = await client.enroll("night-text", "late-text", start_at=due)
            handle = ts_env.client.get_workflow_handle(info.workflow_id)
            await ts_env.sleep(dt.timedelta(days=3))
            result = await handle.query("status", result_type=StatusView)
    creates = [r for r in twilio.requests[before:] if r.method == "POST" and r.path.endswith("/Messages.json")]
    validity = [int(r.form["ValidityPeriod"][0]) for r in creates]
    # Four throttled attempts before 21:00, none at 21:00, then one the next morning.
    assert len(creates) == 5 and len([m for m in twilio.messages if m["to"] == "+13125550142"]) == 1
    # Each request may wait at Twilio only until 21:00 (to the second, give or take the worker's own time).
    assert all(expected - 2 <= got <= expected for got, expected in zip(validity[:4], [40, 30, 20, 10], strict=True)), validity
    assert validity[4] == MAX_VALIDITY_SECONDS  # the morning's: 13 h left, capped at Twilio's maximum
    assert result.status == "completed" and result.counters.sent == 1 and result.counters.deferred == 1
    with transaction(clean_db) as session:
        deferral = session.exec(
            select(AuditEntry).where(AuditEntry.enrollment_id == uuid.UUID(info.id), AuditEntry.action == "gate_defer")
        ).one()
    assert deferral.reason is not None and "outside quiet hours" in deferral.reason and "08:00" in deferral.reason
