"""The inbound event log, for operators: everything that came back from the world, newest
first, with unmatched events (an unknown sender) to follow up. Lists never show message
bodies or addresses."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlmodel import Session, func, select

from models.contacts import as_uuid
from models.tables import InboundEvent
from starter.errors import Invalid
from starter.service.backend import Backend

# Payload keys safe to show in lists.
SUMMARY_KEYS = ("channel", "intent", "return_date", "name", "keyword", "kind", "status", "error_code", "how")


class InboundOut(BaseModel):
    """A recorded inbound event, as operators see it."""

    id: str
    source: str
    event_id: str
    type: str
    status: str
    contact_id: str | None
    received_at: dt.datetime
    processed_at: dt.datetime | None
    attempts: int
    result: dict[str, Any]
    summary: dict[str, Any]


class InboundPage(BaseModel):
    """One page of inbound events, newest first."""

    items: list[InboundOut]
    total: int


def _out(row: InboundEvent) -> InboundOut:
    return InboundOut(
        id=str(row.id),
        source=row.source,
        event_id=row.event_id,
        type=row.type,
        status=row.status,
        contact_id=str(row.contact_id) if row.contact_id else None,
        received_at=row.received_at,
        processed_at=row.processed_at,
        attempts=row.attempts,
        result=row.result,
        summary={k: row.payload[k] for k in SUMMARY_KEYS if row.payload.get(k) is not None},
    )


async def list_events(
    backend: Backend,
    *,
    status: str | None = None,
    source: str | None = None,
    contact_id: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> InboundPage:
    """Inbound events filtered by status, source and contact, newest first."""

    def load(session: Session) -> InboundPage:
        conditions: list[Any] = []
        if status:
            conditions.append(InboundEvent.status == status)
        if source:
            conditions.append(InboundEvent.source == source)
        if contact_id:
            ref = as_uuid(contact_id)
            if ref is None:
                raise Invalid("contact_id must be a UUID", {"field": "contact_id"})
            conditions.append(InboundEvent.contact_id == ref)
        total = session.exec(select(func.count()).select_from(InboundEvent).where(*conditions)).one()
        rows = session.exec(
            select(InboundEvent).where(*conditions).order_by(sa.desc(sa.column("received_at"))).limit(limit).offset(offset)
        ).all()
        return InboundPage(items=[_out(r) for r in rows], total=total)

    return await backend.db(load)
