"""Transaction-scoped advisory locks: who may decide about one contact, sender, owner or the
audit chain at a time. Each is held until the transaction ends, never across a provider call."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlmodel import Session

# Reserved for the audit chain (every append is serialised by it).
AUDIT_CHAIN = 0x0CAD_E4CE_A0D1


def _key(raw: bytes) -> int:
    return int.from_bytes(raw[:8], "big", signed=True)


def hold(session: Session, key: int) -> None:
    """Wait for and take lock `key` until the transaction ends."""
    session.exec(sa.select(sa.func.pg_advisory_xact_lock(key)))  # type: ignore[call-overload]


def hold_contact(session: Session, contact_id: uuid.UUID) -> None:
    """Serialise everything that decides about one contact (send claims, opt-outs), so an
    opt-out and a claim never interleave."""
    hold(session, _key(contact_id.bytes))


def hold_named(session: Session, name: str) -> None:
    """A lock named by text ("sender:<address>", "owner:<id>")."""
    hold(session, _key(uuid.uuid5(uuid.NAMESPACE_URL, name).bytes))
