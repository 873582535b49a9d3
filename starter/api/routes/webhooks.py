"""Webhooks: Twilio inbound texts and status callbacks, and inbound email (replies, bounces,
complaints, out-of-office). Each request is authenticated first (Twilio's signature, or an
HMAC of the body for email) and refused with 403 and nothing written when it is not. What
each message means is decided by `starter.service.inbound`; the event and any suppression
it implies are committed before the answer, delivery to the enrollments follows.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any, Literal, TypeVar
from xml.sax.saxutils import escape

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from twilio.request_validator import RequestValidator

from core.settings import Settings
from starter.api.deps import BackendDep, DeliveryDep, SettingsDep
from starter.errors import Invalid
from starter.service import inbound
from starter.service.inbound import SMS_ORDER, InboundEmail

router = APIRouter(prefix="/webhooks", tags=["webhooks"])
Form = TypeVar("Form", bound=BaseModel)


class SmsForm(BaseModel):
    """What Twilio posts for an inbound text (it adds more fields; they are ignored)."""

    model_config = ConfigDict(extra="ignore")
    MessageSid: str = Field(min_length=1, max_length=64)
    From: str = Field(min_length=1, max_length=40)
    To: str | None = Field(default=None, max_length=40)
    Body: str = Field(default="", max_length=1600)


class StatusForm(BaseModel):
    """What Twilio posts when a message's status changes."""

    model_config = ConfigDict(extra="ignore")
    MessageSid: str = Field(min_length=1, max_length=64)
    MessageStatus: Literal[tuple(sorted(SMS_ORDER))]  # type: ignore[valid-type]
    ErrorCode: str | None = Field(default=None, max_length=10)


def _form(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI request body of a Twilio webhook, from the model that reads it."""
    schema = model.model_json_schema()
    return {"requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": schema}}}}


def _read_form(model: type[Form], params: dict[str, str]) -> Form:
    """The webhook's form as `model` reads it: a missing or malformed field is a 422 naming it."""
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        raise Invalid(f"{field}: {err['msg']}", {"field": field}) from None


EMAIL_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/InboundEmail"}}}}}


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


TWIML: dict[int | str, dict[str, Any]] = {
    200: {"description": "TwiML: empty, or the HELP answer", "content": {"application/xml": {"schema": {"type": "string"}}}}
}


@router.post("/twilio/sms", summary="Twilio inbound SMS", openapi_extra=_form(SmsForm), response_class=Response, responses=TWIML)
async def twilio_sms(request: Request, backend: BackendDep, settings: SettingsDep, delivery: DeliveryDep) -> Response:
    """STOP (and variants) suppresses SMS and ends every open enrollment of the sender;
    START restores SMS consent; HELP gets a help reply; anything else is a reply."""
    form = _read_form(SmsForm, await _twilio_form(request, settings))
    received = await inbound.receive_sms(backend, sid=form.MessageSid, sender=form.From, to=form.To, body=form.Body)
    if delivery is not None:
        delivery.notify_recorded(received.recorded)
    if received.keyword == "help":
        return _twiml(
            f"{settings.sender_company}: you get texts about your account. Reply STOP to opt out. Help: {settings.mail_from_address}"
        )
    return _twiml()


@router.post(
    "/twilio/status",
    summary="Twilio message status callback",
    openapi_extra=_form(StatusForm),
    status_code=204,
    response_class=Response,
    responses={204: {"description": "Recorded"}},
)
async def twilio_status(request: Request, backend: BackendDep, settings: SettingsDep, delivery: DeliveryDep) -> Response:
    """Move the touch forward (queued, sent, delivered, undelivered, failed; never back);
    a permanent failure such as 21610 suppresses the number."""
    form = _read_form(StatusForm, await _twilio_form(request, settings))
    code = int(form.ErrorCode) if form.ErrorCode and form.ErrorCode.isdigit() else None
    follow_ups = await inbound.sms_status(backend, sid=form.MessageSid, status=form.MessageStatus, error_code=code)
    if delivery is not None:
        delivery.notify_all(follow_ups)
    return Response(status_code=204)


def _verify_email_signature(request_body: bytes, header: str | None, secret: str) -> None:
    expected = "sha256=" + hmac.new(secret.encode(), request_body, hashlib.sha256).hexdigest()
    if not header or not hmac.compare_digest(header.strip(), expected):
        raise HTTPException(403, "invalid or missing X-Cadence-Signature")


@router.post("/email", status_code=202, summary="Inbound email: replies, bounces, complaints, out-of-office", openapi_extra=EMAIL_BODY)
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
