"""Reading what the gate needs from Postgres, and recording what it decided."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session, select
from temporalio import activity

from cadence.contact_policy import ContactPolicy, EffectivePolicy
from cadence.contact_rules import ContactRules
from cadence.gate import Consent, ContactFacts, GateDecision, Recent, decide
from models import audit, locks, mirror
from models.contacts import active_suppressions, policy_in_force
from models.payloads import TouchInput
from models.tables import Account, Contact, Touch

# Touch states that count against caps: reserved, held, or gone out.
COUNTED = ("claimed", "retrying", "unclear", "sent", "delivered", "read")
# Below this distance from a sender's cap, concurrent claims cannot overshoot it, so the
# sender-wide lock (which serialises every send from that mailbox) is only taken near it.
SENDER_LOCK_MARGIN = 100


def attempt_time() -> dt.datetime:
    """ "Now" for the gate as the Temporal server's clock tells it (the time-skipping test
    server's skipped clock too): when this attempt started, time spent waiting in the task
    queue included; the wall clock outside an activity. See `AttemptClock` for later
    instants of the same attempt."""
    try:
        info = activity.info()
    except RuntimeError:
        return dt.datetime.now(dt.UTC)
    return max(info.started_time, info.current_attempt_scheduled_time)


class AttemptClock:
    """The server's "now" through one activity attempt: when it started, plus what the
    worker has spent on it since (a lock wait, a lookup), so that the time rules judge the
    moment of the provider call, not the moment the attempt was scheduled."""

    def __init__(self) -> None:
        self._base = attempt_time()
        self._started = time.monotonic()

    def now(self) -> dt.datetime:
        return self._base + dt.timedelta(seconds=time.monotonic() - self._started)


# Everything the gate reads about a contact in one round trip: its counted touches inside the
# cap horizon, its sender's count over the last 24 hours, and the suppressions in force for
# its id or its addresses. Plain SQL: this runs once per send, under the contact's lock.
_GATE_READS = sa.text("""
    SELECT 'touch' AS kind, claimed_at AS at, NULL::bigint AS n, NULL AS channel, NULL AS reason, NULL::uuid AS contact_id, NULL AS address
      FROM touches
     WHERE :with_caps AND contact_id = :contact AND channel IN ('email', 'sms') AND status = ANY(:counted) AND claimed_at > :since
       AND key IS DISTINCT FROM :own
    UNION ALL
    SELECT 'sender', NULL, count(*), NULL, NULL, NULL, NULL
      FROM touches
     WHERE :with_sender AND sender = :sender AND status = ANY(:counted) AND claimed_at > :sender_since
       AND key IS DISTINCT FROM :own
    UNION ALL
    SELECT 'suppression', NULL, NULL, channel, reason, contact_id, address
      FROM suppressions
     WHERE (contact_id = :contact OR address = ANY(:addresses)) AND lifted_at IS NULL
