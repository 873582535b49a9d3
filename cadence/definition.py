"""Cadence definitions: the versioned, validated description of what an enrollment does.

A cadence is an ordered list of steps (emails, texts, rep tasks, CRM updates, waits for an
event), each preceded by a wait. The definition is plain data: the enrollment workflow
interprets it, so editing a cadence never changes the code, and an enrollment keeps the exact
version (by content hash) it started with.

Everything here is pure: parsing takes text or dicts, never files, and no clock is read.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import zoneinfo
from enum import StrEnum
from typing import Annotated, Any, Literal

from dateutil.rrule import rrule, rrulestr
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

KEY_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
TEMPLATE_PATTERN = r"^[a-z0-9][a-z0-9_./-]{0,126}$"
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Channel(StrEnum):
    """How a step reaches the contact; the gate's consent and suppression are per channel."""

    email = "email"
    sms = "sms"
    call = "call"
    linkedin = "linkedin"


class ReplyIntent(StrEnum):
    """What a reply means for the enrollment (classified upstream or by the rep)."""

    positive = "positive"
    negative = "negative"
    neutral = "neutral"
    out_of_office = "out_of_office"


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
    topic: str = Field(
        default="sales",
        pattern=KEY_PATTERN,
        description="Communication type, checked against the contact's preferences",
    )

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


BUILTIN_EXITS = ("reply", "meeting_booked", "bounce", "opt_out")


class ReplyAction(_Model):
    """What a reply of one intent does: exit, continue, pause, or switch cadence.

    A pause lasts `pause_days` business days, or until someone resumes it when unset. An
    out-of-office pause lasts until the return date plus one business day.
    """

    action: Literal["exit", "continue", "pause", "switch"]
    switch_to: str | None = Field(default=None, pattern=KEY_PATTERN)
    pause_days: int | None = Field(default=None, ge=1, le=365)

    @model_validator(mode="after")
    def _target(self) -> ReplyAction:
        if (self.action == "switch") != (self.switch_to is not None):
            raise ValueError("'switch' needs 'switch_to' (a cadence key), and only 'switch' takes one")
        if self.pause_days is not None and self.action != "pause":
            raise ValueError("'pause_days' only applies to the 'pause' action")
        return self


class Loop(_Model):
    """After the last step, start again from `from_step` (a customer rhythm that never ends)."""

    from_step: str = Field(pattern=KEY_PATTERN)
    times: int | None = Field(default=None, ge=1, le=1000, description="Total rounds, the first included; unset: until an exit")


class CadenceDefinition(_Model):
    """A cadence as its author wrote it: identity, steps, exits, reply branches and policy."""

    key: str = Field(pattern=KEY_PATTERN, description="Stable identifier, e.g. renewal-90-60-30")
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=4000)
    audience: Literal["prospect", "customer", "internal"] = "prospect"
    steps: list[Step] = Field(min_length=1, max_length=200)
    exit_on: list[str] = Field(default_factory=lambda: ["reply", "meeting_booked", "bounce", "opt_out"])
    on_reply: dict[ReplyIntent, ReplyAction] = Field(
        default_factory=dict,
        description="Explicit reply branches; without one, out-of-office pauses and other replies exit "
        "(or continue, when 'reply' is not in exit_on)",
    )
    loop: Loop | None = None
    pause_account_on_reply: bool = Field(
        default=False, description="A reply from one contact pauses the other contacts of the account in this cadence"
    )
    policy: ContactRules = Field(default_factory=ContactRules)

    @field_validator("exit_on")
    @classmethod
    def _exit_on(cls, value: list[str]) -> list[str]:
        for item in value:
            if item in BUILTIN_EXITS:
                continue
            if not re.fullmatch(r"event:[a-z0-9][a-z0-9_-]{0,62}", item):
                raise ValueError(f"{item!r} is not an exit rule: use reply, meeting_booked, bounce, opt_out or event:<name>")
        if "opt_out" not in value:
            # An opt-out always ends every enrollment; saying otherwise would be a compliance bug.
            value = [*value, "opt_out"]
        return value

    @model_validator(mode="after")
    def _consistent(self) -> CadenceDefinition:
        ids = [s.id for s in self.steps]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"step ids must be unique; repeated: {', '.join(dupes)}")
        if self.loop is not None and self.loop.from_step not in ids:
            raise ValueError(f"loop.from_step {self.loop.from_step!r} is not a step of this cadence")
        for intent, action in self.on_reply.items():
            if action.switch_to == self.key:
                raise ValueError(f"on_reply.{intent.value} switches to this same cadence")
        return self

    def step_index(self, step_id: str) -> int:
        """Position of a step by id (for loops and audit)."""
        return [s.id for s in self.steps].index(step_id)

    def template_names(self) -> list[str]:
        """Every template any step may render, in step order, without repeats."""
        names: list[str] = []
        for step in self.steps:
            if isinstance(step, EmailStep | SmsStep):
                names.extend(n for n in step.template_names() if n not in names)
        return names

    def reply_action(self, intent: ReplyIntent) -> ReplyAction:
        """The effective branch for a reply: the author's, or the default for the intent."""
        explicit = self.on_reply.get(intent)
        if explicit is not None:
            return explicit
        if intent == ReplyIntent.out_of_office:
            return ReplyAction(action="pause")
        return ReplyAction(action="exit" if self.exits_on("reply") else "continue")

    def exits_on(self, rule: str) -> bool:
        """Whether an event of this kind ("reply", "event:renewal_signed") ends the enrollment."""
        return rule in self.exit_on


