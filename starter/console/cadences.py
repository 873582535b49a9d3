"""Cadence pages: every cadence, and one cadence's steps (with their timing in words), its
versions (which one is published) and how many enrollments run on each, its draft with
what publishing it would change, and (for admins) the forms that edit, publish, roll back
and migrate it (`starter.console.operations` answers them)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request, Response

from cadence.steps import AnyStep, TaskStep
from cadence.waiting import describe_wait
from models.keys import Role
from starter.console.pages import backend_of, console_router, render
from starter.console.previews import may_enroll
from starter.console.session import Viewer
from starter.errors import NotFound
from starter.service import cadences as cadence_service
from starter.service import publishing

router = console_router()


def _step(step: AnyStep) -> dict[str, Any]:
    what = step.task.title if isinstance(step, TaskStep) else None
    if what is None:
        what = ", ".join(step.template_names()) if hasattr(step, "template_names") else getattr(step, "event", None)
    repeat = None
    if step.repeat is not None:
        repeat = (
            "repeats"
            + (f" {step.repeat.count} times" if step.repeat.count else "")
            + (f" until {step.repeat.until}" if step.repeat.until else "")
        )
    return {"id": step.id, "name": step.name, "type": step.type, "when": describe_wait(step.wait), "what": what, "repeat": repeat}


@router.get("/cadences")
async def cadences(request: Request, user: Viewer) -> Response:
    """Every cadence with its latest version and how many enrollments it has."""
    return render(request, "cadences.html", section="cadences", cadences=await cadence_service.list_cadences(backend_of(request)))


DONE = {
    "draft": "Draft saved. Nothing runs from it until it is published.",
    "discarded": "Draft discarded.",
    "published": "Published: new enrollments get this version. Running ones stay where they are unless migrated.",
    "following": "Running enrollments now follow each published version.",
    "pinned": "Running enrollments now stay on the version they run until migrated.",
}


@router.get("/cadences/{cadence_ref}")
async def cadence(
    request: Request,
    user: Viewer,
    cadence_ref: str,
    version: Annotated[int | None, Query(ge=1)] = None,
    done: Annotated[str | None, Query(max_length=20)] = None,
    before: Annotated[str | None, Query(alias="from", pattern=r"^([1-9][0-9]{0,8}|draft|published)$")] = None,
    after: Annotated[str | None, Query(alias="to", pattern=r"^([1-9][0-9]{0,8}|draft|published)$")] = None,
) -> Response:
    """One cadence (by id or key): the steps of a version (the published one unless chosen),
    all versions with their enrollments, the draft and its diff, and a diff between any two."""
    backend = backend_of(request)
    view = await cadence_service.get_cadence(backend, cadence_ref, version=version)
    definition = view.parsed
    draft = None
    if view.cadence.draft is not None:
        draft = await publishing.get_draft(backend, view.cadence.key)
    comparison = None
    if before or after:
        comparison = await publishing.compare(backend, view.cadence.key, _side(before or "published"), _side(after or "draft"))
    source = None
    if user.role == Role.admin:
        source = await _source(backend, view.cadence.key, view.shown.version if view.shown else None)
    return render(
        request,
        "cadence.html",
        section="cadences",
        notice=DONE.get(done or ""),
        cadence=view.cadence,
        versions=view.cadence.versions or [],
        shown=view.shown,
        definition=definition,
        steps=[_step(s) for s in definition.steps] if definition else [],
        draft=draft,
        comparison=comparison,
        source=source,
        is_admin=user.role == Role.admin,
        may_enroll=may_enroll(user),
    )


def _side(value: str) -> publishing.Side:
    return int(value) if value.isdigit() else value  # type: ignore[return-value]


async def _source(backend: Any, key: str, version: int | None) -> str:
    """What the edit box starts with: the draft's text, else the shown version's."""
    try:
        return (await publishing.source(backend, key, version)) or ""
    except NotFound:
        return ""
