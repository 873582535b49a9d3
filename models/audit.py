"""The append-only, hash-chained audit log.

Each entry's hash covers its content and the previous entry's hash, so changing or deleting
any row breaks the chain from that point on. Appends are serialised by a transaction-level
advisory lock; the lock is held only for the insert, never across a provider call.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from models.tables import AuditEntry

GENESIS = "0" * 64
_CHAIN_LOCK = 0x0CAD_E4CE_A0D1  # advisory lock id reserved for the audit chain


def entry_hash(prev_hash: str, *, at: dt.datetime, actor: str, action: str, enrollment_id: uuid.UUID | None,
               contact_id: uuid.UUID | None, reason: str | None, details: dict[str, Any]) -> str:
    """The hash of one entry: canonical JSON of its content, chained to the previous hash."""
    body = {
        "prev": prev_hash,
        "at": at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "actor": actor,
        "action": action,
        "enrollment_id": str(enrollment_id) if enrollment_id else None,
        "contact_id": str(contact_id) if contact_id else None,
        "reason": reason,
        "details": details,
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


def append(
    session: Session,
    *,
    actor: str,
    action: str,
    enrollment_id: uuid.UUID | str | None = None,
    contact_id: uuid.UUID | str | None = None,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
    at: dt.datetime | None = None,
) -> AuditEntry:
    """Append one entry inside the caller's transaction (it commits with the change it audits)."""
    session.exec(sa.select(sa.func.pg_advisory_xact_lock(_CHAIN_LOCK)))  # type: ignore[call-overload]
    last = session.exec(select(AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)).first()  # type: ignore[union-attr]
    prev = last or GENESIS
    when = at or dt.datetime.now(dt.UTC)
    enr = uuid.UUID(str(enrollment_id)) if enrollment_id else None
    con = uuid.UUID(str(contact_id)) if contact_id else None
    clean = json.loads(json.dumps(details or {}, default=str))
    entry = AuditEntry(
        at=when,
        actor=actor,
        action=action,
        enrollment_id=enr,
        contact_id=con,
        reason=reason,
        details=clean,
        prev_hash=prev,
        hash=entry_hash(prev, at=when, actor=actor, action=action, enrollment_id=enr, contact_id=con, reason=reason, details=clean),
    )
    session.add(entry)
    session.flush()
    return entry


def verify(session: Session, batch: int = 5000) -> tuple[int, AuditEntry | None]:
    """Walk the chain in order; returns (entries checked, first broken entry or None)."""
    prev = GENESIS
    checked = 0
    last_id = 0
    while True:
        rows = session.exec(select(AuditEntry).where(AuditEntry.id > last_id).order_by(AuditEntry.id).limit(batch)).all()  # type: ignore[arg-type,operator]
        if not rows:
            return checked, None
        for row in rows:
            expected = entry_hash(prev, at=row.at, actor=row.actor, action=row.action, enrollment_id=row.enrollment_id,
                                  contact_id=row.contact_id, reason=row.reason, details=row.details)
            if row.prev_hash != prev or row.hash != expected:
                return checked, row
            prev = row.hash
            checked += 1
            assert row.id is not None
            last_id = row.id
