"""The gate: may we contact this person on this channel now?

One pure decision, checked inside the send activity in the same transaction as the send
claim. It answers allow, defer until an instant, skip this step, or stop the enrollment,
always with a machine-readable code and a sentence a person can read.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

from cadence.contact_policy import QUIET_CHANNELS, EffectivePolicy, daily_hours, day_allowed
from cadence.contact_rules import WEEKDAYS, Caps, parse_clock

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
    """The answer: `code` for machines, `reason` for people, `until` for deferrals, and for
    an allowed touch `open_until`, when its allowed hours end (a text still queued at the
    provider then must not go out)."""

    action: Action
    code: str
    reason: str
    until: dt.datetime | None = None
    open_until: dt.datetime | None = None


ALLOW = GateDecision("allow", "allowed", "allowed")


def check_contact(facts: ContactFacts, channel: str, topic: str) -> GateDecision:
    """Consent, suppression, preferences and reachability: the rules that do not depend on time."""
    if facts.erased:
        return GateDecision("stop", "erased", "stopped: the contact's data was erased")
    if "all" in facts.suppressed:
        return GateDecision("stop", "suppressed", f"stopped: the contact is suppressed on every channel ({facts.suppressed['all']})")
    if channel in facts.suppressed:
        return GateDecision(
            "skip", "suppressed_channel", f"skipped: {channel} is suppressed for this contact ({facts.suppressed[channel]})"
        )
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


# --- time rules: windows, quiet hours, holidays, blackouts, caps ---------------------------

HORIZON_DAYS = 400


@dataclass(frozen=True)
class Recent:
    """Touches already claimed, as instants: the contact's (across all its enrollments) and
    the sender's (the same mailbox or Twilio number) within the cap horizons."""

    contact: tuple[dt.datetime, ...] = ()
    sender: tuple[dt.datetime, ...] = ()


def local_label(instant: dt.datetime, tz_name: str | None, requested: dt.datetime) -> str:
    """An instant as the contact's clock shows it ("Mon 09:00 America/Chicago"), with the date
    when it is a week or more after `requested`."""
    zone_ = _zone(tz_name)
    local = instant.astimezone(zone_)
    fmt = "%a %H:%M" if (instant - requested) < dt.timedelta(days=6) else "%a %d %b %H:%M"
    return f"{local:{fmt}} {tz_name or 'UTC'}"


def _zone(name: str | None) -> Any:
    from cadence.calendar import zone

    return zone(name)


def _transitions(day: dt.date, tz: Any) -> list[dt.datetime]:
    """Instants on this local day where the UTC offset changes (DST), found by bisection."""
    from cadence.calendar import from_local

    day_start = from_local(day, dt.time(0, 0), tz)
    day_end = from_local(day + dt.timedelta(days=1), dt.time(0, 0), tz)
    start, end = day_start - dt.timedelta(hours=3), day_end + dt.timedelta(hours=3)
    found: list[dt.datetime] = []
    step = dt.timedelta(hours=1)
    t = start
    while t < end:
        nxt = min(t + step, end)
        if t.astimezone(tz).utcoffset() != nxt.astimezone(tz).utcoffset():
            lo, hi = t, nxt
            while hi - lo > dt.timedelta(seconds=1):
                mid = lo + (hi - lo) / 2
                if mid.astimezone(tz).utcoffset() == lo.astimezone(tz).utcoffset():
                    lo = mid
                else:
                    hi = mid
            found.append(hi.replace(microsecond=0) if hi.microsecond else hi)
        t = nxt
    return [t for t in found if day_start <= t < day_end]


def _occurrences(day: dt.date, clock: dt.time, tz: Any) -> list[dt.datetime]:
    """Every instant whose local wall time is `clock` on `day` (two in a DST fold, none in a
    gap, where the change instant stands in as the first moment the clock is past it)."""
    from cadence.calendar import UTC

    naive = dt.datetime.combine(day, clock)
    out = []
    for fold in (0, 1):
        instant = naive.replace(tzinfo=tz, fold=fold).astimezone(UTC)
        if instant.astimezone(tz).replace(tzinfo=None) == naive:
            out.append(instant)
    return out


