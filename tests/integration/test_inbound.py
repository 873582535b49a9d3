"""Inbound, end to end over HTTP: Twilio texts and status callbacks (signed), inbound email
(signed), one-click unsubscribe and the preference page, rep tasks, account pause, event
rules and the same-account rule."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlmodel import func, select
from twilio.request_validator import RequestValidator

from cadence.tokens import make_token
from core.db import transaction
from models.tables import AuditEntry, Contact, InboundEvent, Suppression, Task, Touch
from tests.integration.conftest import Inbound, Stack

pytestmark = pytest.mark.integration

TEXTS = """
key: texts
name: Texts
steps:
  - {id: hello, type: email, template: hello}
  - {id: ping, type: sms, template: ping, wait: {hours: 2}}
templates:
  hello: {channel: email, subject: "Hi", html: "<p>Hi</p>", text: "Hi"}
  ping: {channel: sms, body: "Quick question for you."}
"""


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 20) -> None:
    for _ in range(int(timeout / 0.1)):
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("condition not met in time")


async def status_of(stack: Stack, enrollment_id: str) -> str:
    return (await stack.client.get(enrollment_id)).status


def count(stack: Stack, model: Any, *where: Any) -> int:
    with transaction(stack.engine) as session:
        return int(session.exec(select(func.count()).select_from(model).where(*where)).one())


async def enrolled_texter(inbound: Inbound, phone: str = "+14155550101", **extra: Any) -> tuple[Contact, str]:
    inbound.stack.load(TEXTS)
    person = inbound.stack.contact(phone=phone, email=f"{uuid.uuid4().hex[:8]}@example.com", consent={"sms": {"granted": True}}, **extra)
    info = await inbound.stack.client.enroll("texts", person.external_id)
    return person, info.id


async def test_twilio_signature_is_required_and_checked(inbound: Inbound) -> None:
    before = count(inbound.stack, InboundEvent)
    params = {
        "MessageSid": "SM" + "1" * 32,
        "From": "+14155550101",
        "To": "+15005550006",
        "Body": "hi",
        "AccountSid": inbound.stack.twilio.account_sid,
    }
    url = f"{inbound.url}/webhooks/twilio/sms"

    def post(data: dict[str, str], signature: str | None) -> int:
        headers = {"X-Twilio-Signature": signature} if signature is not None else {}
        return httpx.post(url, data=data, headers=headers).status_code

    attempts = {
        "unsigned": (params, None),
        "garbage": (params, "bm90IGEgc2lnbmF0dXJl"),
        "wrong token": (params, _signature(inbound, "/webhooks/twilio/sms", params, token="wrong-token")),
        "body changed": ({**params, "Body": "STOP"}, _signature(inbound, "/webhooks/twilio/sms", params)),
        "other url": (params, _signature(inbound, "/webhooks/twilio/sms?x=1", params)),
        "extra field": ({**params, "NumMedia": "1"}, _signature(inbound, "/webhooks/twilio/sms", params)),
    }
    for name, (data, signature) in attempts.items():
        assert await asyncio.to_thread(post, data, signature) == 403, name
    assert count(inbound.stack, InboundEvent) == before  # nothing written
    assert await asyncio.to_thread(post, params, _signature(inbound, "/webhooks/twilio/sms", params)) == 200
    assert count(inbound.stack, InboundEvent) == before + 1


def _signature(inbound: Inbound, path: str, params: dict[str, str], token: str | None = None) -> str:
    return str(RequestValidator(token or inbound.stack.twilio.auth_token).compute_signature(f"{inbound.url}{path}", params))


@pytest.mark.parametrize("body", ["STOP", "stop please", "Opt Out", "  unsubscribe!! "])
async def test_stop_suppresses_sms_and_ends_every_enrollment(inbound: Inbound, body: str) -> None:
    person, enrollment_id = await enrolled_texter(inbound)
    reply = await asyncio.to_thread(inbound.sms, "+14155550101", body)
    assert reply.status == 200 and "<Response" in reply.text
    with transaction(inbound.stack.engine) as session:
        [suppression] = session.exec(select(Suppression).where(Suppression.contact_id == person.id)).all()
    assert suppression.channel == "sms" and suppression.lifted_at is None  # committed before the answer
    await eventually(lambda: _is(inbound.stack, enrollment_id, "opted_out"))


async def _is(stack: Stack, enrollment_id: str, status: str) -> bool:
    return await status_of(stack, enrollment_id) == status


async def test_duplicate_deliveries_are_processed_once_and_start_restores(inbound: Inbound) -> None:
    person, _ = await enrolled_texter(inbound)
    sid = "SM" + uuid.uuid4().hex
    for _ in range(3):
        assert (await asyncio.to_thread(inbound.sms, "+14155550101", "STOP", extra={"MessageSid": sid})).status == 200
    assert count(inbound.stack, InboundEvent, InboundEvent.event_id == sid) == 1
    assert count(inbound.stack, Suppression, Suppression.contact_id == person.id) == 1
    assert (await asyncio.to_thread(inbound.sms, "+14155550101", "START")).status == 200
    with transaction(inbound.stack.engine) as session:
        [row] = session.exec(select(Suppression).where(Suppression.contact_id == person.id)).all()
        contact = session.get(Contact, person.id)
    assert row.lifted_at is not None and contact is not None and contact.consent["sms"]["granted"] is True
    help_reply = await asyncio.to_thread(inbound.sms, "+14155550101", "HELP")
    assert "<Message>" in help_reply.text and "STOP" in help_reply.text


async def test_a_reply_by_text_ends_the_enrollment_and_unknown_senders_are_kept(inbound: Inbound) -> None:
    _, enrollment_id = await enrolled_texter(inbound)
    assert (await asyncio.to_thread(inbound.sms, "+14155550101", "Who is this?")).status == 200
    await eventually(lambda: _is(inbound.stack, enrollment_id, "replied"))
    assert (await asyncio.to_thread(inbound.sms, "+14155559999", "hello?")).status == 200
    async with inbound.http(inbound.admin) as http:
        unmatched = (await http.get("/v1/events", params={"status": "unmatched"})).json()
    assert unmatched["total"] == 1 and unmatched["items"][0]["source"] == "twilio"


async def test_stop_while_a_text_is_due_means_no_text_is_sent(inbound: Inbound) -> None:
    cadence = TEXTS.replace("key: texts", "key: texts-soon").replace("wait: {hours: 2}", "wait: {seconds: 3}")
    inbound.stack.load(cadence)
    person = inbound.stack.contact(phone="+14155550177", email="soon@example.com", consent={"sms": {"granted": True}})
    info = await inbound.stack.client.enroll("texts-soon", person.external_id)
    await asyncio.to_thread(inbound.stack.smtp.sink.wait_for, "soon@example.com")
    assert (await asyncio.to_thread(inbound.sms, "+14155550177", "Stop texting me")).status == 200
    await eventually(lambda: _is(inbound.stack, info.id, "opted_out"))
    await asyncio.sleep(4)  # past the moment the text was due
    assert [m for m in inbound.stack.twilio.messages if m["to"] == "+14155550177"] == []
    assert count(inbound.stack, Touch, Touch.contact_id == person.id, Touch.channel == "sms", Touch.status == "sent") == 0


async def test_status_callbacks_move_touches_forward_only_and_21610_suppresses(inbound: Inbound) -> None:
    cadence = TEXTS.replace("key: texts", "key: texts-now").replace("wait: {hours: 2}", "wait: {seconds: 0}")
    inbound.stack.load(cadence)
    person = inbound.stack.contact(phone="+14155550188", email="now@example.com", consent={"sms": {"granted": True}})
    await inbound.stack.client.enroll("texts-now", person.external_id)

    async def texted() -> bool:
        return any(m["to"] == "+14155550188" for m in inbound.stack.twilio.messages)

    await eventually(texted)
    sid = next(m["sid"] for m in inbound.stack.twilio.messages if m["to"] == "+14155550188")
    callback = f"{inbound.url}/webhooks/twilio/status"
    await asyncio.to_thread(inbound.stack.twilio.deliver_status, sid, ("sent", "delivered"), url=callback)
    await asyncio.to_thread(inbound.stack.twilio.deliver_status, sid, ("sent",), url=callback)  # late and out of order
    with transaction(inbound.stack.engine) as session:
        touch = session.exec(select(Touch).where(Touch.provider_id == sid)).one()
    assert touch.status == "delivered"
    await asyncio.to_thread(inbound.stack.twilio.deliver_status, sid, ("failed",), error_code=21610, url=callback)
    with transaction(inbound.stack.engine) as session:
        suppressions = session.exec(select(Suppression).where(Suppression.contact_id == person.id)).all()
    assert [(s.channel, s.reason) for s in suppressions] == [("sms", "stop")]


async def test_email_replies_bounces_and_complaints(inbound: Inbound) -> None:
    inbound.stack.load(TEXTS)
    replier = inbound.stack.contact(email="replier@example.com")
    info = await inbound.stack.client.enroll("texts", replier.external_id)
    [mail] = await asyncio.to_thread(inbound.stack.smtp.sink.wait_for, "replier@example.com")
    bad = inbound.email({"id": "x", "from": "replier@example.com"}, secret="not-the-secret-at-all")
    assert bad.status_code == 403
    assert inbound.email({"id": "m-1"}).status_code == 422  # no sender
    reply = inbound.email(
        {
            "id": "m-1",
            "from": "Replier <replier@example.com>",
            "subject": "Re: Hi",
            "text": "Sounds good, let's talk next week.\n\nOn Mon, Bob wrote:\n> Hi",
            "in_reply_to": mail["Message-ID"],
        }
    )
    assert reply.status_code == 202 and reply.json()["contacts"] == [str(replier.id)]
    await eventually(lambda: _is(inbound.stack, info.id, "replied"))

    bouncer = inbound.stack.contact(email="gone@example.com")
    gone = await inbound.stack.client.enroll("texts", bouncer.external_id)
    assert (
        inbound.email({"id": "b-1", "type": "bounce", "from": "gone@example.com", "bounce": {"type": "hard", "code": "5.1.1"}}).status_code
        == 202
    )
    await eventually(lambda: _is(inbound.stack, gone.id, "bounced"))
    assert count(inbound.stack, Suppression, Suppression.contact_id == bouncer.id, Suppression.reason == "bounce") == 1

    angry = inbound.stack.contact(email="angry@example.com")
    complained = await inbound.stack.client.enroll("texts", angry.external_id)
    assert inbound.email({"id": "c-1", "type": "complaint", "from": "angry@example.com"}).status_code == 202
    await eventually(lambda: _is(inbound.stack, complained.id, "opted_out"))

    nobody = inbound.email({"id": "u-1", "from": "stranger@example.com", "text": "hello"})
    assert nobody.status_code == 202 and nobody.json()["status"] == "unmatched"


async def test_out_of_office_pauses_until_after_the_return_date(inbound: Inbound) -> None:
    inbound.stack.load(TEXTS)
    person = inbound.stack.contact(email="away@example.com", timezone="America/Chicago", country="US")
    info = await inbound.stack.client.enroll("texts", person.external_id)
    await asyncio.to_thread(inbound.stack.smtp.sink.wait_for, "away@example.com")
    response = inbound.email(
        {
            "id": "ooo-1",
            "type": "auto_reply",
            "from": "away@example.com",
            "subject": "Out of office",
            "text": "I am out of the office",
            "return_date": "2030-01-07",
            "headers": {"Auto-Submitted": "auto-replied"},
        }
    )
    assert response.status_code == 202
    await eventually(lambda: _is(inbound.stack, info.id, "paused"))
    detail = await inbound.stack.client.status(info.id)
    assert detail.live is not None and detail.live.pause is not None and detail.live.pause.until is not None
    assert detail.live.pause.until.date().isoformat() == "2030-01-08"  # the next business day, 09:00 local


async def test_one_click_unsubscribe_and_the_preference_page(inbound: Inbound) -> None:
    inbound.stack.load(TEXTS)
    person = inbound.stack.contact(email="reader@example.com")
    info = await inbound.stack.client.enroll("texts", person.external_id)
    [mail] = await asyncio.to_thread(inbound.stack.smtp.sink.wait_for, "reader@example.com")
    link = mail["List-Unsubscribe"].split(",")[0].strip("<> ")
    token = link.rsplit("/", 1)[1]
    async with inbound.http() as http:
        page = await http.get(f"/u/{token}")
        assert page.status_code == 200 and "Unsubscribe r" in page.text and "set-cookie" not in page.headers
        assert count(inbound.stack, Suppression, Suppression.contact_id == person.id) == 0  # GET changes nothing
        one_click = await http.post(
            f"/u/{token}", content="List-Unsubscribe=One-Click", headers={"content-type": "application/x-www-form-urlencoded"}
        )
        assert one_click.status_code == 200 and "You are unsubscribed" in one_click.text
        assert count(inbound.stack, Suppression, Suppression.contact_id == person.id, Suppression.channel == "email") == 1
        await eventually(lambda: _is(inbound.stack, info.id, "opted_out"))

        invalid_bodies = set()
        for forged in [
            token[:-2] + "xx",
            token.split(".")[0],
            "garbage",
            make_token(person.id, "preferences", inbound.settings.link_secret),
            make_token(uuid.uuid4(), "unsubscribe", inbound.settings.link_secret),
        ]:
            for method in ("GET", "POST"):
                response = await http.request(method, f"/u/{forged}")
                assert response.status_code == 404
                invalid_bodies.add(response.text)
        assert len(invalid_bodies) == 1  # every invalid token gets the same answer

        prefs_token = make_token(person.id, "preferences", inbound.settings.link_secret)
        form = await http.get(f"/p/{prefs_token}")
        assert form.status_code == 200 and "How often" in form.text
        saved = await http.post(f"/p/{prefs_token}", data={"channels": ["sms"], "frequency": "reduced", "topics": ["account"]})
        assert saved.status_code == 200 and "Saved" in saved.text
    with transaction(inbound.stack.engine) as session:
        contact = session.get(Contact, person.id)
    assert contact is not None and contact.preferences["frequency"] == "reduced"
    assert "email" not in contact.preferences["channels"] and "sales" in contact.preferences["topics_opted_out"]


async def test_tasks_complete_and_the_enrollment_moves_on(inbound: Inbound) -> None:
    inbound.stack.load("""
