"""The audit trail: an append-only, hash-chained log; archived histories that replay; and a
timeline that tells an enrollment's whole story in order."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import uuid

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import select
from temporalio.client import WorkflowHistory as TemporalHistory
from temporalio.testing import ActivityEnvironment
from temporalio.worker import Replayer

from activities.archive import ArchiveActivities
from core.db import transaction
from core.temporal import DATA_CONVERTER
from models import audit
from models.payloads import ArchiveInput
from models.tables import AuditEntry, WorkflowHistory
from starter.service.timeline import build, to_csv
from starter.temporal import Workflows
from tests.conftest import APP_ROLE, TestDatabase
from tests.integration.conftest import Stack
from worker import workflow_runner
from workflows.registry import WORKFLOWS

pytestmark = pytest.mark.integration

STORY = """
key: story
name: Story
steps:
  - {id: hello, type: email, template: t}
  - {id: follow-up, type: email, template: t, wait: {seconds: 4}}
  - {id: breakup, type: email, template: t, wait: {days: 3}}
templates:
  t: {channel: email, subject: "Hello", html: "<p>Hello</p>", text: "Hello"}
"""


def write_entries(engine: Engine, count: int) -> None:
    with transaction(engine) as session:
        for n in range(count):
            audit.append(session, actor=f"tester-{n}", action="paused", reason=f"reason {n}", details={"n": n})


def tamper(statement: str, admin: Engine) -> None:
    """Change the log the way only a superuser bypassing the application could: triggers off."""
    with admin.begin() as conn:
        conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
        conn.execute(sa.text(statement))


def verification(engine: Engine) -> audit.Verification:
    with transaction(engine) as session:
        return audit.verify(session)


def test_the_audit_log_refuses_changes_even_from_a_superuser(clean_db: Engine, admin_engine: Engine) -> None:
    write_entries(clean_db, 3)
    for statement in ("UPDATE audit_log SET reason = 'edited'", "DELETE FROM audit_log", "TRUNCATE audit_log"):
        with pytest.raises(sa.exc.DBAPIError) as refused, admin_engine.begin() as conn:
            conn.execute(sa.text(statement))
        assert "append-only" in str(refused.value)  # the trigger, whatever the privileges
    with pytest.raises(sa.exc.DBAPIError), admin_engine.begin() as conn:
        conn.execute(sa.text("UPDATE audit_head SET count = 0"))
    assert verification(clean_db).ok


def test_the_application_role_cannot_touch_the_audit_log_or_its_protection(clean_db: Engine, database: TestDatabase) -> None:
    if not database.separated:
        pytest.skip("the test server would not let the suite create roles")
    write_entries(clean_db, 2)
    attempts = [
        "UPDATE audit_log SET reason = 'edited'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
        "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update",
        "ALTER TABLE audit_log DISABLE TRIGGER ALL",
        "DROP TRIGGER audit_log_no_update ON audit_log",
        "SET session_replication_role = replica",
        "ALTER TABLE audit_log OWNER TO CURRENT_USER",
        "CREATE TABLE sneaky (id int)",
        "DELETE FROM audit_head",
        f"GRANT UPDATE ON audit_log TO {APP_ROLE}",
    ]
    for statement in attempts:
        with clean_db.begin() as conn:
            try:
                conn.execute(sa.text(statement))
            except sa.exc.DBAPIError as refused:
                assert isinstance(refused.orig, psycopg.errors.InsufficientPrivilege), (statement, refused)
                continue
        # GRANT by a role without the grant option is only a warning: it must have changed nothing.
        assert statement.startswith("GRANT"), statement
    with pytest.raises(sa.exc.DBAPIError) as still, clean_db.begin() as conn:
        conn.execute(sa.text("UPDATE audit_log SET reason = 'edited'"))
    assert isinstance(still.value.orig, psycopg.errors.InsufficientPrivilege)
    with clean_db.connect() as conn:
        owned = conn.execute(
            sa.text("SELECT count(*) FROM pg_class WHERE relowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)")
        )
        grants = conn.execute(
            sa.text(
                "SELECT privilege_type FROM information_schema.role_table_grants WHERE table_name = 'audit_log' AND grantee = current_user"
            )
        )
        assert owned.scalar() == 0 and sorted(grants.scalars().all()) == ["INSERT", "SELECT"]
    assert verification(clean_db).ok and verification(clean_db).checked == 2


def test_verify_finds_an_edited_a_removed_and_a_cut_off_entry(clean_db: Engine, admin_engine: Engine) -> None:
    write_entries(clean_db, 6)
    assert verification(clean_db).checked == 6
    tamper(admin=admin_engine, statement="UPDATE audit_log SET reason = 'nothing to see' WHERE id = 3")
    edited = verification(clean_db)
    assert not edited.ok and edited.broken is not None and edited.broken.id == 3 and "changed" in (edited.problem or "")
    tamper(admin=admin_engine, statement="UPDATE audit_log SET reason = 'reason 2' WHERE id = 3")
    assert verification(clean_db).ok
    tamper(admin=admin_engine, statement="DELETE FROM audit_log WHERE id = 4")
    removed = verification(clean_db)
    assert removed.broken is not None and removed.broken.id == 5 and "removed" in (removed.problem or "")


def test_verify_finds_entries_cut_off_the_end(clean_db: Engine, admin_engine: Engine) -> None:
    write_entries(clean_db, 4)
    tamper(admin=admin_engine, statement="DELETE FROM audit_log WHERE id = 4")
    cut = verification(clean_db)
    assert not cut.ok and cut.checked == 3 and "missing from the end" in (cut.problem or "")


def test_entries_hold_ids_and_reasons_never_addresses(stack: Stack) -> None:
    stack.load(STORY)
    person = stack.contact(email="secret.person@example.com", phone="+14155550142")
    with transaction(stack.engine) as session:
        entries = session.exec(select(AuditEntry)).all()
        text = json.dumps([{"r": e.reason, "d": e.details, "a": e.actor} for e in entries])
    assert "secret.person" not in text and "4155550142" not in text
    assert person.id is not None


async def wait_status(stack: Stack, enrollment_id: str, status: str, timeout: float = 30) -> None:
    for _ in range(int(timeout * 10)):
        if (await stack.client.get(enrollment_id)).status == status:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"enrollment never became {status}")


async def test_the_timeline_tells_the_whole_story_in_order(stack: Stack) -> None:
    stack.load(STORY)
    person = stack.contact(email="story@example.com")
    info = await stack.client.enroll("story", person.external_id, actor="signup-service")
    await asyncio.to_thread(stack.smtp.sink.wait_for, "story@example.com", 1)
    await stack.client.pause(info.id, actor="lead@acme", reason="customer asked for a week")
    await stack.client.resume(info.id, actor="lead@acme", reason="customer is back")
    await asyncio.to_thread(stack.smtp.sink.wait_for, "story@example.com", 2)
    for _ in range(100):  # the reply comes while it waits for the last step
        live = (await stack.client.status(info.id)).live
        if live is not None and live.step_id == "breakup":
            break
        await asyncio.sleep(0.1)
    await stack.client.send_event("reply", person.external_id, event_id="reply-77", intent="negative")
    await wait_status(stack, info.id, "replied")

    timeline = await stack.client.timeline(info.id)
    assert timeline.history_source == "temporal"
    story = [(e.kind, e.source) for e in timeline.entries]
    expected = [
        ("enrolled", "audit"),
        ("run_started", "history"),
        ("touch_sent", "touch"),
        ("wait", "history"),
        ("paused", "audit"),
        ("resumed", "audit"),
        ("touch_sent", "touch"),
        ("wait", "history"),
        ("event_received", "inbound"),
        ("signal", "history"),
        ("ended", "audit"),
        ("run_completed", "history"),
    ]
    position = 0
    for item in story:
        if position < len(expected) and item == expected[position]:
            position += 1
    assert position == len(expected), f"missing or out of order after {expected[position - 1] if position else None}: {story}"
    by_kind = {e.kind: e for e in timeline.entries}
    assert by_kind["enrolled"].actor == "signup-service"
    assert by_kind["paused"].actor == "lead@acme" and "customer asked for a week" in by_kind["paused"].summary
    sends = [e for e in timeline.entries if e.kind == "touch_sent"]
    assert all(e.details["template"].startswith("t@") for e in sends)
    assert by_kind["run_started"].details["version_hash"] and "version" in by_kind["run_started"].summary
    csv_text = to_csv([timeline])
    assert csv_text.count("\n") == len(timeline.entries) + 1 and "lead@acme" in csv_text


async def test_closed_histories_are_archived_replay_and_serve_the_timeline(stack: Stack) -> None:
    stack.load(STORY.replace("wait: {days: 3}", "wait: {seconds: 1}"))
    person = stack.contact(email="archive@example.com")
    info = await stack.client.enroll("story", person.external_id)
    await wait_status(stack, info.id, "completed")
    archiver = ArchiveActivities(stack.engine, stack.env.client)
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, heartbeat_timeout=dt.timedelta(minutes=1))
    mine = select(WorkflowHistory).where(WorkflowHistory.enrollment_id == uuid.UUID(info.id))
    for _ in range(50):  # visibility is eventually consistent; other tests' runs may be archived first
        await env.run(archiver.archive_histories, ArchiveInput())
        with transaction(stack.engine) as session:
            archived = session.exec(mine).all()
        if archived:
            break
        await asyncio.sleep(0.2)
    [row] = archived
    assert row.status == "completed" and row.events > 10
    again = await env.run(archiver.archive_histories, ArchiveInput())
    assert again.archived == 0  # one row per run, however often it runs

    replayer = Replayer(workflows=WORKFLOWS, data_converter=DATA_CONVERTER, workflow_runner=workflow_runner(WORKFLOWS))
    await replayer.replay_workflow(TemporalHistory.from_json(row.workflow_id, json.dumps(row.history)))

    # After Temporal's retention, the timeline comes from the archive alone.
    timeline = await build(lambda: transaction(stack.engine), None, info.id)
    assert timeline.history_source == "archive"
    assert [e.kind for e in timeline.entries if e.source == "history"][0] == "run_started"


async def test_the_archiver_workflow_archives_on_its_own(stack: Stack) -> None:
    stack.load(STORY.replace("wait: {days: 3}", "wait: {seconds: 1}").replace("wait: {seconds: 4}", "wait: {seconds: 1}"))
    person = stack.contact(email="self@example.com")
    info = await stack.client.enroll("story", person.external_id)
    await wait_status(stack, info.id, "completed")
    archiver = Workflows(stack.env.client, stack.settings.task_queue)
    await archiver.ensure_archiver(interval_seconds=1)
    await archiver.ensure_archiver(interval_seconds=1)  # a second start attaches
    try:
        for _ in range(150):
            with transaction(stack.engine) as session:
                found = session.exec(select(WorkflowHistory).where(WorkflowHistory.enrollment_id == uuid.UUID(info.id))).first()
            if found is not None:
                break
            await asyncio.sleep(0.2)
        assert found is not None
    finally:
        await stack.env.client.get_workflow_handle("cadence-history-archiver").terminate("end of test")
