"""Dev mode only: the mail the local SMTP sink caught and the texts recorded instead of sent,
so a developer can see what a cadence would have delivered."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request, Response
from sqlmodel import Session, select

from models.tables import DevOutbox
from starter.api.routes.dev import MailOut, SmsOut, mail_view
from starter.console.pages import ConsoleError, console_router, db, render, settings_of
from starter.console.session import Viewer

router = console_router()
To = Annotated[str | None, Query(max_length=320)]


def _rows(session: Session, channel: str, to: str | None) -> list[DevOutbox]:
    query = select(DevOutbox).where(DevOutbox.channel == channel)
    if to:
        query = query.where(DevOutbox.to == to)
    return list(session.exec(query.order_by(DevOutbox.created_at.desc()).limit(100)).all())  # type: ignore[attr-defined]


def _dev_only(request: Request) -> None:
    if not settings_of(request).dev_mode:
        raise ConsoleError(404, "These pages exist only in dev mode.")


@router.get("/dev/mail")
async def mail(request: Request, user: Viewer, to: To = None) -> Response:
    """The newest 100 emails the dev SMTP sink received."""
    _dev_only(request)
    items: list[MailOut] = await db(request, lambda s: [mail_view(r) for r in _rows(s, "email", to)])
    return render(request, "dev_mail.html", section="mail", items=items, to=to or "")


@router.get("/dev/sms")
async def sms(request: Request, user: Viewer, to: To = None) -> Response:
    """The newest 100 texts recorded instead of sent."""
    _dev_only(request)
    rows = await db(request, lambda s: _rows(s, "sms", to))
    items = [SmsOut(id=str(r.id), created_at=r.created_at, to=r.to, sender=r.sender, body=r.body, touch_key=r.touch_key) for r in rows]
    return render(request, "dev_sms.html", section="sms", items=items, to=to or "")
