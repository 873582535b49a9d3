"""Cadences: post a definition (published at once), edit a draft and publish it, roll
back, compare versions, choose whether running enrollments follow what is published;
list them, read one with its versions."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from models.schemas import required_text
from starter.api.deps import Admin, BackendDep, Reader
from starter.errors import Invalid
from starter.service import cadences, publishing
from starter.service.cadences import CadenceOut
from starter.service.publishing import DiffOut, DraftOut, PublishOut, Side

router = APIRouter(prefix="/v1/cadences", tags=["cadences"])


DEFINITION_BODY: dict[str, Any] = {
    "requestBody": {
        "content": {"application/yaml": {"schema": {"type": "string"}}, "application/json": {"schema": {"type": "object"}}},
        "required": True,
    }
}


async def _text(request: Request) -> str:
    raw = await request.body()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Invalid("the definition must be UTF-8 text", {"field": "(body)"}) from None


@router.post("", response_model=CadenceOut, status_code=201, openapi_extra=DEFINITION_BODY)
async def create(request: Request, backend: BackendDep, caller: Admin, response: Response) -> CadenceOut:
    """Store a cadence definition (YAML or JSON, templates inline or from the shipped folder)
    and publish it: new enrollments get it.

    A changed definition becomes a new version (201); the same content again returns the
    existing version (200), published again. Running enrollments keep the version they
    run unless they are migrated (or the cadence follows published versions). To edit
    without publishing, use the draft.
    """
    text = await _text(request)
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


@router.get("/{cadence_id}/draft", response_model=DraftOut)
async def read_draft(cadence_id: str, backend: BackendDep, caller: Reader) -> DraftOut:
    """The cadence being edited, with what publishing it would change (404: no draft)."""
    return await publishing.get_draft(backend, cadence_id)


@router.put("/{cadence_id}/draft", response_model=DraftOut, openapi_extra=DEFINITION_BODY)
async def save_draft(cadence_id: str, request: Request, backend: BackendDep, caller: Admin) -> DraftOut:
    """Save the draft (validated: errors name the step and the field). Nothing runs from a
    draft. A new key creates the cadence, with nothing published yet."""
    return await publishing.save_draft(backend, cadence_id, await _text(request), actor=caller.actor)


@router.delete("/{cadence_id}/draft", status_code=204, response_class=Response)
async def discard_draft(cadence_id: str, backend: BackendDep, caller: Admin) -> Response:
    """Throw the draft away."""
    await publishing.discard_draft(backend, cadence_id, actor=caller.actor)
    return Response(status_code=204)


class PublishBody(BaseModel):
    """Publish the draft, or (with `version`) an earlier version again: a rollback."""

    model_config = ConfigDict(extra="forbid")
    version: int | None = Field(default=None, ge=1, description="Publish this version again (default: the draft)")
    reason: Annotated[str, required_text(1000)] | None = None


@router.post("/{cadence_id}/publish", response_model=PublishOut)
async def publish(cadence_id: str, backend: BackendDep, caller: Admin, body: PublishBody | None = None) -> PublishOut:
    """Make the draft (or a named version) what new enrollments get. Running enrollments
    stay where they are unless the cadence follows published versions (then a migration
    starts: `follow_operation_id`)."""
    body = body or PublishBody()
    return await publishing.publish(backend, cadence_id, actor=caller.actor, version=body.version, reason=body.reason)


@router.get("/{cadence_id}/diff", response_model=DiffOut)
async def diff(
    cadence_id: str,
    backend: BackendDep,
    caller: Reader,
    before: Annotated[str, Query(alias="from", pattern=r"^([1-9][0-9]{0,8}|draft|published)$")] = "published",
    after: Annotated[str, Query(alias="to", pattern=r"^([1-9][0-9]{0,8}|draft|published)$")] = "draft",
) -> DiffOut:
    """What changed between two versions (a number, `draft` or `published`): steps added,
    removed and moved, waits, templates, variants, message text, the cadence's settings."""
    return await publishing.compare(backend, cadence_id, _side(before), _side(after))


def _side(value: str) -> Side:
    return int(value) if value.isdigit() else value  # type: ignore[return-value]


class CadenceSettings(BaseModel):
    """Settings of the cadence itself."""

    model_config = ConfigDict(extra="forbid")
    follow_published: bool = Field(description="Running enrollments move to each newly published version")


@router.patch("/{cadence_id}", response_model=CadenceSettings)
async def settings(cadence_id: str, body: CadenceSettings, backend: BackendDep, caller: Admin) -> CadenceSettings:
    """Whether running enrollments follow each published version (with the migration rules)
    or stay on the version they run until migrated."""
    return CadenceSettings(follow_published=await publishing.set_follow(backend, cadence_id, body.follow_published, actor=caller.actor))
