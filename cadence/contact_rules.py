"""When and how often a contact may be reached: send windows, caps, blackouts and the other
settings a cadence, a segment or the policy file's defaults can set (`ContactRules`), and the
small value checks they share (times of day, weekdays, time zones).

Pure: validation only; `cadence.contact_policy` resolves the levels, `cadence.gate` applies them.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _clock_text(value: Any) -> Any:
    """YAML 1.1 reads an unquoted 10:30 as the number 630; say so instead of a type error."""
    if isinstance(value, int) and not isinstance(value, bool):
        raise ValueError(f'write the time of day in quotes, e.g. "10:30" (unquoted, YAML reads it as the number {value})')
    return value


ClockText = Annotated[str, BeforeValidator(_clock_text)]


def parse_clock(value: str) -> dt.time:
    """Parse "HH:MM" (24-hour) into a time; used by waits and send windows."""
    match = re.fullmatch(r"([01]\d|2[0-3]):([0-5]\d)", value)
    if not match:
        raise ValueError(f"{value!r} is not a time of day in HH:MM (24-hour) form")
    return dt.time(int(match.group(1)), int(match.group(2)))


def check_timezone(value: str) -> str:
    """Reject anything that is not an IANA time zone name, so bad data fails at load time."""
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r} (use an IANA name such as America/Chicago)") from exc
    return value


class SendWindow(_Model):
    """Contact-local hours in which touches may go out (enforced by the gate)."""

    days: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS[:5]), min_length=1)
    start: ClockText = "09:00"
    end: ClockText = "17:00"

    @model_validator(mode="after")
    def _ordered(self) -> SendWindow:
        if parse_clock(self.end) <= parse_clock(self.start):
            raise ValueError(f"window end {self.end} must be after its start {self.start}")
        return self


class Caps(_Model):
    """Frequency caps per contact across all of its enrollments (enforced by the gate)."""

    max_touches: int = Field(default=3, ge=1, le=1000)
    per_days: int = Field(default=7, ge=1, le=365)
    min_gap_hours: int = Field(default=0, ge=0, le=24 * 30)


class Blackout(_Model):
    """A yearly period with no touches (e.g. no QBRs in late December), in MM-DD form; it
    may wrap the year end. `channels` limits it to some channels (default: all)."""

    name: str = Field(min_length=1, max_length=100)
    start: str = Field(pattern=r"^(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$")
    end: str = Field(pattern=r"^(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$")
    channels: list[Literal["email", "sms", "call", "linkedin"]] | None = None

    @field_validator("start", "end")
    @classmethod
    def _real_date(cls, value: str) -> str:
        month, day = (int(p) for p in value.split("-"))
        try:
            dt.date(2024, month, day)  # a leap year, so 02-29 is allowed
        except ValueError:
            raise ValueError(f"{value!r} is not a real date (MM-DD)") from None
        return value

    def covers(self, day: dt.date, channel: str) -> bool:
        """Whether the blackout applies on this date to this channel."""
        if self.channels is not None and channel not in self.channels:
            return False
        key = f"{day.month:02d}-{day.day:02d}"
        if self.start <= self.end:
            return self.start <= key <= self.end
        return key >= self.start or key <= self.end


class ContactRules(_Model):
    """When and how often a contact may be reached: the `policy:` of a cadence (its
    overrides), of a segment, or the policy file's defaults.

    Every field left unset falls back to the next level (cadence, then segment, then the
    defaults in the policy file); `cadence.contact_policy` resolves them.
    """

    send_window: SendWindow | None = None
    caps: Caps | None = None
    respect_holidays: bool | None = None
    timezone: str | None = Field(default=None, description="Used when the contact has none")
    no_contact_days: int | None = Field(default=None, ge=0, le=3650)
    blackouts: list[Blackout] | None = None
    sender_daily_cap: int | None = Field(default=None, ge=1, le=1_000_000, description="Touches per sender per rolling 24 hours")
    spread_minutes: int | None = Field(default=None, ge=0, le=24 * 60, description="Spread deferred touches over this much of the window")

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str | None) -> str | None:
        return None if value is None else check_timezone(value)
