"""The steps of a cadence and the wait before each: emails and texts (with A/B variants), rep
tasks, CRM updates and waits for an event; waits relative, in business days, anchored to a
date, or on an RRULE rhythm; repeats.

Pure data with validation; `cadence.schedule` turns a wait into an instant.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Literal

from dateutil.rrule import rrule, rrulestr
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cadence.contact_rules import ClockText, parse_clock

KEY_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
TEMPLATE_PATTERN = r"^[a-z0-9][a-z0-9_./-]{0,126}$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Channel(StrEnum):
    """How a step reaches the contact; the gate's consent and suppression are per channel."""

    email = "email"
    sms = "sms"
    call = "call"
    linkedin = "linkedin"


class Wait(_Model):
    """How long to wait before a step runs, measured from the previous step (or the start).

    Exactly one kind: a relative delay (seconds/minutes/hours/days, which may be combined, or
    business days), an anchor on a date field of the contact or account (renewal date minus
    90 days), or the next occurrence of an RRULE ("first Tuesday of each quarter"). `at`
    pins the contact-local time of day for day-based, anchored and RRULE waits.
    """

    seconds: int | None = Field(default=None, ge=0, le=86_400, description="For tests and benchmarks")
    minutes: int | None = Field(default=None, ge=0, le=60 * 24 * 366)
    hours: int | None = Field(default=None, ge=0, le=24 * 366)
    days: int | None = Field(default=None, ge=0, le=3660)
    business_days: int | None = Field(default=None, ge=0, le=2600)
    anchor: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]{0,62}$")
    offset_days: int = Field(default=0, ge=-3660, le=3660)
    rrule: str | None = Field(default=None, max_length=500)
    at: ClockText | None = None

    @field_validator("at")
    @classmethod
    def _valid_at(cls, value: str | None) -> str | None:
        if value is not None:
            parse_clock(value)
        return value

    @field_validator("rrule")
    @classmethod
    def _valid_rrule(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if "DTSTART" in value.upper():
            raise ValueError("leave DTSTART out of the rule: it is anchored to the enrollment")
        try:
            parsed = rrulestr(value, dtstart=dt.datetime(2024, 1, 1))  # noqa: DTZ001  (RRULEs run on naive wall time)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"not a valid RRULE: {exc}") from exc
        if not isinstance(parsed, rrule):
            raise ValueError("give a single RRULE (no EXDATE, RDATE or second rule)")
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> Wait:
        relative = any(v is not None for v in (self.seconds, self.minutes, self.hours, self.days))
        kinds = [relative, self.business_days is not None, self.anchor is not None, self.rrule is not None]
        if sum(kinds) > 1:
            raise ValueError("choose one kind of wait: minutes/hours/days, business_days, anchor, or rrule")
        if self.offset_days and self.anchor is None:
            raise ValueError("offset_days only applies to an anchor wait")
        if self.at is not None and (self.seconds or self.minutes or self.hours):
            raise ValueError("'at' pins a time of day; it cannot be combined with seconds, minutes or hours")
        return self

    @property
    def kind(self) -> Literal["relative", "business_days", "anchor", "rrule", "none"]:
        """Which of the four wait kinds this is ("none" means run immediately)."""
        if self.anchor is not None:
            return "anchor"
        if self.rrule is not None:
            return "rrule"
        if self.business_days is not None:
            return "business_days"
        if any(v is not None for v in (self.seconds, self.minutes, self.hours, self.days)) or self.at:
            return "relative"
        return "none"


class Repeat(_Model):
    """Run a step again and again on its wait ("every 2 weeks", "monthly"), until the count,
    the date, or the enrollment ends. Without count or until it repeats until an exit."""

    count: int | None = Field(default=None, ge=1, le=1000)
    until: dt.date | None = None


class Variant(_Model):
    """One arm of an A/B test on a step; assignment is stable per enrollment."""

    id: str = Field(pattern=KEY_PATTERN)
    weight: int = Field(default=1, ge=1, le=10_000)
    template: str = Field(pattern=TEMPLATE_PATTERN)


class _StepBase(_Model):
    id: str = Field(pattern=KEY_PATTERN, description="Stable id of the step within the cadence")
    name: str | None = Field(default=None, max_length=200)
    wait: Wait = Field(default_factory=Wait)
    repeat: Repeat | None = None

    @model_validator(mode="after")
    def _repeat_moves_forward(self) -> _StepBase:
        if self.repeat is None:
            return self
        wait = self.wait
        moves = {
            "relative": bool(wait.seconds or wait.minutes or wait.hours or wait.days),
            "business_days": bool(wait.business_days),
            "rrule": True,
        }.get(wait.kind, False)
        if not moves:
            raise ValueError(
                "a repeating step needs a wait that moves time forward (days, hours, business days or an rrule); an anchor happens once"
            )
        return self


class _MessageStep(_StepBase):
    template: str | None = Field(default=None, pattern=TEMPLATE_PATTERN)
    variants: list[Variant] | None = Field(default=None, min_length=2, max_length=10)
    topic: str = Field(default="sales", pattern=KEY_PATTERN, description="Communication type, checked against the contact's preferences")

    @model_validator(mode="after")
    def _template_or_variants(self) -> _MessageStep:
        if (self.template is None) == (self.variants is None):
            raise ValueError("give either 'template' or 'variants' (not both)")
        if self.variants is not None:
            ids = [v.id for v in self.variants]
            if len(set(ids)) != len(ids):
                raise ValueError("variant ids must be unique within the step")
        return self

    def template_names(self) -> list[str]:
        """Every template the step may render."""
        if self.variants is not None:
            return [v.template for v in self.variants]
        assert self.template is not None
        return [self.template]


class EmailStep(_MessageStep):
    """Send an email over SMTP (subject, HTML and text parts rendered from a template)."""

    type: Literal["email"]


class SmsStep(_MessageStep):
    """Send a text message through Twilio; needs SMS consent and respects quiet hours."""

    type: Literal["sms"]


class TaskSpec(_Model):
    """What the rep is asked to do, by when, and what happens if it is not done in time."""

    title: str = Field(min_length=1, max_length=200)
    instructions: str | None = Field(default=None, max_length=4000)
    due_hours: int = Field(default=24, ge=0, le=24 * 90, description="Due this long after creation")
    sla_hours: int | None = Field(default=None, ge=1, le=24 * 90, description="Overdue after this long")
    on_overdue: Literal["wait", "continue"] = "wait"
    wait_for_completion: bool = True

    @model_validator(mode="after")
    def _sla_needs_wait(self) -> TaskSpec:
        if not self.wait_for_completion and (self.sla_hours is not None or self.on_overdue != "wait"):
            raise ValueError("sla_hours and on_overdue apply only when the enrollment waits for the task (wait_for_completion: true)")
        return self


class TaskStep(_StepBase):
    """A rep task: a call, a LinkedIn touch or any manual work; the enrollment can wait for it."""

    type: Literal["call", "linkedin", "task"]
    task: TaskSpec

    @property
    def channel(self) -> Channel | None:
        """Call tasks are calls to the contact (consent, quiet hours); LinkedIn is social."""
        return {"call": Channel.call, "linkedin": Channel.linkedin}.get(self.type)


class CrmUpdateStep(_StepBase):
    """Write fields on the contact in Postgres and optionally notify a webhook (a CRM)."""

    type: Literal["crm_update"]
    set_fields: dict[str, str | int | float | bool | None] = Field(default_factory=dict)
    webhook_url: str | None = Field(default=None, pattern=r"^https?://", max_length=2000)

    @model_validator(mode="after")
    def _something_to_do(self) -> CrmUpdateStep:
        if not self.set_fields and not self.webhook_url:
            raise ValueError("a crm_update step needs set_fields, webhook_url or both")
        return self


class WaitEventStep(_StepBase):
    """Pause the sequence until a named event arrives (or the timeout passes)."""

    type: Literal["wait_event"]
    event: str = Field(pattern=KEY_PATTERN)
    timeout_days: int | None = Field(default=None, ge=1, le=3660)


AnyStep = EmailStep | SmsStep | TaskStep | CrmUpdateStep | WaitEventStep
Step = Annotated[AnyStep, Field(discriminator="type")]
