"""Cadence definitions: the versioned, validated description of what an enrollment does.

A cadence is an ordered list of steps (emails, texts, rep tasks, CRM updates, waits for an
event), each preceded by a wait. The definition is plain data: the enrollment workflow
interprets it, so editing a cadence never changes the code, and an enrollment keeps the exact
version (by content hash) it started with.

Everything here is pure: parsing takes text or dicts, never files, and no clock is read.
"""

from __future__ import annotations

import hashlib
import json
import re
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cadence.contact_rules import ContactRules
from cadence.events import EventKind
from cadence.steps import KEY_PATTERN, TEMPLATE_PATTERN, EmailStep, SmsStep, Step


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReplyIntent(StrEnum):
    """What a reply means for the enrollment (classified upstream or by the rep)."""

    positive = "positive"
    negative = "negative"
    neutral = "neutral"
    out_of_office = "out_of_office"


# Events that end every cadence unless its author says otherwise (an opt-out always does).
BUILTIN_EXITS = tuple(kind.value for kind in (EventKind.reply, EventKind.meeting_booked, EventKind.bounce, EventKind.opt_out))


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
    exit_on: list[str] = Field(default_factory=lambda: list(BUILTIN_EXITS))
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
