"""The HTTP client (clients/python, `cadence_client`) against the real API: another service
with nothing but a URL and keys creates contacts, imports a CSV, enrolls (idempotently, by
key), pauses and resumes, sends events and reads timelines; every refusal comes back as the
exception it stands for."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from cadence_client import AsyncCadence, Cadence, Conflict, Forbidden, Invalid, NotFound, Unauthorized

from core.db import transaction
from models.keys import Role, create_key
from starter.api import create_app
from tests.integration.conftest import Stack
from tests.support.server import serve

pytestmark = pytest.mark.integration

CADENCE = """
key: client-cadence
name: Client cadence
steps:
  - {id: hello, type: email, template: hello}
  - {id: later, type: email, template: hello, wait: {days: 2}}
templates:
  hello: {channel: email, subject: "Hello", html: "<p>Hello</p>", text: "Hello"}
"""


@dataclass
class Api:
    url: str
    keys: dict[str, str]
    stack: Stack

    def client(self, role: str = "service") -> Cadence:
        return Cadence(self.url, self.keys[role], timeout=60)


@pytest.fixture
def api(stack: Stack) -> Iterator[Api]:
    keys = {}
    with transaction(stack.engine) as session:
        for role in Role:
            keys[role.value] = create_key(session, name=f"client-{role.value}", role=role)[1]
    settings = stack.settings.model_copy(update={"temporal_address": stack.env.client.service_client.config.target_host})
    with serve(create_app(settings)) as url:
        yield Api(url, keys, stack)


async def eventually_status(cadence: Cadence, enrollment_id: str, status: str) -> None:
    for _ in range(200):
        if (await asyncio.to_thread(cadence.get_enrollment, enrollment_id)).status == status:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"enrollment did not become {status}")


async def test_a_service_enrolls_and_a_lead_steers_over_http(api: Api) -> None:
    api.stack.load(CADENCE)
    with api.client("service") as service, api.client("cs_lead") as lead, api.client("auditor") as auditor:
        saved = await asyncio.to_thread(
            service.upsert_contact, "http-ada", email="ada@example.com", first_name="Ada", timezone="America/Chicago"
        )
        assert saved.external_id == "http-ada" and saved.email == "ada@example.com"
        key = f"signup-{uuid.uuid4()}"
        first = await asyncio.to_thread(lambda: service.enroll("client-cadence", contact_external_id="http-ada", idempotency_key=key))
        again = await asyncio.to_thread(lambda: service.enroll("client-cadence", contact_external_id="http-ada", idempotency_key=key))
        assert first.created and again.created and again.id == first.id  # the same answer for the same key
        with pytest.raises(Conflict) as reused:
            await asyncio.to_thread(lambda: service.enroll("client-cadence", contact_id=saved.id, idempotency_key=key))
        assert "Idempotency-Key" in reused.value.message
        other = await asyncio.to_thread(lambda: service.enroll("client-cadence", contact_external_id="http-ada"))
        assert other.id == first.id and not other.created  # no key: still one open enrollment

        await asyncio.to_thread(api.stack.smtp.sink.wait_for, "ada@example.com")
        with pytest.raises(Conflict) as not_paused:
            await asyncio.to_thread(lead.resume, first.id)
        assert not_paused.value.message == "cannot resume: the enrollment is not paused (it is active)"
        paused = await asyncio.to_thread(
            lambda: lead.pause(first.id, "customer asked", until=dt.datetime.now(dt.UTC) + dt.timedelta(days=3))
        )
        assert paused.status == "paused" and paused.pause is not None and paused.pause.actor == "client-cs_lead"
        resumed = await asyncio.to_thread(lead.resume, first.id, "back")
        assert resumed.status == "active"
        with pytest.raises(Forbidden):
            await asyncio.to_thread(service.pause, first.id, "a service may not")

        detail = await asyncio.to_thread(lead.get_enrollment, first.id)
        assert detail.live is not None and detail.live.step_id == "later" and [t.step_id for t in detail.touches] == ["hello"]
        page = await asyncio.to_thread(lambda: auditor.list_enrollments(cadence="client-cadence"))
        assert page.total == 1 and page.items[0].id == first.id
        assert [e.id for e in auditor.iter_enrollments(cadence="client-cadence", page_size=1)] == [first.id]

        outcome = await asyncio.to_thread(
            lambda: service.send_event("reply", contact_external_id="http-ada", event_id="r-1", intent="negative")
        )
        assert outcome.delivered_to == [first.id]
        repeat = await asyncio.to_thread(
            lambda: service.send_event("reply", contact_external_id="http-ada", event_id="r-1", intent="negative")
        )
        assert repeat.duplicate
        await eventually_status(lead, first.id, "replied")
        story = await asyncio.to_thread(auditor.timeline, first.id)
        kinds = [e.kind for e in story.entries]
        assert {"enrolled", "paused", "resumed", "touch_sent", "ended"} <= set(kinds)
        own, *stories = await asyncio.to_thread(auditor.contact_timeline, "http-ada")
        assert own.scope == "contact" and [t.enrollment_id for t in stories] == [first.id]


async def test_refusals_come_back_as_their_exceptions(api: Api) -> None:
    api.stack.load(CADENCE)
    with api.client("service") as service:
        with pytest.raises(NotFound) as missing:
            await asyncio.to_thread(lambda: service.enroll("client-cadence", contact_external_id="nobody"))
        assert missing.value.details == {"field": "contact_id"}
        with pytest.raises(Invalid) as bad:
            await asyncio.to_thread(lambda: service.upsert_contact("bad-email", email="not-an-email"))
        assert bad.value.field == "email"
        with pytest.raises(Invalid) as naive:
            await asyncio.to_thread(lambda: service.enroll("client-cadence", contact_external_id="x", start_at=dt.datetime(2030, 1, 1)))
        assert naive.value.message == "(body): start_at must carry a time zone, e.g. 2026-12-01T09:00:00Z"
        report = await asyncio.to_thread(service.import_contacts, "external_id,email\nok-1,ok1@example.com\nbad-2,nope\n")
        assert (report.imported, report.failed) == (1, 1) and report.errors[0].row == 3 and report.errors[0].field == "email"
    with Cadence(api.url, "cad_not-a-key") as stranger, pytest.raises(Unauthorized):
        await asyncio.to_thread(stranger.get_contact, "ok-1")


async def test_the_async_client_bulk_enrolls_and_works_accounts_and_tasks(api: Api) -> None:
    api.stack.load(CADENCE.replace("key: client-cadence", "key: client-bulk"))
    api.stack.load("""