def next_slot(
    policy: EffectivePolicy, channel: str, at: dt.datetime, *, timezone: str | None, country: str | None, region: str | None
) -> tuple[dt.datetime | None, str | None]:
    """The earliest instant at or after `at` that the day and hour rules allow, and why `at`
    itself was not allowed (None when it was).

    Membership is decided by the contact's own clock: an instant is allowed when its local
    date is an allowed day and its local time is inside the daily hours. Across a DST gap
    or fold the clock jumps, so the candidates are the occurrences of the window's start
    and the change instants themselves.
    """
    from cadence.calendar import is_holiday

    tz = _zone(timezone)
    hours = daily_hours(policy, channel)
    if hours is not None and hours[1] <= hours[0]:
        return None, "the send window and the quiet hours never overlap"
    start_clock = hours[0] if hours else dt.time(0, 0)

    def day_reason(day: dt.date) -> str | None:
        return day_allowed(policy, day, WEEKDAYS[day.weekday()], channel, holiday=is_holiday(day, country, region), country=country)

    def allowed(instant: dt.datetime) -> bool:
        local = instant.astimezone(tz)
        if day_reason(local.date()) is not None:
            return False
        return hours is None or hours[0] <= local.time().replace(tzinfo=None) < hours[1]

    local_at = at.astimezone(tz)
    if allowed(at):
        return at, None
    why = day_reason(local_at.date()) or _hours_reason(channel, policy, local_at.time().replace(tzinfo=None))
    for offset in range(HORIZON_DAYS):
        day = local_at.date() + dt.timedelta(days=offset)
        if day_reason(day) is not None:
            continue
        candidates = sorted(c for c in [*_occurrences(day, start_clock, tz), *_transitions(day, tz)] if c > at)
        for candidate in candidates:
            if allowed(candidate):
                return candidate, why
    return None, why or "no allowed time within a year"


def open_until(
    policy: EffectivePolicy, channel: str, at: dt.datetime, *, timezone: str | None, country: str | None, region: str | None
) -> dt.datetime | None:
    """When the allowed stretch that contains `at` ends: the close of the day's hours
    (quiet hours for texts and calls, the send window) or, without daily hours, the start
    of the next local day that is not allowed; None when nothing closes within a week."""
    from cadence.calendar import from_local, is_holiday

    tz = _zone(timezone)
    local = at.astimezone(tz)
    hours = daily_hours(policy, channel)
    if hours is not None:
        return from_local(local.date(), hours[1], tz)
    for offset in range(1, 8):
        day = local.date() + dt.timedelta(days=offset)
        holiday = is_holiday(day, country, region)
        if day_allowed(policy, day, WEEKDAYS[day.weekday()], channel, holiday=holiday, country=country) is not None:
            return from_local(day, dt.time(0, 0), tz)
    return None


def _hours_reason(channel: str, policy: EffectivePolicy, local_time: dt.time) -> str:
    """Blame quiet hours when they are what blocks: the local time is outside them while the
    send window (if any) would allow it."""
    window = policy.send_window
    in_window = window is None or parse_clock(window.start) <= local_time < parse_clock(window.end)
    if channel in QUIET_CHANNELS and in_window:
        quiet = policy.quiet
        if not parse_clock(quiet.start) <= local_time < parse_clock(quiet.end):
            label = "texts" if channel == "sms" else "calls"
            return f"outside quiet hours ({label} only {quiet.start}-{quiet.end} local)"
    return "outside the send window"


def _cap_earliest(at: dt.datetime, recent: tuple[dt.datetime, ...], all_caps: tuple[Caps, ...]) -> tuple[dt.datetime, str | None]:
    """The earliest instant every cap and cooldown allows (each cap is enforced on its own)."""
    later, why = at, None
    for caps in all_caps:
        candidate, reason = _one_cap(at, recent, caps)
        if candidate > later:
            later, why = candidate, reason
    return later, why


def _one_cap(at: dt.datetime, recent: tuple[dt.datetime, ...], caps: Caps) -> tuple[dt.datetime, str | None]:
    if not recent:
        return at, None
    later = at
    why = None
    horizon = dt.timedelta(days=caps.per_days)
    # Every claim already made counts, even one stamped a moment after `at`: attempts on
    # other workers read the clock at slightly different instants.
    inside = sorted(t for t in recent if at - horizon < t)
    if len(inside) >= caps.max_touches:
        later = inside[len(inside) - caps.max_touches] + horizon
        why = f"the contact's frequency cap ({caps.max_touches} touch{'es' if caps.max_touches != 1 else ''} in {caps.per_days} day{'s' if caps.per_days != 1 else ''})"
    if caps.min_gap_hours:
        last = max(recent)
        gap_end = last + dt.timedelta(hours=caps.min_gap_hours)
        if gap_end > later:
            later = gap_end
            why = f"at least {caps.min_gap_hours} hours between touches to the contact"
    return later, why if later > at else None


