"""Cadence pages: every cadence, and one cadence's steps (with their timing in words), its
versions and how many enrollments run on each version."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request, Response
from sqlmodel import Session, func, select

from cadence.definition import AnyStep, TaskStep
from cadence.waiting import describe_wait
from models.cadences import bundle_of, find_cadence, versions
from models.tables import Cadence, Enrollment
from starter.console.pages import console_router, db, render
from starter.console.session import Viewer
from starter.errors import NotFound

router = console_router()


def _counts(session: Session, cadence: Cadence) -> dict[Any, dict[str, int]]:
    """Enrollments per version: all of them and the open ones."""
    rows = session.exec(
        select(Enrollment.cadence_version_id, Enrollment.status, func.count())  # type: ignore[call-overload]
        .where(Enrollment.cadence_id == cadence.id).group_by(Enrollment.cadence_version_id, Enrollment.status)  # type: ignore[arg-type]
    ).all()
    out: dict[Any, dict[str, int]] = {}
    for version_id, status, n in rows:
        slot = out.setdefault(version_id, {"total": 0, "open": 0})
        slot["total"] += n
        slot["open"] += n if status in ("pending", "active", "paused") else 0
    return out


def _step(step: AnyStep) -> dict[str, Any]:
    what = step.task.title if isinstance(step, TaskStep) else None
    if what is None:
        what = ", ".join(step.template_names()) if hasattr(step, "template_names") else getattr(step, "event", None)
    repeat = None
    if step.repeat is not None:
        repeat = "repeats" + (f" {step.repeat.count} times" if step.repeat.count else "") + (f" until {step.repeat.until}" if step.repeat.until else "")
    return {"id": step.id, "name": step.name, "type": step.type, "when": describe_wait(step.wait), "what": what, "repeat": repeat}


@router.get("/cadences")
async def cadences(request: Request, user: Viewer) -> Response:
    """Every cadence with its latest version and how many enrollments it has."""

    def load(session: Session) -> list[dict[str, Any]]:
        out = []
        for cadence in session.exec(select(Cadence).order_by(Cadence.key)).all():
            counts = _counts(session, cadence)
            latest = versions(session, cadence)[:1]
            out.append({"cadence": cadence, "latest": latest[0] if latest else None, "steps": len(latest[0].definition.get("steps", [])) if latest else 0,
                        "total": sum(c["total"] for c in counts.values()), "open": sum(c["open"] for c in counts.values())})
        return out

    return render(request, "cadences.html", section="cadences", cadences=await db(request, load))


@router.get("/cadences/{cadence_ref}")
async def cadence(request: Request, user: Viewer, cadence_ref: str, version: Annotated[int | None, Query(ge=1)] = None) -> Response:
    """One cadence (by id or key): the steps of a version (the latest unless chosen), all versions, enrollments per version."""

    def load(session: Session) -> dict[str, Any]:
        found = find_cadence(session, cadence_ref)
        if found is None:
            raise NotFound(f"No cadence {cadence_ref!r}.")
        rows = versions(session, found)
        shown = next((v for v in rows if v.version == version), None) if version else (rows[0] if rows else None)
        if version and shown is None:
            raise NotFound(f"Cadence {found.key!r} has no version {version}.")
        definition = bundle_of(session, shown.id).definition if shown else None
        return {"cadence": found, "versions": rows, "counts": _counts(session, found), "shown": shown, "definition": definition,
                "steps": [_step(s) for s in definition.steps] if definition else []}

    return render(request, "cadence.html", section="cadences", **await db(request, load))
