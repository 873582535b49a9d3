"""Live edits on the real dev server with the real worker: a migration of 200 running
enrollments previewed and applied (each one's next step checked against the preview), a
bulk pause of 500 by query, and an apply that survives its worker being SIGKILLed."""

from __future__ import annotations

import asyncio
import datetime as dt
import signal
import uuid
from collections import Counter

import pytest
from sqlalchemy import Engine
from sqlmodel import col, func, select
from temporalio.testing import WorkflowEnvironment

from core.db import transaction
from core.settings import Settings
from models.contacts import upsert_contact
from models.schemas import ContactIn
from models.tables import AuditEntry, Enrollment, Operation, OperationItem
from starter.errors import Conflict
from starter.local import LocalCadence
from starter.service.operations import OperationFilter, OperationOut, OperationRequest
from tests.integration.conftest import Stack
from tests.integration.test_crash_drills import start_worker
from tests.support.smtp import free_port

pytestmark = pytest.mark.integration

V1 = """
key: nurture
name: Nurture
steps:
  - {id: hello, type: email, template: hello}
  - {id: follow, type: email, template: follow, wait: {days: 3}}
  - {id: last, type: email, template: last, wait: {days: 3}}
templates:
  hello: {channel: email, subject: "Hello", html: "<p>Hello</p>", text: "Hello"}
  follow: {channel: email, subject: "Following up", html: "<p>Following up</p>", text: "Following up"}
  last: {channel: email, subject: "Last note", html: "<p>Last</p>", text: "Last"}
"""
V2 = """
key: nurture
name: Nurture
steps:
  - {id: hello, type: email, template: hello}
  - {id: follow, type: email, template: follow, wait: {days: 1}}
  - {id: wrap, type: email, template: wrap, wait: {days: 2}}
templates:
  hello: {channel: email, subject: "Hello", html: "<p>Hello</p>", text: "Hello"}
  follow: {channel: email, subject: "A shorter follow-up", html: "<p>Shorter</p>", text: "Shorter"}
  wrap: {channel: email, subject: "Wrapping up", html: "<p>Wrap</p>", text: "Wrap"}
"""
ADMIN = "admin@acme"


async def until(check: object, seconds: float = 120.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        if await check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"not within {seconds} s")


async def finished(client: LocalCadence, operation_id: str, seconds: float = 180.0) -> OperationOut:
    async def done() -> bool:
        return (await client.operation(operation_id)).status == "done"

    await until(done, seconds)
    return await client.operation(operation_id)


def contacts(engine: Engine, prefix: str, n: int, **fields: object) -> list[str]:
    with transaction(engine) as session:
        for i in range(n):
            upsert_contact(session, ContactIn(external_id=f"{prefix}-{i}", email=f"{prefix}{i}@example.com", **fields))
    return [f"{prefix}-{i}" for i in range(n)]


def migrated_per_enrollment(engine: Engine) -> Counter[str]:
    with transaction(engine) as session:
        rows = session.exec(select(AuditEntry.enrollment_id).where(AuditEntry.action == "migrated")).all()
    return Counter(str(r) for r in rows)


async def all_migrations_recorded(engine: Engine, expected: int) -> Counter[str]:
    """The timeline entries of a migration once every enrollment wrote its own: a workflow
    answers the update first and records the move with its next transition, so after a
    crash the last few arrive a moment after the operation says it is done."""

    async def recorded() -> bool:
        return len(migrated_per_enrollment(engine)) >= expected

    await until(recorded, seconds=60)
    await asyncio.sleep(1)  # a duplicate, if there were one, would land now as well
    return migrated_per_enrollment(engine)


