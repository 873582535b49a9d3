"""Open and click tracking through the real worker, the real SMTP sink and the HTTP API:
what the email holds, what the pixel and the redirect record (once), what a machine's
fetch counts as, and that forged, altered or expired tokens record nothing and never
redirect anywhere unsigned."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import uuid
from email.message import EmailMessage
from html import unescape
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from sqlmodel import select

from cadence.tracking import make_track_token
from core.db import transaction
from models.tables import Engagement, Touch
from tests.integration.conftest import Inbound

pytestmark = pytest.mark.integration

LINKS = """
key: tracked
name: Tracked
steps:
  - {id: hello, type: email, template: hello}
templates:
  hello:
    channel: email
    subject: "Pricing"
    html: '<p>See <a href="https://example.com/pricing?plan=pro&amp;seats=5">pricing</a> or
      <a href="mailto:{{ owner.email }}">write</a>. <a href="{{ links.unsubscribe_url }}">Stop these</a></p>'
    text: "See https://example.com/pricing"
"""
CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"


def _html(mail: EmailMessage) -> str:
    part = mail.get_body(("html",))
    assert part is not None
    return unescape(part.get_content())


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _engagements(inbound: Inbound, touch_id: uuid.UUID) -> list[tuple[str, bool]]:
    with transaction(inbound.stack.engine) as session:
        rows = session.exec(select(Engagement).where(Engagement.touch_id == touch_id).order_by(Engagement.id)).all()  # type: ignore[arg-type]
        return [(r.kind, r.machine) for r in rows]


async def _sent_email(inbound: Inbound, address: str, **fields: object) -> tuple[EmailMessage, uuid.UUID]:
    person = inbound.stack.contact(email=address, **fields)
    await inbound.stack.client.enroll("tracked", person.external_id)
    [mail] = await asyncio.to_thread(inbound.stack.smtp.sink.wait_for, address)
    return mail, uuid.UUID(str(mail["X-Cadence-Touch"]))


async def backdate_sends(inbound: Inbound, count: int) -> None:
    """As if the contacts came to their emails a minute after they were sent (not a scanner's
    instant fetch): once `count` touches are marked sent (the mail server has the message a
    moment before the worker marks it sent), their send moves a minute back."""
    for _ in range(300):
        with transaction(inbound.stack.engine) as session:
            sent = session.execute(sa.text("SELECT count(*) FROM touches WHERE sent_at IS NOT NULL")).scalar()
        if sent == count:
            break
        await asyncio.sleep(0.05)
    with transaction(inbound.stack.engine) as session:
        moved = session.execute(
            sa.text(
                "WITH m AS (UPDATE touches SET sent_at = sent_at - interval '1 minute' WHERE sent_at IS NOT NULL RETURNING 1) SELECT count(*) FROM m"
            )
        ).scalar()
        assert moved == count


async def test_links_and_pixel_record_each_open_and_click_once_and_flag_machines(inbound: Inbound) -> None:
    await inbound.stack.client.publish_cadence(LINKS, actor="admin")
    mail, touch_id = await _sent_email(inbound, "reader@example.com")
    html = _html(mail)
    hrefs = re.findall(r'href="([^"]+)"', html)
    tracked = [h for h in hrefs if "/t/c/" in h]
    assert len(tracked) == 1, hrefs  # only the http(s) link of the template
    assert any(h.startswith("mailto:") for h in hrefs)
    # Unsubscribe and preference links are never rewritten (the template's own and the footer's).
    assert [h for h in hrefs if "/u/" in h or "/p/" in h] and all("/t/" not in h for h in hrefs if "/u/" in h or "/p/" in h)
    [pixel] = re.findall(r'<img src="([^"]+/t/o/[^"]+\.gif)"', html)
    assert "https://example.com/pricing" in mail.get_body(("plain",)).get_content()

    async with inbound.http() as http:
        # A link scanner follows the link the moment the email lands: forwarded, flagged as a machine.
        scanned = await http.get(_path(tracked[0]), headers={"user-agent": CHROME})
        assert scanned.status_code == 302 and scanned.headers["location"] == "https://example.com/pricing?plan=pro&seats=5"
        assert _engagements(inbound, touch_id) == [("clicked", True)]
        await backdate_sends(inbound, 1)
        # Apple's privacy proxy fetches the image with a bare user agent: a machine's open.
        got = await http.get(_path(pixel), headers={"user-agent": "Mozilla/5.0"})
        assert got.status_code == 200 and got.headers["content-type"] == "image/gif" and got.content.startswith(b"GIF89a")
        # The person clicks: a click and (once) the open it implies; repeats change nothing.
        for _ in range(3):
            again = await http.get(_path(tracked[0]), headers={"user-agent": CHROME})
            assert again.status_code == 302 and again.headers["location"] == "https://example.com/pricing?plan=pro&seats=5"
        assert (await http.get(_path(pixel), headers={"user-agent": CHROME})).status_code == 200
        assert _engagements(inbound, touch_id) == [("clicked", True), ("opened", True), ("clicked", False), ("opened", False)]

        # Forged, altered and wrong-kind tokens: a 404 page, never a redirect, nothing recorded.
        token = tracked[0].rsplit("/", 1)[1]
        head, sig = token.split(".")
        evil = make_track_token(touch_id, "click", "not-the-secret-0123456789", url="https://evil.example/", issued=dt.date.today())
        open_token = pixel.rsplit("/", 1)[1].removesuffix(".gif")
        for bad in (f"{head}.{sig[:-2]}AA", f"{head[:-4]}.{sig}", evil, open_token, "garbage", "a.b"):
            refused = await http.get(f"/t/c/{bad}", headers={"user-agent": CHROME})
            assert refused.status_code == 404 and "location" not in refused.headers and "text/html" in refused.headers["content-type"]
        assert (await http.get(f"/t/o/{head}.{sig}.gif")).status_code == 404  # a click token is not a pixel
        # An authentic token past TRACKING_TOKEN_DAYS still forwards, and records nothing.
        old = make_track_token(
            touch_id, "click", inbound.settings.link_secret, url="https://example.com/old", issued=dt.date.today() - dt.timedelta(days=400)
        )
        stale = await http.get(f"/t/c/{old}", headers={"user-agent": CHROME})
        assert stale.status_code == 302 and stale.headers["location"] == "https://example.com/old"
        assert len(_engagements(inbound, touch_id)) == 4

        # Unsubscribing from the email is an opt-out, not an open or a click.
        [unsubscribe] = [h for h in hrefs if "/u/" in h][:1]
        assert (await http.post(_path(unsubscribe))).status_code == 200
        assert _engagements(inbound, touch_id)[4:] == [("opted_out", False)]

    # The enrollment's timeline tells each of them, a machine's as such.
    with transaction(inbound.stack.engine) as session:
        touch = session.get(Touch, touch_id)
        assert touch is not None
        enrollment_id = touch.enrollment_id
    async with inbound.http(inbound.lead) as reader:
        entries = (await reader.get(f"/v1/enrollments/{enrollment_id}/timeline")).json()["entries"]
    told = [e["summary"] for e in entries if e["source"] == "engagement"]
    assert told == [
        "Clicked https://example.com/pricing?plan=pro&seats=5 in the hello message, by a machine: within 5 s of sending;"
        " not counted as the contact's",
        "Opened the hello message, by a machine: Apple Mail Privacy Protection (bare user agent); not counted as the contact's",
        "Clicked https://example.com/pricing?plan=pro&seats=5 in the hello message",
        "Opened the hello message (implied by a click)",
    ]


async def test_a_regulated_contact_gets_no_pixel_but_tracked_links(inbound: Inbound) -> None:
    await inbound.stack.client.publish_cadence(LINKS, actor="admin")
    mail, touch_id = await _sent_email(inbound, "nurse@example.com", industry="healthcare")
    html = _html(mail)
    assert "/t/o/" not in html and "/t/c/" in html
    with transaction(inbound.stack.engine) as session:
        assert session.get(Touch, touch_id) is not None


async def test_a_reply_is_recorded_against_the_email_it_answers_with_its_intent(inbound: Inbound) -> None:
    await inbound.stack.client.publish_cadence(LINKS, actor="admin")
    mail, touch_id = await _sent_email(inbound, "keen@example.com")
    answer = {"id": "r-keen", "from": "keen@example.com", "text": "Sounds good, let's talk on Tuesday", "in_reply_to": mail["Message-ID"]}
    assert inbound.email(answer).status_code == 202
    assert inbound.email(answer).status_code == 202  # the provider retried: applied once
    with transaction(inbound.stack.engine) as session:
        [row] = session.exec(select(Engagement).where(Engagement.touch_id == touch_id)).all()
    assert (row.kind, row.detail["intent"]) == ("replied", "positive")
