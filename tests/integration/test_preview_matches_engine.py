"""The preview is what the engine then does.

Every shipped playbook runs twice, each time for a contact in another time zone (24 zones:
half-hour and 45-minute offsets, southern-hemisphere daylight saving, Friday-Saturday
weekends, each country's public holidays) under the shipped contact policy. The contact is
enrolled to start tomorrow and its "what happens next" preview is taken at once. Then the
real enrollment workflow runs on the time-skipping server with the real activities (real
Postgres, real SMTP), a rep completing each task when it is due, until it ends or the
preview's horizon passes. Every touch the engine sent, every task it created, every deferral
(step, code and time) and skip the gate decided, and how it ended must be what the preview
said, to the second. With a what-if reply, the engine gets that reply at that moment and
must end (or switch) where the preview said.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlalchemy import Engine
from sqlmodel import col, select
from temporalio.testing import WorkflowEnvironment

from core.db import transaction
from core.settings import Settings
from core.temporal import DATA_CONVERTER, binary, register_search_attributes
from models.contacts import upsert_contact
from models.schemas import ContactIn
from models.tables import AuditEntry, Task, Touch
from starter.catalog import load_policy, playbook_files
from starter.local import LocalCadence
from starter.service.previews import PreviewItem, PreviewOut, ReplyWhatIf, WhatIfs
from starter.service.reads import EnrollmentInfo
from worker import build_activities, build_worker
from workflows import visibility

pytestmark = pytest.mark.integration

HORIZON_DAYS = 60
# The engine's clock in an activity is the attempt's start plus the worker's own time since:
# milliseconds after the instant the workflow's timer fired for.
TOLERANCE = dt.timedelta(seconds=1)
PLAYBOOKS = [
    "outbound-12-day",
    "inbound",
    "email-call-5-day",
    "smb-onboarding",
    "renewal-90-60-30",
    "webinar-invitation",
    "at-risk",
    "customer-retention",
    "enterprise-rhythm",
    "quarterly-kickoff",
    "advocacy-ask",
    "webinar-reminder",
]
# (time zone, country): 24 zones, each used once.
ZONES = [
    ("America/Chicago", "US"),
    ("Australia/Lord_Howe", "AU"),  # daylight saving moves the clock by half an hour
    ("Asia/Tokyo", "JP"),
    ("Pacific/Chatham", "NZ"),  # +12:45 / +13:45
    ("Europe/London", "GB"),
    ("Asia/Kathmandu", "NP"),  # +05:45
    ("Australia/Sydney", "AU"),  # southern-hemisphere daylight saving
    ("America/St_Johns", "CA"),  # -03:30 / -02:30
    ("Europe/Berlin", "DE"),
    ("Pacific/Easter", "CL"),  # southern-hemisphere daylight saving, -06:00 / -05:00
    ("America/Sao_Paulo", "BR"),
    ("Asia/Jerusalem", "IL"),  # Friday-Saturday weekend
    ("Asia/Kolkata", "IN"),  # +05:30
    ("Asia/Riyadh", "SA"),  # Friday-Saturday weekend
    ("America/New_York", "US"),
    ("Africa/Johannesburg", "ZA"),
    ("Europe/Paris", "FR"),
    ("Pacific/Auckland", "NZ"),
    ("America/Mexico_City", "MX"),
    ("Asia/Singapore", "SG"),
    ("America/Los_Angeles", "US"),
    ("Africa/Cairo", "EG"),  # Friday-Saturday weekend
    ("Pacific/Honolulu", "US"),
    ("Europe/Madrid", "ES"),
]
CASES = [(playbook, *ZONES[2 * index + twice]) for index, playbook in enumerate(PLAYBOOKS) for twice in (0, 1)]


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


Timed = list[tuple[str, dt.datetime]]


@dataclass
class Did:
    """What happened (or was foreseen) for one enrollment, in comparable form."""

    sent: Timed
    tasks: Timed
    deferrals: list[tuple[str, str, dt.datetime]]
    skipped: set[tuple[str, str]]


def engine_did(engine: Engine, enrollment_id: str, until: dt.datetime) -> Did:
    key = uuid.UUID(enrollment_id)
    with transaction(engine) as session:
        touches = session.exec(select(Touch).where(Touch.enrollment_id == key)).all()
        tasks = session.exec(select(Task).where(Task.enrollment_id == key)).all()
        gate = session.exec(
            select(AuditEntry).where(AuditEntry.enrollment_id == key, col(AuditEntry.action).in_(("gate_defer", "gate_skip")))
        ).all()
    deferrals = [
        (e.details["step_id"], e.details["code"], dt.datetime.fromisoformat(e.details["until"])) for e in gate if e.action == "gate_defer"
    ]
    return Did(
        sent=sorted((t.step_id, t.claimed_at) for t in touches if t.status in ("sent", "delivered") and t.claimed_at is not None),
        tasks=sorted((t.step_id, t.due_at) for t in tasks if t.due_at is not None and t.due_at <= until),
        deferrals=sorted(d for d in deferrals if d[2] <= until),
        skipped={(e.details["step_id"], e.details["code"]) for e in gate if e.action == "gate_skip"},
    )


def preview_said(out: PreviewOut, until: dt.datetime) -> Did:
    def kind(name: str) -> list[PreviewItem]:
        return [i for i in out.items if i.kind == name and i.at <= until]

    return Did(
        sent=sorted((str(i.step_id), i.at) for i in kind("touch")),
        tasks=sorted((str(i.step_id), i.at) for i in kind("task")),
        deferrals=sorted((str(i.step_id), str(i.code), i.until) for i in kind("deferred") if i.until is not None and i.until <= until),
        skipped={(str(i.step_id), str(i.code)) for i in kind("skipped")},
    )


def same(engine: Timed, preview: Timed) -> bool:
    return len(engine) == len(preview) and all(a == c and abs(b - d) <= TOLERANCE for (a, b), (c, d) in zip(engine, preview, strict=True))


@dataclass(frozen=True)
class Replies:
    """The what-if reply, played to the engine for real."""

    step_id: str
    intent: str
    after: dt.timedelta


async def run_as_a_rep_would(
    env: WorkflowEnvironment, client: LocalCadence, engine: Engine, info: EnrollmentInfo, until: dt.datetime, reply: Replies | None
) -> str:
    """Let the engine run, completing each task when it is due (and sending the reply when
    the what-if says), until the enrollment ends or the clock passes `until`; its final (or
    current) status."""
    done: set[str] = set()
    replied = reply is None
    for _ in range(2000):
        now = await env.get_current_time()
        detail = await client.status(info.id)
        live = detail.live
        assert live is not None, detail.live_error
        if live.status.terminal or now > until:
            return str(live.status.value)
        at = None if replied else _reply_time(engine, info.id, reply)
        if at is not None and at <= now + dt.timedelta(milliseconds=5):
            assert reply is not None
            replied = True
            await client.send_event("reply", info.contact_id, event_id=f"what-if-{info.id}", intent=reply.intent)
            continue
        if live.task is not None and live.task.task_id not in done:
            with transaction(engine) as session:
                task = session.get(Task, uuid.UUID(live.task.task_id))
            assert task is not None and task.due_at is not None
            if at is not None and at < task.due_at:
                await env.sleep(at - now)
                continue
            if task.due_at > now:
                await env.sleep(task.due_at - now)
            done.add(live.task.task_id)
            await client.complete_task(live.task.task_id, actor="rep")
            continue
        wake = live.next_due_at
        step = (wake - now + dt.timedelta(seconds=1)) if wake is not None and wake > now else dt.timedelta(minutes=1)
        if at is not None:
            step = min(step, at - now)
        await env.sleep(min(step, until - now + dt.timedelta(seconds=2)))
    raise AssertionError("the enrollment did not settle")


def _reply_time(engine: Engine, enrollment_id: str, reply: Replies | None) -> dt.datetime | None:
    """When the what-if reply is due: `after` the step's touch went out (None: not yet)."""
    assert reply is not None
    with transaction(engine) as session:
        touch = session.exec(
            select(Touch).where(Touch.enrollment_id == uuid.UUID(enrollment_id), Touch.step_id == reply.step_id, Touch.status == "sent")
        ).first()
    return touch.claimed_at + reply.after if touch is not None and touch.claimed_at is not None else None