async def test_a_migration_of_200_running_enrollments_lands_each_as_previewed(stack: Stack) -> None:
    client = stack.client
    await client.publish_cadence(V1, actor=ADMIN)
    people = contacts(stack.engine, "mig", 200)
    rows = await client.bulk_enroll("nurture", people, per_second=100)
    assert all(r.ok for r in rows)

    async def first_sent() -> bool:
        with transaction(stack.engine) as session:
            return session.exec(select(func.count()).select_from(Enrollment).where(Enrollment.current_step == 1)).one() == 200

    await until(first_sent)
    draft = await client.save_draft("nurture", V2, actor=ADMIN)
    assert any("'last'" in line and "removed" in line for line in draft.changes)
    published = await client.publish("nurture", actor=ADMIN, reason="shorter follow-up")
    assert (published.version, published.previous_version) == (2, 1)

    plan = await client.preview_operation(
        OperationRequest(action="migrate", filter=OperationFilter(cadence_id="nurture"), reason="shorter follow-up"), actor=ADMIN
    )
    assert plan.total == 200 and plan.outcomes["rescheduled"] == 200 and plan.to_version == 2
    page = await client.operation_items(plan.id, limit=500)
    previewed = {item.enrollment_id: item for item in page.items}
    assert len(previewed) == 200 and all(i.step_id == "follow" and i.status == "pending" for i in previewed.values())

    applied = await client.apply_operation(plan.id, actor=ADMIN)
    assert applied.status == "applying"
    again = await client.apply_operation(plan.id, actor=ADMIN)  # applying twice is applying once
    assert again.id == plan.id
    done = await finished(client, plan.id)
    assert done.progress["applied"] == 200 and done.progress["pending"] == 0 and done.finished_at is not None

    for enrollment_id, item in previewed.items():
        live = (await client.status(enrollment_id)).live
        assert live is not None and live.step_id == "follow" and live.version_hash == published.content_hash
        assert item.due_at is not None and live.next_due_at is not None
        assert abs(live.next_due_at - item.due_at) < dt.timedelta(seconds=60), (enrollment_id, live.next_due_at, item.due_at)
    with transaction(stack.engine) as session:
        versions = session.exec(select(Enrollment.cadence_version_id).distinct()).all()
    assert [str(v) for v in versions] == [published.version_id]
    counts = await all_migrations_recorded(stack.engine, 200)
    assert len(counts) == 200 and set(counts.values()) == {1}


async def test_a_bulk_pause_by_query_pauses_the_500_that_match_and_nothing_else(stack: Stack) -> None:
    client = stack.client
    await client.publish_cadence(V1, actor=ADMIN)
    await client.publish_cadence(V1.replace("key: nurture", "key: other"), actor=ADMIN)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)  # nothing is sent during the test
    stack.owner("rep-a")
    stack.owner("rep-b")
    matching = contacts(stack.engine, "a", 250, owner_id="rep-a") + contacts(stack.engine, "b", 250, owner_id="rep-b")
    elsewhere = contacts(stack.engine, "x", 20, owner_id="rep-a")
    assert all(r.ok for r in await client.bulk_enroll("nurture", matching, start_at=later, per_second=200))
    assert all(r.ok for r in await client.bulk_enroll("other", elsewhere, start_at=later, per_second=200))

    request = OperationRequest(action="pause", filter=OperationFilter(cadence_id="nurture"), reason="pricing review", rate_per_second=100)
    plan = await client.preview_operation(request, actor="lead@acme")
    assert (plan.total, plan.outcomes) == (500, {"pause": 500})
    await client.apply_operation(plan.id, actor="lead@acme")
    done = await finished(client, plan.id)
    assert done.progress["applied"] == 500

    async def all_paused() -> bool:
        with transaction(stack.engine) as session:
            counts = dict(session.exec(select(Enrollment.status, func.count()).group_by(col(Enrollment.status))).all())
        return counts.get("paused") == 500 and counts.get("active") == 20

    await until(all_paused)
    with transaction(stack.engine) as session:
        pauses = session.exec(select(AuditEntry).where(AuditEntry.action == "paused")).all()
    assert len(pauses) == 500 and {(p.actor, p.reason) for p in pauses} == {("lead@acme", "pricing review")}
    with pytest.raises(Conflict, match="no open enrollment matches"):
        await client.preview_operation(request, actor="lead@acme")  # every one of them is paused now
    owner_b = request.model_copy(update={"action": "resume", "filter": OperationFilter(cadence_id="nurture", owner="rep-b")})
    resumed = await client.preview_operation(owner_b, actor="lead@acme")
    assert resumed.total == 250


