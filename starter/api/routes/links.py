"""The contact's own pages: one-click unsubscribe (RFC 8058) and the preference centre.

Both are reached from signed links in our emails, need no login and set no cookies. Every
invalid token, whatever is wrong with it, gets the same 404 page. The unsubscribe POST
(from a mail client's one-click button or from our page) commits the suppression before it
answers, and never redirects; GET only shows a confirmation and changes nothing.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlmodel import Session

from cadence.tokens import read_token
from core.db import transaction
from models import audit
from models.tables import Contact
from starter.api.deps import ClientDep, SettingsDep
from starter.inbound import record, side_effects
from starter.web import templates

router = APIRouter(tags=["contact pages"], include_in_schema=True)

CHANNELS = [("email", "Email"), ("sms", "Text messages (SMS)"), ("call", "Phone calls")]
FREQUENCIES = [("normal", "As planned"), ("reduced", "Less often (about half as many)"), ("minimal", "Rarely (at most one a fortnight)")]
TOPICS = [
    ("account", "About my account and service"),
    ("onboarding", "Getting started and setup help"),
    ("product_updates", "Product updates"),
    ("training", "Training and how-to tips"),
    ("events", "Webinars and events"),
    ("newsletter", "Newsletter"),
    ("renewal", "Renewal and billing"),
    ("sales", "Offers and sales conversations"),
    ("advocacy", "Reviews and references"),
]


def _mask(address: str | None) -> str:
    if not address or "@" not in address:
        return "your address"
    local, domain = address.split("@", 1)
    return f"{local[0]}{'*' * max(len(local) - 1, 2)}@{domain}"


def _page(request: Request, name: str, settings: Any, status: int = 200, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(
        request, name, {"company": settings.sender_company, "postal_address": settings.sender_postal_address, **context}, status_code=status
    )


def _contact(engine: Any, token: str, purpose: str, secret: str) -> Contact | None:
    contact_id = read_token(token, purpose, secret)  # type: ignore[arg-type]
    if contact_id is None:
        return None
    with transaction(engine) as session:
        contact = session.get(Contact, contact_id)
        return contact if contact is not None and contact.erased_at is None else None


def _invalid(request: Request, settings: Any) -> HTMLResponse:
    return _page(request, "invalid_link.html", settings, status=404)


@router.get("/u/{token}", response_class=HTMLResponse, summary="Unsubscribe confirmation page")
async def unsubscribe_page(token: str, request: Request, client: ClientDep, settings: SettingsDep) -> HTMLResponse:
    """Shows what unsubscribing does, with a button; changes nothing."""
    contact = await asyncio.to_thread(_contact, client.engine, token, "unsubscribe", settings.link_secret)
    if contact is None:
        return _invalid(request, settings)
    return _page(request, "unsubscribe.html", settings, address=_mask(contact.email), done=False, preferences_url=_preferences_url(contact, settings))


@router.post("/u/{token}", response_class=HTMLResponse, summary="One-click unsubscribe (RFC 8058)")
async def unsubscribe(token: str, request: Request, client: ClientDep, settings: SettingsDep) -> HTMLResponse:
    """Suppress email for the contact (committed before this answers) and end its open
    enrollments. Works without cookies or authentication; never redirects."""
    contact = await asyncio.to_thread(_contact, client.engine, token, "unsubscribe", settings.link_secret)
    if contact is None:
        return _invalid(request, settings)

    def store(session: Session) -> Any:
        person = session.get(Contact, contact.id)
        assert person is not None
        recorded = record(
            session, source="unsubscribe", event_id=f"{person.id}:{uuid.uuid4()}", type="opt_out",
            contact_ids=[person.id], payload={"channel": "email", "how": "list-unsubscribe"},
        )
        side_effects(session, [person], type="opt_out", channel="email", source="list-unsubscribe", reason="unsubscribe")
        return recorded

    recorded = await asyncio.to_thread(_with_session, client.engine, store)
    processor = getattr(request.app.state, "inbound", None)
    if processor is not None:
        processor.notify(recorded.id)
    return _page(request, "unsubscribe.html", settings, address=_mask(contact.email), done=True, preferences_url=_preferences_url(contact, settings))


@router.get("/p/{token}", response_class=HTMLResponse, summary="Preference centre")
async def preferences_page(token: str, request: Request, client: ClientDep, settings: SettingsDep) -> HTMLResponse:
    """The contact's channels, frequency and topics, as a form."""
    contact = await asyncio.to_thread(_contact, client.engine, token, "preferences", settings.link_secret)
    if contact is None:
        return _invalid(request, settings)
    return _preferences(request, settings, contact, saved=False)


@router.post("/p/{token}", response_class=HTMLResponse, summary="Save preferences")
async def save_preferences(token: str, request: Request, client: ClientDep, settings: SettingsDep) -> HTMLResponse:
    """Save the contact's choices; "stop all" suppresses every channel and ends enrollments."""
    contact = await asyncio.to_thread(_contact, client.engine, token, "preferences", settings.link_secret)
    if contact is None:
        return _invalid(request, settings)
    form = await request.form()
    channels = [c for c in form.getlist("channels") if c in dict(CHANNELS)]
    frequency = str(form.get("frequency") or "normal")
    frequency = frequency if frequency in dict(FREQUENCIES) else "normal"
    chosen_topics = {t for t in form.getlist("topics") if t in dict(TOPICS)}
    stop_all = form.get("stop_all") == "yes"

    def store(session: Session) -> Any:
        person = session.get(Contact, contact.id)
        assert person is not None
        person.preferences = {
            "channels": sorted(str(c) for c in channels) + ["linkedin"],
            "frequency": frequency,
            "topics_opted_out": sorted(t for t, _ in TOPICS if t not in chosen_topics),
        }
        session.add(person)
        audit.append(
            session, actor="contact", action="preferences_changed", contact_id=person.id, reason="preference centre",
            details={"channels": ",".join(sorted(str(c) for c in channels)), "frequency": frequency, "stop_all": stop_all},
        )
        if stop_all:
            recorded = record(
                session, source="preferences", event_id=f"{person.id}:{uuid.uuid4()}", type="opt_out",
                contact_ids=[person.id], payload={"how": "preference centre"},
            )
            side_effects(session, [person], type="opt_out", channel=None, source="preference-centre", reason="stop all")
            return recorded
        return None

    recorded = await asyncio.to_thread(_with_session, client.engine, store)
    processor = getattr(request.app.state, "inbound", None)
    if recorded is not None and processor is not None:
        processor.notify(recorded.id)
    refreshed = await asyncio.to_thread(_contact, client.engine, token, "preferences", settings.link_secret)
    return _preferences(request, settings, refreshed or contact, saved=True)


def _preferences(request: Request, settings: Any, contact: Contact, *, saved: bool) -> HTMLResponse:
    prefs = contact.preferences or {}
    return _page(
        request, "preferences.html", settings, saved=saved, address=_mask(contact.email), channels=CHANNELS, frequencies=FREQUENCIES,
        topics=TOPICS, chosen_channels=prefs.get("channels") or [c for c, _ in CHANNELS], frequency=prefs.get("frequency", "normal"),
        topics_off=set(prefs.get("topics_opted_out") or []),
    )


def _preferences_url(contact: Contact, settings: Any) -> str:
    from cadence.tokens import make_token

    return f"{settings.public_base_url.rstrip('/')}/p/{make_token(contact.id, 'preferences', settings.link_secret)}"


def _with_session(engine: Any, fn: Any) -> Any:
    with transaction(engine) as session:
        return fn(session)
