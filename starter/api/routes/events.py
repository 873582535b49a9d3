"""POST /v1/events: a reply, meeting, bounce, opt-out, task completion or named event."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, model_validator

from cadence.definition import ReplyIntent
from starter.api.deps import ClientDep, Service

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

    @model_validator(mode="after")
    def _consistent(self) -> EventRequest:
        if (self.contact_id is None) == (self.contact_external_id is None):
            raise ValueError("give exactly one of contact_id and contact_external_id")
        if self.type == "event" and not self.name:
            raise ValueError("a named event needs 'name'")
        if self.type == "task_completed" and not self.task_id:
            raise ValueError("task_completed needs 'task_id'")
        return self


class EventResponse(BaseModel):
    """Which open enrollments the event reached."""

    contact_id: str
    delivered_to: list[str]
    not_running: list[str]


@router.post("", response_model=EventResponse, status_code=202)
async def send_event(body: EventRequest, client: ClientDep, caller: Service) -> EventResponse:
    """Deliver the event to every open enrollment of the contact (202: accepted; each
    enrollment applies it once, even if it is sent again)."""
    contact = body.contact_id or body.contact_external_id
    assert contact is not None
    result = await client.send_event(
        body.type, contact, event_id=body.event_id, intent=body.intent.value if body.intent else None, return_date=body.return_date,
        name=body.name, task_id=body.task_id, outcome=body.outcome, channel=body.channel,
    )
    return EventResponse(contact_id=result.contact_id, delivered_to=result.delivered_to, not_running=result.not_running)
