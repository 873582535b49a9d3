"""Reading what the gate needs from Postgres, and recording what it decided."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlmodel import Session, select
from temporalio import activity

from cadence.definition import Policy
from cadence.gate import Consent, ContactFacts, GateDecision, Recent, decide
from cadence.policy import PolicyConfig
from models import audit
from models.contacts import active_suppressions
from models.enrollments import update_mirror
from models.payloads import TouchInput
from models.policy import effective_policy
from models.tables import Account, Contact, Touch

# Touch states that count against caps: reserved or gone out.
COUNTED = ("claimed", "sent", "delivered", "read")
# Below this distance from a sender's cap, concurrent claims cannot overshoot it, so the
# sender-wide lock (which serialises every send from that mailbox) is only taken near it.
SENDER_LOCK_MARGIN = 100


def attempt_time() -> dt.datetime:
    """"Now" for the gate: when Temporal scheduled this attempt (the server's clock, which
    is also the test server's skipped clock), or the wall clock outside an activity."""
    try:
        return activity.info().current_attempt_scheduled_time
    except RuntimeError:
        return dt.datetime.now(dt.UTC)


def _lock(session: Session, text: str) -> None:
    key = int.from_bytes(uuid.uuid5(uuid.NAMESPACE_URL, text).bytes[:8], "big", signed=True)
    session.exec(sa.select(sa.func.pg_advisory_xact_lock(key)))  # type: ignore[call-overload]


def recent_touches(session: Session, *, contact_id: uuid.UUID, since: dt.datetime) -> tuple[dt.datetime, ...]:
    """When the contact's counted sends (any enrollment, email and SMS) were claimed."""
    rows = session.exec(
        select(Touch.claimed_at).where(
            Touch.contact_id == contact_id,
            Touch.channel.in_(("email", "sms")),  # type: ignore[attr-defined]
            Touch.status.in_(COUNTED),  # type: ignore[attr-defined]
            Touch.claimed_at > since,
        )
    ).all()
    return tuple(rows)


def sender_touches(session: Session, *, sender: str | None, now: dt.datetime, cap: int | None) -> tuple[dt.datetime, ...]:
    """The sender's counted sends in the last 24 hours; near its cap, under the sender lock."""
    if sender is None or cap is None:
        return ()

    window = (Touch.sender == sender, Touch.status.in_(COUNTED), Touch.claimed_at > now - dt.timedelta(hours=24))  # type: ignore[attr-defined]
    # Far below the cap only the count matters (nothing will be deferred), and counting is
    # much cheaper than reading every timestamp of a busy mailbox on every send.
    count = session.exec(select(sa.func.count()).select_from(Touch).where(*window)).one()
    if count + SENDER_LOCK_MARGIN < cap:
        return ()
    _lock(session, f"sender:{sender}")
    return tuple(session.exec(select(Touch.claimed_at).where(*window)).all())


def decide_touch(
    session: Session,
    *,
    contact: Contact,
    account: Account | None,
    channel: str,
    topic: str,
    cadence_policy: Policy | None,
    config: PolicyConfig,
    now: dt.datetime,
    sender: str | None,
    spread_key: str,
) -> GateDecision:
    """Run the whole gate for one touch, inside the claim transaction (the caller holds the
    contact lock, so concurrent enrollments of one contact see each other's claims)."""
    policy = effective_policy(config, contact, account, cadence_policy)
    horizon = dt.timedelta(days=max((c.per_days for c in policy.cap_list), default=0))
    recent = Recent(
        contact=recent_touches(session, contact_id=contact.id, since=now - horizon) if policy.cap_list else (),
        sender=sender_touches(session, sender=sender, now=now, cap=policy.sender_daily_cap),
    )
    return decide(
        contact_facts(session, contact),
        channel,
        topic,
        requested=now,
        policy=policy,
        recent=recent,
        timezone=contact.timezone,
        country=contact.country,
        region=contact.region,
        spread_key=spread_key,
    )


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
    """Audit a refusal or deferral, and show a deferral in the enrollment mirror.

    Call it last in the transaction: the audit chain is serialised by a lock held until
    commit, so everything else should already be done.
    """
    if decision.action == "defer":
        update_mirror(session, touch.enrollment_id, next_step_at=decision.until, waiting_reason=decision.reason)
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
