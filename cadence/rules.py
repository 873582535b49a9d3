"""What an inbound event does to an enrollment: exit, switch cadence, pause, or carry on.

Pure decisions from the cadence's exit rules and reply branches. The workflow applies them;
the reasons written here are what the status and the audit trail show.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from cadence.calendar import add_business_days, from_local, to_local, zone
from cadence.definition import CadenceDefinition, ReplyIntent
from cadence.events import Decided
from cadence.schedule import DEFAULT_CLOCK, ContactCalendar


class Status(StrEnum):
    """Lifecycle of an enrollment. Every status after `paused` is terminal."""

    pending = "pending"
    active = "active"
    paused = "paused"
    completed = "completed"
    replied = "replied"
    meeting_booked = "meeting_booked"
    bounced = "bounced"
    opted_out = "opted_out"
    stopped = "stopped"
    switched = "switched"
    exited = "exited"
    failed = "failed"

    @property
    def terminal(self) -> bool:
        """Whether the enrollment is over (no more touches, no transitions accepted)."""
        return self not in (Status.pending, Status.active, Status.paused)


OPEN_STATUSES = (Status.pending, Status.active, Status.paused)

OOO_DEFAULT_BUSINESS_DAYS = 5


@dataclass(frozen=True)
class Decision:
    """The effect of one event: `exit` with an outcome, `switch` to another cadence,
    `pause` until an instant, or `continue` (the event is recorded, nothing changes)."""

    action: Literal["exit", "switch", "pause", "continue"]
    reason: str
    outcome: Status | None = None
    switch_to: str | None = None
    pause_until: dt.datetime | None = None


def decide(
    definition: CadenceDefinition,
    kind: Decided,
    *,
    now: dt.datetime,
    calendar: ContactCalendar,
    intent: ReplyIntent | None = None,
    name: str | None = None,
    return_date: dt.date | None = None,
) -> Decision:
    """Apply the cadence's exit rules and reply branches to one event."""
    if kind == "opt_out":
        return Decision("exit", "the contact opted out", Status.opted_out)
    if kind == "bounce":
        if definition.exits_on("bounce"):
            return Decision("exit", "the address bounced", Status.bounced)
        return Decision("continue", "bounce recorded; this cadence does not exit on bounces")
    if kind == "meeting_booked":
        if definition.exits_on("meeting_booked"):
            return Decision("exit", "a meeting was booked", Status.meeting_booked)
        return Decision("continue", "meeting recorded; this cadence does not exit on meetings")
    if kind == "event":
        rule = f"event:{name}"
        if definition.exits_on(rule):
            return Decision("exit", f"event {name!r} ends this cadence", Status.exited)
        return Decision("continue", f"event {name!r} recorded")
    intent = intent or ReplyIntent.neutral
    action = definition.reply_action(intent)
    if action.action == "pause":
        if intent == ReplyIntent.out_of_office:
            until = out_of_office_until(return_date, now=now, calendar=calendar, default_days=action.pause_days)
            return Decision("pause", f"out of office until {until.date().isoformat()}", pause_until=until)
        if action.pause_days is None:
            return Decision("pause", f"{intent.value} reply: paused until someone resumes it")
        until = _business_days_later(action.pause_days, now=now, calendar=calendar)
        return Decision("pause", f"{intent.value} reply: paused until {until.date().isoformat()}", pause_until=until)
    if action.action == "switch":
        return Decision("switch", f"{intent.value} reply: switching to {action.switch_to}", Status.switched, action.switch_to)
    if action.action == "continue":
        return Decision("continue", f"{intent.value} reply recorded; the cadence continues")
    return Decision("exit", f"the contact replied ({intent.value})", Status.replied)


def _business_days_later(days: int, *, now: dt.datetime, calendar: ContactCalendar) -> dt.datetime:
    tz = zone(calendar.timezone)
    day = add_business_days(to_local(now, tz).date(), days, calendar.country, calendar.subdivision)
    return max(from_local(day, DEFAULT_CLOCK, tz), now)


def out_of_office_until(
    return_date: dt.date | None, *, now: dt.datetime, calendar: ContactCalendar, default_days: int | None = None
) -> dt.datetime:
    """Resume one business day after the return date (09:00 local), so the first touch does
    not land in a full inbox; without a date, `default_days` (five) business days from now."""
    tz = zone(calendar.timezone)
    today = to_local(now, tz).date()
    if return_date is None or return_date < today:
        return _business_days_later(default_days or OOO_DEFAULT_BUSINESS_DAYS, now=now, calendar=calendar)
    day = add_business_days(return_date, 1, calendar.country, calendar.subdivision)
    return max(from_local(day, DEFAULT_CLOCK, tz), now)
