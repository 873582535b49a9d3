"""The gate: may we contact this person on this channel now?

One pure decision, checked inside the send activity in the same transaction as the send
claim. It answers allow, defer until an instant, skip this step, or stop the enrollment,
always with a machine-readable code and a sentence a person can read.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

Action = Literal["allow", "defer", "skip", "stop"]
CONSENT_REQUIRED = frozenset({"sms", "call"})


@dataclass(frozen=True)
class Consent:
    """Recorded consent on one channel."""

    granted: bool
    revoked: bool = False


@dataclass(frozen=True)
class ContactFacts:
    """What the gate knows about the contact at decision time (no names, no bodies)."""

    has_address: dict[str, bool]
    consent: dict[str, Consent] = field(default_factory=dict)
    suppressed: dict[str, str] = field(default_factory=dict)  # channel or "all" -> reason
    channels_allowed: frozenset[str] | None = None
    topics_opted_out: frozenset[str] = frozenset()
    erased: bool = False


@dataclass(frozen=True)
class GateDecision:
    """The answer: `code` for machines, `reason` for people, `until` for deferrals."""

    action: Action
    code: str
    reason: str
    until: dt.datetime | None = None


ALLOW = GateDecision("allow", "allowed", "allowed")


def check_contact(facts: ContactFacts, channel: str, topic: str) -> GateDecision:
    """Consent, suppression, preferences and reachability: the rules that do not depend on time."""
    if facts.erased:
        return GateDecision("stop", "erased", "stopped: the contact's data was erased")
    if "all" in facts.suppressed:
        return GateDecision("stop", "suppressed", f"stopped: the contact is suppressed on every channel ({facts.suppressed['all']})")
    if channel in facts.suppressed:
        return GateDecision("skip", "suppressed_channel", f"skipped: {channel} is suppressed for this contact ({facts.suppressed[channel]})")
    if not facts.has_address.get(channel, False):
        what = "email address" if channel == "email" else "phone number"
        return GateDecision("skip", "no_address", f"skipped: the contact has no {what}")
    consent = facts.consent.get(channel)
    if channel in CONSENT_REQUIRED and (consent is None or not consent.granted):
        return GateDecision("skip", "no_consent", f"skipped: no {channel.upper() if channel == 'sms' else channel} consent on record")
    if consent is not None and (consent.revoked or not consent.granted):
        return GateDecision("skip", "consent_revoked", f"skipped: {channel} consent was revoked")
    if facts.channels_allowed is not None and channel not in facts.channels_allowed:
        return GateDecision("skip", "preference_channel", f"skipped: the contact prefers not to be reached by {channel}")
    if topic in facts.topics_opted_out:
        return GateDecision("skip", "preference_topic", f"skipped: the contact opted out of {topic} messages")
    return ALLOW
