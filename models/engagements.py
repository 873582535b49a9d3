"""Engagement rows: what a contact did with what Cadence sent, written in the transaction of
the event that tells us (a pixel fetch, a click, a reply, a carrier's receipt), once.

An engagement is attributed to the touch that caused it: the touch a tracking token names,
the email a reply answers (its Message-ID), or else the newest touch that went to the
contact on that channel. Without any touch (a meeting booked before the first email), it
belongs to the contact's newest enrollment.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Session

from cadence.scoring import KINDS, ScoringConfig, Threshold
from models import scores
from models.tables import Engagement

SENT: Final = ("sent", "delivered", "read")
"""Touch statuses that mean the mail server or Twilio accepted the message."""

_LATEST_TOUCH = sa.text("""
    SELECT id, enrollment_id FROM touches
     WHERE contact_id = :contact AND status = ANY(:sent) AND (CAST(:channel AS text) IS NULL OR channel = :channel)
  ORDER BY coalesce(sent_at, claimed_at) DESC
     LIMIT 1
""")
_TOUCH = sa.text("SELECT enrollment_id, contact_id FROM touches WHERE id = :touch")
_LATEST_ENROLLMENT = sa.text("SELECT id FROM enrollments WHERE contact_id = :contact ORDER BY created_at DESC LIMIT 1")


@dataclass(frozen=True)
class Noted:
    """A new engagement: its row, its contact, and the score thresholds it lifted them through."""

    id: int
    contact_id: uuid.UUID | None
    score: float | None
    crossed: tuple[Threshold, ...]


def note(
    session: Session,
    *,
    scoring: ScoringConfig,
    kind: str,
    dedup_key: str,
    contact_id: uuid.UUID | None = None,
    touch_id: uuid.UUID | None = None,
    enrollment_id: uuid.UUID | None = None,
    channel: str | None = None,
    machine: bool = False,
    detail: dict[str, Any] | None = None,
    at: dt.datetime | None = None,
) -> Noted | None:
    """Record one engagement in the caller's transaction, and move the contact's lead score
    (`cadence.scoring`); None if `dedup_key` was seen (nothing changes).

    With only a contact, it is attributed to that contact's newest touch on `channel` (any
    channel if None), or else to its newest enrollment."""
    assert kind in KINDS, kind
    if touch_id is not None and (enrollment_id is None or contact_id is None):
        row = session.execute(_TOUCH, {"touch": touch_id}).first()
        if row is None:
            return None
        enrollment_id, contact_id = enrollment_id or row.enrollment_id, contact_id or row.contact_id
    elif touch_id is None and contact_id is not None and enrollment_id is None:
        row = session.execute(_LATEST_TOUCH, {"contact": contact_id, "sent": list(SENT), "channel": channel}).first()
        if row is not None:
            touch_id, enrollment_id = row.id, row.enrollment_id
        else:
            enrollment_id = session.execute(_LATEST_ENROLLMENT, {"contact": contact_id}).scalar()
    when = at or dt.datetime.now(dt.UTC)
    inserted = session.execute(
        insert(Engagement)
        .values(
            dedup_key=dedup_key[:300],
            kind=kind,
            touch_id=touch_id,
            enrollment_id=enrollment_id,
            contact_id=contact_id,
            machine=machine,
            detail=detail or {},
            at=when,
        )
        .on_conflict_do_nothing(index_elements=["dedup_key"])
        .returning(sa.column("id"))
    ).first()
    if inserted is None:
        return None
    scored = None
    if contact_id is not None:
        scored = scores.apply(session, contact_id, kind, detail or {}, machine=machine, now=when, config=scoring)
    return Noted(int(inserted[0]), contact_id, scored.score.value if scored else None, scored.crossed if scored else ())


# What each recorded inbound event type is, as an engagement (None: not an engagement).
_OF_EVENT: Final = {
    "reply": "replied",
    "meeting_booked": "meeting_booked",
    "bounce": "bounced",
    "soft_bounce": "bounced",
    "opt_out": "opted_out",
    "task_completed": "task_completed",
}


def of_event(type: str, payload: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """The engagement kind and detail an inbound event stands for: a reply with its intent,
    a hard or soft bounce, a complaint (recorded as an opt-out event), an opt-out."""
    if payload.get("kind") == "complaint":
        return "complained", {}
    kind = _OF_EVENT.get(type)
    if kind is None:
        return None
    if kind == "replied":
        return kind, {"intent": payload.get("intent") or "neutral"}
    if kind == "bounced":
        bounce = payload.get("bounce") or {}
        return kind, {"type": "soft" if type == "soft_bounce" else str(bounce.get("type") or "hard")}
    if kind == "opted_out":
        return kind, {"channel": payload.get("channel") or "all"}
    if kind == "task_completed":
        return kind, {"task_id": payload.get("task_id"), "outcome": payload.get("outcome")}
    return kind, {}
