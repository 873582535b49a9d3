"""Sentences that say why an enrollment is waiting, for the status view and the audit trail."""

from __future__ import annotations

from cadence.schedule import Position
from cadence.steps import AnyStep, Wait


def describe_wait(wait: Wait) -> str:
    """ "3 business days after the previous step at 09:00" and the like."""
    at = f" at {wait.at}" if wait.at else ""
    kind = wait.kind
    if kind == "none":
        return "right after the previous step"
    if kind == "relative":
        parts = [
            f"{n} {unit}{'s' if n != 1 else ''}"
            for n, unit in ((wait.days, "day"), (wait.hours, "hour"), (wait.minutes, "minute"), (wait.seconds, "second"))
            if n
        ]
        if not parts:
            return f"next{at}"
        return " ".join(parts) + f" after the previous step{at}"
    if kind == "business_days":
        n = wait.business_days or 0
        return f"{n} business day{'s' if n != 1 else ''} after the previous step{at}"
    if kind == "anchor":
        offset = wait.offset_days
        days = f"{abs(offset)} day{'s' if abs(offset) != 1 else ''}"
        when = "on" if offset == 0 else f"{days} {'before' if offset < 0 else 'after'}"
        return f"{when} the contact's {wait.anchor}{at}"
    return f"on the rhythm {wait.rrule}{at}"


def describe_step(step: AnyStep, position: Position) -> str:
    """Why the enrollment waits for this step: which step, of what kind, timed how."""
    repeat = f", occurrence {position.occurrence + 1}" if position.occurrence else ""
    return f"waiting for step {position.step + 1} {step.id!r} ({step.type}{repeat}): {describe_wait(step.wait)}"
