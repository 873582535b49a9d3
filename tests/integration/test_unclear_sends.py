"""An email a crash left unclear, as an operator meets it: in the list of unclear touches, in
the enrollment's timeline, and settled through the API with a reason (audited, once)."""

from __future__ import annotations

import uuid

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import select

from activities.lookups import NoLookup
from core.db import transaction
from models.tables import AuditEntry, Enrollment, Touch
from tests.integration.conftest import Inbound
from tests.integration.test_sends import crash_after_claim, enrollment_for, run, touch, with_lookup

pytestmark = pytest.mark.integration


async def unclear_touch(inbound: Inbound, address: str) -> tuple[str, str]:
    """A real send, then the crash that leaves it without an answer, then the retry that
    holds it: (enrollment id, touch id)."""
    stack = inbound.stack
    acts = with_lookup(stack, NoLookup())
    ids = enrollment_for(stack, email=address)
    await run(acts.send_email, touch(*ids))
    crash_after_claim(stack, ids[2])
    held = await run(acts.send_email, touch(*ids))
    assert held.status == "unclear"
    assert held.touch_id is not None
    return ids[0], held.touch_id


async def test_an_operator_finds_an_unclear_send_and_records_that_it_arrived(inbound: Inbound) -> None:
    enrollment_id, touch_id = await unclear_touch(inbound, "held@example.com")
    async with inbound.http(inbound.lead) as lead:
        listed = (await lead.get("/v1/touches", params={"status": "unclear"})).json()
        assert listed["total"] == 1
        [item] = listed["items"]
        assert item["id"] == touch_id and item["reason_code"] == "unclear_after_crash"
        assert "cannot tell whether it was accepted" in item["reason"] and item["provider_id"].startswith("<touch-")

        timeline = (await lead.get(f"/v1/enrollments/{enrollment_id}/timeline")).json()
        unclear = [e for e in timeline["entries"] if e["kind"] == "touch_unclear"]
        assert unclear and "held for an operator" in unclear[0]["summary"]

        refused = await lead.post(f"/v1/touches/{touch_id}/resolve", json={"outcome": "sent", "reason": ""})
        assert refused.status_code == 422 and refused.json()["error"]["details"]["fields"][0]["field"] == "reason"
        settled = await lead.post(f"/v1/touches/{touch_id}/resolve", json={"outcome": "sent", "reason": "found in the relay's log"})
        assert settled.status_code == 200, settled.text
        assert settled.json()["status"] == "sent"
        again = await lead.post(f"/v1/touches/{touch_id}/resolve", json={"outcome": "not_sent", "reason": "second thoughts"})
        assert again.status_code == 409
        assert (await lead.get("/v1/touches", params={"status": "unclear"})).json()["total"] == 0
    assert len(inbound.stack.smtp.sink.to("held@example.com")) == 1  # never sent twice
    with transaction(inbound.stack.engine) as session:
        enrollment = session.get(Enrollment, uuid.UUID(enrollment_id))
        assert enrollment is not None and enrollment.touches_sent == 1
        [entry] = session.exec(select(AuditEntry).where(AuditEntry.action == "touch_resolved")).all()
        assert entry.actor == "lead@acme" and entry.reason == "found in the relay's log" and entry.details["outcome"] == "sent"


async def test_an_unclear_send_that_never_left_is_recorded_as_failed(inbound: Inbound) -> None:
    _, touch_id = await unclear_touch(inbound, "never@example.com")
    async with inbound.http(inbound.lead) as lead:
        settled = await lead.post(f"/v1/touches/{touch_id}/resolve", json={"outcome": "not_sent", "reason": "bounced at the relay"})
        assert settled.status_code == 200
        assert settled.json()["status"] == "failed" and "bounced at the relay" in settled.json()["reason"]
    async with httpx.AsyncClient(base_url=inbound.url, headers={"Authorization": f"Bearer {inbound.admin}"}) as admin:
        missing = await admin.post(f"/v1/touches/{uuid.uuid4()}/resolve", json={"outcome": "sent", "reason": "x"})
        assert missing.status_code == 404
        bad = await admin.get("/v1/touches", params={"status": "lost"})
        assert bad.status_code == 422


async def test_touches_are_listed_per_enrollment(inbound: Inbound) -> None:
    enrollment_id, _ = await unclear_touch(inbound, "listed@example.com")
    with transaction(inbound.stack.engine) as session:
        session.exec(sa.update(Touch).values(status="sent"))
    async with inbound.http(inbound.admin) as admin:
        page = (await admin.get("/v1/touches", params={"enrollment_id": enrollment_id})).json()
        assert [t["status"] for t in page["items"]] == ["sent"]
        bad = await admin.get("/v1/touches", params={"enrollment_id": "not-a-uuid"})
        assert bad.status_code == 422 and bad.json()["error"]["details"]["fields"][0]["field"] == "enrollment_id"
