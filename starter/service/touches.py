"""Touches, as operators see them: every email and text Cadence claimed, and settling the
ones a crash left "unclear" (it may have gone out and the transport could not tell).

An unclear touch is never sent again on its own (UNCLEAR_EMAIL=hold). Whoever checks the
mailbox or the provider's logs records what happened: `sent` (it arrived: counted as sent)
or `not_sent` (it never left: recorded as failed, the cadence has already moved on). Both
are audited with the operator's name and reason.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal, get_args

import sqlalchemy as sa
from pydantic import BaseModel
from sqlmodel import Session, func, select

from models import audit, mirror
from models.contacts import as_uuid
from models.tables import Touch
from starter.errors import Conflict, Invalid, NotFound
from starter.service.backend import Backend

TouchStatus = Literal["claimed", "retrying", "unclear", "sent", "delivered", "undelivered", "failed", "skipped", "stopped"]
STATUSES: tuple[str, ...] = get_args(TouchStatus)
Outcome = Literal["sent", "not_sent"]


class TouchOut(BaseModel):
    """One touch: what was (or was to be) sent, and what came of it."""

    id: str
    enrollment_id: str
    contact_id: str
    step_id: str
    channel: str
    template: str | None
    variant: str | None
    status: str
    reason_code: str | None
    reason: str | None
    provider_id: str | None
    attempts: int
    scheduled_at: dt.datetime | None
    claimed_at: dt.datetime
    sent_at: dt.datetime | None
    status_at: dt.datetime | None


class TouchPage(BaseModel):
    """One page of touches."""

    items: list[TouchOut]
    total: int


def touch_out(row: Touch) -> TouchOut:
    """The caller's view of a touch."""
    return TouchOut(
        **row.model_dump(exclude={"id", "enrollment_id", "contact_id", "error_code", "error", "key", "sender", "template_version"}),
        id=str(row.id),
        enrollment_id=str(row.enrollment_id),
        contact_id=str(row.contact_id),
        reason_code=row.error_code,
        reason=row.error,
    )


async def list_touches(
    backend: Backend,
    *,
    status: str | None = None,
    enrollment_id: str | None = None,
    contact_id: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> TouchPage:
    """Touches, oldest claim first (the operator's list of unclear ones is `status="unclear"`)."""
    if status is not None and status not in STATUSES:
        raise Invalid(f"status must be one of {', '.join(STATUSES)}", {"field": "status"})
    conditions: list[Any] = []
    for field, value, column in (("enrollment_id", enrollment_id, Touch.enrollment_id), ("contact_id", contact_id, Touch.contact_id)):
        if value is not None:
            ref = as_uuid(value)
            if ref is None:
                raise Invalid(f"{field} must be a UUID", {"field": field})
            conditions.append(column == ref)
    if status is not None:
        conditions.append(Touch.status == status)

    def load(session: Session) -> TouchPage:
        total = session.exec(select(func.count()).select_from(Touch).where(*conditions)).one()
        query = select(Touch).where(*conditions).order_by(Touch.claimed_at, Touch.id).limit(limit).offset(offset)  # type: ignore[arg-type]
        return TouchPage(items=[touch_out(r) for r in session.exec(query).all()], total=total)

    return await backend.db(load)


async def resolve_touch(backend: Backend, touch_id: str, *, outcome: Outcome, reason: str, actor: str) -> TouchOut:
    """Settle an unclear touch with what the operator found out (audited)."""
    if not reason.strip():
        raise Invalid("a reason is required (what was checked, and where)", {"field": "reason"})
    ref = as_uuid(touch_id)

    def update(session: Session) -> Touch:
        row = session.exec(select(Touch).where(Touch.id == ref).with_for_update()).first() if ref else None
        if row is None:
            raise NotFound(f"touch {touch_id!r} not found", {"field": "touch_id"})
        if row.status != "unclear":
            raise Conflict(f"the touch is {row.status}, not unclear; only an unclear touch can be settled")
        if outcome == "sent":
            mirror.mark_sent(session.connection(), row.id, row.provider_id or f"confirmed-by:{actor}", None)
        else:
            session.exec(
                sa.update(Touch)
                .where(Touch.id == row.id)  # type: ignore[arg-type]
                .values(
                    status="failed",
                    error_code="not_sent",
                    error=f"confirmed not sent by {actor}: {reason}",
                    status_at=dt.datetime.now(dt.UTC),
                )
            )
        audit.append(
            session,
            actor=actor,
            action="touch_resolved",
            enrollment_id=row.enrollment_id,
            contact_id=row.contact_id,
            reason=reason,
            details={"touch_id": str(row.id), "step_id": row.step_id, "channel": row.channel, "outcome": outcome},
        )
        session.expire(row)
        refreshed = session.get(Touch, row.id)
        assert refreshed is not None
        return refreshed

    return touch_out(await backend.db(update))
