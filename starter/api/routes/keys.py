"""API keys (admin only): create one (its secret is shown once), list, revoke."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session, select

from models import audit
from models.contacts import as_uuid
from models.keys import Role, create_key
from models.tables import ApiKey
from starter.api.deps import Admin, ClientDep
from starter.errors import NotFound

router = APIRouter(prefix="/v1/keys", tags=["keys"])


class KeyIn(BaseModel):
    """Who the key is for (recorded as the actor of everything it does) and its role."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    role: Role


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
    return KeyOut(id=str(row.id), name=row.name, role=row.role, prefix=row.prefix, created_at=row.created_at,
                  last_used_at=row.last_used_at, revoked_at=row.revoked_at)


@router.post("", response_model=KeyCreated, status_code=201)
async def create(body: KeyIn, client: ClientDep, caller: Admin) -> KeyCreated:
    """Create a key; store the secret now, it cannot be shown again."""

    def write(session: Session) -> KeyCreated:
        row, secret = create_key(session, name=body.name, role=body.role)
        audit.append(session, actor=caller.actor, action="key_created", reason=body.name, details={"key_id": str(row.id), "role": row.role})
        return KeyCreated(**_out(row).model_dump(), key=secret)

    return await client._db(write)


@router.get("", response_model=list[KeyOut])
async def list_keys(client: ClientDep, caller: Admin) -> list[KeyOut]:
    """Every key, oldest first."""
    return await client._db(lambda session: [_out(r) for r in session.exec(select(ApiKey).order_by(sa.column("created_at"))).all()])


@router.delete("/{key_id}", response_model=KeyOut)
async def revoke(key_id: str, client: ClientDep, caller: Admin) -> KeyOut:
    """Revoke a key at once (it stays listed, marked revoked)."""

    def write(session: Session) -> KeyOut:
        ref = as_uuid(key_id)
        row = session.get(ApiKey, ref) if ref else None
        if row is None:
            raise NotFound(f"key {key_id!r} not found", {"field": "key_id"})
        if row.revoked_at is None:
            row.revoked_at = dt.datetime.now(dt.UTC)
            session.add(row)
            audit.append(session, actor=caller.actor, action="key_revoked", reason=row.name, details={"key_id": str(row.id)})
        return _out(row)

    return await client._db(write)
