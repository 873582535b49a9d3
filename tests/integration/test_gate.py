"""The gate on real Postgres: caps hold exactly under concurrency, an opt-out committed
before a claim always wins, and every decision is in the audit log."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import uuid
import zoneinfo
from typing import Any

import httpx
import pytest
from sqlmodel import select
from temporalio.testing import ActivityEnvironment

from activities.touches import TouchActivities
from core.db import transaction
from models.contacts import suppress
from models.enrollments import create_or_get
from models.payloads import TaskInput, TouchInput
from models.tables import AuditEntry, Contact, Touch
from starter.catalog import load_policy, parse_policy
from starter.errors import Conflict, Invalid
from tests.integration.conftest import Stack
from worker import build_activities

pytestmark = pytest.mark.integration

CAPPED = parse_policy("""
defaults:
  send_window: null
  caps: {max_touches: 3, per_days: 7, min_gap_hours: 0}
  respect_holidays: false
  sender_daily_cap: null
  spread_minutes: 0
""")

ONE_EMAIL = """
key: {key}
name: Cadence {key}
steps:
  - {{id: hello, type: email, template: hello}}
templates:
  hello: {{channel: email, subject: "Hello", html: "<p>Hello</p>", text: "Hello"}}
"""


def sender(stack: Stack, policy: Any) -> TouchActivities:
    send_email = next(
        a for a in build_activities(stack.engine, stack.settings, policy=policy) if getattr(a, "__name__", "") == "send_email"
    )
    owner = send_email.__self__  # type: ignore[attr-defined]
    assert isinstance(owner, TouchActivities)
    return owner


def enrollments(stack: Stack, contact: Contact, count: int) -> list[TouchInput]:
    touches = []
    for n in range(count):
        cadence, version = stack.load(ONE_EMAIL.format(key=f"c{n:02d}-{uuid.uuid4().hex[:6]}"))
        with transaction(stack.engine) as session:
            row, _ = create_or_get(session, cadence=cadence, version=version, contact=contact, actor="test")
        touches.append(
            TouchInput(
                enrollment_id=str(row.id),
                cadence_version_id=str(version.id),
                contact_id=str(contact.id),
                step_id="hello",
                step_index=0,
                channel="email",
                template="hello",
                scheduled_at=dt.datetime.now(dt.UTC),
            )
        )
    return touches


def attempt(acts: TouchActivities, touch: TouchInput, at: dt.datetime) -> Any:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, current_attempt_scheduled_time=at)
    return env.run(acts.send_email, touch)


async def test_twenty_enrollments_due_at_the_same_second_respect_the_cap_exactly(stack: Stack) -> None:
    person = stack.contact(email="busy@example.com", timezone="America/Chicago")
    touches = enrollments(stack, person, 20)
    acts = sender(stack, CAPPED)
    now = dt.datetime.now(dt.UTC)
    results = await asyncio.gather(*[asyncio.to_thread(attempt, acts, t, now) for t in touches])
    statuses = sorted(r.status for r in results)
    assert statuses == ["deferred"] * 17 + ["sent"] * 3
    assert len(stack.smtp.sink.to("busy@example.com")) == 3
    deferred = [r for r in results if r.status == "deferred"]
    assert {r.reason_code for r in deferred} == {"frequency_cap"}
    assert all(r.defer_until is not None and r.defer_until >= now + dt.timedelta(days=7) - dt.timedelta(seconds=1) for r in deferred)
    assert "frequency cap (3 touches in 7 days)" in (deferred[0].reason or "")
    with transaction(stack.engine) as session:
        audited = session.exec(select(AuditEntry).where(AuditEntry.contact_id == person.id, AuditEntry.action == "gate_defer")).all()
    assert len(audited) == 17


async def test_an_opt_out_committed_before_the_claim_always_wins(stack: Stack) -> None:
    person = stack.contact(email="leaving@example.com")
    touches = enrollments(stack, person, 8)
    acts = sender(stack, CAPPED.model_copy(update={"defaults": CAPPED.defaults.model_copy(update={"caps": None})}))
    now = dt.datetime.now(dt.UTC)
    first = await asyncio.to_thread(attempt, acts, touches[0], now)
    assert first.status == "sent"
    with transaction(stack.engine) as session:
        row = session.get(Contact, person.id)
        assert row is not None
        suppress(session, row, channel="all", reason="unsubscribe", source="test")
    rest = await asyncio.gather(*[asyncio.to_thread(attempt, acts, t, now) for t in touches[1:]])
    assert {r.status for r in rest} == {"stopped"} and {r.reason_code for r in rest} == {"suppressed"}
    assert len(stack.smtp.sink.to("leaving@example.com")) == 1
    with transaction(stack.engine) as session:
        kinds = sorted(t.status for t in session.exec(select(Touch).where(Touch.contact_id == person.id)).all())
    assert kinds == ["sent"] + ["stopped"] * 7


async def test_deferral_outside_the_window_names_the_local_time(stack: Stack) -> None:
    windowed = parse_policy("""
