"""Cadences: post a definition (a new version), list them, read one with its versions."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel
from sqlmodel import func, select

from cadence.definition import DefinitionError
from core.db import transaction
from models.cadences import find_cadence, save_bundle, versions
from models.catalog import TEMPLATES_DIR, folder_lookup, parse_text
from models.tables import Cadence, CadenceVersion, Enrollment
from starter.api.deps import Admin, EngineDep, Reader
from starter.errors import Invalid, NotFound

router = APIRouter(prefix="/v1/cadences", tags=["cadences"])


class VersionOut(BaseModel):
    """One immutable version of a cadence."""

    id: str
    version: int
    content_hash: str
    created_by: str
    created_at: dt.datetime
    steps: int
    enrollments: int


class CadenceOut(BaseModel):
    """A cadence with its latest version (and, when read singly, all versions)."""

    id: str
    key: str
    name: str
    latest_version: VersionOut | None
    versions: list[VersionOut] | None = None
    definition: dict[str, Any] | None = None
    created: bool | None = None


def _version_out(row: CadenceVersion, enrolled: int) -> VersionOut:
    return VersionOut(
        id=str(row.id), version=row.version, content_hash=row.content_hash, created_by=row.created_by,
        created_at=row.created_at, steps=len(row.definition.get("steps", [])), enrollments=enrolled,
    )


def _counts(session: Any, cadence: Cadence) -> dict[Any, int]:
    rows = session.exec(
        select(Enrollment.cadence_version_id, func.count()).where(Enrollment.cadence_id == cadence.id).group_by(Enrollment.cadence_version_id)  # type: ignore[arg-type]
    ).all()
    return dict(rows)


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
async def create(request: Request, engine: EngineDep, caller: Admin, response: Response) -> CadenceOut:
    """Store a cadence definition (YAML or JSON, templates inline or from the shipped folder).

    A changed definition becomes a new version (201); the same content again returns the
    existing version (200). Running enrollments keep the version they started with.
    """
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Invalid("the definition must be UTF-8 text", {"field": "(body)"}) from None
    if not text.strip():
        raise Invalid("the body is empty; send a cadence definition in YAML or JSON", {"field": "(body)"})
    try:
        bundle = parse_text(text, source="request body", lookup=folder_lookup(TEMPLATES_DIR))
    except DefinitionError as exc:
        raise Invalid(str(exc), {"problems": [p.model_dump() for p in exc.problems]}) from None

    def store() -> CadenceOut:
        with transaction(engine) as session:
            cadence, version, created = save_bundle(session, bundle, source=text, actor=caller.actor)
            counts = _counts(session, cadence)
            return CadenceOut(
                id=str(cadence.id), key=cadence.key, name=cadence.name,
                latest_version=_version_out(version, counts.get(version.id, 0)), created=created,
            )

    out = await asyncio.to_thread(store)
    response.status_code = 201 if out.created else 200
    return out


@router.get("", response_model=list[CadenceOut])
async def list_cadences(engine: EngineDep, caller: Reader) -> list[CadenceOut]:
    """Every cadence with its latest version."""

    def load() -> list[CadenceOut]:
        with transaction(engine) as session:
            out = []
            for cadence in session.exec(select(Cadence).order_by(Cadence.key)).all():
                counts = _counts(session, cadence)
                latest = versions(session, cadence)[:1]
                out.append(CadenceOut(
                    id=str(cadence.id), key=cadence.key, name=cadence.name,
                    latest_version=_version_out(latest[0], counts.get(latest[0].id, 0)) if latest else None,
                ))
            return out

    return await asyncio.to_thread(load)


@router.get("/{cadence_id}", response_model=CadenceOut)
async def read(cadence_id: str, engine: EngineDep, caller: Reader) -> CadenceOut:
    """A cadence by id or key, with all versions (newest first) and the latest definition."""

    def load() -> CadenceOut:
        with transaction(engine) as session:
            cadence = find_cadence(session, cadence_id)
            if cadence is None:
                raise NotFound(f"cadence {cadence_id!r} not found", {"field": "cadence_id"})
            counts = _counts(session, cadence)
            rows = versions(session, cadence)
            outs = [_version_out(v, counts.get(v.id, 0)) for v in rows]
            return CadenceOut(
                id=str(cadence.id), key=cadence.key, name=cadence.name, latest_version=outs[0] if outs else None,
                versions=outs, definition=rows[0].definition if rows else None,
            )

    return await asyncio.to_thread(load)
