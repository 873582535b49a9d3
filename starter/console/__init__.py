"""The web console: server-rendered pages for CS leads, reps and auditors under /console.

Sign in with an API key (the session is a signed cookie, every form carries a CSRF token;
see `session`). Pages: enrollments (list and one enrollment with its timeline and
commands and the bulk bar), accounts, the task queue and the capacity forecast, unclear sends (to settle by hand),
cadences (draft, diff, publish, roll back, migrate), operations (previews and their
progress), and in dev mode the captured mail and texts.
Auditors and service keys read; cs_lead and admin keys also act. Commands go through the
same service layer as the API and record the key's name as the actor.
"""

from __future__ import annotations

from fastapi import Request, Response

from starter.console import accounts, auth, cadences, dev, enrollments, forecast, operations, previews, reports, tasks, touches
from starter.console.pages import ConsoleError, console_router, redirect
from starter.console.session import Viewer

router = console_router("/console")
for _module in (auth, enrollments, accounts, tasks, forecast, touches, cadences, operations, previews, reports, dev):
    router.include_router(_module.router)


@router.get("")
async def home() -> Response:
    """The console's front page is the enrollment list."""
    return redirect("/console/enrollments")


@router.api_route("/{path:path}", methods=["GET", "POST"])
async def not_found(request: Request, user: Viewer, path: str) -> Response:
    """Any other console address: a friendly 404 page."""
    if not path:
        return redirect("/console/enrollments")
    raise ConsoleError(404, "There is no console page at this address.")


__all__ = ["router"]
