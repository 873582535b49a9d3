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
from tests.integration.conftest import OPEN_POLICY_FILE, Stack
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
    # The API judges (previews, the gate's reasons) by the same open policy as the test worker,
    # so a preview matches the live enrollment whatever the time of day the suite runs at.
    settings = stack.settings.model_copy(
        update={"temporal_address": stack.env.client.service_client.config.target_host, "policy_file": str(OPEN_POLICY_FILE)}
    )
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


SHORTER = CADENCE.replace("wait: {days: 2}", "wait: {days: 1}")


async def test_live_edits_over_http_draft_diff_publish_migrate_rollback_and_every_refusal(api: Api) -> None:
    # The client is synchronous: it runs in a thread while the in-process worker runs here.
    await asyncio.to_thread(_live_edits, api)


def _live_edits(api: Api) -> None:
    admin, lead, service, auditor = (api.client(r) for r in ("admin", "cs_lead", "service", "auditor"))
    admin.save_draft("client-cadence", CADENCE)
    assert admin.publish("client-cadence").version == 1
    api.stack.contact(external_id="http-live-1", email="live1@example.com")
    enrollment = service.enroll("client-cadence", contact_external_id="http-live-1", start_at=dt.datetime(2030, 1, 1, tzinfo=dt.UTC))

    # An invalid draft names the step and the field, and leaves the draft as it was.
    with pytest.raises(Invalid) as bad:
        admin.save_draft("client-cadence", CADENCE.replace("wait: {days: 2}", "wait: {days: 2, business_days: 1}"))
    assert "step 2 'later'" in bad.value.message and "choose one kind of wait" in bad.value.message
    with pytest.raises(Invalid, match="key"):
        admin.save_draft("client-cadence", CADENCE.replace("key: client-cadence", "key: someone-else"))
    with pytest.raises(Forbidden):
        lead.save_draft("client-cadence", SHORTER)

    draft = admin.save_draft("client-cadence", SHORTER)
    assert draft.based_on_version == 1 and any("'later': wait 2 days" in line for line in draft.changes)
    diff = auditor.diff("client-cadence")
    assert (diff.before, diff.after) == ("v1", "draft") and [c.id for c in diff.diff.changed] == ["later"]
    published = admin.publish("client-cadence", reason="shorter")
    assert (published.version, published.previous_version, published.created) == (2, 1, True)
    with pytest.raises(Conflict, match="no draft"):
        admin.publish("client-cadence")
    with pytest.raises(NotFound):
        admin.publish("client-cadence", version=9)

    # Migrations: admins only; a clear 4xx for an unrelated cadence, an unknown version, nothing matching.
    with pytest.raises(Forbidden):
        lead.preview_operation("migrate", "v2", cadence_id="client-cadence")
    admin.save_draft("unrelated", CADENCE.replace("key: client-cadence", "key: unrelated"))
    admin.publish("unrelated")
    with pytest.raises(Invalid, match="one cadence"):
        admin.preview_operation("migrate", "v2", cadence_id="client-cadence", to_cadence_id="unrelated")
    with pytest.raises(NotFound, match="no version 7"):
        admin.preview_operation("migrate", "v2", cadence_id="client-cadence", to_version=7)
    with pytest.raises(Conflict, match="matches it"):
        admin.preview_operation("migrate", "v2", cadence_id="client-cadence", owner="nobody")
    with pytest.raises(Invalid, match="reason"):
        admin.preview_operation("migrate", "  ", cadence_id="client-cadence")
    plan = admin.preview_operation("migrate", "v2", cadence_id="client-cadence")
    assert plan.total == 1 and plan.items[0].enrollment_id == enrollment.id and plan.items[0].status == "pending"
    with pytest.raises(Forbidden):
        service.apply_operation(plan.id)
    admin.apply_operation(plan.id)
    done = admin.wait_for_operation(plan.id, poll=0.2, timeout=60)
    assert done.progress["applied"] == 1 and auditor.operation_items(plan.id).items[0].status == "applied"
    assert admin.get_enrollment(enrollment.id).cadence_version == 2
    # Polling reads the mirror alone (no query to the workflow); the default asks it too.
    polled = admin.get_enrollment(enrollment.id, live=False)
    assert (polled.live, polled.live_error, polled.cadence_version, polled.status) == (None, None, 2, "active")
    assert admin.get_enrollment(enrollment.id).live is not None

    # A CS lead pauses by query; the rollback is publishing v1 again.
    paused = lead.preview_operation("pause", "holiday", cadence_id="client-cadence")
    lead.apply_operation(paused.id)
    assert lead.wait_for_operation(paused.id, poll=0.2, timeout=60).progress["applied"] == 1
    rolled = admin.publish("client-cadence", version=1, reason="back")
    assert (rolled.version, rolled.previous_version, rolled.created) == (1, 2, False)
    assert [o.action for o in auditor.operations(cadence="client-cadence")] == ["pause", "migrate"]


async def test_an_auditor_previews_over_http_before_and_during_an_enrollment(api: Api) -> None:
    api.stack.load(CADENCE)
    with api.client("service") as service, api.client("auditor") as auditor:
        await asyncio.to_thread(service.upsert_contact, "http-prev", email="prev@example.com", timezone="America/Chicago", country="US")
        before = await asyncio.to_thread(auditor.preview, "client-cadence", contact_id="http-prev", horizon_days=30)
        assert [i.step_id for i in before.items if i.kind == "touch"] == ["hello", "later"]
        assert before.timezone == "America/Chicago" and before.outcome == "completed" and before.contact_id is not None
        inline = await asyncio.to_thread(auditor.preview, "client-cadence", contact={"timezone": "Asia/Tokyo", "has_email": False})
        assert {i.code for i in inline.items if i.kind == "skipped"} == {"no_address"}
        with pytest.raises(Invalid) as bad:
            await asyncio.to_thread(auditor.preview, "client-cadence", contact={"timezone": "Nowhere/Special"})
        assert "Nowhere/Special" in str(bad.value)
        with pytest.raises(NotFound):
            await asyncio.to_thread(auditor.preview, "client-cadence", contact_id="nobody-here")
        enrolled = await asyncio.to_thread(lambda: service.enroll("client-cadence", contact_external_id="http-prev"))
        for _ in range(100):
            if (await asyncio.to_thread(auditor.get_enrollment, enrolled.id)).current_step == 1:
                break
            await asyncio.sleep(0.1)
        nxt = await asyncio.to_thread(auditor.enrollment_preview, enrolled.id)
        assert nxt.enrollment_id == enrolled.id
        assert [i.step_id for i in nxt.items if i.kind == "touch"] == ["later"]  # the first one has gone out
        detail = await asyncio.to_thread(auditor.get_enrollment, enrolled.id)
        assert detail.live is not None and detail.live.next_due_at is not None
        assert abs(next(i.at for i in nxt.items if i.kind == "touch") - detail.live.next_due_at) < dt.timedelta(seconds=1)
