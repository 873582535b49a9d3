"""Reading what the gate needs from Postgres, and recording what it decided."""

from __future__ import annotations

from sqlmodel import Session

from cadence.gate import Consent, ContactFacts, GateDecision
from models import audit
from models.contacts import active_suppressions
from models.enrollments import update_mirror
from models.payloads import TouchInput
from models.tables import Contact


def contact_facts(session: Session, contact: Contact) -> ContactFacts:
    """The gate's view of a contact: reachability, consent, suppressions and preferences."""
    suppressed: dict[str, str] = {}
    for row in active_suppressions(session, contact):
        channel = row.channel
        if row.contact_id is None and row.address not in (contact.email, contact.phone):
            continue
        if channel in ("sms", "call") and row.address and row.address == contact.email:
            continue
        suppressed.setdefault(channel, row.reason)
    consent = {
        channel: Consent(granted=bool(record.get("granted", True)), revoked=record.get("revoked_at") is not None)
        for channel, record in contact.consent.items()
        if isinstance(record, dict)
    }
    prefs = contact.preferences or {}
    channels = prefs.get("channels")
    return ContactFacts(
        has_address={"email": bool(contact.email), "sms": bool(contact.phone), "call": bool(contact.phone), "linkedin": True},
        consent=consent,
        suppressed=suppressed,
        channels_allowed=frozenset(channels) if channels is not None else None,
        topics_opted_out=frozenset(prefs.get("topics_opted_out") or ()),
        erased=contact.erased_at is not None,
    )


def record_decision(session: Session, touch: TouchInput, decision: GateDecision) -> None:
    """Audit a refusal or deferral, and show a deferral in the enrollment mirror."""
    audit.append(
        session,
        actor="gate",
        action=f"gate_{decision.action}",
        enrollment_id=touch.enrollment_id,
        contact_id=touch.contact_id,
        reason=decision.reason,
        details={
            "code": decision.code,
            "step_id": touch.step_id,
            "channel": touch.channel,
            "until": decision.until.isoformat() if decision.until else None,
        },
    )
    if decision.action == "defer":
        update_mirror(session, touch.enrollment_id, next_step_at=decision.until, waiting_reason=decision.reason)
