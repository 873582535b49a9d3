"""Stored lead scores: a contact's score moved by one engagement, in the engagement's own
transaction (the contact row locked, so two engagements at once add up), and the score as it
stands now for pages, lists and the API."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from cadence.scoring import Score, Scored, ScoringConfig, add, decayed
from models.tables import Contact


def apply(
    session: Session, contact_id: uuid.UUID, kind: str, detail: dict[str, Any], *, machine: bool, now: dt.datetime, config: ScoringConfig
) -> Scored | None:
    """Add one engagement to the contact's score (None: no such contact, or it scores nothing)."""
    if config.points_for(kind, detail, machine=machine) == 0:
        return None
    contact = session.exec(select(Contact).where(Contact.id == contact_id).with_for_update()).first()
    if contact is None:
        return None
    stored = Score(contact.score, contact.score_at, contact.score_day, {k: float(v) for k, v in (contact.score_used or {}).items()})
    scored = add(config, stored, kind, detail, machine=machine, now=now)
    contact.score, contact.score_at = scored.score.value, scored.score.at
    contact.score_day, contact.score_used = scored.score.day, scored.score.used
    session.add(contact)
    return scored


def current(contact: Contact, config: ScoringConfig, now: dt.datetime | None = None) -> float:
    """The contact's score now (decayed since it was last computed), to one decimal."""
    return round(decayed(contact.score, contact.score_at, now or dt.datetime.now(dt.UTC), config.half_life_days), 1)


def current_sql(config: ScoringConfig, table: str = "contacts") -> sa.ColumnElement[float]:
    """The same as `current`, as a column over a row of `table` (to sort a list by score)."""
    seconds = config.half_life_days * 86400
    decay = f"power(0.5, greatest(extract(epoch FROM now() - coalesce({table}.score_at, now())), 0) / {seconds:.0f})"
    return sa.literal_column(f"({table}.score * {decay})", sa.Float())