defaults:
  send_window: {days: [mon, tue, wed, thu, fri], start: "09:00", end: "17:00"}
  caps: null
  respect_holidays: true
  spread_minutes: 0
""")
    person = stack.contact(email="night@example.com", timezone="America/Chicago", country="US")
    [touch] = enrollments(stack, person, 1)
    saturday_night = dt.datetime(2026, 11, 28, 8, 0, tzinfo=dt.UTC)  # Sat 02:00 in Chicago
    result = await asyncio.to_thread(attempt, sender(stack, windowed), touch, saturday_night)
    assert result.status == "deferred" and result.reason_code == "weekend"
    assert result.reason == "deferred to Mon 09:00 America/Chicago: the weekend"
    assert result.defer_until == dt.datetime(2026, 11, 30, 15, 0, tzinfo=dt.UTC)
    assert stack.smtp.sink.to("night@example.com") == []


async def test_no_contact_period_refuses_re_enrollment_until_it_passes(stack: Stack) -> None:
    stack.client.policy = parse_policy(
        "defaults: {send_window: null, caps: null, respect_holidays: false, spread_minutes: 0, no_contact_days: 60}"
    )
    stack.load(ONE_EMAIL.format(key="quiet-period"))
    person = stack.contact(email="cold@example.com")
    first = await stack.client.enroll("quiet-period", person.external_id)
    for _ in range(100):
        if (await stack.client.get(first.id)).status == "completed":
            break
        await asyncio.sleep(0.1)
    finished = await stack.client.get(first.id)
    assert finished.status == "completed" and finished.ended_at is not None
    with pytest.raises(Conflict) as refused:
        await stack.client.enroll("quiet-period", person.external_id)
    expected = (finished.ended_at + dt.timedelta(days=60)).date().isoformat()
    assert expected in refused.value.message and refused.value.details["until"].startswith(expected)
    stack.client.policy = parse_policy(
        "defaults: {send_window: null, caps: null, respect_holidays: false, spread_minutes: 0, no_contact_days: 0}"
    )
    again = await stack.client.enroll("quiet-period", person.external_id)
    assert again.created


async def test_a_contact_without_a_cadence_gets_its_segments_default(stack: Stack) -> None:
    stack.client.policy = parse_policy("""
defaults: {send_window: null, caps: null, respect_holidays: false, spread_minutes: 0, no_contact_days: 0}
segments:
  - {name: smb, match: {tier: smb}, cadence: small-biz}
  - {name: everyone-else}