key: with-task
name: With a task
steps:
  - {id: prep, type: task, task: {title: "Prepare the QBR deck", sla_hours: 48}}
  - {id: invite, type: email, template: hello}
templates:
  hello: {channel: email, subject: "QBR", html: "<p>QBR</p>", text: "QBR"}
""")
    inbound.stack.owner("csm-sam", name="Sam")
    person = inbound.stack.contact(email="qbr@example.com", owner_id="csm-sam")
    info = await inbound.stack.client.enroll("with-task", person.external_id)
    async with inbound.http(inbound.lead) as http:
        tasks: list[dict[str, Any]] = []
        for _ in range(100):
            tasks = (await http.get("/v1/tasks", params={"owner": "csm-sam"})).json()["items"]
            if tasks:
                break
            await asyncio.sleep(0.1)
        assert [t["title"] for t in tasks] == ["Prepare the QBR deck"]
        done = await http.post(f"/v1/tasks/{tasks[0]['id']}/complete", json={"outcome": "deck ready"})
        assert done.status_code == 200 and done.json()["status"] == "completed" and done.json()["completed_by"] == "lead@acme"
        again = await http.post(f"/v1/tasks/{tasks[0]['id']}/complete")
        assert again.status_code == 409
        assert (await http.post(f"/v1/tasks/{uuid.uuid4()}/skip")).status_code == 404
    await asyncio.to_thread(inbound.stack.smtp.sink.wait_for, "qbr@example.com")
    await eventually(lambda: _is(inbound.stack, info.id, "completed"))
    assert count(inbound.stack, Task, Task.status == "completed") == 1


async def test_account_pause_and_resume_reach_every_contact(inbound: Inbound) -> None:
    inbound.stack.load(TEXTS)
    ids = []
    for n in range(3):
        person = inbound.stack.contact(email=f"team{n}@acme.example", account_external_id="acme", account_name="Acme")
        ids.append((await inbound.stack.client.enroll("texts", person.external_id)).id)
    async with inbound.http(inbound.lead) as http:
        paused = await http.post("/v1/accounts/acme/pause", json={"reason": "renewal negotiation"})
        assert paused.status_code == 200 and paused.json()["changed"] == 3
        for enrollment_id in ids:
            detail = (await http.get(f"/v1/enrollments/{enrollment_id}")).json()
            assert detail["live"]["status"] == "paused" and "renewal negotiation" in detail["live"]["pause"]["reason"]
            assert detail["live"]["pause"]["actor"] == "lead@acme"
        resumed = await http.post("/v1/accounts/acme/resume")
        assert resumed.json()["changed"] == 3
        assert (await http.post("/v1/accounts/nope/pause", json={"reason": "x"})).status_code == 404


async def test_same_account_rule_and_event_rules(inbound: Inbound) -> None:
    inbound.stack.load(TEXTS.replace("key: texts", "key: abm").replace("name: Texts", "name: ABM\npause_account_on_reply: true"))
    inbound.stack.load(TEXTS.replace("key: texts", "key: at-risk"))
    first = inbound.stack.contact(email="cto@globex.example", account_external_id="globex", account_name="Globex")
    second = inbound.stack.contact(email="cfo@globex.example", account_external_id="globex")
    a = await inbound.stack.client.enroll("abm", first.external_id)
    b = await inbound.stack.client.enroll("abm", second.external_id)
    outcome = await inbound.stack.client.send_event("reply", first.external_id, event_id="r-globex", intent="neutral")
    assert outcome.delivered_to == [a.id]
    await eventually(lambda: _is(inbound.stack, b.id, "paused"))
    assert (await inbound.stack.client.get(a.id)).status == "replied"

    inbound.stack.client.rules = load_rules_text("""
