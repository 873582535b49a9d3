"""Cadences: post a definition (a new version), list them, read one with its versions."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from starter.api.deps import Admin, BackendDep, Reader
from starter.errors import Invalid
from starter.service import cadences
from starter.service.cadences import CadenceOut

router = APIRouter(prefix="/v1/cadences", tags=["cadences"])


@router.post(
    "",
    response_model=CadenceOut,
    status_code=201,
    openapi_extra={
        "requestBody": {
            "content": {"application/yaml": {"schema": {"type": "string"}}, "application/json": {"schema": {"type": "object"}}},
            "required": True,
        }
    },
)
async def create(request: Request, backend: BackendDep, caller: Admin, response: Response) -> CadenceOut:
    """Store a cadence definition (YAML or JSON, templates inline or from the shipped folder).

    A changed definition becomes a new version (201); the same content again returns the
    existing version (200). Running enrollments keep the version they started with.
    """
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Invalid("the definition must be UTF-8 text", {"field": "(body)"}) from None
    out = await cadences.publish(backend, text, actor=caller.actor)
    response.status_code = 201 if out.created else 200
    return out


@router.get("", response_model=list[CadenceOut])
async def list_cadences(backend: BackendDep, caller: Reader) -> list[CadenceOut]:
    """Every cadence with its latest version."""
    return await cadences.list_cadences(backend)


@router.get("/{cadence_id}", response_model=CadenceOut)
async def read(cadence_id: str, backend: BackendDep, caller: Reader) -> CadenceOut:
    """A cadence by id or key, with all versions (newest first) and the latest definition."""
    return (await cadences.get_cadence(backend, cadence_id)).cadence
