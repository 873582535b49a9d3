"""Dev mode only: what the local SMTP sink received and what texts were recorded."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from starter.api.deps import BackendDep, Reader
from starter.service import outbox
from starter.service.outbox import MailOut, SmsOut

router = APIRouter(prefix="/dev", tags=["dev"])


@router.get("/mail", response_model=list[MailOut])
async def mail(
    backend: BackendDep,
    caller: Reader,
    to: Annotated[str | None, Query(max_length=320)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[MailOut]:
    """Emails the dev SMTP sink received, newest first (optionally only those to one address)."""
    return await outbox.mail(backend, to=to, limit=limit)


@router.get("/sms", response_model=list[SmsOut])
async def sms(
    backend: BackendDep,
    caller: Reader,
    to: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[SmsOut]:
    """Texts recorded instead of sent (no Twilio credentials), newest first."""
    return await outbox.texts(backend, to=to, limit=limit)
