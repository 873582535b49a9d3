"""The event vocabulary: every kind of thing the world tells Cadence about a contact.

One definition, used by the API, the CLI, the in-process library, inbound delivery and the
enrollment workflow. Each kind says whether it is delivered to the contact's open
enrollments (and as which workflow signal) and which suppression it writes the moment it is
recorded, before anything else happens (an opt-out or a bounce must win every race).

Callers may send the `EventKind`s. Inbound channels also record kinds of their own: a spam
complaint (delivered as an opt-out), a soft bounce, START and HELP texts, and delivery
status callbacks, which are recorded but reach no workflow. Cadence records one itself: a
contact's date fields changed (a new renewal date), which moves its anchored steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal


class EventKind(StrEnum):
    """What another service (or a rep, or a webhook) may tell an enrollment."""

    reply = "reply"
    meeting_booked = "meeting_booked"
    bounce = "bounce"
    opt_out = "opt_out"
    task_completed = "task_completed"
    event = "event"  # a named business event ("renewal_signed"), with optional data for rules


Decided = Literal["reply", "meeting_booked", "bounce", "opt_out", "event"]
"""The kinds a cadence's exit rules and reply branches decide about (a task completion only
moves a waiting task step on)."""


@dataclass(frozen=True)
class Suppresses:
    """The do-not-contact an event writes: on which channel ("all" for every one) and why."""

    channel: str
    reason: str


@dataclass(frozen=True)
class Kind:
    """One recorded event type: the workflow signal it is delivered as (None: recorded only)
    and the suppression it implies."""

    name: str
    signal: str | None
    suppresses: Suppresses | None = None
    # An opt-out on one channel ("reply STOP to a text") suppresses that channel only.
    channel_specific: bool = False


# The signal names the enrollment workflow listens on (fixed: recorded histories use them).
REPLY_SIGNAL = "reply"
MEETING_SIGNAL = "meeting_booked"
BOUNCE_SIGNAL = "bounce"
OPT_OUT_SIGNAL = "opt_out"
TASK_COMPLETED_SIGNAL = "task_completed"
NAMED_EVENT_SIGNAL = "event"
DATES_CHANGED_SIGNAL = "dates_changed"

# Recorded by Cadence itself when a contact's date fields (its own or its account's) change,
# and delivered to its open enrollments so that their anchored steps follow the new dates.
DATES_CHANGED = "dates_changed"

KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind(EventKind.reply, signal=REPLY_SIGNAL),
        Kind(EventKind.meeting_booked, signal=MEETING_SIGNAL),
        Kind(EventKind.bounce, signal=BOUNCE_SIGNAL, suppresses=Suppresses("email", "bounce")),
        Kind(EventKind.opt_out, signal=OPT_OUT_SIGNAL, suppresses=Suppresses("all", "opt_out"), channel_specific=True),
        Kind(EventKind.task_completed, signal=TASK_COMPLETED_SIGNAL),
        Kind(EventKind.event, signal=NAMED_EVENT_SIGNAL),
        # Recorded by inbound channels only.
        Kind("complaint", signal=OPT_OUT_SIGNAL, suppresses=Suppresses("email", "complaint")),
        Kind("soft_bounce", signal=None),
        Kind("auto_reply", signal=None),  # machine-generated mail that is not an out-of-office
        Kind("consent_restored", signal=None),
        Kind("help", signal=None),
        Kind("sms_status", signal=None),
        Kind(DATES_CHANGED, signal=DATES_CHANGED_SIGNAL),
    )
}


def signal_of(name: str) -> str | None:
    """The workflow signal an event of this type is delivered as (None: not delivered)."""
    kind = KINDS.get(name)
    return kind.signal if kind else None


def suppression_of(name: str, channel: str | None = None) -> Suppresses | None:
    """The suppression an event of this type writes, narrowed to `channel` for an opt-out
    that came through one channel."""
    kind = KINDS.get(name)
    if kind is None or kind.suppresses is None:
        return None
    if kind.channel_specific and channel:
        return Suppresses(channel, kind.suppresses.reason)
    return kind.suppresses