""")
    stack.load(ONE_EMAIL.format(key="small-biz"))
    smb = stack.contact(email="smb@example.com", tier="smb")
    info = await stack.client.enroll(None, smb.external_id)
    assert info.cadence_key == "small-biz"
    other = stack.contact(email="ent@example.com", tier="enterprise")
    with pytest.raises(Invalid) as refused:
        await stack.client.enroll(None, other.external_id)
    assert refused.value.details == {"field": "cadence_id"}


async def test_rep_tasks_are_levelled_per_owner(stack: Stack) -> None:
    from activities.work import WorkActivities
    from cadence.levelling import week_of
    from models.payloads import TaskInput

    stack.owner("csm-ana", name="Ana", weekly_task_capacity=25)
    person = stack.contact(email="acct@example.com", owner_id="csm-ana")
    [touch] = enrollments(stack, person, 1)
    acts = WorkActivities(stack.engine, httpx.Client(), CAPPED)
    monday = dt.datetime(2026, 11, 30, 14, 0, tzinfo=dt.UTC)

    def create(n: int) -> Any:
        env = ActivityEnvironment()
        env.info = dataclasses.replace(env.info, current_attempt_scheduled_time=monday)
        return env.run(
            acts.create_task,
            TaskInput(
                enrollment_id=touch.enrollment_id,
                contact_id=touch.contact_id,
                owner_id="csm-ana",
                step_id="check-in",
                step_index=0,
                occurrence=n,
                kind="task",
                title="Monthly check-in",
                due_hours=24,
                sla_hours=48,
            ),
        )

    results = await asyncio.gather(*[asyncio.to_thread(create, n) for n in range(100)])
    weeks = sorted(week_of(r.due_at) for r in results)
    counts = {week: weeks.count(week) for week in weeks}
    assert list(counts.values()) == [25, 25, 25, 25]
    assert min(counts) == week_of(monday)
    assert all(r.sla_at - r.due_at == dt.timedelta(hours=24) for r in results)


CALLS = """
key: {key}
name: Call {key}
steps:
  - {{id: ring, type: call, task: {{title: "Call them", due_hours: 0, sla_hours: 24}}}}
templates: {{}}
"""


def call_task(stack: Stack, contact: Contact, policy: Any, at: dt.datetime) -> Any:
    cadence, version = stack.load(CALLS.format(key=f"call-{uuid.uuid4().hex[:6]}"))
    with transaction(stack.engine) as session:
        row, _ = create_or_get(session, cadence=cadence, version=version, contact=contact, actor="test")
    acts = build_activities(stack.engine, stack.settings, policy=policy)
    create = next(a for a in acts if getattr(a, "__name__", "") == "create_task")
    spec = TaskInput(
        enrollment_id=str(row.id), contact_id=str(contact.id), owner_id=None, step_id="ring", step_index=0, kind="call",
        title="Call them", due_hours=0, sla_hours=24,
    )  # fmt: skip
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, current_attempt_scheduled_time=at)
    return env.run(create, spec), str(row.id)


async def test_call_tasks_fall_due_only_when_the_contact_may_be_called(stack: Stack) -> None:
    chicago = zoneinfo.ZoneInfo("America/Chicago")
    person = stack.contact(phone="+13125550123", timezone="America/Chicago", country="US", consent={"call": {"granted": True}})
    policy = load_policy()  # the shipped policy
    # 23:30 on a Tuesday night in Chicago: quiet hours until 08:00, the window opens at 09:00.
    night = dt.datetime(2027, 3, 9, 23, 30, tzinfo=chicago)
    result, enrollment_id = call_task(stack, person, policy, night.astimezone(dt.UTC))
    assert result.status == "created" and result.due_at.astimezone(chicago) == dt.datetime(2027, 3, 10, 9, 0, tzinfo=chicago)
    assert result.sla_at - result.due_at == dt.timedelta(hours=24)  # the SLA keeps its distance
    # 10:00 on 28 December: the year-end blackout runs to 1 January, and 1 January is a holiday.
    blackout = dt.datetime(2027, 12, 28, 10, 0, tzinfo=chicago)
    later, _ = call_task(stack, person, policy, blackout.astimezone(dt.UTC))
    assert later.due_at.astimezone(chicago) == dt.datetime(2028, 1, 3, 9, 0, tzinfo=chicago)
    with transaction(stack.engine) as session:
        [entry] = session.exec(
            select(AuditEntry).where(AuditEntry.enrollment_id == uuid.UUID(enrollment_id), AuditEntry.action == "gate_defer")
        ).all()
    assert entry.reason == "call due Wed 09:00 America/Chicago: outside the send window"
    page = await stack.client.tasks()
    assert any(t.due_local == "Wed 10 Mar 09:00 America/Chicago" for t in page.items)
