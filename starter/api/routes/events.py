"""POST /v1/events: a reply, meeting, bounce, opt-out, task completion or named event."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlmodel import Session, func, select

from cadence.definition import ReplyIntent
from models.contacts import as_uuid
from models.tables import InboundEvent
from starter.api.deps import ClientDep, Reader, Service
from starter.client import EventOutcome
from starter.errors import Invalid

router = APIRouter(prefix="/v1/events", tags=["events"])


class EventRequest(BaseModel):
    """An event about a contact, delivered to every open enrollment of that contact."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["reply", "meeting_booked", "bounce", "opt_out", "task_completed", "event"]
    event_id: str = Field(min_length=1, max_length=200, description="Your id for this event; repeats are applied once")
    contact_id: str | None = Field(default=None, min_length=1, max_length=200)
    contact_external_id: str | None = Field(default=None, min_length=1, max_length=200)
    intent: ReplyIntent | None = Field(default=None, description="For replies")
    return_date: dt.date | None = Field(default=None, description="For out-of-office replies")
    name: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$", description="For named events")
    task_id: str | None = Field(default=None, max_length=100, description="For task_completed")
    outcome: str | None = Field(default=None, max_length=500)
    channel: Literal["email", "sms", "call", "linkedin"] | None = None
    data: dict[str, str | int | float | bool | None] | None = Field(default=None, description="For named events: facts rules can test (e.g. score)")

    @model_validator(mode="after")
    def _consistent(self) -> EventRequest:
        if (self.contact_id is None) == (self.contact_external_id is None):
            raise ValueError("give exactly one of contact_id and contact_external_id")
        if self.type == "event" and not self.name:
            raise ValueError("a named event needs 'name'")
        if self.type == "task_completed" and not self.task_id:
            raise ValueError("task_completed needs 'task_id'")
        return self


@router.post("", response_model=EventOutcome, status_code=202)
async def send_event(body: EventRequest, client: ClientDep, caller: Service) -> EventOutcome:
    """Record the event, then deliver it to every open enrollment of the contact (202).

    Sending the same `event_id` again is harmless (`duplicate: true`). An event for an
    unknown contact is kept as `unmatched` for operators to see, not refused."""
    contact = body.contact_id or body.contact_external_id
    assert contact is not None
    return await client.send_event(
        body.type, contact, event_id=body.event_id, intent=body.intent.value if body.intent else None, return_date=body.return_date,
        name=body.name, task_id=body.task_id, outcome=body.outcome, channel=body.channel, data=body.data,
    )


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


# Payload keys safe to show in lists (never message bodies or addresses).
SUMMARY_KEYS = ("channel", "intent", "return_date", "name", "keyword", "kind", "status", "error_code", "how")


@router.get("", response_model=InboundPage)
async def list_events(
    client: ClientDep,
    caller: Reader,
    status: Literal["received", "processed", "unmatched", "failed"] | None = None,
    source: Annotated[str | None, Query(max_length=30)] = None,
    contact_id: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> InboundPage:
    """Everything that came back from the world: unmatched events (an unknown sender) show
    here for operators to follow up."""

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
        return InboundPage(
            items=[
                InboundOut(
                    id=str(r.id), source=r.source, event_id=r.event_id, type=r.type, status=r.status,
                    contact_id=str(r.contact_id) if r.contact_id else None, received_at=r.received_at, processed_at=r.processed_at,
                    attempts=r.attempts, result=r.result, summary={k: r.payload[k] for k in SUMMARY_KEYS if r.payload.get(k) is not None},
                )
                for r in rows
            ],
            total=total,
        )

    return await client._db(load)