""")


@dataclass(frozen=True)
class SuppressionFact:
    """A suppression in force, as the gate reads it."""

    channel: str
    reason: str
    contact_id: uuid.UUID | None
    address: str | None


def gate_reads(
    session: Session,
    contact: Contact,
    *,
    since: dt.datetime | None,
    sender: str | None,
    now: dt.datetime,
    sender_cap: int | None,
    own_key: str | None = None,
    lock: bool = True,
) -> tuple[tuple[dt.datetime, ...], tuple[dt.datetime, ...], list[SuppressionFact]]:
    """The contact's counted sends since `since` (None: no caps, not read), the sender's
    sends in the last 24 hours when it is near its cap (read under the sender lock), and the
    suppressions in force. `own_key`: a retried touch's own claim, which must not count
    against itself. `lock=False` (a preview) reads without taking the sender lock."""
    with_sender = sender is not None and sender_cap is not None
    rows = session.execute(
        _GATE_READS,
        {
            "with_caps": since is not None,
            "contact": contact.id,
            "counted": list(COUNTED),
            "since": since or now,
            "with_sender": with_sender,
            "sender": sender,
            "sender_since": now - dt.timedelta(hours=24),
            "addresses": [a for a in (contact.email, contact.phone) if a],
            "own": own_key,
        },
    ).all()
    recent = tuple(r.at for r in rows if r.kind == "touch")
    suppressions = [SuppressionFact(r.channel, r.reason, r.contact_id, r.address) for r in rows if r.kind == "suppression"]
    sender_count = next((r.n for r in rows if r.kind == "sender"), 0)
    sent_by_sender: tuple[dt.datetime, ...] = ()
    # Far below the cap only the count matters (nothing will be deferred), and counting is
    # much cheaper than reading every timestamp of a busy mailbox on every send.
    if with_sender and sender_cap is not None and sender_count + SENDER_LOCK_MARGIN >= sender_cap:
        if lock:
            locks.hold_named(session, f"sender:{sender}")
        window = (
            Touch.sender == sender,
            Touch.status.in_(COUNTED),  # type: ignore[attr-defined]
            Touch.claimed_at > now - dt.timedelta(hours=24),
            Touch.key != own_key if own_key else sa.true(),
        )
        sent_by_sender = tuple(session.exec(select(Touch.claimed_at).where(*window)).all())
    return recent, sent_by_sender, suppressions


def decide_touch(
    session: Session,
    *,
    contact: Contact,
    account: Account | None,
    channel: str,
    topic: str,
    cadence_rules: ContactRules | None,
    config: ContactPolicy,
    now: dt.datetime,
    sender: str | None,
    spread_key: str,
    own_key: str | None = None,
) -> GateDecision:
    """Run the whole gate for one touch, inside the claim transaction (the caller holds the
    contact lock, so concurrent enrollments of one contact see each other's claims). A
    retry passes its claim's key (`own_key`): every attempt is judged afresh, at its own
    moment, without its own reservation counting against it."""
    policy = policy_in_force(config, contact, account, cadence_rules)
    recent, sent_by_sender, suppressions = gate_reads(
        session,
        contact,
        since=now - cap_horizon(policy) if policy.cap_list else None,
        sender=sender,
        now=now,
        sender_cap=policy.sender_daily_cap,
        own_key=own_key,
    )
    facts = contact_facts(session, contact, suppressions)
    return judge(contact, policy, facts, channel, topic, now, Recent(contact=recent, sender=sent_by_sender), spread_key)


def cap_horizon(policy: EffectivePolicy) -> dt.timedelta:
    """How far back the contact's caps look: the longest of their windows."""
    return dt.timedelta(days=max((c.per_days for c in policy.cap_list), default=0))


def judge(
    contact: Contact,
    policy: EffectivePolicy,
    facts: ContactFacts,
    channel: str,
    topic: str,
    now: dt.datetime,
    recent: Recent,
    spread_key: str,
) -> GateDecision:
    """The gate's decision for one touch of this contact at `now`, from what was read about
    it: `decide_touch` for a send, and a preview with the same reads made once and its own
    simulated claims added to `recent`."""
    return decide(
        facts,
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


def contact_facts(session: Session, contact: Contact, suppressions: Sequence[SuppressionFact] | None = None) -> ContactFacts:
    """The gate's view of a contact: reachability, consent, suppressions and preferences
    (the suppressions are read here unless the caller already has them)."""
    if suppressions is None:
        suppressions = [SuppressionFact(r.channel, r.reason, r.contact_id, r.address) for r in active_suppressions(session, contact)]
    suppressed: dict[str, str] = {}
    for row in suppressions:
        channel = row.channel
        if row.contact_id is None and row.address not in (contact.email, contact.phone):
            continue
        if channel in ("sms", "call") and row.address and row.address == contact.email:
            continue
        suppressed.setdefault(channel, row.reason)
    consent = {
        channel: Consent(granted=bool(record.get("granted", True)), revoked=record.get("revoked_at") is not None)
        for channel, record in (contact.consent or {}).items()
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
        mirror.write_deferral(session, touch.enrollment_id, decision.until, decision.reason)
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
