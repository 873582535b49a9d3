"""Test helpers for the gate: builders and a brute-force "may we send at this instant" oracle.

The oracle never calls the code under test (no `daily_hours`, `day_allowed`, `Blackout.covers`,
`from_local` or `is_holiday`): it converts each candidate instant to the contact's wall clock
with `astimezone` (always unambiguous) and checks the rules as a person would state them. The
earliest allowed instant is found by stepping minute by minute, which is exact because every
UTC offset in use between 2024 and 2030 is a whole number of minutes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass

import holidays

from cadence.contact_policy import EffectivePolicy, Hours
from cadence.contact_rules import SendWindow
from cadence.gate import Consent, ContactFacts, GateDecision, Recent, decide
from tests.unit.cadence.support import transitions

UTC = dt.UTC
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTE = dt.timedelta(minutes=1)

# The TCPA floor, and the stricter state rule the shipped policy.yaml carries for these states.
LEGAL_QUIET = (dt.time(8), dt.time(21))
STATE_QUIET = {("US", "FL"): (dt.time(8), dt.time(20)), ("US", "OK"): (dt.time(8), dt.time(20))}


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=UTC)


def local(zone: str, year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    """An aware UTC instant from a contact-local wall time (one that exists, the first if twice)."""
    return dt.datetime(year, month, day, hour, minute, tzinfo=zoneinfo.ZoneInfo(zone)).astimezone(UTC)


def until(decision: GateDecision) -> dt.datetime:
    """The instant of a deferral (failing the test when the decision is not one)."""
    assert decision.action == "defer" and decision.until is not None, decision
    return decision.until


def effective(**changes: object) -> EffectivePolicy:
    """A plain policy: Mon-Fri 09:00-17:00, TCPA quiet hours, no caps, no holidays, no spread."""
    base = EffectivePolicy(
        send_window=SendWindow(),
        quiet=Hours(start="08:00", end="21:00"),
        caps=None,
        respect_holidays=False,
        timezone=None,
        no_contact_days=0,
        blackouts=(),
        sender_daily_cap=None,
        spread_minutes=0,
        segment=None,
        regulated=False,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


REACHABLE = ContactFacts(
    has_address={"email": True, "sms": True, "call": True, "linkedin": True},
    consent={"sms": Consent(granted=True), "call": Consent(granted=True)},
)


def gate(
    policy: EffectivePolicy,
    channel: str = "email",
    *,
    at: dt.datetime,
    tz: str | None,
    country: str | None = None,
    region: str | None = None,
    recent: Recent = Recent(),  # noqa: B008
    facts: ContactFacts = REACHABLE,
    topic: str = "sales",
    key: str = "enrollment-1",
) -> GateDecision:
    return decide(
        facts, channel, topic, requested=at, policy=policy, recent=recent, timezone=tz, country=country, region=region, spread_key=key
    )


@functools.lru_cache(maxsize=2048)
def holiday_dates(country: str, subdiv: str | None, year: int) -> frozenset[dt.date]:
    return frozenset(holidays.country_holidays(country, subdiv=subdiv, years=year).keys())


@dataclass(frozen=True)
class OracleBlackout:
    start: tuple[int, int]  # (month, day)
    end: tuple[int, int]
    channels: frozenset[str] | None = None

    @classmethod
    def of(cls, start: str, end: str, channels: Iterable[str] | None = None) -> OracleBlackout:
        def md(text: str) -> tuple[int, int]:
            month, day = text.split("-")
            return int(month), int(day)

        return cls(md(start), md(end), None if channels is None else frozenset(channels))

    def blocks(self, day: dt.date, channel: str) -> bool:
        if self.channels is not None and channel not in self.channels:
            return False
        md = (day.month, day.day)
        if self.start <= self.end:
            return self.start <= md <= self.end
        return md >= self.start or md <= self.end  # wraps the year end


@dataclass
class Oracle:
    """What the rules say, stated directly: an instant is allowed when its local date is an
    allowed weekday, not a (respected) holiday, not blacked out, and its local wall time lies
    in [start, end) of the daily hours (None: any time of day)."""

    zone: str
    channel: str = "email"
    days: frozenset[str] | None = frozenset(DAY_NAMES[:5])
    hours: tuple[dt.time, dt.time] | None = (dt.time(9), dt.time(17))
    country: str | None = None
    subdiv: str | None = None
    blackouts: tuple[OracleBlackout, ...] = ()

    def __post_init__(self) -> None:
        self.tz = zoneinfo.ZoneInfo(self.zone)
        self._day_cache: dict[dt.date, bool] = {}

    def day_ok(self, day: dt.date) -> bool:
        cached = self._day_cache.get(day)
        if cached is None:
            if self.days == frozenset(DAY_NAMES[:5]) and self.country:
                # A Monday-to-Friday window means the country's business days (Israel: Sun-Thu).
                weekday_ok = day.weekday() not in holidays.country_holidays(self.country, years=2026).weekend
            else:
                weekday_ok = self.days is None or DAY_NAMES[day.weekday()] in self.days
            cached = (
                weekday_ok
                and not (self.country and day in holiday_dates(self.country, self.subdiv, day.year))
                and not any(b.blocks(day, self.channel) for b in self.blackouts)
            )
            self._day_cache[day] = cached
        return cached

    def allowed(self, instant: dt.datetime) -> bool:
        wall = instant.astimezone(self.tz)
        if not self.day_ok(wall.date()):
            return False
        if self.hours is None:
            return True
        return self.hours[0] <= wall.time() < self.hours[1]

    def earliest(self, requested: dt.datetime, horizon: dt.timedelta = dt.timedelta(days=60)) -> dt.datetime | None:
        """The first allowed instant at or after `requested`, scanning minute by minute."""
        if self.allowed(requested):
            return requested
        u = requested.astimezone(UTC)
        if u.second or u.microsecond:
            u = u.replace(second=0, microsecond=0) + MINUTE
        limit = requested + horizon
        while u < limit:
            if self.allowed(u):
                return u
            u += MINUTE
        return None


def quiet_for(country: str | None, region: str | None) -> tuple[dt.time, dt.time]:
    return STATE_QUIET.get((country or "", region or ""), LEGAL_QUIET)


def hours_for(channel: str, window: tuple[dt.time, dt.time] | None, quiet: tuple[dt.time, dt.time]) -> tuple[dt.time, dt.time] | None:
    """SMS and calls: the send window intersected with the quiet hours; other channels: the window."""
    if channel not in ("sms", "call"):
        return window
    if window is None:
        return quiet
    return max(window[0], quiet[0]), min(window[1], quiet[1])


def boundary_strictly_inside_a_transition(zone: str, clocks: Iterable[dt.time], lo: dt.datetime, hi: dt.datetime) -> bool:
    """Whether a window boundary wall time falls strictly inside a DST gap or fold of `zone`
    between `lo` and `hi` (the known boundary bug, pinned by the xfail vectors in test_gate)."""
    clocks = tuple(clocks)
    for t in transitions(zone):
        if not (lo - dt.timedelta(days=2) <= t.at <= hi + dt.timedelta(days=2)):
            continue
        first, last = t.wall_start, t.wall_start + t.size
        for day in {first.date(), last.date()}:
            for clock in clocks:
                if first < dt.datetime.combine(day, clock) < last:
                    return True
    return False
