"""The real worker on the real dev server: emails reach the SMTP server, texts reach Twilio,
and the enrollment mirror in Postgres follows the workflow."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable

import pytest

from tests.integration.conftest import Stack

pytestmark = pytest.mark.integration

CADENCE = """
key: roundtrip
name: Round trip
steps:
  - id: hello
    type: email
    template: hello
  - id: nudge
    type: sms
    template: nudge
    wait: {minutes: 0}
  - id: later
    type: email
    template: hello
    wait: {hours: 1}
templates:
  hello:
    channel: email
    subject: "Hello {{ contact.first_name or 'there' }}"
    html: "<html><body><p>Hi {{ contact.first_name or 'there' }}, from {{ owner.name }}.</p></body></html>"
    text: "Hi {{ contact.first_name or 'there' }}, from {{ owner.name }}."
  nudge:
    channel: sms
    body: "Hi {{ contact.first_name or 'there' }}, quick question from {{ owner.name }}."
"""


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("condition not met in time")


async def test_email_and_sms_arrive_and_reply_ends_it(stack: Stack) -> None:
    stack.owner("grace", name="Grace Hopper", email="grace@example.com")
    cadence, _ = stack.load(CADENCE)
    person = stack.contact(
        email="ada@example.com",
        phone="+14155552671",
        first_name="Ada",
        owner_id="grace",
        consent={"sms": {"granted": True, "source": "signup form"}},
    )
    info = await stack.client.enroll("roundtrip", person.external_id, actor="test-suite")
    assert info.created and info.status == "active"

    mail = await asyncio.to_thread(stack.smtp.sink.wait_for, "ada@example.com")
    msg = mail[0]
    assert msg["Subject"] == "Hello Ada"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "/u/" in msg["List-Unsubscribe"]
    assert msg["Message-ID"].startswith("<touch-")
    text = msg.get_body(("plain",)).get_content()
    assert "1 Test Plaza, Testville" in text and "Hi Ada, from Grace Hopper." in text

    async def sms_sent() -> bool:
        return any(m["to"] == "+14155552671" for m in stack.twilio.messages)

    await eventually(sms_sent)
    sms = [m for m in stack.twilio.messages if m["to"] == "+14155552671"][0]
    assert sms["body"].startswith("Hi Ada, quick question from Grace Hopper.")
    assert "STOP" in sms["body"]  # the first text says how to opt out

    async def waiting_for_third() -> bool:
        detail = await stack.client.status(info.id)
        return detail.live is not None and detail.live.step_id == "later"

    await eventually(waiting_for_third)
    detail = await stack.client.status(info.id)
    assert detail.live is not None and detail.live.counters.sent == 2
    assert [t.status for t in detail.touches] == ["sent", "sent"]
    assert detail.next_step_at is not None and detail.next_step_at > dt.datetime.now(dt.UTC) + dt.timedelta(minutes=50)
    # The Postgres mirror (what lists and reports show) says why it waits, like the live status.
    mirror = await stack.client.get(info.id)
    assert mirror.current_step == 2 and mirror.waiting_reason is not None and "'later'" in mirror.waiting_reason

    result = await stack.client.send_event("reply", person.external_id, event_id="reply-1", intent="negative")
    assert result.delivered_to == [info.id]

    async def ended() -> bool:
        return (await stack.client.get(info.id)).status == "replied"

    await eventually(ended)
    assert len(stack.smtp.sink.to("ada@example.com")) == 1
