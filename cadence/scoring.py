"""Lead scoring: points for every interaction a contact has with what Cadence sends, fading
over time, so reps call the people who are engaged now (seed 000).

Configured in `playbooks/scoring.yaml`: points per engagement kind (a reply by its intent),
a half-life (a score halves every `half_life_days` without new engagement), per-day caps per
kind (ten opens in a day are not ten times the interest), a floor and a ceiling, and named
thresholds. When a new engagement lifts the score from below a threshold to at least it,
the threshold is crossed: Cadence then records the named event `score_<name>` for the
contact, which event rules can act on (enroll in a "call the hot lead" cadence: a task for
the owner) and cadences can exit on (`exit_on: [event:score_hot]`: a switch of cadence).

A score is stored with the moment it was computed; `decayed` brings it to any later moment.
Opens and clicks a machine made score nothing. Pure functions, no clock.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# Every engagement kind (`models.engagements`), in the order a report shows them.
KINDS = ("delivered", "opened", "clicked", "replied", "meeting_booked", "bounced", "complained", "opted_out", "task_completed")
INTENTS = ("positive", "neutral", "negative", "out_of_office")


class Threshold(BaseModel):
    """A named level: crossing it upward records the event `score_<name>`."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,40}$")
    at_least: float


class ScoringConfig(BaseModel):
    """The whole scoring file, validated when loaded (an unknown kind is refused at start-up)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    points: dict[str, float] = Field(default_factory=dict, description="Points per engagement kind (replies: see reply_points)")
    reply_points: dict[str, float] = Field(default_factory=dict, description="Points per reply intent")
    daily_caps: dict[str, float] = Field(default_factory=dict, description="Most points one kind can add in a day (UTC)")
    half_life_days: float = Field(default=30, gt=0, le=3650)
    floor: float = -100
    ceiling: float = 100
    thresholds: list[Threshold] = Field(default_factory=list)

    @field_validator("points", "daily_caps")
    @classmethod
    def _known_kinds(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(KINDS))
        if unknown:
            raise ValueError(f"unknown engagement kind {unknown[0]!r}; use one of {', '.join(KINDS)}")
        return value

    @field_validator("reply_points")
    @classmethod
    def _known_intents(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(INTENTS))
        if unknown:
            raise ValueError(f"unknown reply intent {unknown[0]!r}; use one of {', '.join(INTENTS)}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ScoringConfig:
        if self.floor >= self.ceiling:
            raise ValueError("floor must be below ceiling")
        if any(cap < 0 for cap in self.daily_caps.values()):
            raise ValueError("daily_caps must not be negative")
        names = [t.name for t in self.thresholds]
        if len(set(names)) != len(names):
            raise ValueError("threshold names must be unique")
        for t in self.thresholds:
            if not self.floor < t.at_least <= self.ceiling:
                raise ValueError(f"threshold {t.name!r} must lie above the floor and at most the ceiling")
        return self

    def points_for(self, kind: str, detail: dict[str, Any], *, machine: bool) -> float:
        """What one engagement is worth before caps (a machine's open or click: nothing)."""
        if machine:
            return 0.0
        if kind == "replied":
            return self.reply_points.get(str(detail.get("intent") or "neutral"), 0.0)
        return self.points.get(kind, 0.0)


@dataclass(frozen=True)
class Score:
    """A contact's score as stored: its value at `at`, and the points each kind added on
    `day` (for the daily caps)."""

    value: float = 0.0
    at: dt.datetime | None = None
    day: dt.date | None = None
    used: dict[str, float] = field(default_factory=dict)


def decayed(value: float, at: dt.datetime | None, now: dt.datetime, half_life_days: float) -> float:
    """The score `value` (as of `at`) at `now`: halved every `half_life_days`; never grows."""
    if at is None or now <= at or value == 0:
        return value
    days = (now - at).total_seconds() / 86400
    return value * math.pow(0.5, days / half_life_days)


@dataclass(frozen=True)
class Scored:
    """The new score, the points the engagement added (after its cap), and the thresholds
    it crossed upward."""

    score: Score
    added: float
    crossed: tuple[Threshold, ...]


def add(config: ScoringConfig, score: Score, kind: str, detail: dict[str, Any], *, machine: bool, now: dt.datetime) -> Scored:
    """Apply one engagement at `now`: decay the stored score to `now`, add the engagement's
    points within its kind's daily cap (negative points are never capped), clamp to the floor
    and ceiling, and say which thresholds the score rose through."""
    before = decayed(score.value, score.at, now, config.half_life_days)
    today = now.astimezone(dt.UTC).date()
    used = dict(score.used) if score.day == today else {}
    points = config.points_for(kind, detail, machine=machine)
    cap = config.daily_caps.get(kind)
    if points > 0 and cap is not None:
        points = max(min(points, cap - used.get(kind, 0.0)), 0.0)
    if points:
        used[kind] = used.get(kind, 0.0) + points
    after = min(max(before + points, config.floor), config.ceiling)
    crossed = tuple(t for t in config.thresholds if before < t.at_least <= after)
    return Scored(Score(round(after, 4), now, today, used), round(after - before, 4), crossed)


def level(config: ScoringConfig, value: float) -> str | None:
    """The highest threshold the score has reached ("hot"), or None below them all."""
    reached = [t for t in config.thresholds if value >= t.at_least]
    return max(reached, key=lambda t: t.at_least).name if reached else None
