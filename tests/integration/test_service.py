"""The service layer through the in-process library and the CLI: what used to live only in
API routes (pausing a customer, closing a task) is there for every caller, bad events are
refused before anything is written, and the status mirror comes from the workflow."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import func, select

from core.db import transaction
from models.keys import Role
from models.tables import AuditEntry, Cadence, InboundEvent, Task
from starter.errors import Conflict, Invalid
from starter.service import cadences, keys
from tests.integration.conftest import Stack
from tests.integration.test_cli import cli

pytestmark = pytest.mark.integration

LATER = """
key: later
name: Later
steps:
  - {id: hello, type: email, template: hello, wait: {days: 2}}
templates:
  hello: {channel: email, subject: "Hi", html: "<p>Hi</p>", text: "Hi"}
"""
TASKED = """
key: tasked
name: Tasked
steps:
  - {id: prep, type: task, task: {title: "Prepare the QBR deck", sla_hours: 48}}
  - {id: invite, type: email, template: hello}
templates:
  hello: {channel: email, subject: "QBR", html: "<p>QBR</p>", text: "QBR"}
"""


async def eventually(check: Any, timeout: float = 20.0) -> Any:
    for _ in range(int(timeout / 0.1)):
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError("condition not met in time")


def count(stack: Stack, model: Any, *where: Any) -> int:
    with transaction(stack.engine) as session:
        return int(session.exec(select(func.count()).select_from(model).where(*where)).one())


async def test_the_mirror_shows_the_first_step_the_workflow_planned(stack: Stack) -> None:
    stack.load(LATER)
    person = stack.contact(email="later@example.com")
    info = await stack.client.enroll("later", person.external_id)
    assert info.created and info.status == "active"

    async def planned() -> Any:
        row = await stack.client.get(info.id)
        return row if row.next_step_at is not None else None

    row = await eventually(planned)
    assert row.current_step == 0 and row.next_step_id == "hello"
    assert row.waiting_reason == "waiting for step 1 'hello' (email): 2 days after the previous step"
    live = (await stack.client.status(info.id)).live
    assert live is not None and live.next_due_at == row.next_step_at  # the row says what the workflow says


async def test_the_library_pauses_and_resumes_a_whole_customer(stack: Stack) -> None:
    stack.load(LATER)
    ids = []
    for n in range(2):
        person = stack.contact(email=f"crew{n}@initech.example", account_external_id="initech", account_name="Initech")
        ids.append((await stack.client.enroll("later", person.external_id)).id)
    paused = await stack.client.pause_account("initech", actor="lead@initech", reason="contract review")
    assert (paused.changed, paused.unchanged) == (2, 0) and {o.enrollment_id for o in paused.enrollments} == set(ids)
    for enrollment_id in ids:
        live = (await stack.client.status(enrollment_id)).live
        assert live is not None and live.pause is not None and live.pause.reason == "account paused: contract review"
    again = await stack.client.pause_account("initech", actor="lead@initech", reason="twice")
    assert again.changed == 0  # only active enrollments are paused
    resumed = await stack.client.resume_account("initech", actor="lead@initech")
    assert resumed.changed == 2 and all(o.status == "active" for o in resumed.enrollments)


async def test_the_library_closes_tasks_and_the_enrollment_moves_on(stack: Stack) -> None:
    stack.load(TASKED)
    stack.owner("csm-kim", name="Kim")
    person = stack.contact(email="tasked@example.com", owner_id="csm-kim")
    info = await stack.client.enroll("tasked", person.external_id)
    page = await eventually(lambda: _tasks(stack, "csm-kim"))
    [task] = page.items
    done = await stack.client.complete_task(task.id, actor="kim", outcome="deck ready")
    assert (done.status, done.outcome, done.completed_by) == ("completed", "deck ready", "kim")
    with pytest.raises(Conflict, match="already completed"):
        await stack.client.skip_task(task.id, actor="kim")
    await asyncio.to_thread(stack.smtp.sink.wait_for, "tasked@example.com")
    await eventually(lambda: _status_is(stack, info.id, "completed"))


async def _tasks(stack: Stack, owner: str) -> Any:
    page = await stack.client.tasks(owner=owner)
    return page if page.items else None


async def _status_is(stack: Stack, enrollment_id: str, status: str) -> bool:
    return (await stack.client.get(enrollment_id)).status == status


@pytest.mark.parametrize(
    ("kind", "fields", "field"),
    [("teleport", {}, "type"), ("event", {}, "name"), ("task_completed", {}, "task_id"), ("reply", {"intent": "ecstatic"}, "intent")],
)
async def test_an_event_that_cannot_be_delivered_is_refused_before_it_is_recorded(
    stack: Stack, kind: str, fields: dict[str, Any], field: str
) -> None:
    person = stack.contact(email=f"{uuid.uuid4().hex[:8]}@example.com")
    before = count(stack, InboundEvent)
    with pytest.raises(Invalid) as refused:
        await stack.client.send_event(kind, person.external_id, event_id=f"e-{uuid.uuid4()}", **fields)
    assert refused.value.details["field"] == field
    assert count(stack, InboundEvent) == before


async def test_keys_made_anywhere_are_audited_with_who_made_them(stack: Stack) -> None:
    created = await keys.create(stack.client.backend, name="billing", role=Role.service, actor="ops@acme")
    revoked = await keys.revoke(stack.client.backend, created.id, actor="ops@acme")
    assert revoked.revoked_at is not None and await keys.authenticate(stack.client.backend, created.key) is None
    with transaction(stack.engine) as session:
        entries = session.exec(select(AuditEntry).where(AuditEntry.actor == "ops@acme").order_by(AuditEntry.id)).all()  # type: ignore[arg-type]
    assert [(e.action, e.details["key_id"]) for e in entries] == [("key_created", created.id), ("key_revoked", created.id)]


async def test_publishing_files_stores_all_or_none(stack: Stack, tmp_path: Path) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(LATER.replace("key: later", "key: good-one"))
    bad.write_text(LATER.replace("key: later", "key: bad-one").replace("wait: {days: 2}", "wait: {days: 2, business_days: 1}"))
    with pytest.raises(Invalid) as refused:
        await cadences.publish_files(stack.client.backend, [good, bad], actor="test")
    assert refused.value.details["file"] == str(bad) and "choose one kind of wait" in refused.value.message
    assert count(stack, Cadence, Cadence.key.in_(["good-one", "bad-one"])) == 0  # type: ignore[attr-defined]
    [published] = await cadences.publish_files(stack.client.backend, [good], actor="test")
    assert (published.key, published.version, published.created) == ("good-one", 1, True)


async def test_the_cli_pauses_a_customer_and_works_the_task_queue(stack: Stack) -> None:
    stack.load(TASKED)
    stack.owner("csm-lou", name="Lou")
    person = stack.contact(email="cli-acct@umbrella.example", account_external_id="umbrella", account_name="Umbrella", owner_id="csm-lou")
    info = await stack.client.enroll("tasked", person.external_id)
    await eventually(lambda: _tasks(stack, "csm-lou"))
    assert (await cli(stack, "accounts", "pause", "umbrella")).returncode == 5  # --reason is required
    paused = await cli(stack, "--json", "accounts", "pause", "umbrella", "--reason", "legal review")
    assert paused.returncode == 0, paused.stderr
    assert json.loads(paused.stdout)["changed"] == 1
    assert (await stack.client.status(info.id)).live.status.value == "paused"
    shown = json.loads((await cli(stack, "--json", "accounts", "show", "umbrella")).stdout)
    assert shown["name"] == "Umbrella" and shown["open_enrollments"] == 1
    resumed = json.loads((await cli(stack, "--json", "accounts", "resume", "umbrella")).stdout)
    assert resumed["changed"] == 1
    listed = json.loads((await cli(stack, "--json", "tasks", "list", "--owner", "csm-lou")).stdout)
    [task] = listed["items"]
    done = json.loads((await cli(stack, "--json", "tasks", "skip", task["id"], "--reason", "not needed")).stdout)
    assert (done["status"], done["outcome"]) == ("skipped", "not needed") and done["completed_by"].startswith("cli:")
    assert (await cli(stack, "tasks", "complete", task["id"])).returncode == 4  # already skipped
    assert count(stack, Task, Task.status == "skipped") == 1
    await eventually(lambda: _status_is(stack, info.id, "completed"))