def _sender_earliest(at: dt.datetime, recent: tuple[dt.datetime, ...], cap: int | None) -> tuple[dt.datetime, str | None]:
    if cap is None:
        return at, None
    day = dt.timedelta(hours=24)
    inside = sorted(t for t in recent if at - day < t)
    if len(inside) < cap:
        return at, None
    return inside[len(inside) - cap] + day, f"the sender's limit ({cap} per 24 hours)"


def decide(
    facts: ContactFacts,
    channel: str,
    topic: str,
    *,
    requested: dt.datetime,
    policy: EffectivePolicy,
    recent: Recent,
    timezone: str | None,
    country: str | None,
    region: str | None,
    spread_key: str,
) -> GateDecision:
    """The whole gate: contact rules first (stop or skip), then the earliest instant at or
    after `requested` that every time rule allows. Allow when that is `requested`; defer
    to it otherwise, spreading touches that wait for a window to open."""
    contact_rule = check_contact(facts, channel, topic)
    if contact_rule.action != "allow":
        return contact_rule
    tz_name = timezone or policy.timezone
    at = requested
    first_reason: str | None = None
    window_bound = False
    for _ in range(64):
        slot, why_slot = next_slot(policy, channel, at, timezone=tz_name, country=country, region=region)
        if slot is None:
            return GateDecision("skip", "no_slot", f"skipped: {why_slot}")
        capped, why_cap = _cap_earliest(slot, recent.contact, policy.cap_list)
        sent, why_sender = _sender_earliest(capped, recent.sender, policy.sender_daily_cap)
        first_reason = first_reason or why_slot or why_cap or why_sender
        # Touches that end up waiting for a window to open are spread over its first minutes.
        window_bound = window_bound or why_slot is not None
        if sent == at:
            break
        at = sent
    else:
        return GateDecision("skip", "no_slot", "skipped: no time satisfies every rule")
    if at == requested:
        closes = open_until(policy, channel, at, timezone=tz_name, country=country, region=region)
        return GateDecision("allow", "allowed", "allowed", open_until=closes)
    if window_bound and policy.spread_minutes:
        at = _spread(at, policy, channel, tz_name, spread_key)
    return GateDecision("defer", reason_code(first_reason), f"deferred to {local_label(at, tz_name, requested)}: {first_reason}", until=at)


def _spread(at: dt.datetime, policy: EffectivePolicy, channel: str, tz_name: str | None, key: str) -> dt.datetime:
    """A stable per-enrollment offset into the window, so 10,000 touches waiting for 09:00
    do not all fire at 09:00:00. Never past the end of the allowed hours or local day."""
    from cadence.calendar import from_local
    from cadence.variants import bucket

    tz = _zone(tz_name)
    local_day = at.astimezone(tz).date()
    hours = daily_hours(policy, channel)
    end_clock = hours[1] if hours is not None else None
    limit = from_local(local_day, end_clock, tz) if end_clock else from_local(local_day + dt.timedelta(days=1), dt.time(0, 0), tz)
    span = min(dt.timedelta(minutes=policy.spread_minutes), limit - at - dt.timedelta(minutes=1))
    if span <= dt.timedelta(0):
        return at
    return at + dt.timedelta(seconds=bucket(key, "spread", int(span.total_seconds())))


def reason_code(reason: str | None) -> str:
    """The machine code of a deferral's reason (weekend, send_window, quiet_hours, holiday,
    blackout, frequency_cap, cooldown, sender_cap; deferred when none fits)."""
    text = reason or ""
    for needle, code in (
        ("quiet hours", "quiet_hours"),
        ("send window", "send_window"),
        ("holiday", "holiday"),
        ("weekend", "weekend"),
        ("blackout", "blackout"),
        ("frequency cap", "frequency_cap"),
        ("between touches", "cooldown"),
        ("sender", "sender_cap"),
    ):
        if needle in text:
            return code
    return "deferred"
