"""Dependencies shared by the routes: the backend, settings, and who is calling."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request
from sqlmodel import Session

from core.settings import Settings
from models.keys import Role, authenticate
from starter.service.backend import Backend
from starter.service.delivery import InboundProcessor


def get_backend(request: Request) -> Backend:
    """The backend the app was started with."""
    backend: Backend = request.app.state.backend
    return backend


def get_settings(request: Request) -> Settings:
    """The settings the app was started with."""
    settings: Settings = request.app.state.settings
    return settings


def get_delivery(request: Request) -> InboundProcessor | None:
    """The background delivery of recorded events (None outside a running app)."""
    processor: InboundProcessor | None = getattr(request.app.state, "inbound", None)
    return processor


BackendDep = Annotated[Backend, Depends(get_backend)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
DeliveryDep = Annotated[InboundProcessor | None, Depends(get_delivery)]


@dataclass(frozen=True)
class Caller:
    """Who is calling: the key's name (recorded as the actor) and its role."""

    name: str
    role: Role
    key_id: str | None = None

    @property
    def actor(self) -> str:
        """The actor recorded in the audit trail."""
        return self.name


def _secret(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.headers.get("x-api-key")


async def current_caller(request: Request) -> Caller:
    """Authenticate the API key (Authorization: Bearer or X-API-Key); 401 otherwise."""
    secret = _secret(request)
    if not secret:
        raise HTTPException(401, "an API key is required (Authorization: Bearer <key>)", headers={"WWW-Authenticate": "Bearer"})

    def lookup(session: Session) -> Caller | None:
        row = authenticate(session, secret)
        return Caller(row.name, Role(row.role), str(row.id)) if row else None

    caller = await get_backend(request).db(lookup)
    if caller is None:
        raise HTTPException(401, "the API key is not valid", headers={"WWW-Authenticate": "Bearer"})
    return caller


def allow(*roles: Role) -> Callable[..., object]:
    """A dependency that admits these roles (and admin) and refuses others with a 403."""

    async def check(caller: Annotated[Caller, Depends(current_caller)]) -> Caller:
        if caller.role != Role.admin and caller.role not in roles:
            allowed = ", ".join(sorted({r.value for r in roles} | {"admin"}))
            raise HTTPException(403, f"the {caller.role.value} role may not do this (allowed: {allowed})")
        return caller

    return check


ANY_ROLE = (Role.service, Role.cs_lead, Role.auditor)
Reader = Annotated[Caller, Depends(allow(*ANY_ROLE))]
Service = Annotated[Caller, Depends(allow(Role.service))]
Operator = Annotated[Caller, Depends(allow(Role.cs_lead))]
Admin = Annotated[Caller, Depends(allow())]
Auditor = Annotated[Caller, Depends(allow(Role.auditor, Role.cs_lead))]


# Paging: an offset past ten million rows is a mistake, not a page (and past 2**63 a
# database error).
Offset = Annotated[int, Query(ge=0, le=10_000_000, description="Rows to skip")]
