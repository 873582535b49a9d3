"""Asking the email transport whether it accepted a message, by its Message-ID.

A send attempt that died between calling SMTP and recording the answer (a worker killed, a
database that went away) leaves its claim "claimed": the email may or may not have gone
out. The retry asks a `SentLookup` before doing anything: accepted means mark it sent (no
second copy), not accepted means send it, and "cannot tell" means the touch is held as
unclear for an operator (unless UNCLEAR_EMAIL=resend). Message-IDs are deterministic per
touch, so any store that keeps them can answer: the dev SMTP sink's table here; an IMAP
Sent-folder search or a provider's message search plugs in the same way.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from sqlalchemy import Engine
from sqlmodel import select

from core.db import transaction
from core.settings import Settings
from models.tables import DevOutbox


class SentLookup(Protocol):
    """Was the email with this Message-ID accepted? True, False, or None (cannot tell)."""

    name: str

    def accepted(self, message_id: str, *, to: str, since: dt.datetime) -> bool | None:
        """Raises TransientSendError when the store does not answer (the retry asks again)."""
        ...


class NoLookup:
    """A plain SMTP relay: nothing can be asked after the fact."""

    name = "none"

    def accepted(self, message_id: str, *, to: str, since: dt.datetime) -> bool | None:
        return None


class OutboxLookup:
    """The dev SMTP sink writes every message it accepts to dev_outbox before answering
    250, so a Message-ID missing there was never accepted."""

    name = "dev_outbox"

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def accepted(self, message_id: str, *, to: str, since: dt.datetime) -> bool | None:
        with transaction(self.engine) as session:
            found = session.exec(
                select(DevOutbox.id).where(DevOutbox.channel == "email", DevOutbox.message_id == message_id, DevOutbox.to == to).limit(1)
            ).first()
        return found is not None


def sent_lookup(settings: Settings, engine: Engine) -> SentLookup:
    """The lookup the settings name (EMAIL_LOOKUP)."""
    if settings.email_lookup == "dev_outbox":
        return OutboxLookup(engine)
    return NoLookup()
