"""Console sessions and CSRF tokens.

Signing in with an API key sets one cookie, `cadence_console`: `v1.<payload>.<signature>`,
where the payload (base64url JSON) holds the key's id (never its secret), role and name, the
issue time and a random session id, and the signature is HMAC-SHA256 under a key derived
from `settings.link_secret` with its own label. The cookie is HttpOnly, SameSite=Strict,
Path=/console and lives 12 hours; a forged, altered or expired cookie is ignored (the
browser goes to the sign-in page). Every request looks the key up again, so a revoked key
loses its sessions at once.

Every form carries a CSRF token, the HMAC of the session id under a second derived key. A
POST whose token is missing or wrong is refused with a 403 before anything else happens.
The sign-in form, which comes before any session, is protected the same way by a short-lived
signed nonce cookie (double submit).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from core.settings import Settings
from models.keys import Role
from models.tables import ApiKey
from starter.console.pages import SESSION_COOKIE, ConsoleError, LoginRequired, backend_of, read_form, settings_of
from starter.service import keys

LIFETIME = dt.timedelta(hours=12)
LOGIN_COOKIE = "cadence_console_login"
LOGIN_LIFETIME = dt.timedelta(hours=1)
ACTING_ROLES = (Role.cs_lead, Role.admin)


def _derive(settings: Settings, label: bytes) -> bytes:
    return hmac.new(settings.link_secret.encode(), label, hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def seal(settings: Settings, claims: dict[str, Any]) -> str:
    """A signed, URL-safe token holding `claims`."""
    body = "v1." + _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
    signature = hmac.new(_derive(settings, b"console-session"), body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(signature)}"


def unseal(settings: Settings, token: str | None) -> dict[str, Any] | None:
    """The claims of a token this app signed, or None (missing, malformed or forged)."""
    if not token or len(token) > 2000 or token.count(".") != 2:
        return None
    body, _, signature = token.rpartition(".")
    expected = hmac.new(_derive(settings, b"console-session"), body.encode(), hashlib.sha256).digest()
    try:
        if not body.startswith("v1.") or not hmac.compare_digest(_unb64(signature), expected):
            return None
        claims = json.loads(_unb64(body[3:]))
    except (ValueError, binascii.Error):
        return None
    return claims if isinstance(claims, dict) else None


def csrf_for(settings: Settings, session_id: str) -> str:
    """The CSRF token of a session (or of a sign-in nonce)."""
    return _b64(hmac.new(_derive(settings, b"console-csrf"), session_id.encode(), hashlib.sha256).digest())


def csrf_ok(settings: Settings, session_id: str, token: object) -> bool:
    """Whether a posted token is the session's."""
    return isinstance(token, str) and hmac.compare_digest(token.encode(), csrf_for(settings, session_id).encode())


@dataclass(frozen=True)
class ConsoleUser:
    """Who is signed in: the API key's id, name (the actor the audit trail records) and role."""

    key_id: str
    name: str
    role: Role
    session_id: str
    issued_at: dt.datetime
    csrf: str

    @property
    def actor(self) -> str:
        """The actor recorded for commands, the same string the API records for this key."""
        return self.name

    @property
    def can_act(self) -> bool:
        """cs_lead and admin may pause, resume, stop, skip and close tasks; others only read."""
        return self.role in ACTING_ROLES


def new_session(settings: Settings, key: ApiKey, now: dt.datetime) -> str:
    """The cookie value for a key that just signed in (a fresh session id every time)."""
    claims = {"k": str(key.id), "r": key.role, "n": key.name, "t": int(now.timestamp()), "s": secrets.token_urlsafe(16)}
    return seal(settings, claims)


def read_session(settings: Settings, token: str | None, now: dt.datetime) -> dict[str, Any] | None:
    """The claims of a valid, unexpired session cookie, or None."""
    claims = unseal(settings, token)
    if claims is None or not all(isinstance(claims.get(k), str) for k in ("k", "r", "n", "s")) or not isinstance(claims.get("t"), int):
        return None
    issued = dt.datetime.fromtimestamp(claims["t"], dt.UTC)
    if not (issued - dt.timedelta(minutes=5) <= now < issued + LIFETIME):
        return None
    return claims


def set_session_cookie(response: Any, value: str, secure: bool) -> None:
    """HttpOnly, SameSite=Strict, Path=/console, 12 hours."""
    response.set_cookie(
        SESSION_COOKIE, value, max_age=int(LIFETIME.total_seconds()), path="/console", httponly=True, samesite="strict", secure=secure
    )


def secure_cookies(request: Request) -> bool:
    """Mark cookies Secure when the console is served over HTTPS."""
    return request.url.scheme == "https" or settings_of(request).public_base_url.startswith("https://")


async def current_user(request: Request) -> ConsoleUser:
    """The signed-in user; a missing, forged, expired or revoked session means sign in again."""
    settings = settings_of(request)
    now = dt.datetime.now(dt.UTC)
    claims = read_session(settings, request.cookies.get(SESSION_COOKIE), now)
    if claims is None:
        raise LoginRequired
    row = await keys.live_key(backend_of(request), claims["k"], claims["r"])
    if row is None:
        raise LoginRequired
    user = ConsoleUser(
        key_id=str(row.id),
        name=row.name,
        role=Role(row.role),
        session_id=claims["s"],
        issued_at=dt.datetime.fromtimestamp(claims["t"], dt.UTC),
        csrf=csrf_for(settings, claims["s"]),
    )
    request.state.console_user = user
    return user


Viewer = Annotated[ConsoleUser, Depends(current_user)]


@dataclass(frozen=True)
class Posted:
    """A form posted by a signed-in user with a valid CSRF token."""

    user: ConsoleUser
    fields: dict[str, str]

    def text(self, name: str, *, label: str, required: bool = False, max_length: int = 1000) -> str | None:
        """A trimmed text field; a required one that is empty, or one too long, is a 422."""
        value = self.fields.get(name, "").strip()
        if required and not value:
            raise ConsoleError(422, f"{label} is required.")
        if len(value) > max_length:
            raise ConsoleError(422, f"{label} must be at most {max_length} characters.")
        return value or None


async def posted(request: Request, user: Viewer) -> Posted:
    """Read the form and check its CSRF token (403 if missing or wrong, nothing done)."""
    fields = await read_form(request)
    if not csrf_ok(settings_of(request), user.session_id, fields.get("csrf")):
        raise ConsoleError(
            403, "This form is missing its security token or the token is wrong. Reload the page and try again.", "Form refused"
        )
    return Posted(user, fields)


async def acting(form: Annotated[Posted, Depends(posted)]) -> Posted:
    """A posted form from a role that may act (cs_lead, admin); auditors and services get 403."""
    if not form.user.can_act:
        raise ConsoleError(
            403,
            f"The {form.user.role.value} role may only view; pausing, resuming, stopping, skipping and "
            "closing tasks need a cs_lead or admin key.",
        )
    return form


Form = Annotated[Posted, Depends(posted)]
Action = Annotated[Posted, Depends(acting)]
