"""Event rules: which business events enroll a contact in which cadence.

Configured in `playbooks/rules.yaml` (seed 002): a health score drop enrolls the account's
contact in the at-risk playbook, an NPS promoter gets the advocacy ask within 48 hours, a
renewal date being set starts the renewal cadence. Pure matching; the enrolling is done by
the caller, idempotently.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cadence.steps import KEY_PATTERN


class When(BaseModel):
    """The condition: a named event (optionally with a numeric field test), or a contact or
    account date field that has just been set."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    event: str | None = Field(default=None, pattern=KEY_PATTERN)
    field: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]{0,62}$")
    below: float | None = None
    at_least: float | None = None
    equals: str | float | bool | None = None
    date_set: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]{0,62}$")

    @model_validator(mode="after")
    def _one_trigger(self) -> When:
        if (self.event is None) == (self.date_set is None):
            raise ValueError("give either 'event' or 'date_set'")
        tests = [t for t in (self.below, self.at_least, self.equals) if t is not None]
        if tests and self.field is None:
            raise ValueError("'below', 'at_least' and 'equals' test a 'field' of the event's data")
        if self.date_set is not None and (self.field or tests):
            raise ValueError("'date_set' takes no field tests")
        return self


class Rule(BaseModel):
    """When the condition holds, enroll the contact in `enroll` (a cadence key)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1, max_length=100)
    when: When
    enroll: str = Field(pattern=KEY_PATTERN)


class Rules(BaseModel):
    """The whole rules file."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    rules: list[Rule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> Rules:
        names = [r.name for r in self.rules]
        if len(set(names)) != len(names):
            raise ValueError("rule names must be unique")
        return self

    def for_event(self, name: str, data: dict[str, Any]) -> list[Rule]:
        """Rules a named event with this data triggers."""
        return [r for r in self.rules if r.when.event == name and _holds(r.when, data)]

    def for_dates(self, newly_set: set[str]) -> list[Rule]:
        """Rules triggered by date fields that have just been set."""
        return [r for r in self.rules if r.when.date_set is not None and r.when.date_set in newly_set]


def _holds(when: When, data: dict[str, Any]) -> bool:
    if when.field is None:
        return True
    value = data.get(when.field)
    if value is None:
        return False
    if when.equals is not None:
        return str(value) == str(when.equals) if isinstance(when.equals, str) else value == when.equals
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    if when.below is not None and not number < when.below:
        return False
    return not (when.at_least is not None and not number >= when.at_least)
