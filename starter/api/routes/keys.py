"""API keys (admin only): create one (its secret is shown once), list, revoke."""

from __future__ import annotations

from fastapi import APIRouter

from starter.api.deps import Admin, BackendDep
from starter.api.schemas import KeyIn
from starter.service import keys
from starter.service.keys import KeyCreated, KeyOut

router = APIRouter(prefix="/v1/keys", tags=["keys"])


@router.post("", response_model=KeyCreated, status_code=201)
async def create(body: KeyIn, backend: BackendDep, caller: Admin) -> KeyCreated:
    """Create a key; store the secret now, it cannot be shown again."""
    return await keys.create(backend, name=body.name, role=body.role, actor=caller.actor)


@router.get("", response_model=list[KeyOut])
async def list_keys(backend: BackendDep, caller: Admin) -> list[KeyOut]:
    """Every key, oldest first."""
    return await keys.list_keys(backend)


@router.delete("/{key_id}", response_model=KeyOut)
async def revoke(key_id: str, backend: BackendDep, caller: Admin) -> KeyOut:
    """Revoke a key at once (it stays listed, marked revoked); 409 for the key making the request."""
    return await keys.revoke(backend, key_id, actor=caller.actor, own_key_id=caller.key_id)
