"""API keys and roles: who may do what through the API and the console."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from enum import StrEnum

from sqlmodel import Session, select

from models.tables import ApiKey

KEY_PREFIX = "cad_"


class Role(StrEnum):
    """service: contacts, enrollments, events. cs_lead: pause/resume/stop/skip, tasks, account
    pause, and reading. auditor: read-only, including audit. admin: everything, keys, cadences."""

    service = "service"
    cs_lead = "cs_lead"
    auditor = "auditor"
    admin = "admin"


def digest(secret: str) -> str:
    """How a key is stored: its SHA-256 (keys are random, so no salt or slow hash is needed)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(session: Session, *, name: str, role: Role) -> tuple[ApiKey, str]:
    """Create a key; returns the row and the secret, which is never stored or shown again."""
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(name=name, role=role.value, prefix=secret[:12], hash=digest(secret))
    session.add(row)
    session.flush()
    return row, secret


def authenticate(session: Session, secret: str) -> ApiKey | None:
    """The live key with this secret, or None (unknown, malformed or revoked)."""
    if not secret.startswith(KEY_PREFIX) or len(secret) > 200:
        return None
    row = session.exec(select(ApiKey).where(ApiKey.hash == digest(secret), ApiKey.revoked_at.is_(None))).first()  # type: ignore[union-attr]
    if row is not None:
        now = dt.datetime.now(dt.UTC)
        if row.last_used_at is None or now - row.last_used_at > dt.timedelta(minutes=1):
            row.last_used_at = now
            session.add(row)
    return row
