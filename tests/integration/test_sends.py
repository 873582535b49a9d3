"""The send activities against real Postgres, a real SMTP server and the fake Twilio server:
claims, retries that never send twice, permanent errors, and the gate's refusals."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import select
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.lookups import NoLookup
from activities.touches import TouchActivities
from core.db import transaction
from models.enrollments import create_or_get
from models.payloads import MirrorHint, TouchInput
from models.tables import AuditEntry, Enrollment, Suppression, Touch
from tests.integration.conftest import OPEN_POLICY, Stack
from tests.support.smtp import SinkLookup
from worker import build_activities

pytestmark = pytest.mark.integration

CADENCE = """
key: sends
name: Sends
steps:
  - id: mail
    type: email
    template: mail
  - id: text
    type: sms
    template: text
  - id: custom
    type: email
    template: custom
templates:
  mail:
    channel: email
    subject: "Hi {{ contact.first_name or 'there' }}"
    html: "<p>Hello {{ contact.first_name or 'there' }}</p>"
    text: "Hello {{ contact.first_name or 'there' }}"
  text:
    channel: sms
    body: "Hello {{ contact.first_name or 'there' }}, a quick note."
  custom:
    channel: email
    subject: "Plan for {{ contact.fields.plan | default('you') }}"
    html: "<p>{{ contact.fields.plan | default('') }}</p>"
    text: "{{ contact.fields.plan | default('') }}"
