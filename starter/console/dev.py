"""Dev mode only: the mail the local SMTP sink caught and the texts recorded instead of sent,
so a developer can see what a cadence would have delivered."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request, Response

from starter.console.pages import ConsoleError, backend_of, console_router, render, settings_of
from starter.console.session import Viewer
from starter.service import outbox

router = console_router()
To = Annotated[str | None, Query(max_length=320)]


def _dev_only(request: Request) -> None:
    if not settings_of(request).dev_mode:
        raise ConsoleError(404, "These pages exist only in dev mode.")


@router.get("/dev/mail")
async def mail(request: Request, user: Viewer, to: To = None) -> Response:
    """The newest 100 emails the dev SMTP sink received."""
    _dev_only(request)
    items = await outbox.mail(backend_of(request), to=to)
    return render(request, "dev_mail.html", section="mail", items=items, to=to or "")


@router.get("/dev/sms")
async def sms(request: Request, user: Viewer, to: To = None) -> Response:
    """The newest 100 texts recorded instead of sent."""
    _dev_only(request)
    items = await outbox.texts(backend_of(request), to=to)
    return render(request, "dev_sms.html", section="sms", items=items, to=to or "")
