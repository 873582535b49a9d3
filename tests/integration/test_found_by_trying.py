"""Bugs found by trying the product as a new user would (issue 11, item 8), each pinned by
the behaviour a user sees: a machine's auto-reply is not a reply, START does not invent
consent, a pause without a time zone names the field, null mappings are accepted, a CSV
with blank rows enrolls the others."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from sqlmodel import select

from core.db import transaction
from models.tables import AuditEntry, Contact, Suppression
from tests.integration.conftest import Inbound
from tests.integration.test_cli import cli
from tests.integration.test_inbound import TEXTS, eventually

pytestmark = pytest.mark.integration


async def test_a_machine_auto_reply_does_not_end_the_enrollment(inbound: Inbound) -> None:
    inbound.stack.load(TEXTS)
    person = inbound.stack.contact(email="tickets@example.com")
    info = await inbound.stack.client.enroll("texts", person.external_id)
    await asyncio.to_thread(inbound.stack.smtp.sink.wait_for, "tickets@example.com")
    answer = inbound.email(
        {
            "id": "auto-1",
            "from": "tickets@example.com",
            "subject": "Re: your request [#4711]",
            "text": "Thank you for contacting support. Your ticket number is 4711.",
            "headers": {"Auto-Submitted": "auto-generated"},
        }
    )
    assert answer.status_code == 202 and answer.json()["status"] == "processed"  # recorded, delivered to nobody
    await asyncio.sleep(1.0)
    assert (await inbound.stack.client.get(info.id)).status == "active"
    human = inbound.email({"id": "human-1", "from": "tickets@example.com", "subject": "Re: hello", "text": "Not interested, thanks."})
    assert human.json()["status"] == "received"
    await eventually(lambda: _status_is(inbound, info.id, "replied"))


async def _status_is(inbound: Inbound, enrollment_id: str, status: str) -> bool:
    return (await inbound.stack.client.get(enrollment_id)).status == status


async def test_start_restores_consent_only_where_it_was_given(inbound: Inbound) -> None:
    stranger = inbound.stack.contact(phone="+14155550111", email="stranger@example.com")  # never consented to texts
    for body in ("STOP", "START"):
        assert (await asyncio.to_thread(inbound.sms, "+14155550111", body)).status == 200
    with transaction(inbound.stack.engine) as session:
        contact = session.get(Contact, stranger.id)
        [suppression] = session.exec(select(Suppression).where(Suppression.contact_id == stranger.id)).all()
        actions = [e.action for e in session.exec(select(AuditEntry).where(AuditEntry.contact_id == stranger.id)).all()]
    assert contact is not None and "sms" not in contact.consent  # START is not a written opt-in
    assert suppression.lifted_at is not None and "suppression_lifted" in actions and "consent_restored" not in actions


async def test_a_pause_until_without_a_time_zone_is_refused_naming_the_field(inbound: Inbound) -> None:
    inbound.stack.load(TEXTS)
    person = inbound.stack.contact(email="naive@example.com")
    info = await inbound.stack.client.enroll("texts", person.external_id)
    async with inbound.http(inbound.lead) as http:
        naive = await http.post(f"/v1/enrollments/{info.id}/pause", json={"reason": "x", "until": "2030-01-01T09:00:00"})
        past = await http.post(f"/v1/enrollments/{info.id}/pause", json={"reason": "x", "until": "2001-01-01T09:00:00Z"})
        account = await http.post("/v1/accounts/nobody/pause", json={"reason": "x", "until": "2030-01-01T09:00:00"})
    assert naive.status_code == 422 and naive.json()["error"]["details"] == {"field": "until"}
    assert past.status_code == 422 and past.json()["error"]["message"] == "until is in the past"
    assert account.status_code == 422 and account.json()["error"]["details"] == {"field": "until"}


async def test_contacts_with_null_mappings_and_the_field_of_a_bad_phone(inbound: Inbound) -> None:
    async with inbound.http(inbound.admin) as http:
        saved = await http.post(
            "/v1/contacts", json={"external_id": "api-null", "email": "api-null@example.com", "consent": None, "dates": None}
        )
        assert saved.status_code == 201 and saved.json()["consent"] == {} and saved.json()["dates"] == {}
        account = await http.post("/v1/accounts", json={"external_id": "acct-api-null", "name": "N", "fields": None, "dates": None})
        assert account.status_code == 201 and account.json()["fields"] == {}
        national = await http.post("/v1/contacts", json={"external_id": "api-phone", "phone": "415 555 0101"})
        assert national.status_code == 422 and national.json()["error"]["details"] == {"field": "phone"}


async def test_a_csv_with_blank_rows_enrolls_the_others(inbound: Inbound, tmp_path: Path) -> None:
    stack = inbound.stack
    stack.load(TEXTS)
    for n in range(3):
        stack.contact(external_id=f"csv-{n}", email=f"csv{n}@example.com")
    sheet = tmp_path / "list.csv"
    sheet.write_text("external_id\ncsv-0\n\ncsv-1\n  \ncsv-2\n".replace("\n\n", "\n,\n"))
    strict = await cli(stack, "--json", "enroll", "texts", "--csv", str(sheet), "--strict")
    assert strict.returncode == 5 and "nothing was enrolled" in strict.stderr
    assert (await stack.client.list(cadence="texts")).total == 0
    done = await cli(stack, "--json", "enroll", "texts", "--csv", str(sheet))
    rows = json.loads(done.stdout)
    assert done.returncode == 5  # some rows failed
    assert [(r["row"], r["ok"]) for r in rows] == [(1, True), (2, False), (3, True), (4, False), (5, True)]
    assert {r["error"] for r in rows if not r["ok"]} == {"the row names no contact"}
    assert (await stack.client.list(cadence="texts")).total == 3


WAITING = """
key: account-cadence
name: Account cadence
steps:
  - {id: hello, type: email, template: hello}
  - {id: later, type: email, template: hello, wait: {days: 3}}
