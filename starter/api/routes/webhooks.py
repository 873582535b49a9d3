"""Webhooks: Twilio inbound texts and status callbacks, and inbound email (replies, bounces,
complaints, out-of-office). Each request is authenticated first (Twilio's signature, or an
HMAC of the body for email) and refused with 403 and nothing written when it is not.
The event and any suppression it implies are committed before the answer; delivery to the
enrollments follows in the background and is retried until it succeeds.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
from typing import Any, Literal
from xml.sax.saxutils import escape

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlmodel import Session, select
from twilio.request_validator import RequestValidator

from cadence.intent import classify_reply
from cadence.keywords import classify_sms
from core.db import transaction
from models import audit
from models.tables import Contact, Suppression, Touch
from starter.api.deps import ClientDep, SettingsDep
from starter.errors import Invalid
from starter.inbound import Recorded, contacts_by_email, contacts_by_phone, record, side_effects

router = APIRouter(prefix="/webhooks", tags=["webhooks"])

# Delivery states in the order Twilio reports them; a later report never moves a touch back.
SMS_ORDER = {"accepted": 0, "scheduled": 0, "queued": 1, "sending": 2, "sent": 3, "delivered": 4, "read": 5, "undelivered": 4, "failed": 4, "canceled": 4}
# Callback error codes that mean the number should not be texted again.
SMS_PERMANENT = {21610: "stop", 21211: "invalid", 21614: "invalid", 30005: "invalid", 30006: "invalid", 30003: None}


def _twiml(message: str | None = None) -> Response:
    body = f"<Message>{escape(message)}</Message>" if message else ""
    return Response(f'<?xml version="1.0" encoding="UTF-8"?><Response>{body}</Response>', media_type="application/xml")


async def _twilio_form(request: Request, settings: Any) -> dict[str, str]:
    """The form parameters of a request proven to come from Twilio (403 otherwise)."""
    signature = request.headers.get("x-twilio-signature")
    if not signature or not settings.twilio_auth_token:
        raise HTTPException(403, "missing or unverifiable Twilio signature")
    try:
        form = await request.form()
    except Exception:
        raise HTTPException(400, "the body is not a form") from None
    params = {key: str(value) for key, value in form.multi_items()}
    url = settings.public_base_url.rstrip("/") + request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if not RequestValidator(settings.twilio_auth_token).validate(url, params, signature):
        raise HTTPException(403, "invalid Twilio signature")
    return params


@router.post("/twilio/sms", summary="Twilio inbound SMS")
async def twilio_sms(request: Request, client: ClientDep, settings: SettingsDep) -> Response:
    """STOP (and variants) suppresses SMS and ends every open enrollment of the sender;
    START restores SMS consent; HELP gets a help reply; anything else is a reply."""
    params = await _twilio_form(request, settings)
    sid, sender, body = params.get("MessageSid"), params.get("From"), params.get("Body", "")
    if not sid or not sender:
        raise HTTPException(400, "MessageSid and From are required")
    kind = classify_sms(body)
    today = dt.datetime.now(dt.UTC).date()

    def store(session: Session) -> Recorded:
        contacts = contacts_by_phone(session, sender)
        payload: dict[str, Any]
        if kind == "stop":
            event_type, payload = "opt_out", {"channel": "sms"}
        elif kind == "start":
            event_type, payload = "consent_restored", {"channel": "sms"}
        elif kind == "help":
            event_type, payload = "help", {}
        else:
            reply = classify_reply(text=body, today=today)
            event_type = "opt_out" if reply.unsubscribe else "reply"
            payload = {"channel": "sms", "intent": reply.intent, "return_date": reply.return_date.isoformat() if reply.return_date else None}
        recorded = record(
            session, source="twilio", event_id=sid, type=event_type, contact_ids=[c.id for c in contacts],
            payload={**payload, "from": sender, "to": params.get("To"), "body": body, "keyword": kind},
            deliver=event_type in ("opt_out", "reply"),
        )
        if recorded.created:
            if event_type == "opt_out":
                side_effects(session, contacts, type="opt_out", channel="sms", source="twilio", reason="stop" if kind == "stop" else "reply asked to stop")
            elif event_type == "consent_restored":
                _restore_sms_consent(session, contacts)
        return recorded

    recorded = await asyncio.to_thread(_in_transaction, client.engine, store)
    _notify(request, recorded)
    if kind == "help":
        return _twiml(f"{settings.sender_company}: you get texts about your account. Reply STOP to opt out. Help: {settings.mail_from_address}")
    return _twiml()


def _restore_sms_consent(session: Session, contacts: list[Contact]) -> None:
    now = dt.datetime.now(dt.UTC)
    for contact in contacts:
        for row in session.exec(
            select(Suppression).where(Suppression.contact_id == contact.id, Suppression.channel == "sms", Suppression.lifted_at.is_(None))  # type: ignore[union-attr]
        ).all():
            row.lifted_at = now
            session.add(row)
        contact.consent = {**contact.consent, "sms": {"granted": True, "at": now.isoformat(), "source": "START keyword"}}
        session.add(contact)
        audit.append(session, actor="contact", action="consent_restored", contact_id=contact.id, reason="replied START", details={"channel": "sms"})


@router.post("/twilio/status", summary="Twilio message status callback")
async def twilio_status(request: Request, client: ClientDep, settings: SettingsDep) -> Response:
    """Move the touch forward (queued, sent, delivered, undelivered, failed; never back);
    a permanent failure such as 21610 suppresses the number."""
    params = await _twilio_form(request, settings)
    sid, status = params.get("MessageSid"), (params.get("MessageStatus") or "").lower()
    if not sid or status not in SMS_ORDER:
        raise HTTPException(400, "MessageSid and a known MessageStatus are required")
    code = int(params["ErrorCode"]) if (params.get("ErrorCode") or "").isdigit() else None

    def store(session: Session) -> None:
        touch = session.exec(select(Touch).where(Touch.provider_id == sid).with_for_update()).first()
        recorded = record(
            session, source="twilio-status", event_id=f"{sid}:{status}", type="sms_status",
            contact_ids=[touch.contact_id] if touch else [], payload={"status": status, "error_code": code}, deliver=False,
        )
        if touch is None or not recorded.created:
            return
        # Our own "sent" means Twilio accepted the message, which ranks as its "queued".
        current = SMS_ORDER["queued"] if touch.status == "sent" else SMS_ORDER.get(touch.status, 0)
        if SMS_ORDER[status] > current:
            touch.status = status
            touch.status_at = dt.datetime.now(dt.UTC)
            if code:
                touch.error_code = f"twilio_{code}"
            session.add(touch)
        reason = SMS_PERMANENT.get(code) if code else None
        contact = session.get(Contact, touch.contact_id)
        if reason and contact is not None:
            side_effects(session, [contact], type="opt_out", channel="sms", source="twilio-status", reason=reason)

    await asyncio.to_thread(_in_transaction, client.engine, store)
    return Response(status_code=204)


class Bounce(BaseModel):
    """Bounce details from the email provider."""

    model_config = ConfigDict(extra="ignore")
    type: Literal["hard", "soft"] = "hard"
    code: str | None = Field(default=None, max_length=50)


class InboundEmail(BaseModel):
    """A provider-neutral inbound email event."""

    model_config = ConfigDict(extra="ignore")
    id: str = Field(min_length=1, max_length=300, description="The provider's id for this event; repeats are processed once")
    type: Literal["reply", "bounce", "complaint", "auto_reply"] = "reply"
    from_: str = Field(alias="from", min_length=3, max_length=320)
    to: str | None = Field(default=None, max_length=320)
    subject: str | None = Field(default=None, max_length=2000)
    text: str = Field(default="", max_length=200_000)
    headers: dict[str, str] = Field(default_factory=dict)
    in_reply_to: str | None = Field(default=None, max_length=1000)
    references: list[str] = Field(default_factory=list, max_length=100)
    bounce: Bounce | None = None
    return_date: dt.date | None = None


def _verify_email_signature(request_body: bytes, header: str | None, secret: str) -> None:
    expected = "sha256=" + hmac.new(secret.encode(), request_body, hashlib.sha256).hexdigest()
    if not header or not hmac.compare_digest(header.strip(), expected):
        raise HTTPException(403, "invalid or missing X-Cadence-Signature")


@router.post("/email", status_code=202, summary="Inbound email: replies, bounces, complaints, out-of-office")
async def inbound_email(request: Request, client: ClientDep, settings: SettingsDep) -> dict[str, Any]:
    """Authenticate with `X-Cadence-Signature: sha256=<hex HMAC of the body>`. Replies are
    classified (positive, negative, neutral, out-of-office with a return date); a hard
    bounce or a complaint suppresses the address; an unknown sender is kept as unmatched."""
    raw = await request.body()
    _verify_email_signature(raw, request.headers.get("x-cadence-signature"), settings.inbound_email_secret)
    try:
        mail = InboundEmail.model_validate_json(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise Invalid(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}", {"field": ".".join(str(p) for p in err["loc"])}) from None
    today = dt.datetime.now(dt.UTC).date()
    reply = classify_reply(text=mail.text, subject=mail.subject, headers=mail.headers, today=today)

    def store(session: Session) -> Recorded:
        contacts = _email_contacts(session, mail)
        payload: dict[str, Any] = {"channel": "email", "from": mail.from_, "subject": mail.subject, "message": mail.id}
        if mail.type == "bounce":
            hard = mail.bounce is None or mail.bounce.type == "hard"
            event_type = "bounce" if hard else "soft_bounce"
            payload["bounce"] = mail.bounce.model_dump() if mail.bounce else {"type": "hard"}
        elif mail.type == "complaint":
            event_type = "complaint"
        elif reply.unsubscribe:
            event_type = "opt_out"
        else:
            event_type = "reply"
            intent = "out_of_office" if mail.type == "auto_reply" else reply.intent
            back = mail.return_date or reply.return_date
            payload.update(intent=intent, return_date=back.isoformat() if back else None, text=mail.text[:5000])
        recorded = record(
            session, source="email", event_id=mail.id, type="opt_out" if event_type == "complaint" else event_type,
            contact_ids=[c.id for c in contacts], payload={**payload, "kind": event_type}, deliver=event_type != "soft_bounce",
        )
        if recorded.created and event_type in ("bounce", "complaint", "opt_out"):
            side_effects(
                session, contacts, type=event_type, channel="email", source="email",
                reason={"bounce": "bounce", "complaint": "complaint", "opt_out": "reply asked to unsubscribe"}[event_type],
            )
        return recorded

    recorded = await asyncio.to_thread(_in_transaction, client.engine, store)
    _notify(request, recorded)
    return {"event": str(recorded.id), "status": recorded.status, "duplicate": not recorded.created, "contacts": recorded.contact_ids}


def _email_contacts(session: Session, mail: InboundEmail) -> list[Contact]:
    """The contact a reply answers: by the Message-ID it replies to, else by its sender."""
    for message_id in [mail.in_reply_to, *reversed(mail.references)]:
        if not message_id:
            continue
        touch = session.exec(select(Touch).where(Touch.provider_id == message_id.strip())).first()
        if touch is not None:
            contact = session.get(Contact, touch.contact_id)
            if contact is not None:
                return [contact]
    address = mail.from_.rsplit("<", 1)[-1].rstrip(">").strip()
    return contacts_by_email(session, address)


def _in_transaction(engine: Any, fn: Any) -> Any:
    with transaction(engine) as session:
        return fn(session)


def _notify(request: Request, recorded: Recorded) -> None:
    processor = getattr(request.app.state, "inbound", None)
    if processor is not None and recorded.created and recorded.status == "received":
        processor.notify(recorded.id)

