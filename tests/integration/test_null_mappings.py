"""A mapping sent as null ("consent": null, "dates": null, "fields": null) is left as it is,
like a mapping left out; it never reaches the gate or the renderer as null."""

from __future__ import annotations

import asyncio

import pytest

from models.schemas import AccountIn, ContactIn
from tests.integration.conftest import Stack

pytestmark = pytest.mark.integration


async def test_null_mappings_keep_what_is_stored_and_the_contact_can_be_enrolled(stack: Stack) -> None:
    stack.load("""
key: nulls
name: Nulls
steps:
  - {id: hello, type: email, template: hello}
templates:
  hello: {channel: email, subject: "Hi {{ contact.first_name or 'there' }}", html: "<p>Hi</p>", text: "Hi"}
""")
    first = await stack.client.save_contact(ContactIn(external_id="nully", email="nully@example.com", consent={"sms": {"granted": True}}))
    assert first.consent["sms"]["granted"] is True
    again = await stack.client.save_contact(
        ContactIn.model_validate({"external_id": "nully", "consent": None, "dates": None, "fields": None, "preferences": None})
    )
    assert again.consent["sms"]["granted"] is True and again.dates == {} and again.fields == {}
    fresh = await stack.client.save_contact(
        ContactIn.model_validate({"external_id": "nully-2", "email": "n2@example.com", "consent": None})
    )
    assert fresh.consent == {} and fresh.preferences == {}
    account = await stack.client.save_account(
        AccountIn.model_validate({"external_id": "acct-null", "name": "Null Co", "fields": None, "dates": None})
    )
    assert account.fields == {} and account.dates == {}
    info = await stack.client.enroll("nulls", "nully-2")
    await asyncio.to_thread(stack.smtp.sink.wait_for, "n2@example.com")  # the gate read consent {} and sent
    assert (await stack.client.status(info.id)).touches[0].status == "sent"