async def compare(
    playbook: str, timezone: str, country: str, env: WorkflowEnvironment, db: Engine, settings: Settings, reply: Replies | None = None
) -> PreviewOut:
    """Preview one enrollment, run it on the engine, and check they agree; the preview."""
    policy = load_policy()
    queue = f"tq-{uuid.uuid4()}"
    local = settings.model_copy(update={"task_queue": queue})
    client = LocalCadence(env.client, db, task_queue=queue, policy=policy)
    what_ifs = WhatIfs(horizon_days=HORIZON_DAYS)
    if reply is not None:
        hours = reply.after.total_seconds() / 3600
        what_ifs = WhatIfs(horizon_days=HORIZON_DAYS, replies=[ReplyWhatIf(step_id=reply.step_id, intent=reply.intent, after_hours=hours)])
    with concurrent.futures.ThreadPoolExecutor(max_workers=local.worker_max_concurrent_activities) as executor:
        worker = build_worker(env.client, local, build_activities(db, local, temporal=env.client, policy=policy), executor)
        async with worker:
            for name in {playbook, "inbound"}:  # a positive reply to outbound switches to inbound
                await client.publish_cadence(next(p for p in playbook_files() if p.stem == name).read_text(), actor="admin")
            now = await env.get_current_time()
            dates = {
                "renewal_date": (now + dt.timedelta(days=100)).date().isoformat(),
                "webinar_date": (now + dt.timedelta(days=20)).date().isoformat(),
            }
            with transaction(db) as session:
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
            info = await client.enroll(playbook, person.external_id, start_at=now + dt.timedelta(days=1))
            out = await client.enrollment_preview(info.id, what_ifs, now=now)
            until = min(out.horizon_end, now + dt.timedelta(days=HORIZON_DAYS))
            final = await run_as_a_rep_would(env, client, db, info, until, reply)
    did, said = engine_did(db, info.id, until), preview_said(out, until)
    lines = "\n".join(i.sentence for i in out.items)
    assert did.sent or did.tasks, "nothing happened inside the horizon: the comparison would prove nothing"
    assert same(did.sent, said.sent), f"engine sent {did.sent}\npreview:\n{lines}"
    assert same(did.tasks, said.tasks), f"engine tasks {did.tasks}\npreview:\n{lines}"
    # A cap counts from the moment a touch was claimed: milliseconds after its timer fired.
    assert same([(f"{a}:{b}", c) for a, b, c in did.deferrals], [(f"{a}:{b}", c) for a, b, c in said.deferrals]), (
        f"engine deferred {did.deferrals}\npreview:\n{lines}"
    )
    assert did.skipped == said.skipped, f"engine skipped {did.skipped}\npreview:\n{lines}"
    ended = next((i for i in out.items if i.kind == "ended"), None)
    assert (final if final not in ("active", "paused") else "open") == (out.outcome if ended and ended.at <= until else "open"), lines
    return out


@pytest.mark.parametrize(("playbook", "timezone", "country"), CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
async def test_what_the_preview_said_is_what_the_engine_did(
    playbook: str, timezone: str, country: str, ts_env: WorkflowEnvironment, clean_db: Engine, settings: Settings
) -> None:
    await compare(playbook, timezone, country, ts_env, clean_db, settings)


@pytest.mark.parametrize(
    ("playbook", "step_id", "intent", "outcome"),
    [
        ("outbound-12-day", "day-4-cold-email", "positive", "switched"),  # handed to the inbound cadence
        ("outbound-12-day", "day-5-follow-up-email", "negative", "replied"),
        ("email-call-5-day", "day-1-email", "neutral", "replied"),
    ],
)
async def test_a_what_if_reply_ends_where_the_real_reply_does(
    playbook: str, step_id: str, intent: str, outcome: str, ts_env: WorkflowEnvironment, clean_db: Engine, settings: Settings
) -> None:
    out = await compare(playbook, "America/Chicago", "US", ts_env, clean_db, settings, Replies(step_id, intent, dt.timedelta(hours=3)))
    assert out.outcome == outcome
