"""The preview is what the engine then does.

For each shipped playbook, in a time zone of its own (with its country's weekends and public
holidays and the shipped contact policy), a contact is enrolled to start tomorrow and its
"what happens next" preview is taken at once. Then the real enrollment workflow runs on the
time-skipping server with the real activities (real Postgres, real SMTP), a rep completing
each task when it is due, until it ends or the preview's horizon passes. Every touch the
engine sent, every task it created, every step the gate skipped and how it ended must be
what the preview said, to the minute.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import select
from temporalio.testing import WorkflowEnvironment

from core.db import transaction
from core.settings import Settings
from core.temporal import DATA_CONVERTER, binary, register_search_attributes
from models.contacts import upsert_contact
from models.schemas import ContactIn
from models.tables import Task, Touch
from starter.catalog import load_policy, playbook_files
from starter.local import LocalCadence
from starter.service.previews import PreviewOut, WhatIfs
from worker import build_activities, build_worker
from workflows import visibility

pytestmark = pytest.mark.integration

HORIZON_DAYS = 60
TOLERANCE = dt.timedelta(minutes=2)
# (playbook, time zone, country): every playbook in a zone of its own.
CASES = [
    ("outbound-12-day", "America/Chicago", "US"),
    ("inbound", "Asia/Tokyo", "JP"),
    ("email-call-5-day", "Europe/London", "GB"),
    ("smb-onboarding", "Australia/Sydney", "AU"),
    ("renewal-90-60-30", "Europe/Berlin", "DE"),
    ("webinar-invitation", "America/Sao_Paulo", "BR"),
    ("at-risk", "Asia/Kolkata", "IN"),
    ("customer-retention", "America/New_York", "US"),
    ("enterprise-rhythm", "Europe/Paris", "FR"),
    ("quarterly-kickoff", "Pacific/Auckland", "NZ"),
    ("advocacy-ask", "America/Los_Angeles", "US"),
    ("webinar-reminder", "Asia/Jerusalem", "IL"),
]


@pytest.fixture
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=DATA_CONVERTER, test_server_existing_path=binary("temporal-test-server")
    )
    await register_search_attributes(env.client, visibility.ALL_KEYS)
    try:
        yield env
    finally:
        await env.shutdown()


def engine_did(
    engine: Engine, enrollment_id: str, until: dt.datetime
) -> tuple[list[tuple[str, dt.datetime]], list[tuple[str, dt.datetime]], set[str]]:
    with transaction(engine) as session:
        touches = session.exec(select(Touch).where(Touch.enrollment_id == uuid.UUID(enrollment_id))).all()
        tasks = session.exec(select(Task).where(Task.enrollment_id == uuid.UUID(enrollment_id))).all()
    sent = sorted((t.step_id, t.claimed_at) for t in touches if t.status in ("sent", "delivered") and t.claimed_at is not None)
    made = sorted((t.step_id, t.due_at) for t in tasks if t.due_at is not None and t.due_at <= until)
    skipped = {t.step_id for t in touches if t.status == "skipped"}
    return sent, made, skipped


def preview_said(out: PreviewOut, until: dt.datetime) -> tuple[list[tuple[str, dt.datetime]], list[tuple[str, dt.datetime]], set[str]]:
    sent = sorted((str(i.step_id), i.at) for i in out.items if i.kind == "touch" and i.at <= until)
    made = sorted((str(i.step_id), i.at) for i in out.items if i.kind == "task" and i.at <= until)
    skipped = {str(i.step_id) for i in out.items if i.kind == "skipped" and i.channel in ("email", "sms") and i.at <= until}
    return sent, made, skipped


def same(engine: list[tuple[str, dt.datetime]], preview: list[tuple[str, dt.datetime]]) -> bool:
    return len(engine) == len(preview) and all(a == c and abs(b - d) <= TOLERANCE for (a, b), (c, d) in zip(engine, preview, strict=True))


async def run_as_a_rep_would(env: WorkflowEnvironment, client: LocalCadence, engine: Engine, enrollment_id: str, until: dt.datetime) -> str:
    """Let the engine run, completing each task when it is due, until the enrollment ends or
    the clock passes `until`; its final (or current) status."""
    done: set[str] = set()
    for _ in range(2000):
        now = await env.get_current_time()
        detail = await client.status(enrollment_id)
        live = detail.live
        assert live is not None, detail.live_error
        if live.status.terminal or now > until:
            return str(live.status.value)
        if live.task is not None and live.task.task_id not in done:
            with transaction(engine) as session:
                task = session.get(Task, uuid.UUID(live.task.task_id))
            assert task is not None and task.due_at is not None
            if task.due_at > now:
                await env.sleep(task.due_at - now)
            done.add(live.task.task_id)
            await client.complete_task(live.task.task_id, actor="rep")
            continue
        wake = live.next_due_at
        step = (wake - now) if wake is not None and wake > now else dt.timedelta(minutes=1)
        await env.sleep(min(step + dt.timedelta(seconds=1), until - now + dt.timedelta(seconds=2)))
    raise AssertionError("the enrollment did not settle")


@pytest.mark.parametrize(("playbook", "timezone", "country"), CASES, ids=[c[0] for c in CASES])
async def test_what_the_preview_said_is_what_the_engine_did(
    playbook: str, timezone: str, country: str, ts_env: WorkflowEnvironment, clean_db: Engine, settings: Settings
) -> None:
    policy = load_policy()
    queue = f"tq-{uuid.uuid4()}"
    local = settings.model_copy(update={"task_queue": queue})
    path = next(p for p in playbook_files() if p.stem == playbook)
    client = LocalCadence(ts_env.client, clean_db, task_queue=queue, policy=policy)
    with concurrent.futures.ThreadPoolExecutor(max_workers=local.worker_max_concurrent_activities) as executor:
        worker = build_worker(ts_env.client, local, build_activities(clean_db, local, temporal=ts_env.client, policy=policy), executor)
        async with worker:
            await client.publish_cadence(Path(path).read_text(), actor="admin")
            now = await ts_env.get_current_time()
            dates = {
                "renewal_date": (now + dt.timedelta(days=100)).date().isoformat(),
                "webinar_date": (now + dt.timedelta(days=20)).date().isoformat(),
            }
            with transaction(clean_db) as session:
                person, _ = upsert_contact(
                    session,
                    ContactIn(
                        external_id=f"p-{uuid.uuid4().hex[:8]}",
                        email="pat@example.com",
                        phone="+14155552671",
                        timezone=timezone,
                        country=country,
                        consent={"call": {"granted": True}},
                        dates=dates,
                    ),
                )
            start = now + dt.timedelta(days=1)
            info = await client.enroll(playbook, person.external_id, start_at=start)
            out = await client.enrollment_preview(info.id, WhatIfs(horizon_days=HORIZON_DAYS), now=now)
            until = min(out.horizon_end, now + dt.timedelta(days=HORIZON_DAYS))
            final = await run_as_a_rep_would(ts_env, client, clean_db, info.id, until)
    sent, made, skipped = engine_did(clean_db, info.id, until)
    said_sent, said_made, said_skipped = preview_said(out, until)
    lines = "\n".join(i.sentence for i in out.items)
    assert same(sent, said_sent), f"engine sent {sent}\npreview:\n{lines}"
    assert same(made, said_made), f"engine tasks {made}\npreview:\n{lines}"
    assert skipped == said_skipped, lines
    ended = next((i for i in out.items if i.kind == "ended"), None)
    assert (final if final not in ("active", "paused") else "open") == (out.outcome if ended and ended.at <= until else "open"), lines