rules:
  - {name: health-drop, when: {event: health_score_changed, field: score, below: 60}, enroll: at-risk}
""")
    healthy = await inbound.stack.client.send_event(
        "event", second.external_id, event_id="h-1", name="health_score_changed", data={"score": 80}
    )
    assert healthy.enrolled == []
    sick = await inbound.stack.client.send_event(
        "event", second.external_id, event_id="h-2", name="health_score_changed", data={"score": 42}
    )
    assert len(sick.enrolled) == 1
    assert (await inbound.stack.client.get(sick.enrolled[0])).cadence_key == "at-risk"


def load_rules_text(text: str) -> Any:
    from cadence.triggers import Rules

    return Rules.model_validate(__import__("yaml").safe_load(text))


async def test_a_positive_reply_switches_to_the_follow_up_cadence(inbound: Inbound) -> None:
    inbound.stack.load(TEXTS.replace("key: texts", "key: follow-up"))
    inbound.stack.load(
        TEXTS.replace("key: texts", "key: cold").replace(
            "name: Texts", "name: Cold\non_reply:\n  positive: {action: switch, switch_to: follow-up}"
        )
    )
    person = inbound.stack.contact(email="warm@example.com")
    cold = await inbound.stack.client.enroll("cold", person.external_id)
    await asyncio.to_thread(inbound.stack.smtp.sink.wait_for, "warm@example.com")
    outcome = await inbound.stack.client.send_event("reply", person.external_id, event_id="yes-1", intent="positive")
    assert outcome.delivered_to == [cold.id]
    await eventually(lambda: _is(inbound.stack, cold.id, "switched"))

    async def follow_up_started() -> bool:
        return (await inbound.stack.client.list(contact=person.external_id, cadence="follow-up")).total == 1

    # The mirror says "switched" as the workflow decides; the follow-up's enrollment comes from
    # the activity it runs next.
    await eventually(follow_up_started)
    page = await inbound.stack.client.list(contact=person.external_id, cadence="follow-up")
    assert page.total == 1 and page.items[0].enrolled_by == f"switch:{cold.id}"
    # The mirror says "pending" until the new workflow has started.
    await eventually(lambda: _is(inbound.stack, page.items[0].id, "active"))

    async def switch_recorded() -> bool:
        timeline = await inbound.stack.client.timeline(cold.id)
        return any(e.kind == "switched" and "follow-up" in e.summary for e in timeline.entries)

    # The switch is recorded once the follow-up's start returns to the workflow.
    await eventually(switch_recorded)


async def test_an_overdue_task_is_escalated_to_the_owners_manager(inbound: Inbound) -> None:
    from activities.work import WorkActivities
    from models.payloads import TaskOverdueInput

    inbound.stack.owner("boss", name="Dana Boss")
    inbound.stack.owner("rep", name="Rae Rep", manager_id="boss")
    inbound.stack.load("""
key: prep
name: Prep
steps:
  - {id: prep, type: task, task: {title: "Prepare the deck", sla_hours: 24}}
""")
    person = inbound.stack.contact(email="deck@example.com", owner_id="rep")
    await inbound.stack.client.enroll("prep", person.external_id)
    for _ in range(100):
        with transaction(inbound.stack.engine) as session:
            task = session.exec(select(Task).where(Task.contact_id == person.id)).first()
        if task is not None:
            break
        await asyncio.sleep(0.1)
    assert task is not None
    acts = WorkActivities(inbound.stack.engine, httpx.Client())
    result = await asyncio.to_thread(acts.escalate_task, TaskOverdueInput(task_id=str(task.id), enrollment_id=str(task.enrollment_id)))
    assert result.escalated_to == "boss"
    with transaction(inbound.stack.engine) as session:
        row = session.get(Task, task.id)
        entry = session.exec(select(AuditEntry).where(AuditEntry.action == "task_overdue")).one()
    assert row is not None and row.status == "overdue" and row.escalated_to == "boss"
    assert "escalated to boss" in (entry.reason or "")
