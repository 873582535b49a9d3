"""What inbound messages mean: Twilio texts and delivery reports, inbound email (replies,
bounces, complaints, out-of-office), one-click unsubscribe and the preference centre.

The webhook routes authenticate and parse; these functions decide. STOP (and its variants)
suppresses SMS and ends every open enrollment of the sender; START restores consent for a
number that had it; HELP is answered by the route; anything else is a reply, classified by
intent. Every event and the suppression it implies are committed before the route answers,
and delivered to the enrollments after (see `starter.service.events`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session, select

from cadence.intent import classify_reply
from cadence.keywords import SmsKeyword, classify_sms
from cadence.scoring import ScoringConfig
from models import audit, engagements
from models.contacts import contacts_by_email, contacts_by_phone
from models.schemas import Day
from models.tables import Contact, Suppression, Touch
from starter.service.backend import Backend
from starter.service.events import Recorded, record, score_events, suppress_for

# Delivery states in the order Twilio reports them; a later report never moves a touch back.
SMS_ORDER = {
    "accepted": 0,
    "scheduled": 0,
    "queued": 1,
    "sending": 2,
    "sent": 3,
    "delivered": 4,
    "read": 5,
    "undelivered": 4,
    "failed": 4,
    "canceled": 4,
}
# Callback error codes that mean the number should not be texted again.
SMS_PERMANENT = {21610: "stop", 21211: "invalid", 21614: "invalid", 30005: "invalid", 30006: "invalid", 30003: None}

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


@dataclass
class SmsReceived:
    """A recorded inbound text and what it meant (the route answers HELP itself)."""

    recorded: Recorded
    keyword: SmsKeyword


async def receive_sms(backend: Backend, *, sid: str, sender: str, to: str | None, body: str) -> SmsReceived:
    """Record an inbound text from a number, with what it implies for consent."""
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
            payload = {
                "channel": "sms",
                "intent": reply.intent,
                "return_date": reply.return_date.isoformat() if reply.return_date else None,
            }
        recorded = record(
            session,
            source="twilio",
            event_id=sid,
            type=event_type,
            contact_ids=[c.id for c in contacts],
            payload={**payload, "from": sender, "to": to, "body": body, "keyword": kind},
            deliver=event_type in ("opt_out", "reply"),
            scoring=backend.scoring,
        )
        if recorded.created:
            if event_type == "opt_out":
                reason = "stop" if kind == "stop" else "reply asked to stop"
                suppress_for(session, contacts, type="opt_out", channel="sms", source="twilio", reason=reason)
            elif event_type == "consent_restored":
                _restore_sms_consent(session, contacts)
        return recorded

    return SmsReceived(await backend.db(store), kind)


def _restore_sms_consent(session: Session, contacts: list[Contact]) -> None:
    """START undoes a STOP: the SMS suppression is lifted, and consent the contact had given
    is in force again. It never grants consent to a number that never gave it (a START
    from a stranger's phone is not a written opt-in)."""
    now = dt.datetime.now(dt.UTC)
    for contact in contacts:
        lifted = session.exec(
            select(Suppression).where(Suppression.contact_id == contact.id, Suppression.channel == "sms", Suppression.lifted_at.is_(None))  # type: ignore[union-attr]
        ).all()
        for row in lifted:
            row.lifted_at = now
            session.add(row)
        earlier = (contact.consent or {}).get("sms")
        if isinstance(earlier, dict) and earlier.get("granted", True):
            contact.consent = {**contact.consent, "sms": {**earlier, "granted": True, "revoked_at": None, "restored_at": now.isoformat()}}
            session.add(contact)
            action, reason = "consent_restored", "replied START"
        else:
            action, reason = "suppression_lifted", "replied START; no SMS consent on record, so no texts until consent is given"
        audit.append(
            session, actor="contact", action=action, contact_id=contact.id, reason=reason, details={"channel": "sms", "lifted": len(lifted)}
        )


async def sms_status(backend: Backend, *, sid: str, status: str, error_code: int | None) -> list[uuid.UUID]:
    """Move the touch forward (queued, sent, delivered, undelivered, failed; never back); a
    permanent failure such as 21610 suppresses the number. Returns the events it led to (a
    lead score crossing a threshold), for delivery."""

    def store(session: Session) -> list[uuid.UUID]:
        touch = session.exec(select(Touch).where(Touch.provider_id == sid).with_for_update()).first()
        recorded = record(
            session,
            source="twilio-status",
            event_id=f"{sid}:{status}",
            type="sms_status",
            contact_ids=[touch.contact_id] if touch else [],
            payload={"status": status, "error_code": error_code},
            deliver=False,
        )
        if touch is None or not recorded.created:
            return []
        # Our own "sent" means Twilio accepted the message, which ranks as its "queued".
        current = SMS_ORDER["queued"] if touch.status == "sent" else SMS_ORDER.get(touch.status, 0)
        if SMS_ORDER[status] > current:
            touch.status = status
            touch.status_at = dt.datetime.now(dt.UTC)
            if error_code:
                touch.error_code = f"twilio_{error_code}"
            session.add(touch)
        reason = SMS_PERMANENT.get(error_code) if error_code else None
        # The carrier's receipt is the text's delivery; a text that never arrived bounced.
        noted = None
        if status in ("delivered", "read"):
            noted = engagements.note(
                session, scoring=backend.scoring, kind="delivered", dedup_key=f"delivered:{touch.id}", touch_id=touch.id
            )
        elif status in ("undelivered", "failed"):
            detail = {"type": "hard" if reason else "soft", "code": f"twilio_{error_code}" if error_code else None}
            noted = engagements.note(
                session, scoring=backend.scoring, kind="bounced", dedup_key=f"bounced:{touch.id}", touch_id=touch.id, detail=detail
            )
        contact = session.get(Contact, touch.contact_id)
        if reason and contact is not None:
            suppress_for(session, [contact], type="opt_out", channel="sms", source="twilio-status", reason=reason)
        return score_events(session, backend.scoring, noted)

    return await backend.db(store)


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
    return_date: Day | None = None


async def receive_email(backend: Backend, mail: InboundEmail) -> Recorded:
    """Record an inbound email: a reply (classified, out-of-office with its return date), a
    hard bounce or a complaint (each suppresses the address), a soft bounce (recorded only).
    An unknown sender is kept as unmatched."""
    today = dt.datetime.now(dt.UTC).date()
    reply = classify_reply(text=mail.text, subject=mail.subject, headers=mail.headers, today=today)

    def store(session: Session) -> Recorded:
        contacts, answered = _email_contacts(session, mail)
        payload: dict[str, Any] = {"channel": "email", "from": mail.from_, "subject": mail.subject, "message": mail.id}
        if mail.type == "bounce":
            hard = mail.bounce is None or mail.bounce.type == "hard"
            event_type = "bounce" if hard else "soft_bounce"
            payload["bounce"] = mail.bounce.model_dump() if mail.bounce else {"type": "hard"}
        elif mail.type == "complaint":
            event_type = "complaint"
        elif reply.unsubscribe:
            event_type = "opt_out"
        elif reply.auto and reply.intent != "out_of_office" and mail.type != "auto_reply":
            # A machine wrote it (a ticket receipt, a list mail): recorded, but no person replied.
            event_type = "auto_reply"
        else:
            event_type = "reply"
            intent = "out_of_office" if mail.type == "auto_reply" else reply.intent
            back = mail.return_date or reply.return_date
            payload.update(intent=intent, return_date=back.isoformat() if back else None, text=mail.text[:5000])
        recorded = record(
            session,
            source="email",
            event_id=mail.id,
            type="opt_out" if event_type == "complaint" else event_type,
            contact_ids=[c.id for c in contacts],
            payload={**payload, "kind": event_type},
            deliver=event_type not in ("soft_bounce", "auto_reply"),
            touch_id=answered,
            scoring=backend.scoring,
        )
        if recorded.created and event_type in ("bounce", "complaint", "opt_out"):
            reason = {"bounce": "bounce", "complaint": "complaint", "opt_out": "reply asked to unsubscribe"}[event_type]
            suppress_for(session, contacts, type=event_type, channel="email", source="email", reason=reason)
        return recorded

    return await backend.db(store)


def _email_contacts(session: Session, mail: InboundEmail) -> tuple[list[Contact], uuid.UUID | None]:
    """The contact a reply answers, and the touch: by the Message-ID it replies to, else the
    contact by its sender (and no touch)."""
    for message_id in [mail.in_reply_to, *reversed(mail.references)]:
        if not message_id:
            continue
        touch = session.exec(select(Touch).where(Touch.provider_id == message_id.strip())).first()
        if touch is not None:
            contact = session.get(Contact, touch.contact_id)
            if contact is not None:
                return [contact], touch.id
    address = mail.from_.rsplit("<", 1)[-1].rstrip(">").strip()
    return contacts_by_email(session, address), None


async def linked_contact(backend: Backend, contact_id: uuid.UUID | None) -> Contact | None:
    """The contact a signed link names, unless it no longer exists or was erased."""
    if contact_id is None:
        return None

    def load(session: Session) -> Contact | None:
        contact = session.get(Contact, contact_id)
        return contact if contact is not None and contact.erased_at is None else None

    return await backend.db(load)


async def unsubscribe(backend: Backend, contact_id: uuid.UUID) -> Recorded:
    """One-click unsubscribe (RFC 8058): suppress email for the contact, committed before
    the page answers, and end its open enrollments."""

    def store(session: Session) -> Recorded:
        person = session.get(Contact, contact_id)
        assert person is not None
        return _opted_out(
            session,
            person,
            "unsubscribe",
            "list-unsubscribe",
            by="list-unsubscribe",
            channel="email",
            reason="unsubscribe",
            scoring=backend.scoring,
        )

    return await backend.db(store)


def _opted_out(
    session: Session, person: Contact, source: str, how: str, *, by: str, channel: str | None, reason: str, scoring: ScoringConfig
) -> Recorded:
    """The contact opted out on their own page: the event (a fresh id each time) and the
    suppression it implies (`by` names the page in the suppression and its audit entry)."""
    payload = {"channel": channel, "how": how} if channel else {"how": how}
    recorded = record(
        session,
        source=source,
        event_id=f"{person.id}:{uuid.uuid4()}",
        type="opt_out",
        contact_ids=[person.id],
        payload=payload,
        scoring=scoring,
    )
    suppress_for(session, [person], type="opt_out", channel=channel, source=by, reason=reason)
    return recorded


async def save_preferences(
    backend: Backend, contact_id: uuid.UUID, *, channels: list[str], frequency: str, topics: set[str], stop_all: bool
) -> Recorded | None:
    """Save the contact's own choices; "stop all" suppresses every channel and ends its
    enrollments (returns that opt-out event for delivery)."""

    def store(session: Session) -> Recorded | None:
        person = session.get(Contact, contact_id)
        assert person is not None
        person.preferences = {
            "channels": sorted(channels) + ["linkedin"],
            "frequency": frequency,
            "topics_opted_out": sorted(t for t, _ in TOPICS if t not in topics),
        }
        session.add(person)
        audit.append(
            session,
            actor="contact",
            action="preferences_changed",
            contact_id=person.id,
            reason="preference centre",
            details={"channels": ",".join(sorted(channels)), "frequency": frequency, "stop_all": stop_all},
        )
        if not stop_all:
            return None
        return _opted_out(
            session,
            person,
            "preferences",
            "preference centre",
            by="preference-centre",
            channel=None,
            reason="stop all",
            scoring=backend.scoring,
        )

    return await backend.db(store)
