"""Dev mode only: what the local SMTP sink received and what texts were recorded."""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
from email.message import EmailMessage
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlmodel import select

from core.db import transaction
from models.tables import DevOutbox
from starter.api.deps import EngineDep, Reader

router = APIRouter(prefix="/dev", tags=["dev"])


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
    """A captured email, parsed for display (shared with the console)."""
    parsed = email.message_from_string(row.body, policy=email.policy.default)
    text = html = None
    if isinstance(parsed, EmailMessage):
        plain = parsed.get_body(("plain",))
        rich = parsed.get_body(("html",))
        text = plain.get_content() if plain is not None else None  # type: ignore[attr-defined]
        html = rich.get_content() if rich is not None else None  # type: ignore[attr-defined]
    return MailOut(
        id=str(row.id), received_at=row.created_at, to=row.to, sender=row.sender, subject=row.subject,
        message_id=parsed.get("Message-ID"), list_unsubscribe=parsed.get("List-Unsubscribe"),
        list_unsubscribe_post=parsed.get("List-Unsubscribe-Post"), text=text, html=html,
    )


@router.get("/mail", response_model=list[MailOut])
async def mail(engine: EngineDep, caller: Reader, to: Annotated[str | None, Query(max_length=320)] = None, limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[MailOut]:
    """Emails the dev SMTP sink received, newest first (optionally only those to one address)."""

    def load() -> list[MailOut]:
        with transaction(engine) as session:
            query = select(DevOutbox).where(DevOutbox.channel == "email")
            if to:
                query = query.where(DevOutbox.to == to)
            rows = session.exec(query.order_by(DevOutbox.created_at.desc()).limit(limit)).all()  # type: ignore[attr-defined]
            return [mail_view(r) for r in rows]

    return await asyncio.to_thread(load)


@router.get("/sms", response_model=list[SmsOut])
async def sms(engine: EngineDep, caller: Reader, to: Annotated[str | None, Query(max_length=32)] = None, limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[SmsOut]:
    """Texts recorded instead of sent (no Twilio credentials), newest first."""

    def load() -> list[SmsOut]:
        with transaction(engine) as session:
            query = select(DevOutbox).where(DevOutbox.channel == "sms")
            if to:
                query = query.where(DevOutbox.to == to)
            rows = session.exec(query.order_by(DevOutbox.created_at.desc()).limit(limit)).all()  # type: ignore[attr-defined]
            return [SmsOut(id=str(r.id), created_at=r.created_at, to=r.to, sender=r.sender, body=r.body, touch_key=r.touch_key) for r in rows]

    return await asyncio.to_thread(load)
