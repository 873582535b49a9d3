"""API keys: create one (its secret is shown once), list them, revoke one. Every change is
audited with the admin who made it."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from pydantic import BaseModel
from sqlmodel import Session, select

from models import audit
from models import keys as keys_repo
from models.contacts import as_uuid
from models.keys import Role, create_key
from models.tables import ApiKey
from starter.errors import Conflict, NotFound
from starter.service.backend import Backend


class KeyOut(BaseModel):
    """A key without its secret."""

    id: str
    name: str
    role: str
    prefix: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


class KeyCreated(KeyOut):
    """A new key: `key` is the secret, shown this once."""

    key: str


def _out(row: ApiKey) -> KeyOut:
    return KeyOut(
        id=str(row.id),
        name=row.name,
        role=row.role,
        prefix=row.prefix,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


async def create(backend: Backend, *, name: str, role: Role, actor: str) -> KeyCreated:
    """Create a key; the secret is returned now and never again."""

    def write(session: Session) -> KeyCreated:
        row, secret = create_key(session, name=name, role=role)
        audit.append(session, actor=actor, action="key_created", reason=name, details={"key_id": str(row.id), "role": row.role})
        return KeyCreated(**_out(row).model_dump(), key=secret)

    return await backend.db(write)


async def list_keys(backend: Backend) -> list[KeyOut]:
    """Every key, oldest first."""
    return await backend.db(lambda session: [_out(r) for r in session.exec(select(ApiKey).order_by(sa.column("created_at"))).all()])


async def revoke(backend: Backend, key_id: str, *, actor: str, own_key_id: str | None = None) -> KeyOut:
    """Revoke a key at once (it stays listed, marked revoked). The key making the request
    cannot revoke itself (409): an admin locking themselves out is a mistake, and the last
    admin key would leave nobody able to create another."""

    def write(session: Session) -> KeyOut:
        ref = as_uuid(key_id)
        row = session.get(ApiKey, ref) if ref else None
        if row is None:
            raise NotFound(f"key {key_id!r} not found", {"field": "key_id"})
        if own_key_id is not None and str(row.id) == own_key_id:
            raise Conflict("a key cannot revoke itself; revoke it with another admin key", {"field": "key_id"})
        if row.revoked_at is None:
            row.revoked_at = dt.datetime.now(dt.UTC)
            session.add(row)
            audit.append(session, actor=actor, action="key_revoked", reason=row.name, details={"key_id": str(row.id)})
        return _out(row)

    return await backend.db(write)


async def authenticate(backend: Backend, secret: str) -> ApiKey | None:
    """The live key with this secret (its last use is noted), or None."""
    return await backend.db(lambda session: keys_repo.authenticate(session, secret))


async def live_key(backend: Backend, key_id: str, role: str) -> ApiKey | None:
    """The key a console session names, if it still exists, is not revoked and has the
    role it had when the session began (a revoked key loses its sessions at once)."""
    ref = as_uuid(key_id)

    def load(session: Session) -> ApiKey | None:
        row = session.get(ApiKey, ref) if ref else None
        return row if row is not None and row.revoked_at is None and row.role == role else None

    return await backend.db(load)
