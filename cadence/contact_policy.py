"""Contact policy: which rules apply to this contact, in this cadence, on this channel.

One configuration file (`playbooks/policy.yaml`) holds the defaults, the legal quiet hours
(08:00-21:00 for SMS and calls, stricter per country or state), the blackout periods, and
the segment matrix: persona x industry group (regulated or not) x tier map to a default
cadence and policy. The effective policy for a touch is the defaults, overridden by the
segment, overridden by the cadence; then, for regulated industries, narrowed by the
regulated floor (a cadence can never loosen it).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cadence.contact_rules import WEEKDAYS, Blackout, Caps, ClockText, ContactRules, SendWindow, Weekday, check_timezone, parse_clock
from cadence.steps import KEY_PATTERN

LEGAL_QUIET = ("08:00", "21:00")  # 47 CFR 64.1200(c)(1): no calls or texts before 8 a.m. or after 9 p.m. local
QUIET_CHANNELS = frozenset({"sms", "call"})


class Hours(BaseModel):
    """A daily range of contact-local hours."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    start: ClockText
    end: ClockText

    @model_validator(mode="after")
    def _ordered(self) -> Hours:
        if parse_clock(self.end) <= parse_clock(self.start):
            raise ValueError(f"end {self.end} must be after start {self.start}")
        return self


class QuietHours(BaseModel):
    """When SMS and calls may happen: never outside 08:00-21:00, and stricter where a
    country or state says so (keys like "US-FL" or "GB")."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    default: Hours = Hours(start=LEGAL_QUIET[0], end=LEGAL_QUIET[1])
    regions: dict[str, Hours] = Field(default_factory=dict)

    @field_validator("regions")
    @classmethod
    def _known_regions(cls, value: dict[str, Hours]) -> dict[str, Hours]:
        import phonenumbers

        for key in value:
            country, _, state = key.partition("-")
            if country.upper() not in phonenumbers.SUPPORTED_REGIONS or (state and not state.isalnum()):
                raise ValueError(f"{key!r} is not a country (ISO 3166, e.g. GB) or country-state (e.g. US-FL)")
        return value

    @model_validator(mode="after")
    def _never_looser(self) -> QuietHours:
        floor_start, floor_end = parse_clock(LEGAL_QUIET[0]), parse_clock(LEGAL_QUIET[1])
        for name, hours in {"default": self.default, **self.regions}.items():
            if parse_clock(hours.start) < floor_start or parse_clock(hours.end) > floor_end:
                raise ValueError(f"quiet_hours.{name}: may only be stricter than {LEGAL_QUIET[0]}-{LEGAL_QUIET[1]}")
        return self

    def for_region(self, country: str | None, region: str | None) -> Hours:
        """The strictest hours that apply: state, then country, then the default."""
        for key in (f"{country}-{region}" if country and region else None, country):
            if key and key.upper() in {k.upper() for k in self.regions}:
                return next(v for k, v in self.regions.items() if k.upper() == key.upper())
        return self.default


class SegmentMatch(BaseModel):
    """Which contacts a segment rule applies to; an unset field matches anything."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    persona: Literal["executive", "practitioner", "procurement"] | None = None
    industry_group: Literal["regulated", "standard"] | None = None
    tier: Literal["enterprise", "mid_market", "smb", "tech_touch"] | None = None


class Segment(BaseModel):
    """A row of the segment matrix: the default cadence and policy for matching contacts."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1, max_length=100)
    match: SegmentMatch = SegmentMatch()
    cadence: str | None = Field(default=None, pattern=KEY_PATTERN)
    policy: ContactRules = ContactRules()


class Regulated(BaseModel):
    """Industries with stricter rules, and the floor they get (windows narrowed, caps lowered)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    industries: list[str] = Field(default_factory=list)
    policy: ContactRules = ContactRules()


BUILTIN_DEFAULTS = ContactRules(
    send_window=SendWindow(), caps=Caps(), respect_holidays=True, no_contact_days=90, sender_daily_cap=500, spread_minutes=120
)


