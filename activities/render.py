"""Rendering a message for one contact: the context, the template, the compliance footer.

Every email gets the sender's postal address and working unsubscribe and preference links
appended here, whatever its template says, so no cadence author can forget them. Bodies are
rendered inside the send activity and never enter workflow history.
"""

from __future__ import annotations

import datetime as dt
import html
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from cadence.definition import TemplateSource
from cadence.templates import render
from cadence.tokens import make_token
from cadence.tracking import add_pixel, make_track_token, rewrite_links
from core.settings import Settings
from models.tables import Account, Contact, Owner


@dataclass(frozen=True)
class Rendered:
    """A rendered message: subject/html/text for email, body for SMS."""

    subject: str | None = None
    html: str | None = None
    text: str | None = None
    body: str | None = None


def links(settings: Settings, contact: Contact) -> dict[str, str]:
    """Signed per-contact links for unsubscribe and preferences."""
    base = settings.public_base_url.rstrip("/")
    unsubscribe = make_token(contact.id, "unsubscribe", settings.link_secret)
    preferences = make_token(contact.id, "preferences", settings.link_secret)
    return {"unsubscribe_url": f"{base}/u/{unsubscribe}", "preferences_url": f"{base}/p/{preferences}"}


def context(
    settings: Settings,
    *,
    contact: Contact,
    account: Account | None,
    owner: Owner | None,
    cadence_key: str,
    cadence_name: str,
    step_id: str,
    occurrence: int,
    round_: int,
) -> dict[str, Any]:
    """The render context: the names templates may use (see cadence.templates.CONTEXT_ROOTS)."""
    full_name = " ".join(p for p in (contact.first_name, contact.last_name) if p) or None
    sender_name = owner.name if owner else settings.mail_from_name
    dates: dict[str, Any] = {}
    for source in (account.dates if account else {}, contact.dates):
        dates.update(source)
    return {
        "contact": {
            "first_name": contact.first_name,
            "last_name": contact.last_name,
            "full_name": full_name,
            "email": contact.email,
            "phone": contact.phone,
            "title": contact.title,
            "company": account.name if account else None,
            "persona": contact.persona,
            "tier": contact.tier,
            "industry": contact.industry,
            "timezone": contact.timezone,
            "fields": dict(contact.fields),
        },
        "account": {
            "name": account.name if account else None,
            "domain": account.domain if account else None,
            "tier": account.tier if account else None,
            "industry": account.industry if account else None,
            "fields": dict(account.fields) if account else {},
        },
        "owner": {
            "name": owner.name if owner else settings.mail_from_name,
            "first_name": (owner.name.split()[0] if owner and owner.name else settings.mail_from_name),
            "email": owner.email if owner else settings.mail_from_address,
            "title": owner.title if owner else None,
            "phone": owner.phone if owner else None,
        },
        "sender": {
            "name": sender_name,
            "email": settings.mail_from_address,
            "company": settings.sender_company,
            "postal_address": settings.sender_postal_address,
        },
        "links": {**links(settings, contact), "meeting_url": meeting_url(settings, owner)},
        "step": {"id": step_id, "occurrence": occurrence + 1, "round": round_ + 1},
        "cadence": {"key": cadence_key, "name": cadence_name},
        "dates": _parse_dates(dates),
    }


def meeting_url(settings: Settings, owner: Owner | None) -> str:
    """Where "pick a time" leads: the owner's booking page, else the company's, else an
    email to the owner (a link that always works, in every mail client)."""
    if owner is not None and owner.meeting_url:
        return owner.meeting_url
    if settings.meeting_url:
        return settings.meeting_url
    address = owner.email if owner is not None and owner.email else settings.mail_from_address
    return f"mailto:{address}?subject={quote('Finding a time to talk')}"


def _parse_dates(raw: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in raw.items():
        try:
            out[name] = dt.date.fromisoformat(str(value))
        except ValueError:
            out[name] = value
    return out


def render_email(template: TemplateSource, ctx: dict[str, Any], settings: Settings) -> Rendered:
    """Subject, HTML and text, with the compliance footer on both bodies."""
    parts = render(template, ctx)
    link = ctx["links"]
    company, address = settings.sender_company, settings.sender_postal_address
    text_footer = f"\n--\n{company}, {address}\nUnsubscribe: {link['unsubscribe_url']}\nEmail preferences: {link['preferences_url']}\n"
    html_footer = (
        '<hr style="border:none;border-top:1px solid #ddd;margin:24px 0 8px">'
        '<p style="font-size:12px;color:#666;line-height:1.4">'
        f"{html.escape(company)}, {html.escape(address)}<br>"
        f'<a href="{html.escape(link["unsubscribe_url"])}">Unsubscribe</a> · '
        f'<a href="{html.escape(link["preferences_url"])}">Email preferences</a></p>'
    )
    body_html = parts["html"]
    closing = body_html.lower().rfind("</body>")
    body_html = body_html[:closing] + html_footer + body_html[closing:] if closing >= 0 else body_html + html_footer
    return Rendered(subject=parts["subject"], html=body_html, text=parts["text"] + text_footer)


def tracked(
    rendered: Rendered, touch_id: uuid.UUID, settings: Settings, ctx: dict[str, Any], *, regulated: bool, today: dt.date
) -> Rendered:
    """The email with its links rewritten to signed click redirects and an open pixel
    (see `cadence.tracking`), as the settings say: clicks when `TRACK_CLICKS`, the pixel when
    `TRACK_OPENS`, and for contacts in regulated industries only with `TRACK_OPENS_REGULATED`
    as well (off by default). The unsubscribe and preference links are never rewritten."""
    assert rendered.html is not None
    base = f"{settings.public_base_url.rstrip('/')}/t"
    body = rendered.html
    if settings.track_clicks:
        keep = (ctx["links"]["unsubscribe_url"], ctx["links"]["preferences_url"])

        def click(url: str) -> str:
            return f"{base}/c/{make_track_token(touch_id, 'click', settings.link_secret, url=url, issued=today)}"

        body = rewrite_links(body, click, never=keep)
    if settings.track_opens and (settings.track_opens_regulated or not regulated):
        body = add_pixel(body, f"{base}/o/{make_track_token(touch_id, 'open', settings.link_secret, issued=today)}.gif")
    return Rendered(subject=rendered.subject, html=body, text=rendered.text)


def render_sms(template: TemplateSource, ctx: dict[str, Any], *, first_text: bool) -> Rendered:
    """The SMS body; the first text to a number says how to opt out (CTIA)."""
    body = render(template, ctx)["body"].strip()
    if first_text and "stop" not in body.lower():
        body += " Reply STOP to opt out."
    return Rendered(body=body)
