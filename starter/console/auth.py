"""Signing in to the console with an API key, and signing out."""

from __future__ import annotations

import datetime as dt
import secrets

from fastapi import Request, Response

from starter.console.pages import (
    LOGIN_PATH,
    SECURITY_HEADERS,
    SESSION_COOKIE,
    ConsoleError,
    backend_of,
    console_router,
    read_form,
    redirect,
    render,
    settings_of,
)
from starter.console.session import (
    LOGIN_COOKIE,
    LOGIN_LIFETIME,
    Form,
    csrf_for,
    csrf_ok,
    new_session,
    seal,
    secure_cookies,
    set_session_cookie,
    unseal,
)
from starter.service import keys

router = console_router()
HOME = "/console/enrollments"


def _safe_next(value: str | None) -> str:
    """Only a console path may be the place to go after signing in (no open redirect)."""
    if value and value.startswith("/console") and not value.startswith("//") and "\\" not in value and "\n" not in value:
        return value
    return HOME


def _login_page(request: Request, *, next_url: str, status: int = 200, error: str | None = None, notice: str | None = None) -> Response:
    nonce = secrets.token_urlsafe(16)
    settings = settings_of(request)
    response = render(
        request, "login.html", status=status, next_url=next_url, login_csrf=csrf_for(settings, f"login:{nonce}"), error=error, notice=notice
    )
    stamp = int(dt.datetime.now(dt.UTC).timestamp())
    response.set_cookie(
        LOGIN_COOKIE,
        seal(settings, {"login": nonce, "t": stamp}),
        max_age=int(LOGIN_LIFETIME.total_seconds()),
        path=LOGIN_PATH,
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request),
    )
    return response


@router.get("/login")
async def login_form(request: Request, next: str | None = None, signed_out: bool = False) -> Response:
    """The sign-in page: paste an API key (any role) to use the console."""
    return _login_page(request, next_url=_safe_next(next), notice="You have signed out." if signed_out else None)


@router.post("/login")
async def login(request: Request) -> Response:
    """Check the sign-in form's token and the key; on success set the session cookie."""
    settings = settings_of(request)
    fields = await read_form(request, max_fields=10)
    nonce_claims = unseal(settings, request.cookies.get(LOGIN_COOKIE))
    fresh = (
        nonce_claims is not None
        and isinstance(nonce_claims.get("t"), int)
        and dt.datetime.now(dt.UTC).timestamp() - nonce_claims["t"] < LOGIN_LIFETIME.total_seconds()
    )
    if nonce_claims is None or not fresh or not csrf_ok(settings, f"login:{nonce_claims.get('login')}", fields.get("csrf")):
        raise ConsoleError(403, "The sign-in form expired or is missing its security token. Open the sign-in page again.", "Form refused")
    next_url = _safe_next(fields.get("next"))
    secret = fields.get("api_key", "").strip()
    if not secret:
        return _login_page(request, next_url=next_url, status=422, error="Enter your API key.")

    key = await keys.authenticate(backend_of(request), secret)
    if key is None:
        return _login_page(request, next_url=next_url, status=401, error="That API key is not valid, or it has been revoked.")
    response = redirect(next_url)
    set_session_cookie(response, new_session(settings, key, dt.datetime.now(dt.UTC)), secure_cookies(request))
    response.delete_cookie(LOGIN_COOKIE, path=LOGIN_PATH, httponly=True, samesite="strict")
    return response


@router.post("/logout")
async def logout(form: Form) -> Response:
    """Sign out: the session cookie is cleared."""
    response = redirect(f"{LOGIN_PATH}?signed_out=true")
    response.delete_cookie(SESSION_COOKIE, path="/console", httponly=True, samesite="strict")
    response.headers.update(SECURITY_HEADERS)
    return response
