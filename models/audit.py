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
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from models import locks
from models.tables import AuditEntry, AuditHead

GENESIS = "0" * 64


def entry_hash(
    prev_hash: str,
    *,
    at: dt.datetime,
    actor: str,
    action: str,
    enrollment_id: uuid.UUID | None,
    contact_id: uuid.UUID | None,
    reason: str | None,
    details: dict[str, Any],
) -> str:
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


# The entry and the moved head in one statement (one round trip while the chain is locked).
_APPEND = sa.text("""
    WITH entry AS (
        INSERT INTO audit_log (at, actor, action, enrollment_id, contact_id, reason, details, prev_hash, hash)
        VALUES (:at, :actor, :action, :enrollment_id, :contact_id, :reason, CAST(:details AS jsonb), :prev_hash, :hash)
        RETURNING id
    )
    INSERT INTO audit_head (id, last_id, last_hash, count)
    SELECT 1, entry.id, :hash, 1 FROM entry
    ON CONFLICT (id) DO UPDATE SET last_id = EXCLUDED.last_id, last_hash = EXCLUDED.last_hash, count = audit_head.count + 1
    RETURNING last_id
""")


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
) -> int:
    """Append one entry inside the caller's transaction (it commits with the change it
    audits); returns its id. The chain's lock is held until that commit, so call it last."""
    locks.hold(session, locks.AUDIT_CHAIN)
    prev = session.exec(sa.select(AuditHead.last_hash).where(AuditHead.id == 1)).scalar() or GENESIS  # type: ignore[call-overload]
    when = at or dt.datetime.now(dt.UTC)
    enr = uuid.UUID(str(enrollment_id)) if enrollment_id else None
    con = uuid.UUID(str(contact_id)) if contact_id else None
    text = json.dumps(details or {}, default=str)
    clean = json.loads(text)
    digest = entry_hash(prev, at=when, actor=actor, action=action, enrollment_id=enr, contact_id=con, reason=reason, details=clean)
    entry_id: int = session.exec(  # type: ignore[call-overload]
        _APPEND,
        params={
            "at": when,
            "actor": actor,
            "action": action,
            "enrollment_id": enr,
            "contact_id": con,
            "reason": reason,
            "details": text,
            "prev_hash": prev,
            "hash": digest,
        },
    ).scalar_one()
    return entry_id


@dataclass
class Verification:
    """The result of walking the chain: how many entries held, and the first problem."""

    checked: int
    broken: AuditEntry | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the whole log is intact."""
        return self.problem is None


def verify(session: Session, batch: int = 5000) -> Verification:
    """Walk the chain in order; report the first entry whose link or content does not hold,
    or entries missing from the end (the head records where the chain should end)."""
    prev = GENESIS
    checked = 0
    last_id = 0
    while True:
        rows = session.exec(select(AuditEntry).where(AuditEntry.id > last_id).order_by(AuditEntry.id).limit(batch)).all()  # type: ignore[arg-type,operator]
        if not rows:
            head = session.get(AuditHead, 1)
            if head is not None and (head.last_hash != prev or head.count != checked):
                return Verification(
                    checked,
                    None,
                    f"entries are missing from the end: the head expects {head.count} ending in entry {head.last_id}, found {checked}",
                )
            return Verification(checked)
        for row in rows:
            expected = entry_hash(
                prev,
                at=row.at,
                actor=row.actor,
                action=row.action,
                enrollment_id=row.enrollment_id,
                contact_id=row.contact_id,
                reason=row.reason,
                details=row.details,
            )
            if row.prev_hash != prev:
                return Verification(checked, row, f"entry {row.id} does not follow the one before it (an entry was removed or reordered)")
            if row.hash != expected:
                return Verification(checked, row, f"entry {row.id} was changed after it was written")
            prev = row.hash
            checked += 1
            assert row.id is not None
            last_id = row.id
