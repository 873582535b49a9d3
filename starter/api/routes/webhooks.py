"""Webhooks: Twilio inbound texts and status callbacks, and inbound email (replies, bounces,
complaints, out-of-office). Each request is authenticated first (Twilio's signature, or an
HMAC of the body for email) and refused with 403 and nothing written when it is not. What
each message means is decided by `starter.service.inbound`; the event and any suppression
it implies are committed before the answer, delivery to the enrollments follows.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any
from xml.sax.saxutils import escape

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import ValidationError
from twilio.request_validator import RequestValidator

from core.settings import Settings
from starter.api.deps import BackendDep, DeliveryDep, SettingsDep
from starter.errors import Invalid
from starter.service import inbound
from starter.service.inbound import SMS_ORDER, InboundEmail

router = APIRouter(prefix="/webhooks", tags=["webhooks"])


def _twiml(message: str | None = None) -> Response:
    body = f"<Message>{escape(message)}</Message>" if message else ""
    return Response(f'<?xml version="1.0" encoding="UTF-8"?><Response>{body}</Response>', media_type="application/xml")


async def _twilio_form(request: Request, settings: Settings) -> dict[str, str]:
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
async def twilio_sms(request: Request, backend: BackendDep, settings: SettingsDep, delivery: DeliveryDep) -> Response:
    """STOP (and variants) suppresses SMS and ends every open enrollment of the sender;
    START restores SMS consent; HELP gets a help reply; anything else is a reply."""
    params = await _twilio_form(request, settings)
    sid, sender = params.get("MessageSid"), params.get("From")
    if not sid or not sender:
        raise HTTPException(400, "MessageSid and From are required")
    received = await inbound.receive_sms(backend, sid=sid, sender=sender, to=params.get("To"), body=params.get("Body", ""))
    if delivery is not None:
        delivery.notify_recorded(received.recorded)
    if received.keyword == "help":
        return _twiml(
            f"{settings.sender_company}: you get texts about your account. Reply STOP to opt out. Help: {settings.mail_from_address}"
        )
    return _twiml()


@router.post("/twilio/status", summary="Twilio message status callback")
async def twilio_status(request: Request, backend: BackendDep, settings: SettingsDep) -> Response:
    """Move the touch forward (queued, sent, delivered, undelivered, failed; never back);
    a permanent failure such as 21610 suppresses the number."""
    params = await _twilio_form(request, settings)
    sid, status = params.get("MessageSid"), (params.get("MessageStatus") or "").lower()
    if not sid or status not in SMS_ORDER:
        raise HTTPException(400, "MessageSid and a known MessageStatus are required")
    code = int(params["ErrorCode"]) if (params.get("ErrorCode") or "").isdigit() else None
    await inbound.sms_status(backend, sid=sid, status=status, error_code=code)
    return Response(status_code=204)


def _verify_email_signature(request_body: bytes, header: str | None, secret: str) -> None:
    expected = "sha256=" + hmac.new(secret.encode(), request_body, hashlib.sha256).hexdigest()
    if not header or not hmac.compare_digest(header.strip(), expected):
        raise HTTPException(403, "invalid or missing X-Cadence-Signature")


@router.post("/email", status_code=202, summary="Inbound email: replies, bounces, complaints, out-of-office")
async def inbound_email(request: Request, backend: BackendDep, settings: SettingsDep, delivery: DeliveryDep) -> dict[str, Any]:
    """Authenticate with `X-Cadence-Signature: sha256=<hex HMAC of the body>`. Replies are
    classified (positive, negative, neutral, out-of-office with a return date); a hard
    bounce or a complaint suppresses the address; an unknown sender is kept as unmatched."""
    raw = await request.body()
    _verify_email_signature(raw, request.headers.get("x-cadence-signature"), settings.inbound_email_secret)
    try:
        mail = InboundEmail.model_validate_json(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        raise Invalid(f"{field}: {err['msg']}", {"field": field}) from None
    recorded = await inbound.receive_email(backend, mail)
    if delivery is not None:
        delivery.notify_recorded(recorded)
    return {"event": str(recorded.id), "status": recorded.status, "duplicate": not recorded.created, "contacts": recorded.contact_ids}