templates:
  hello: {channel: email, subject: "Hello", html: "<p>Hello</p>", text: "Hello"}
"""


async def test_an_account_pause_is_a_state_and_its_resume_leaves_other_pauses_alone(inbound: Inbound) -> None:
    stack = inbound.stack
    client = stack.client
    stack.load(WAITING)
    members = [stack.contact(email=f"m{n}@initech.example", account_external_id="initech", account_name="Initech") for n in range(3)]
    ids = [(await client.enroll("account-cadence", m.external_id)).id for m in members]
    await client.pause(ids[0], actor="legal@acme", reason="legal hold")

    paused = await client.pause_account("initech", actor="lead@acme", reason="renewal talks")
    assert (paused.changed, paused.unchanged) == (2, 1)
    assert "already paused by legal@acme: legal hold" in (paused.enrollments[0].error or "")
    account = await client.get_account("initech")
    assert account.pause is not None and (account.pause.actor, account.pause.reason) == ("lead@acme", "renewal talks")

    newcomer = stack.contact(email="new@initech.example", account_external_id="initech")
    late = await client.enroll("account-cadence", newcomer.external_id)
    live = (await client.status(late.id)).live
    assert live is not None and live.status.value == "paused" and live.pause is not None
    assert (live.pause.cause, live.pause.reason) == ("account", "account paused: renewal talks")
    assert stack.smtp.sink.to("new@initech.example") == []  # nothing is sent while the account is paused

    # Resumed at once: the status mirror may not show the pauses yet, every one is found anyway.
    resumed = await client.resume_account("initech", actor="lead@acme")
    assert resumed.changed == 3
    assert [o.error for o in resumed.enrollments if not o.ok] == ["left paused: paused by legal@acme for another reason (legal hold)"]
    states = [(await client.status(i)).live for i in [*ids, late.id]]
    assert [s.status.value for s in states if s is not None] == ["paused", "active", "active", "active"]
    assert (await client.get_account("initech")).pause is None
    await asyncio.to_thread(stack.smtp.sink.wait_for, "new@initech.example")
    with transaction(stack.engine) as session:
        actions = [e.action for e in session.exec(select(AuditEntry).where(AuditEntry.actor == "lead@acme")).all()]
    assert "account_paused" in actions and "account_resumed" in actions


async def test_the_contact_timeline_shows_its_suppressions(inbound: Inbound) -> None:
    stack = inbound.stack
    stack.load(TEXTS)
    person = stack.contact(phone="+14155550177", email="quits@example.com", consent={"sms": {"granted": True}})
    info = await stack.client.enroll("texts", person.external_id)
    assert (await asyncio.to_thread(inbound.sms, "+14155550177", "STOP")).status == 200
    await eventually(lambda: _status_is(inbound, info.id, "opted_out"))
    async with inbound.http(inbound.admin) as admin:
        stories = (await admin.get(f"/v1/contacts/{person.external_id}/timeline")).json()
    own, *enrollments = stories
    assert own["scope"] == "contact" and own["contact_id"] == str(person.id)
    assert [e["enrollment_id"] for e in enrollments] == [info.id]
    suppressed = [e for e in own["entries"] if e["kind"] == "suppressed"]
    assert suppressed and suppressed[0]["summary"].startswith("Suppressed on sms: stop")
    assert any(e["kind"] == "event_received" for e in own["entries"])
    printed = await cli(stack, "audit", person.external_id, "--contact")
    assert printed.returncode == 0, printed.stderr
    assert f"contact {person.id}" in printed.stdout and "Suppressed on sms: stop" in printed.stdout
