"""Dev mode: what the local SMTP sink received and the texts recorded instead of sent, so a
developer can see what a cadence would have delivered."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
from email.message import EmailMessage

from pydantic import BaseModel
from sqlmodel import Session, select

from models.tables import DevOutbox
from starter.service.backend import Backend


class MailOut(BaseModel):
    """One captured email."""

    id: str
    received_at: dt.datetime
    to: str
    sender: str | None
    subject: str | None
    message_id: str | None
    list_unsubscribe: str | None
    list_unsubscribe_post: str | None
    text: str | None
    html: str | None


class SmsOut(BaseModel):
    """One recorded text."""

    id: str
    created_at: dt.datetime
    to: str
    sender: str | None
    body: str
    touch_key: str | None


def mail_view(row: DevOutbox) -> MailOut:
    """A captured email, parsed for display."""
    parsed = email.message_from_string(row.body, policy=email.policy.default)
    text = html = None
    if isinstance(parsed, EmailMessage):
        plain = parsed.get_body(("plain",))
        rich = parsed.get_body(("html",))
        text = plain.get_content() if plain is not None else None
        html = rich.get_content() if rich is not None else None
    return MailOut(
        id=str(row.id),
        received_at=row.created_at,
        to=row.to,
        sender=row.sender,
        subject=row.subject,
        message_id=parsed.get("Message-ID"),
        list_unsubscribe=parsed.get("List-Unsubscribe"),
        list_unsubscribe_post=parsed.get("List-Unsubscribe-Post"),
        text=text,
        html=html,
    )


def _rows(session: Session, channel: str, to: str | None, limit: int) -> list[DevOutbox]:
    query = select(DevOutbox).where(DevOutbox.channel == channel)
    if to:
        query = query.where(DevOutbox.to == to)
    return list(session.exec(query.order_by(DevOutbox.created_at.desc()).limit(limit)).all())  # type: ignore[attr-defined]


async def mail(backend: Backend, *, to: str | None = None, limit: int = 100) -> list[MailOut]:
    """Emails the dev SMTP sink received, newest first (optionally only those to one address)."""
    return await backend.db(lambda session: [mail_view(r) for r in _rows(session, "email", to, limit)])


async def texts(backend: Backend, *, to: str | None = None, limit: int = 100) -> list[SmsOut]:
    """Texts recorded instead of sent (no Twilio credentials), newest first."""

    def load(session: Session) -> list[SmsOut]:
        return [
            SmsOut(id=str(r.id), created_at=r.created_at, to=r.to, sender=r.sender, body=r.body, touch_key=r.touch_key)
            for r in _rows(session, "sms", to, limit)
        ]

    return await backend.db(load)
