"""Unclear sends: touches a crash left without an answer on whether they went out. They are
never sent twice; an operator checks the mailbox or the provider and records what happened."""

from __future__ import annotations

from fastapi import Request, Response

from starter.console.pages import ConsoleError, backend_of, console_router, redirect, render
from starter.console.session import Action, Viewer
from starter.errors import CadenceError
from starter.service import overviews
from starter.service import touches as touch_service

router = console_router()
SETTLED = {"sent": "Recorded as sent.", "not_sent": "Recorded as never sent."}


async def touches_page(request: Request, *, status: int = 200, error: str | None = None, notice: str | None = None) -> Response:
    """Render the list of unclear touches."""
    data = await overviews.unclear_touches(backend_of(request))
    return render(request, "touches.html", status=status, section="touches", error=error, notice=notice, **data)


@router.get("/touches")
async def unclear(request: Request, user: Viewer, done: str | None = None) -> Response:
    """Unclear touches, oldest first."""
    return await touches_page(request, notice=SETTLED.get(done or ""))


@router.post("/touches/{touch_id}/resolve")
async def resolve(request: Request, touch_id: str, form: Action) -> Response:
    """Record what the operator found: it arrived, or it never left."""
    outcome = form.fields.get("outcome", "")
    try:
        if outcome not in ("sent", "not_sent"):
            raise ConsoleError(422, "Choose whether it arrived or never left.")
        reason = form.text("reason", label="What you checked", required=True, max_length=500) or ""
        await touch_service.resolve_touch(backend_of(request), touch_id, outcome=outcome, reason=reason, actor=form.user.actor)  # type: ignore[arg-type]
    except (ConsoleError, CadenceError) as err:
        return await touches_page(request, status=err.status, error=err.message)
    return redirect(f"/console/touches?done={outcome}")
