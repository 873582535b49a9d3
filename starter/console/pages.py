"""What every console page shares: the route class that turns errors into friendly pages,
rendering with the console layout and security headers, and the app's backend.

A console route never answers with JSON or a bare 500: an unknown id is a 404 page, a bad
form value a 422 page, an illegal transition a 409 banner, a missing session a redirect to
the sign-in page.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartException

from core.settings import Settings
from starter.api.errors import BodyTooLarge
from starter.errors import CadenceError, Unavailable, outage, refusal
from starter.service.backend import Backend
from starter.web import HERE

log = logging.getLogger("cadence.console")
T = TypeVar("T")

templates = Jinja2Templates(directory=str(HERE / "templates"))

SESSION_COOKIE = "cadence_console"
LOGIN_PATH = "/console/login"
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'self'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
}
TITLES = {
    400: "Bad request",
    401: "Not signed in",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed here",
    409: "Not possible right now",
    413: "Too large",
    422: "Please check the form",
    503: "A service is unavailable",
}


class ConsoleError(Exception):
    """A problem the user caused or can fix, shown as a page with this status."""

    def __init__(self, status: int, message: str, title: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.title = title or TITLES.get(status, "Something went wrong")


class LoginRequired(Exception):
    """No valid session: the browser is sent to the sign-in page (and the cookie dropped)."""


def utc(value: dt.datetime | None) -> str:
    """A moment as people read it, in UTC."""
    if value is None:
        return "—"
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def local(value: dt.datetime | None, zone: str | None) -> str | None:
    """The same moment in a time zone (the contact's), or None if unknown."""
    if value is None or not zone:
        return None
    try:
        here = value.astimezone(ZoneInfo(zone))
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return f"{here:%Y-%m-%d %H:%M} {here.tzname() or ''} ({zone})".replace("  ", " ")


def duration(seconds: float | None) -> str:
    """A length of time in days, hours and minutes ("1 d 3 h 5 min")."""
    if seconds is None:
        return "—"
    minutes = int(seconds // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [f"{days} d" if days else "", f"{hours} h" if hours else "", f"{minutes} min" if minutes or not (days or hours) else ""]
    return " ".join(p for p in parts if p)


templates.env.filters["utc"] = utc
templates.env.filters["duration"] = duration
templates.env.globals["local_time"] = local


def settings_of(request: Request) -> Settings:
    """The app's settings."""
    settings: Settings = request.app.state.settings
    return settings


def backend_of(request: Request) -> Backend:
    """The app's backend: every page calls the service layer through it."""
    backend: Backend = request.app.state.backend
    return backend


def render(request: Request, name: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    """A console page: the layout gets the signed-in user, their CSRF token and the nav."""
    user = getattr(request.state, "console_user", None)
    response = templates.TemplateResponse(
        request,
        f"console/{name}",
        {"user": user, "csrf": getattr(user, "csrf", ""), "dev_mode": settings_of(request).dev_mode, **context},
        status_code=status,
    )
    response.headers.update(SECURITY_HEADERS)
    return response


def error_page(request: Request, status: int, message: str, title: str | None = None) -> HTMLResponse:
    """The friendly page for an error, with the right status."""
    return render(
        request,
        "error.html",
        status=status,
        title=title or TITLES.get(status, "Something went wrong"),
        message=message[:1].upper() + message[1:],
        status_code=status,
    )


async def read_form(request: Request, max_fields: int = 50) -> dict[str, str]:
    """The posted form's text fields; a malformed body is a 400 page."""
    try:
        form = await request.form(max_files=0, max_fields=max_fields)
    except (MultiPartException, ValueError):
        raise ConsoleError(400, "The form could not be read.") from None
    return {k: v for k, v in form.items() if isinstance(v, str)}


def redirect(url: str) -> RedirectResponse:
    """See other: after a form post, or to the sign-in page."""
    response = RedirectResponse(url, status_code=303)
    response.headers.update(SECURITY_HEADERS)
    return response


def login_redirect(request: Request) -> RedirectResponse:
    """To the sign-in page, coming back here afterwards (only for GET pages), dropping the cookie."""
    back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    target = LOGIN_PATH + (f"?next={quote(back, safe='')}" if request.method == "GET" and request.url.path != LOGIN_PATH else "")
    response = redirect(target)
    response.delete_cookie(SESSION_COOKIE, path="/console", httponly=True, samesite="strict")
    return response


def _validation_message(exc: RequestValidationError) -> str:
    problems = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err.get("loc", ()) if p not in ("query", "path", "body"))
        problems.append(f"{field or 'the request'}: {str(err.get('msg', 'invalid')).removeprefix('Value error, ')}")
    return "; ".join(problems) or "the request is not valid"


class ConsoleRoute(APIRoute):
    """An APIRoute whose errors become console pages instead of the API's JSON errors."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired:
                return login_redirect(request)
            except ConsoleError as exc:
                return error_page(request, exc.status, exc.message, exc.title)
            except Unavailable as exc:
                return _unavailable_page(request, exc)
            except CadenceError as exc:
                return error_page(request, exc.status, exc.message)
            except RequestValidationError as exc:
                return error_page(request, 422, _validation_message(exc))
            except StarletteHTTPException as exc:
                detail = exc.detail if isinstance(exc.detail, str) else "the request was refused"
                return error_page(request, exc.status_code, detail)
            except BodyTooLarge:
                raise  # the body-size middleware answers with its 413
            except Exception as exc:
                if (refused := refusal(exc)) is not None:
                    return error_page(request, refused.status, refused.message)
                if (unavailable := outage(exc)) is not None:
                    log.warning("console %s %s: %s", request.method, request.url.path, unavailable.message)
                    return _unavailable_page(request, unavailable)
                log.exception("console error on %s %s", request.method, request.url.path)
                return error_page(request, 500, "Something unexpected went wrong; it has been logged.", "Sorry, something went wrong")

        return run


def _unavailable_page(request: Request, exc: Unavailable) -> HTMLResponse:
    page = error_page(request, 503, f"{exc.message}. Nothing was changed.")
    page.headers["Retry-After"] = str(exc.retry_after)
    return page


def console_router(prefix: str = "") -> APIRouter:
    """A router for console pages: kept out of the OpenAPI schema, errors as pages."""
    return APIRouter(prefix=prefix, route_class=ConsoleRoute, include_in_schema=False)
