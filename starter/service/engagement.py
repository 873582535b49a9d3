"""Opens and clicks: what the tracking pixel and the click redirects record.

Both answer only after the engagement is committed. A forged, altered or garbled token
records nothing and gets None back (the route answers 404; nothing is forwarded). An
authentic click token always forwards to the URL it signs, even when it has expired or its
touch no longer exists; it records only when it is fresh and its touch is there. A
person's click also counts as their open (they opened the email to click), once; a
machine's never does. Each is recorded once per touch (an open) or per touch and link (a
click), separately for people and machines, so reloading a pixel or a link changes nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass, field

from sqlmodel import Session

from cadence.tracking import TrackToken, expired, machine_reason, read_track_token
from core import metrics
from core.settings import Settings
from models import engagements
from models.tables import Touch
from starter.service.backend import Backend
from starter.service.events import score_events


@dataclass(frozen=True)
class Tracked:
    """What a tracking request did: whether it was recorded (new), and why it was a machine's."""

    recorded: bool
    machine: str | None
    follow_ups: list[uuid.UUID] = field(default_factory=list)


async def opened(backend: Backend, settings: Settings, token: str, *, user_agent: str | None, client_ip: str | None) -> Tracked | None:
    """Record the open a pixel fetch stands for; None for an invalid token."""
    found = read_track_token(token, "open", settings.link_secret)
    if found is None:
        return None
    return await _record(backend, settings, found, user_agent, client_ip)


async def clicked(
    backend: Backend, settings: Settings, token: str, *, user_agent: str | None, client_ip: str | None
) -> tuple[str, Tracked] | None:
    """Record the click; the URL to forward to and what was recorded (None: an invalid token)."""
    found = read_track_token(token, "click", settings.link_secret)
    if found is None:
        return None
    tracked = await _record(backend, settings, found, user_agent, client_ip)
    assert found.url is not None
    return found.url, tracked


async def _record(backend: Backend, settings: Settings, token: TrackToken, user_agent: str | None, client_ip: str | None) -> Tracked:
    now = dt.datetime.now(dt.UTC)
    if expired(token, now.date(), settings.tracking_token_days):
        return Tracked(False, None)

    def store(session: Session) -> Tracked:
        touch = session.get(Touch, token.touch_id)
        if touch is None:
            return Tracked(False, None)
        sent = touch.sent_at
        reason = machine_reason(user_agent, client_ip, (now - sent).total_seconds() if sent else None)
        who = "machine" if reason else "person"
        detail: dict[str, object] = {"machine_reason": reason} if reason else {}
        if token.kind == "open":
            kind, dedup_key = "opened", f"opened:{touch.id}:{who}"
        else:
            assert token.url is not None
            kind, dedup_key = "clicked", f"clicked:{touch.id}:{hashlib.sha256(token.url.encode()).hexdigest()[:16]}:{who}"
            detail["url"] = token.url[:500]

        def note(kind: str, dedup_key: str, detail: dict[str, object], machine: bool) -> engagements.Noted | None:
            return engagements.note(
                session,
                scoring=backend.scoring,
                kind=kind,
                dedup_key=dedup_key,
                touch_id=touch.id,
                enrollment_id=touch.enrollment_id,
                contact_id=touch.contact_id,
                machine=machine,
                detail=detail,
                at=now,
            )

        noted = note(kind, dedup_key, detail, bool(reason))
        # A person's click is also their open (once); a machine's is not.
        implied = note("opened", f"opened:{touch.id}:person", {"implied_by": "click"}, False) if kind == "clicked" and not reason else None
        if noted is not None:
            metrics.ENGAGEMENTS.labels(kind, "true" if reason else "false").inc()
        follow_ups = score_events(session, backend.scoring, noted)
        follow_ups += score_events(session, backend.scoring, implied)
        return Tracked(noted is not None, reason, follow_ups)

    return await backend.db(store)
