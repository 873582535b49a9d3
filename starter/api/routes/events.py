"""POST /v1/events: a reply, meeting, bounce, opt-out, task completion or named event; and
the inbound event log for operators."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from starter.api.deps import BackendDep, Offset, Reader, Service
from starter.api.schemas import EventRequest
from starter.service import event_log, events
from starter.service.event_log import InboundPage
from starter.service.events import EventOutcome

router = APIRouter(prefix="/v1/events", tags=["events"])


@router.post("", response_model=EventOutcome, status_code=202)
async def send_event(body: EventRequest, backend: BackendDep, caller: Service) -> EventOutcome:
    """Record the event, then deliver it to every open enrollment of the contact (202).

    Sending the same `event_id` again is harmless (`duplicate: true`). An event for an
    unknown contact is kept as `unmatched` for operators to see, not refused."""
    contact = body.contact_id or body.contact_external_id
    assert contact is not None
    return await events.send_event(
        backend,
        body.type,
        contact,
        event_id=body.event_id,
        intent=body.intent.value if body.intent else None,
        return_date=body.return_date,
        name=body.name,
        task_id=body.task_id,
        outcome=body.outcome,
        channel=body.channel,
        data=body.data,
    )


@router.get("", response_model=InboundPage)
async def list_events(
    backend: BackendDep,
    caller: Reader,
    status: Literal["received", "processed", "unmatched", "failed"] | None = None,
    source: Annotated[str | None, Query(max_length=30)] = None,
    contact_id: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> InboundPage:
    """Everything that came back from the world: unmatched events (an unknown sender) show
    here for operators to follow up."""
    return await event_log.list_events(
        backend, status=status, source=source, contact_id=str(contact_id) if contact_id else None, limit=limit, offset=offset
    )