"""


def activity_set(stack: Stack) -> TouchActivities:
    acts = build_activities(stack.engine, stack.settings, policy=OPEN_POLICY)
    send_email = next(a for a in acts if getattr(a, "__name__", "") == "send_email")
    owner = send_email.__self__  # type: ignore[attr-defined]
    assert isinstance(owner, TouchActivities)
    return owner


def enrollment_for(stack: Stack, **contact: Any) -> tuple[str, str, str]:
    cadence, version = stack.load(CADENCE)
    person = stack.contact(**contact)
    with transaction(stack.engine) as session:
        row, _ = create_or_get(session, cadence=cadence, version=version, contact=person, actor="test")
        return str(row.id), str(version.id), str(person.id)


def touch(enrollment: str, version: str, contact: str, step: str = "mail", channel: str = "email", template: str = "mail") -> TouchInput:
    return TouchInput(
        enrollment_id=enrollment,
        cadence_version_id=version,
        contact_id=contact,
        step_id=step,
        step_index=0,
        channel=channel,
        template=template,
        scheduled_at=dt.datetime.now(dt.UTC),
        mirror=MirrorHint(next_step_index=1, next_due_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=2)),
    )


async def run(fn: Any, arg: Any) -> Any:
    """Run a sync activity the way the worker does: in a thread, with an activity context."""
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, current_attempt_scheduled_time=dt.datetime.now(dt.UTC))
    return await asyncio.to_thread(env.run, fn, arg)


def rows(stack: Stack, model: Any, *where: Any) -> list[Any]:
    with transaction(stack.engine) as session:
        return list(session.exec(select(model).where(*where)).all())


async def test_a_retried_email_is_not_sent_twice(stack: Stack) -> None:
    acts = activity_set(stack)
    ids = enrollment_for(stack, email="lin@example.com", first_name="Lin")
    first = await run(acts.send_email, touch(*ids))
    second = await run(acts.send_email, touch(*ids))
    assert first.status == "sent" and not first.duplicate
    assert second.status == "sent" and second.duplicate and second.provider_id == first.provider_id
    assert len(stack.smtp.sink.to("lin@example.com")) == 1
    [row] = rows(stack, Touch, Touch.contact_id == uuid.UUID(ids[2]))
    assert row.status == "sent" and row.attempts == 1 and row.template_version
    [enrollment] = rows(stack, Enrollment, Enrollment.id == uuid.UUID(ids[0]))
    assert enrollment.touches_sent == 1 and enrollment.current_step == 1


def crash_after_claim(stack: Stack, contact_id: str) -> None:
    """A worker that died after calling SMTP but before recording the answer leaves this."""
    with transaction(stack.engine) as session:
        session.exec(sa.update(Touch).where(Touch.contact_id == uuid.UUID(contact_id)).values(status="claimed"))  # type: ignore[arg-type]
        session.exec(sa.update(Enrollment).where(Enrollment.contact_id == uuid.UUID(contact_id)).values(touches_sent=0))  # type: ignore[arg-type]


def with_lookup(stack: Stack, lookup: Any, **settings: Any) -> TouchActivities:
    acts = build_activities(stack.engine, stack.settings.model_copy(update=settings), policy=OPEN_POLICY, lookup=lookup)
    owner = next(a for a in acts if getattr(a, "__name__", "") == "send_email").__self__  # type: ignore[attr-defined]
    assert isinstance(owner, TouchActivities)
    return owner


async def test_a_retry_after_an_accepted_email_asks_the_transport_and_does_not_resend(stack: Stack) -> None:
    acts = with_lookup(stack, SinkLookup(stack.smtp.sink))
    ids = enrollment_for(stack, email="amb@example.com")
    first = await run(acts.send_email, touch(*ids))
    crash_after_claim(stack, ids[2])
    again = await run(acts.send_email, touch(*ids))
    assert again.status == "sent" and again.provider_id == first.provider_id
    assert len(stack.smtp.sink.to("amb@example.com")) == 1
    [row] = rows(stack, Touch, Touch.contact_id == uuid.UUID(ids[2]))
    assert row.status == "sent"
    [enrollment] = rows(stack, Enrollment, Enrollment.id == uuid.UUID(ids[0]))
    assert enrollment.touches_sent == 1
    [entry] = rows(stack, AuditEntry, AuditEntry.action == "send_reconciled", AuditEntry.enrollment_id == uuid.UUID(ids[0]))
    assert "found by the test_sink lookup" in (entry.reason or "")


async def test_a_retry_after_an_email_that_never_arrived_sends_it(stack: Stack) -> None:
    acts = with_lookup(stack, SinkLookup(stack.smtp.sink))
    ids = enrollment_for(stack, email="lost@example.com")
    stack.smtp.sink.fail["lost@example.com"] = "451 4.3.0 try later"
    with pytest.raises(Exception, match="451"):
        await run(acts.send_email, touch(*ids))
    [row] = rows(stack, Touch, Touch.contact_id == uuid.UUID(ids[2]))
    assert row.status == "retrying"  # the server refused it: known not sent
    stack.smtp.sink.fail.clear()
    crash_after_claim(stack, ids[2])  # and even when the claim says nothing more
    again = await run(acts.send_email, touch(*ids))
    assert again.status == "sent" and len(stack.smtp.sink.to("lost@example.com")) == 1


async def test_when_nothing_can_tell_the_email_is_held_as_unclear_not_resent(stack: Stack) -> None:
    acts = with_lookup(stack, NoLookup())
    ids = enrollment_for(stack, email="unclear@example.com")
    await run(acts.send_email, touch(*ids))
    crash_after_claim(stack, ids[2])
    held = await run(acts.send_email, touch(*ids))
    assert held.status == "unclear" and "cannot tell whether it was accepted" in (held.reason or "")
    assert len(stack.smtp.sink.to("unclear@example.com")) == 1
    [row] = rows(stack, Touch, Touch.contact_id == uuid.UUID(ids[2]))
    assert row.status == "unclear" and row.error_code == "unclear_after_crash"
    assert rows(stack, AuditEntry, AuditEntry.action == "send_unclear", AuditEntry.enrollment_id == uuid.UUID(ids[0]))
    again = await run(acts.send_email, touch(*ids))  # a later retry keeps holding it
    assert again.status == "unclear" and len(stack.smtp.sink.to("unclear@example.com")) == 1


async def test_the_resend_policy_resends_an_unclear_email_with_the_same_message_id(stack: Stack) -> None:
    acts = with_lookup(stack, NoLookup(), unclear_email="resend")
    ids = enrollment_for(stack, email="resend@example.com")
    await run(acts.send_email, touch(*ids))
    crash_after_claim(stack, ids[2])
    await run(acts.send_email, touch(*ids))
    delivered = stack.smtp.sink.to("resend@example.com")
    assert len(delivered) == 2
    assert delivered[0]["Message-ID"] == delivered[1]["Message-ID"]  # receivers can collapse it


async def test_an_ambiguous_sms_is_reconciled_not_resent(stack: Stack) -> None:
    acts = activity_set(stack)
    ids = enrollment_for(stack, phone="+14155552671", consent={"sms": {"granted": True}})
    before = stack.twilio.create_attempts()
    first = await run(acts.send_sms, touch(*ids, step="text", channel="sms", template="text"))
    with transaction(stack.engine) as session:
        session.exec(sa.update(Touch).where(Touch.contact_id == uuid.UUID(ids[2])).values(status="claimed", provider_id=None))  # type: ignore[arg-type]
    again = await run(acts.send_sms, touch(*ids, step="text", channel="sms", template="text"))
    assert stack.twilio.create_attempts() == before + 1
    assert again.provider_id == first.provider_id


async def test_hard_bounce_is_permanent_and_suppresses(stack: Stack) -> None:
    acts = activity_set(stack)
    stack.smtp.sink.fail["gone@example.com"] = "550 5.1.1 no such user"
    ids = enrollment_for(stack, email="gone@example.com")
    with pytest.raises(ApplicationError) as failure:
        await run(acts.send_email, touch(*ids))
    assert failure.value.type == "Bounced" and failure.value.non_retryable
    [row] = rows(stack, Touch, Touch.contact_id == uuid.UUID(ids[2]))
    assert row.status == "failed" and row.error_code == "smtp_550"
    [suppression] = rows(stack, Suppression, Suppression.contact_id == uuid.UUID(ids[2]))
    assert suppression.channel == "email" and suppression.reason == "bounce"


async def test_temporary_smtp_failure_is_retryable(stack: Stack) -> None:
    acts = activity_set(stack)
    stack.smtp.sink.fail["busy@example.com"] = "451 4.3.0 try again later"
    ids = enrollment_for(stack, email="busy@example.com")
    with pytest.raises(ApplicationError) as failure:
        await run(acts.send_email, touch(*ids))
    assert not failure.value.non_retryable
    del stack.smtp.sink.fail["busy@example.com"]
    result = await run(acts.send_email, touch(*ids))
    assert result.status == "sent"
    [row] = rows(stack, Touch, Touch.contact_id == uuid.UUID(ids[2]))
    assert row.attempts == 2


@pytest.mark.parametrize(
    ("number", "code", "suppressed"),
    [("+15005550001", 21211, False), ("+15005550003", 21408, False), ("+15005550004", 21610, True), ("+15005550009", 21614, False)],
)
async def test_permanent_twilio_errors_are_not_retried(stack: Stack, number: str, code: int, suppressed: bool) -> None:
    acts = activity_set(stack)
    ids = enrollment_for(stack, phone=number, consent={"sms": {"granted": True}})
    with pytest.raises(ApplicationError) as failure:
        await run(acts.send_sms, touch(*ids, step="text", channel="sms", template="text"))
    assert failure.value.non_retryable and failure.value.type == "SendRejected"
    assert str(code) in failure.value.message
    found = rows(stack, Suppression, Suppression.contact_id == uuid.UUID(ids[2]))
    assert bool(found) == suppressed


async def test_twilio_429_is_retried(stack: Stack) -> None:
    acts = activity_set(stack)
    ids = enrollment_for(stack, phone="+12025550143", consent={"sms": {"granted": True}})
    stack.twilio.throttle_next()
    with pytest.raises(ApplicationError) as failure:
        await run(acts.send_sms, touch(*ids, step="text", channel="sms", template="text"))
    assert not failure.value.non_retryable and failure.value.next_retry_delay is not None
    result = await run(acts.send_sms, touch(*ids, step="text", channel="sms", template="text"))
    assert result.status == "sent"


async def test_gate_skips_without_sms_consent_and_stops_when_suppressed(stack: Stack) -> None:
    acts = activity_set(stack)
    ids = enrollment_for(stack, email="gate@example.com", phone="+13125550123")
    skipped = await run(acts.send_sms, touch(*ids, step="text", channel="sms", template="text"))
    assert skipped.status == "skipped" and skipped.reason_code == "no_consent"
    assert skipped.reason == "skipped: no SMS consent on record"
    with transaction(stack.engine) as session:
        session.add(Suppression(contact_id=uuid.UUID(ids[2]), channel="all", reason="erasure", source="test"))
    stopped = await run(acts.send_email, touch(*ids))
    assert stopped.status == "stopped" and stopped.reason_code == "suppressed"
    assert stack.smtp.sink.to("gate@example.com") == []
    decisions = rows(stack, AuditEntry, AuditEntry.contact_id == uuid.UUID(ids[2]), AuditEntry.actor == "gate")
    assert [d.action for d in decisions] == ["gate_skip", "gate_stop"]


async def test_a_template_that_cannot_render_claims_nothing(stack: Stack) -> None:
    acts = activity_set(stack)
    ids = enrollment_for(stack, email="tpl@example.com", fields={"plan": "Pro"})
    sent = await run(acts.send_email, touch(*ids, step="custom", template="custom"))
    assert sent.status == "sent"
    assert stack.smtp.sink.to("tpl@example.com")[0]["Subject"] == "Plan for Pro"
    # A template name the version does not have is a permanent error and leaves no claim.
    with pytest.raises(ApplicationError) as failure:
        await run(acts.send_email, touch(*ids, step="other", template="nope"))
    assert failure.value.type == "InvalidInput" and failure.value.non_retryable
    assert len(rows(stack, Touch, Touch.contact_id == uuid.UUID(ids[2]))) == 1


RENEWAL = """
key: renewal-note
name: Renewal note
steps:
  - id: note
    type: email
    template: note
    wait: {anchor: renewal_date, offset_days: -30, at: "10:00"}
templates:
  note:
    channel: email
    subject: "Your renewal"
    html: "<p>Renews on {{ dates.renewal_date | longdate }}</p>"
    text: "Renews on {{ dates.renewal_date | longdate }}"
"""


async def test_a_template_that_cannot_render_for_a_contact_fails_for_good_and_says_why(stack: Stack) -> None:
    # The step is anchored to renewal_date; by the time it runs the date has been removed.
    cadence, version = stack.load(RENEWAL)
    person = stack.contact(email="nodate@example.com")
    with transaction(stack.engine) as session:
        row, _ = create_or_get(session, cadence=cadence, version=version, contact=person, actor="test")
        ids = (str(row.id), str(version.id), str(person.id))
    with pytest.raises(ApplicationError) as failed:
        await run(activity_set(stack).send_email, touch(*ids, step="note", template="note"))
    assert failed.value.non_retryable and failed.value.type == "TemplateError"
    assert "cannot be rendered for this contact" in failed.value.message and "renewal_date" in failed.value.message
    assert rows(stack, Touch, Touch.contact_id == person.id) == []  # nothing claimed
    assert stack.smtp.sink.to("nodate@example.com") == []
