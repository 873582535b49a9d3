"""Cadence pages: every cadence, and one cadence's steps (with their timing in words), its
versions and how many enrollments run on each version."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request, Response

from cadence.steps import AnyStep, TaskStep
from cadence.waiting import describe_wait
from starter.console.pages import backend_of, console_router, render
from starter.console.session import Viewer
from starter.service import cadences as cadence_service

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


@router.get("/cadences/{cadence_ref}")
async def cadence(request: Request, user: Viewer, cadence_ref: str, version: Annotated[int | None, Query(ge=1)] = None) -> Response:
    """One cadence (by id or key): the steps of a version (the latest unless chosen), all versions, enrollments per version."""
    view = await cadence_service.get_cadence(backend_of(request), cadence_ref, version=version)
    definition = view.parsed
    return render(
        request,
        "cadence.html",
        section="cadences",
        cadence=view.cadence,
        versions=view.cadence.versions or [],
        shown=view.shown,
        definition=definition,
        steps=[_step(s) for s in definition.steps] if definition else [],
    )