class ContactPolicy(BaseModel):
    """The whole policy file. Validated when loaded, so a bad time zone, a window that ends
    before it starts or a cap of zero is refused at start-up, never at send time."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    defaults: ContactRules = BUILTIN_DEFAULTS

    @model_validator(mode="before")
    @classmethod
    def _fill_defaults(cls, data: Any) -> Any:
        # A file may set only some defaults; the rest keep the built-in values.
        if isinstance(data, dict) and isinstance(data.get("defaults"), dict):
            builtin = BUILTIN_DEFAULTS.model_dump(exclude_none=True)
            data = {**data, "defaults": {**builtin, **data["defaults"]}}
        return data

    quiet_hours: QuietHours = QuietHours()
    blackouts: list[Blackout] = Field(default_factory=list)
    owner_weekly_tasks: int | None = Field(
        default=25, ge=1, le=10_000, description="Rep tasks per owner per week before new ones move to a later week"
    )
    regulated: Regulated = Regulated()
    segments: list[Segment] = Field(default_factory=list)

    @model_validator(mode="after")
    def _complete_defaults(self) -> ContactPolicy:
        # send_window, caps and sender_daily_cap may be null: any time, no caps, no sender limit.
        missing = [name for name in ("respect_holidays", "no_contact_days", "spread_minutes") if getattr(self.defaults, name) is None]
        if missing:
            raise ValueError(f"defaults must set {', '.join(missing)}")
        if self.defaults.timezone is not None:
            check_timezone(self.defaults.timezone)
        return self

    def industry_group(self, industry: str | None) -> Literal["regulated", "standard"]:
        """Whether an industry is regulated under this configuration."""
        regulated = {i.lower() for i in self.regulated.industries}
        return "regulated" if industry and industry.lower() in regulated else "standard"

    def segment_for(self, persona: str | None, industry: str | None, tier: str | None) -> Segment | None:
        """The first segment rule that matches the contact."""
        group = self.industry_group(industry)
        for segment in self.segments:
            m = segment.match
            if (m.persona in (None, persona)) and (m.industry_group in (None, group)) and (m.tier in (None, tier)):
                return segment
        return None


@dataclass(frozen=True)
class EffectivePolicy:
    """The policy in force for one touch, every field resolved."""

    send_window: SendWindow | None
    quiet: Hours
    caps: tuple[Caps, ...] | Caps | None
    respect_holidays: bool
    timezone: str | None
    no_contact_days: int
    blackouts: tuple[Blackout, ...]
    sender_daily_cap: int | None
    spread_minutes: int
    segment: str | None
    regulated: bool

    def __post_init__(self) -> None:
        # Accept a single Caps (or None) for convenience; the gate always sees a tuple.
        caps: Any = self.caps
        if caps is None:
            object.__setattr__(self, "caps", ())
        elif isinstance(caps, Caps):
            object.__setattr__(self, "caps", (caps,))

    @property
    def cap_list(self) -> tuple[Caps, ...]:
        """Every cap in force (each is enforced on its own)."""
        caps = self.caps
        return caps if isinstance(caps, tuple) else ()


def _over(base: ContactRules, top: ContactRules) -> ContactRules:
    """Fields set in `top` replace those in `base`."""
    return base.model_copy(update={k: getattr(top, k) for k in ContactRules.model_fields if getattr(top, k) is not None})


def _narrow_window(a: SendWindow | None, b: SendWindow | None) -> SendWindow | None:
    if a is None or b is None:
        return a or b
    days = [d for d in WEEKDAYS if d in a.days and d in b.days]
    start = max(parse_clock(a.start), parse_clock(b.start))
    end = min(parse_clock(a.end), parse_clock(b.end))
    if not days or end <= start:
        # Nothing left in common: keep the floor rather than produce an empty window.
        return b
    return SendWindow(days=list(days), start=f"{start:%H:%M}", end=f"{end:%H:%M}")


def resolve(
    config: ContactPolicy,
    *,
    cadence: ContactRules | None,
    persona: str | None,
    industry: str | None,
    tier: str | None,
    country: str | None,
    region: str | None,
    frequency: str = "normal",
) -> EffectivePolicy:
    """The effective policy for a contact in a cadence (see the module docstring)."""
    segment = config.segment_for(persona, industry, tier)
    merged = config.defaults
    if segment is not None:
        merged = _over(merged, segment.policy)
    if cadence is not None:
        merged = _over(merged, cadence)
    regulated = config.industry_group(industry) == "regulated"
    window = merged.send_window
    caps = tuple(c for c in (_by_frequency(merged.caps, frequency),) if c is not None)
    if regulated:
        # The floor only ever tightens: narrower windows, its caps enforced as well, more blackouts.
        floor = config.regulated.policy
        window = _narrow_window(window, floor.send_window)
        caps = caps + ((floor.caps,) if floor.caps is not None else ())
        merged = merged.model_copy(
            update={
                "respect_holidays": bool(merged.respect_holidays) or bool(floor.respect_holidays),
                "sender_daily_cap": min(c for c in (merged.sender_daily_cap, floor.sender_daily_cap) if c)
                if (merged.sender_daily_cap or floor.sender_daily_cap)
                else None,
                "no_contact_days": max(merged.no_contact_days or 0, floor.no_contact_days or 0),
                "blackouts": [*(merged.blackouts or []), *(floor.blackouts or [])],
            }
        )
    return EffectivePolicy(
        send_window=window,
        quiet=config.quiet_hours.for_region(country, region),
        caps=caps,
        respect_holidays=bool(merged.respect_holidays),
        timezone=merged.timezone,
        no_contact_days=merged.no_contact_days or 0,
        blackouts=tuple(config.blackouts) + tuple(merged.blackouts or ()),
        sender_daily_cap=merged.sender_daily_cap,
        spread_minutes=merged.spread_minutes or 0,
        segment=segment.name if segment else None,
        regulated=regulated,
    )


def _by_frequency(caps: Caps | None, frequency: str) -> Caps | None:
    """The contact's own frequency choice (preference centre) lowers the caps."""
    base = caps or Caps(max_touches=1000, per_days=1)
    if frequency == "reduced":
        return Caps(max_touches=max(1, base.max_touches // 2), per_days=base.per_days, min_gap_hours=max(base.min_gap_hours, 48))
    if frequency == "minimal":
        return Caps(max_touches=1, per_days=max(base.per_days, 14), min_gap_hours=max(base.min_gap_hours, 24 * 7))
    return caps


WORKWEEK = frozenset(WEEKDAYS[:5])


def day_allowed(
    policy: EffectivePolicy, day: dt.date, weekday: Weekday, channel: str, *, holiday: bool, country: str | None = None
) -> str | None:
    """Why no touch may happen on this local date (None when it may).

    A Monday-to-Friday window means "business days": for a country whose weekend is not
    Saturday and Sunday (Israel, the Gulf states) its own working days are used instead.
    """
    window = policy.send_window
    if window is not None:
        if set(window.days) == WORKWEEK and country and policy.respect_holidays:
            from cadence.calendar import weekend

            if day.weekday() in weekend(country):
                return "the weekend"
        elif weekday not in window.days:
            return "outside the send window"
    if policy.respect_holidays and holiday:
        return "a public holiday"
    for blackout in policy.blackouts:
        if blackout.covers(day, channel):
            return f"the {blackout.name} blackout"
    return None


def daily_hours(policy: EffectivePolicy, channel: str) -> tuple[dt.time, dt.time] | None:
    """The local hours a touch on this channel may go out, or None for any time."""
    window = policy.send_window
    start, end = (parse_clock(window.start), parse_clock(window.end)) if window else (None, None)
    if channel in QUIET_CHANNELS:
        q_start, q_end = parse_clock(policy.quiet.start), parse_clock(policy.quiet.end)
        start = max(start, q_start) if start else q_start
        end = min(end, q_end) if end else q_end
    if start is None or end is None:
        return None
    return start, end