class TemplateSource(_Model):
    """The text of one message template, as stored with the cadence version that uses it.

    Email templates carry `subject`, `html` and `text`; SMS templates carry `body`.
    """

    name: str = Field(pattern=TEMPLATE_PATTERN)
    channel: Literal["email", "sms"]
    subject: str | None = None
    html: str | None = None
    text: str | None = None
    body: str | None = None

    @model_validator(mode="after")
    def _parts(self) -> TemplateSource:
        if self.channel == "email" and not (self.subject and self.html and self.text):
            raise ValueError("an email template needs subject, html and text parts")
        if self.channel == "sms" and not self.body:
            raise ValueError("an SMS template needs a body")
        return self

    @property
    def version(self) -> str:
        """Content hash of the template: the template version recorded on every touch."""
        return content_hash(self.model_dump(mode="json"))[:12]


def content_hash(data: Any) -> str:
    """SHA-256 over canonical JSON: equal content always gives the same version."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class CadenceBundle(_Model):
    """A definition together with the templates it uses: what one cadence version pins."""

    definition: CadenceDefinition
    templates: dict[str, TemplateSource] = Field(default_factory=dict)

    @property
    def version_hash(self) -> str:
        """The cadence version: a hash of the definition and every template it uses."""
        return content_hash(self.model_dump(mode="json"))


class FieldProblem(BaseModel):
    """One validation problem, located as precisely as the input allows."""

    step: int | None = None
    step_id: str | None = None
    field: str
    message: str

    def describe(self) -> str:
        """ "step 3 'welcome': field 'wait.days': ..." style text for people."""
        where = ""
        if self.step is not None:
            where = f"step {self.step + 1}" + (f" {self.step_id!r}" if self.step_id else "") + ": "
        return f"{where}field {self.field!r}: {self.message}"


class DefinitionError(ValueError):
    """A cadence definition (or its templates) is invalid; lists every problem found."""

    def __init__(self, problems: list[FieldProblem], source: str | None = None) -> None:
        self.problems = problems
        self.source = source
        prefix = f"{source}: " if source else ""
        super().__init__(prefix + "; ".join(p.describe() for p in problems))


def _problems_from(exc: ValidationError, raw: Any) -> list[FieldProblem]:
    raw_steps = raw.get("steps") if isinstance(raw, dict) else None
    problems: list[FieldProblem] = []
    for err in exc.errors():
        loc = list(err["loc"])
        step: int | None = None
        step_id: str | None = None
        if len(loc) >= 2 and loc[0] == "steps" and isinstance(loc[1], int):
            step = loc[1]
            loc = loc[2:]
            if loc and isinstance(loc[0], str) and loc[0] in {"email", "sms", "call", "linkedin", "task", "crm_update", "wait_event"}:
                loc = loc[1:]  # pydantic's discriminator tag adds noise to the location
            if isinstance(raw_steps, list) and step < len(raw_steps) and isinstance(raw_steps[step], dict):
                candidate = raw_steps[step].get("id")
                step_id = candidate if isinstance(candidate, str) else None
        field = ".".join(str(p) for p in loc) or ("(step)" if step is not None else "(root)")
        message = err["msg"].removeprefix("Value error, ")
        problems.append(FieldProblem(step=step, step_id=step_id, field=field, message=message))
    return problems


def parse_definition(raw: Any, source: str | None = None) -> CadenceDefinition:
    """Validate a decoded YAML/JSON document; errors name the source, the step and the field."""
    if not isinstance(raw, dict):
        raise DefinitionError([FieldProblem(field="(root)", message="a cadence must be a mapping of fields")], source)
    try:
        return CadenceDefinition.model_validate(raw)
    except ValidationError as exc:
        raise DefinitionError(_problems_from(exc, raw), source) from None


def definition_json_schema() -> dict[str, Any]:
    """The JSON Schema of a cadence definition, for editors and other services."""
    schema = CadenceDefinition.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Cadence definition"
    return schema


def check_bundle(bundle: CadenceBundle, source: str | None = None) -> CadenceBundle:
    """Check that every template a step uses exists and is for the step's channel."""
    problems: list[FieldProblem] = []
    for index, step in enumerate(bundle.definition.steps):
        if not isinstance(step, EmailStep | SmsStep):
            continue
        field = "template" if step.variants is None else "variants"
        for name in step.template_names():
            template = bundle.templates.get(name)
            if template is None:
                problems.append(FieldProblem(step=index, step_id=step.id, field=field, message=f"template {name!r} not found"))
            elif template.channel != step.type:
                problems.append(
                    FieldProblem(
                        step=index,
                        step_id=step.id,
                        field=field,
                        message=f"template {name!r} is for {template.channel}, but the step sends {step.type}",
                    )
                )
    if problems:
        raise DefinitionError(problems, source)
    return bundle


def parse_yaml(text: str, source: str | None = None) -> Any:
    """Decode YAML text; a syntax error names the line and column."""
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise DefinitionError([FieldProblem(field="(yaml)", message=f"malformed YAML{where}: {problem}")], source) from None
