"""Lead scoring on the real stack: a contact's opens, clicks, replies and a meeting move their
score (once each, a machine's open not at all); crossing the hot threshold ends the nurture
enrollment that exits on it and, through the shipped event rule, enrolls them in the
hot-lead playbook, which gives their owner a task to reach out. The API shows the score and sorts
enrollments by it."""

from __future__ import annotations

import asyncio
import re

import pytest
from sqlmodel import select

from core.db import transaction
from models.tables import Contact, Enrollment, InboundEvent, Task
from starter.catalog import PLAYBOOKS_DIR
from tests.integration.conftest import Inbound
from tests.integration.test_tracking import CHROME, _html, _path, backdate_sends

pytestmark = pytest.mark.integration

NURTURE = """
key: nurture
name: Nurture
steps:
  - {id: hello, type: email, template: hello}
  - {id: later, type: email, template: hello, wait: {days: 5}}
exit_on: [bounce, opt_out, "event:score_hot"]
templates:
  hello:
    channel: email
    subject: "A case study"
    html: '<p>Read <a href="https://example.com/case">the case study</a></p>'
    text: "Read the case study"
"""


def _score(inbound: Inbound, contact_id: object) -> float:
    with transaction(inbound.stack.engine) as session:
        row = session.get(Contact, contact_id)
        assert row is not None
        return round(row.score, 1)


async def test_engagement_moves_the_score_and_the_hot_threshold_switches_the_contact_to_a_call(inbound: Inbound) -> None:
    stack = inbound.stack
    await stack.client.publish_cadence(NURTURE, actor="admin")
    await stack.client.publish_cadence((PLAYBOOKS_DIR / "hot-lead.yaml").read_text(), actor="admin")
    stack.owner("rep-keen")
    keen = stack.contact(external_id="keen", email="keen@example.com", owner_id="rep-keen", phone="+14155550123")
    quiet = stack.contact(external_id="quiet", email="quiet@example.com", owner_id="rep-keen")
    nurture = await stack.client.enroll("nurture", keen.external_id)
    await stack.client.enroll("nurture", quiet.external_id)
    [mail] = await asyncio.to_thread(stack.smtp.sink.wait_for, "keen@example.com")
    await asyncio.to_thread(stack.smtp.sink.wait_for, "quiet@example.com")
    await backdate_sends(inbound, 2)
    html = _html(mail)
    pixel = re.findall(r'<img src="([^"]+/t/o/[^"]+)"', html)[0]
    click = re.findall(r'href="([^"]+/t/c/[^"]+)"', html)[0]

    async with inbound.http() as http:
        assert (await http.get(_path(pixel), headers={"user-agent": "Mozilla/5.0"})).status_code == 200  # Apple's proxy: 0
        assert _score(inbound, keen.id) == 0
        for _ in range(2):  # the second of each is the same engagement: no more points
            assert (await http.get(_path(pixel), headers={"user-agent": CHROME})).status_code == 200
            assert (await http.get(_path(click), headers={"user-agent": CHROME})).status_code == 302
    assert _score(inbound, keen.id) == 4  # an open (1) and a click (3)

    await stack.client.send_event("reply", "keen", event_id="keen-yes", intent="positive")  # +20: warm
    assert _score(inbound, keen.id) == 24
    await stack.client.send_event("meeting_booked", "keen", event_id="keen-meeting")  # +30: hot
    assert _score(inbound, keen.id) == 54

    with transaction(stack.engine) as session:
        crossings = session.exec(select(InboundEvent).where(InboundEvent.source == "scoring").order_by(InboundEvent.received_at)).all()  # type: ignore[arg-type]
        assert [(e.payload["name"], e.payload["data"]["threshold"]) for e in crossings] == [("score_warm", 15.0), ("score_hot", 40.0)]
        assert all(e.status == "processed" for e in crossings)

    async def switched() -> bool:
        with transaction(stack.engine) as session:
            first = session.get(Enrollment, nurture.id)
            task = session.exec(select(Task).where(Task.contact_id == keen.id, Task.step_id == "reach-out")).first()
            return first is not None and first.status == "exited" and task is not None and task.owner_id == "rep-keen"

    for _ in range(200):
        if await switched():
            break
        await asyncio.sleep(0.1)
    assert await switched(), "the nurture enrollment exits on score_hot and the hot-lead rule gives the owner a task to reach out"
    with transaction(stack.engine) as session:
        assert session.exec(select(Contact.fields).where(Contact.id == keen.id)).one().get("lead_status") == "hot"

    async with inbound.http(inbound.lead) as reader:
        person = (await reader.get(f"/v1/contacts/{keen.external_id}")).json()
        assert person["score"] == 54.0
        ranked = (await reader.get("/v1/enrollments", params={"owner": "rep-keen", "sort": "score"})).json()["items"]
        assert [e["contact_score"] for e in ranked][0] == 54.0 and ranked[-1]["contact_score"] == 0.0
        assert {e["contact_id"] for e in ranked[:2]} == {str(keen.id)}  # both of keen's enrollments lead
        newest = (await reader.get("/v1/enrollments", params={"owner": "rep-keen"})).json()["items"]
        assert newest[0]["cadence_key"] == "hot-lead"
        bad = await reader.get("/v1/enrollments", params={"sort": "loudest"})
        assert bad.status_code == 422 and "sort" in bad.text