key: client-task
name: Client task
steps:
  - {id: prep, type: task, task: {title: "Prepare the deck", sla_hours: 48}}
templates: {}
""")
    api.stack.owner("csm-ivy", name="Ivy")
    async with (
        AsyncCadence(api.url, api.keys["service"], timeout=60) as service,
        AsyncCadence(api.url, api.keys["cs_lead"], timeout=60) as lead,
    ):
        await service.upsert_account("acct-hooli", "Hooli", industry="software")
        for n in range(2):
            await service.upsert_contact(f"hooli-{n}", email=f"hooli{n}@example.com", account_external_id="acct-hooli", owner_id="csm-ivy")
        key = f"bulk-{uuid.uuid4()}"
        bulk = await service.bulk_enroll("client-bulk", ["hooli-0", "hooli-1", "ghost"], idempotency_key=key)
        assert (bulk.enrolled, bulk.already_enrolled, bulk.failed) == (2, 0, 1) and bulk.rows[2].code == "not_found"
        again = await service.bulk_enroll("client-bulk", ["hooli-0", "hooli-1", "ghost"], idempotency_key=key)
        assert [r.enrollment_id for r in again.rows[:2]] == [r.enrollment_id for r in bulk.rows[:2]] and again.enrolled == 2
        account = await lead.get_account("acct-hooli")
        assert account.name == "Hooli" and account.open_enrollments == 2
        paused = await lead.pause_account("acct-hooli", "renewal talks")
        assert paused.changed == 2
        assert (await lead.resume_account("acct-hooli")).changed == 2

        tasked = await service.enroll("client-task", contact_external_id="hooli-0")
        for _ in range(100):
            page = await lead.tasks(owner="csm-ivy")
            if page.items:
                break
            await asyncio.sleep(0.1)
        [task] = page.items
        done = await lead.complete_task(task.id, "deck ready")
        assert (done.status, done.outcome, done.completed_by) == ("completed", "deck ready", "client-cs_lead")
        with pytest.raises(Conflict):
            await lead.skip_task(task.id)
        for _ in range(100):
            if (await lead.get_enrollment(tasked.id)).status == "completed":
                break
            await asyncio.sleep(0.1)
        assert (await lead.get_enrollment(tasked.id)).status == "completed"