async def test_a_worker_killed_while_applying_resumes_and_migrates_no_one_twice(
    dev_env: WorkflowEnvironment, clean_db: Engine, settings: Settings
) -> None:
    queue = f"tq-{uuid.uuid4()}"
    client = LocalCadence(dev_env.client, clean_db, task_queue=queue)
    port = free_port()  # nothing listens: the test sends no email (every first step is a day away)
    worker = start_worker(settings, dev_env, queue, port)
    second = None
    try:
        await client.publish_cadence(V1, actor=ADMIN)
        people = contacts(clean_db, "crash", 120)
        later = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
        assert all(r.ok for r in await client.bulk_enroll("nurture", people, start_at=later, per_second=200))

        async def mirrored() -> bool:
            with transaction(clean_db) as session:
                return session.exec(select(func.count()).select_from(Enrollment).where(Enrollment.status == "active")).one() == 120

        await until(mirrored)
        await client.save_draft("nurture", V2, actor=ADMIN)
        await client.publish("nurture", actor=ADMIN)
        request = OperationRequest(action="migrate", filter=OperationFilter(cadence_id="nurture"), reason="v2", rate_per_second=10)
        plan = await client.preview_operation(request, actor=ADMIN)
        assert plan.total == 120
        await client.apply_operation(plan.id, actor=ADMIN)

        async def some_applied() -> bool:
            with transaction(clean_db) as session:
                n = session.exec(
                    select(func.count())
                    .select_from(OperationItem)
                    .where(OperationItem.operation_id == uuid.UUID(plan.id), OperationItem.status == "applied")
                ).one()
            return n >= 30

        await until(some_applied)
        worker.send_signal(signal.SIGKILL)
        await asyncio.to_thread(worker.wait, 30)
        midway = (await client.operation(plan.id)).progress
        assert 0 < midway["pending"] < 120
        second = start_worker(settings, dev_env, queue, port)
        done = await finished(client, plan.id, seconds=240)
        odd = [(i.status, i.message) for i in (await client.operation_items(plan.id, limit=500)).items if i.status != "applied"]
        assert done.progress == {"pending": 0, "applied": 120, "stale": 0, "skipped": 0, "failed": 0}, odd
        counts = await all_migrations_recorded(clean_db, 120)
        assert len(counts) == 120 and set(counts.values()) == {1}  # every one moved, none twice
    finally:
        for process in (worker, second):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                await asyncio.to_thread(process.wait, 60)


async def test_a_cadence_that_follows_published_versions_moves_its_enrollments_on_publish(stack: Stack) -> None:
    client = stack.client
    await client.publish_cadence(V1, actor=ADMIN)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    assert all(r.ok for r in await client.bulk_enroll("nurture", contacts(stack.engine, "fol", 20), start_at=later, per_second=100))
    assert await client.follow_published("nurture", True, actor=ADMIN) is True
    await client.save_draft("nurture", V2, actor=ADMIN)
    published = await client.publish("nurture", actor=ADMIN)
    assert published.follow_operation_id is not None
    done = await finished(client, published.follow_operation_id)
    assert done.action == "migrate" and done.progress["applied"] == 20 and done.created_by == f"follow:{ADMIN}"
    with transaction(stack.engine) as session:
        versions = session.exec(select(Enrollment.cadence_version_id).distinct()).all()
    assert [str(v) for v in versions] == [published.version_id]
    # Publishing the same version again changes nothing and moves no one.
    again = await client.publish("nurture", actor=ADMIN, version=2)
    assert not again.changed and again.follow_operation_id is None


async def test_a_stale_preview_is_refused_and_changes_nothing(stack: Stack) -> None:
    client = stack.client
    await client.publish_cadence(V1, actor=ADMIN)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    assert all(r.ok for r in await client.bulk_enroll("nurture", contacts(stack.engine, "old", 3), start_at=later))
    plan = await client.preview_operation(
        OperationRequest(action="stop", filter=OperationFilter(cadence_id="nurture"), reason="x"), actor=ADMIN
    )
    with transaction(stack.engine) as session:  # the preview is a day old
        row = session.get(Operation, uuid.UUID(plan.id))
        assert row is not None
        row.expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        session.add(row)
    with pytest.raises(Conflict, match="too old to apply; preview again"):
        await client.apply_operation(plan.id, actor=ADMIN)
    assert (await client.operation(plan.id)).status == "expired"
    with transaction(stack.engine) as session:
        assert session.exec(select(func.count()).select_from(Enrollment).where(Enrollment.status == "stopped")).one() == 0
