"""Writing what came of a send attempt onto its claim (the `touches` row).

The mark after a provider accepted a message is the one write that must not be lost: until
it commits, a crash leaves the claim "claimed" and the retry has to ask the transport what
happened. So it is one statement, retried in-process through a short database outage
before the activity gives up, and it only moves a claim that has not been settled yet (a
mark applied twice counts the send once).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid

import sqlalchemy.exc
from sqlalchemy import Engine
from sqlmodel import Session

from core.db import transaction
from models import audit, mirror
from models.contacts import suppress
from models.payloads import MirrorHint, TouchInput
from models.tables import Contact, Touch

log = logging.getLogger("cadence.sends")

# Backoff of the in-process retries of the "sent" mark: about 30 s in all, inside the send
# activities' 60 s attempt timeout, which outlasts a Postgres restart.
MARK_RETRY_DELAYS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 14.0)

UNCLEAR = "unclear_after_crash"


def mark_sent(engine: Engine, touch_id: uuid.UUID, provider_id: str, hint: MirrorHint | None) -> None:
    """Record that the provider accepted the touch (and count it on the enrollment); keeps
    trying through a database outage of up to about 30 s."""
    for delay in (*MARK_RETRY_DELAYS, None):
        try:
            with engine.begin() as conn:
                mirror.mark_sent(conn, touch_id, provider_id, hint)
            return
        except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError, sqlalchemy.exc.TimeoutError) as exc:
            if delay is None:
                raise
            log.warning("touch %s was accepted but could not be marked sent yet (%s); retrying", touch_id, type(exc).__name__)
            time.sleep(delay)


def reconciled(engine: Engine, touch: TouchInput, touch_id: uuid.UUID, lookup: str) -> None:
    """Audit that a retry found its email already accepted and did not send it again."""
    with transaction(engine) as session:
        audit.append(
            session,
            actor="system",
            action="send_reconciled",
            enrollment_id=touch.enrollment_id,
            contact_id=touch.contact_id,
            reason=f"an earlier attempt was accepted (found by {lookup}); not sent again",
            details={"step_id": touch.step_id, "channel": touch.channel, "touch_id": str(touch_id)},
        )


def mark_unclear(engine: Engine, touch: TouchInput, touch_id: uuid.UUID, provider_id: str, reason: str) -> None:
    """Hold the touch: it may have gone out (as `provider_id`, its Message-ID) and nothing
    can tell. The cadence moves on; an operator settles it (GET /v1/touches?status=unclear)."""
    with transaction(engine) as session:
        row = session.get(Touch, touch_id)
        assert row is not None
        row.provider_id = provider_id
        _settle(session, row, "unclear", UNCLEAR, reason)
        if touch.mirror is not None:
            mirror.write_hint(session, touch.enrollment_id, touch.mirror)
        session.flush()
        audit.append(
            session,
            actor="system",
            action="send_unclear",
            enrollment_id=touch.enrollment_id,
            contact_id=touch.contact_id,
            reason=reason,
            details={"step_id": touch.step_id, "channel": touch.channel, "touch_id": str(touch_id)},
        )


def mark_retrying(engine: Engine, touch_id: uuid.UUID, code: str, message: str, *, ambiguous: bool) -> None:
    """The attempt failed for now. Refused outright (a 4xx, a 429, no connection): nothing
    went out and the retry may send ("retrying"). Cut off mid-message: it may have gone out,
    and the claim stays "claimed" so that the retry asks first."""
    with transaction(engine) as session:
        row = session.get(Touch, touch_id)
        assert row is not None
        if not ambiguous:
            row.status = "retrying"
        row.error_code = code
        row.error = message
        session.add(row)


def mark_failed(
    engine: Engine, touch: TouchInput, touch_id: uuid.UUID, code: str, message: str, *, bounce: bool, unsubscribed: bool
) -> None:
    """The provider refused for good: the touch failed, a hard bounce or a carrier STOP
    suppresses the address, and the failure is audited."""
    with transaction(engine) as session:
        row = session.get(Touch, touch_id)
        contact = session.get(Contact, uuid.UUID(touch.contact_id))
        assert row is not None and contact is not None
        _settle(session, row, "failed", code, message)
        if bounce:
            suppress(session, contact, channel=touch.channel, reason="bounce", source=code)
        if unsubscribed:
            suppress(session, contact, channel=touch.channel, reason="stop", source=code)
        audit.append(
            session,
            actor="system",
            action="send_failed",
            enrollment_id=touch.enrollment_id,
            contact_id=touch.contact_id,
            reason=message,
            details={"step_id": touch.step_id, "channel": touch.channel, "code": code, "bounce": bounce},
        )


def _settle(session: Session, row: Touch, status: str, code: str | None, message: str | None) -> None:
    row.status = status
    row.error_code = code
    row.error = message
    row.status_at = dt.datetime.now(dt.UTC)
    session.add(row)
