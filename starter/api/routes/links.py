"""The contact's own pages: one-click unsubscribe (RFC 8058) and the preference centre.

Both are reached from signed links in our emails, need no login and set no cookies. Every
invalid token, whatever is wrong with it, gets the same 404 page. The unsubscribe POST
(from a mail client's one-click button or from our page) commits the suppression before it
answers, and never redirects; GET only shows a confirmation and changes nothing.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from cadence.tokens import Purpose, make_token, read_token
from core.settings import Settings
from models.tables import Contact
from starter.api.deps import BackendDep, DeliveryDep, SettingsDep
from starter.service import inbound
from starter.service.backend import Backend
from starter.service.inbound import CHANNELS, FREQUENCIES, TOPICS
from starter.web import templates

router = APIRouter(tags=["contact pages"], include_in_schema=True)


def _mask(address: str | None) -> str:
    if not address or "@" not in address:
        return "your address"
    local, domain = address.split("@", 1)
    return f"{local[0]}{'*' * max(len(local) - 1, 2)}@{domain}"


def _page(
    request: Request, name: str, settings: Settings, status: int = 200, headers: dict[str, str] | None = None, **context: Any
) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        name,
        {"company": settings.sender_company, "postal_address": settings.sender_postal_address, **context},
        status_code=status,
        headers=headers,
    )


async def _contact(backend: Backend, token: str, purpose: Purpose, settings: Settings) -> Contact | None:
    return await inbound.linked_contact(backend, read_token(token, purpose, settings.link_secret))


def invalid_link(request: Request, settings: Settings, headers: dict[str, str] | None = None) -> HTMLResponse:
    """The one 404 page for every invalid link in an email (signed or tracking)."""
    return _page(request, "invalid_link.html", settings, status=404, headers=headers)


def _preferences_url(contact: Contact, settings: Settings) -> str:
    return f"{settings.public_base_url.rstrip('/')}/p/{make_token(contact.id, 'preferences', settings.link_secret)}"


@router.get("/u/{token}", response_class=HTMLResponse, summary="Unsubscribe confirmation page")
async def unsubscribe_page(token: str, request: Request, backend: BackendDep, settings: SettingsDep) -> HTMLResponse:
    """Shows what unsubscribing does, with a button; changes nothing."""
    contact = await _contact(backend, token, "unsubscribe", settings)
    if contact is None:
        return invalid_link(request, settings)
    return _page(
        request, "unsubscribe.html", settings, address=_mask(contact.email), done=False, preferences_url=_preferences_url(contact, settings)
    )


@router.post("/u/{token}", response_class=HTMLResponse, summary="One-click unsubscribe (RFC 8058)")
async def unsubscribe(token: str, request: Request, backend: BackendDep, settings: SettingsDep, delivery: DeliveryDep) -> HTMLResponse:
    """Suppress email for the contact (committed before this answers) and end its open
    enrollments. Works without cookies or authentication; never redirects."""
    contact = await _contact(backend, token, "unsubscribe", settings)
    if contact is None:
        return invalid_link(request, settings)
    recorded = await inbound.unsubscribe(backend, contact.id)
    if delivery is not None:
        delivery.notify_recorded(recorded)
    return _page(
        request, "unsubscribe.html", settings, address=_mask(contact.email), done=True, preferences_url=_preferences_url(contact, settings)
    )


@router.get("/p/{token}", response_class=HTMLResponse, summary="Preference centre")
async def preferences_page(token: str, request: Request, backend: BackendDep, settings: SettingsDep) -> HTMLResponse:
    """The contact's channels, frequency and topics, as a form."""
    contact = await _contact(backend, token, "preferences", settings)
    if contact is None:
        return invalid_link(request, settings)
    return _preferences(request, settings, contact, saved=False)


@router.post("/p/{token}", response_class=HTMLResponse, summary="Save preferences")
async def save_preferences(token: str, request: Request, backend: BackendDep, settings: SettingsDep, delivery: DeliveryDep) -> HTMLResponse:
    """Save the contact's choices; "stop all" suppresses every channel and ends enrollments."""
    contact = await _contact(backend, token, "preferences", settings)
    if contact is None:
        return invalid_link(request, settings)
    form = await request.form()
    channels = [str(c) for c in form.getlist("channels") if c in dict(CHANNELS)]
    frequency = str(form.get("frequency") or "normal")
    frequency = frequency if frequency in dict(FREQUENCIES) else "normal"
    topics = {str(t) for t in form.getlist("topics") if t in dict(TOPICS)}
    recorded = await inbound.save_preferences(
        backend, contact.id, channels=channels, frequency=frequency, topics=topics, stop_all=form.get("stop_all") == "yes"
    )
    if recorded is not None and delivery is not None:
        delivery.notify_recorded(recorded)
    refreshed = await _contact(backend, token, "preferences", settings)
    return _preferences(request, settings, refreshed or contact, saved=True)


def _preferences(request: Request, settings: Settings, contact: Contact, *, saved: bool) -> HTMLResponse:
    prefs = contact.preferences or {}
    return _page(
        request,
        "preferences.html",
        settings,
        saved=saved,
        address=_mask(contact.email),
        channels=CHANNELS,
        frequencies=FREQUENCIES,
        topics=TOPICS,
        chosen_channels=prefs.get("channels") or [c for c, _ in CHANNELS],
        frequency=prefs.get("frequency", "normal"),
        topics_off=set(prefs.get("topics_opted_out") or []),
    )
