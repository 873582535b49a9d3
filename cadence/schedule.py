"""Schedule maths: when is the next step of an enrollment due?

Given where an enrollment stands (step, repeat occurrence, loop round), the instant the last
step ran and the contact's calendar (time zone, country, date fields), these functions answer
"what runs next, and when". They never read a clock: `reference` is always passed in, so the
workflow (with `workflow.now()`) and the preview get the same answers as the tests.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass, field

from dateutil.rrule import rrule, rrulestr

from cadence.calendar import UTC, add_business_days, from_local, to_local, zone
from cadence.contact_rules import parse_clock
from cadence.definition import CadenceDefinition
from cadence.steps import Wait

DEFAULT_CLOCK = dt.time(9, 0)


@dataclass(frozen=True)
class ContactCalendar:
    """The facts about a contact that timing depends on (no names, no addresses)."""

    timezone: str | None = None
    country: str | None = None
    subdivision: str | None = None
    dates: dict[str, dt.date] = field(default_factory=dict)


@dataclass(frozen=True)
class Due:
    """When a step is due, or why it will not run at all (its anchor date passed or is unknown)."""

    at: dt.datetime | None
    skip_reason: str | None = None


def due_at(
    wait: Wait, *, reference: dt.datetime, rhythm_start: dt.datetime, calendar: ContactCalendar, on_time: dt.datetime | None = None
) -> Due:
    """The instant a step with this wait is due, measured from `reference` (the previous step).

    Day-based waits count in the contact's wall time, so "2 days at 09:00" stays at 09:00
    local across a DST change. Business days skip the country's weekend and public holidays.
    An anchored step whose date has passed is skipped rather than sent late, unless only a
    deferral of the enrollment's own cadence made it late: `on_time` is when the enrollment
    would have reached the step without one, and an anchor not yet passed then is due at once.
    """
    tz = zone(calendar.timezone)
    local = to_local(reference, tz)
    at = parse_clock(wait.at) if wait.at else None
    kind = wait.kind
    if kind == "none":
        return Due(reference)
    if kind == "relative":
        span = dt.timedelta(hours=wait.hours or 0, minutes=wait.minutes or 0, seconds=wait.seconds or 0)
        if not wait.days and at is None:
            # Pure durations are elapsed time, whatever the wall clock does meanwhile.
            return Due(reference + span)
        day = local.date() + dt.timedelta(days=wait.days or 0)
        instant = _wall(day, at, local, tz)
        if at is not None and instant < reference:
            instant = from_local(day + dt.timedelta(days=1), at, tz)
        return Due(max(instant + span, reference))
    if kind == "business_days":
        assert wait.business_days is not None
        day = add_business_days(local.date(), wait.business_days, calendar.country, calendar.subdivision)
        if at is None and day == local.date():
            return Due(reference)  # "0 business days" on a business day means now
        instant = _wall(day, at, local, tz)
        if instant < reference:
            day = add_business_days(day, 1, calendar.country, calendar.subdivision)
            instant = _wall(day, at, local, tz)
        return Due(instant)
    if kind == "anchor":
        assert wait.anchor is not None
        anchor = calendar.dates.get(wait.anchor)
        if anchor is None:
            return Due(None, f"the contact has no {wait.anchor}")
        day = anchor + dt.timedelta(days=wait.offset_days)
        reached = min(on_time, reference) if on_time is not None else reference
        if day < to_local(reached, tz).date():
            offset = f" {wait.offset_days:+d} days" if wait.offset_days else ""
            return Due(None, f"{wait.anchor}{offset} ({day.isoformat()}) has already passed")
        return Due(max(from_local(day, at or DEFAULT_CLOCK, tz), reference))
    assert wait.rrule is not None
    start_local = to_local(rhythm_start, tz)
    dtstart = dt.datetime.combine(start_local.date(), at or DEFAULT_CLOCK)
    rule = rrulestr(wait.rrule, dtstart=dtstart)
    assert isinstance(rule, rrule)
    # Match on wall time, then check the real instant: in a DST fold the same wall time
    # happens twice, and an occurrence is only due if it is strictly after the reference.
    # Start a little early: an occurrence inside a DST gap resolves to just after the gap,
    # which may still be after a reference that is itself just after the gap.
    occurrence = rule.after(local.replace(tzinfo=None) - dt.timedelta(hours=3), inc=True)
    for _ in range(1000):
        if occurrence is None:
            return Due(None, "the recurring rule has no further occurrences")
        instant = from_local(occurrence.date(), occurrence.time(), tz)
        if instant > reference:
            return Due(instant)
        occurrence = rule.after(occurrence, inc=False)
    return Due(None, "the recurring rule has no occurrence after this instant")


def _wall(day: dt.date, at: dt.time | None, local: dt.datetime, tz: zoneinfo.ZoneInfo) -> dt.datetime:
    """`day` at `at`, or at the reference's own wall time (keeping which pass of a fold it was)."""
    if at is not None:
        return from_local(day, at, tz)
    clock = local.time().replace(tzinfo=None)
    naive = dt.datetime.combine(day, clock)
    first, second = naive.replace(tzinfo=tz, fold=0), naive.replace(tzinfo=tz, fold=1)
    repeated = first.utcoffset() != second.utcoffset() and first.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == naive
    if repeated:
        return naive.replace(tzinfo=tz, fold=local.fold).astimezone(UTC)
    return from_local(day, clock, tz)


@dataclass(frozen=True)
class Position:
    """Where an enrollment stands: which step, which repeat of it, which loop round."""

    step: int = 0
    occurrence: int = 0
    round: int = 0


def after(definition: CadenceDefinition, position: Position, *, end_repeat: bool = False) -> Position | None:
    """The position after the current one has run: repeat, next step, loop back, or the end.

    `end_repeat` leaves a repeating step even if its count allows more occurrences.
    """
    step = definition.steps[position.step]
    if not end_repeat and step.repeat is not None and (step.repeat.count is None or position.occurrence + 1 < step.repeat.count):
        return Position(position.step, position.occurrence + 1, position.round)
    if position.step + 1 < len(definition.steps):
        return Position(position.step + 1, 0, position.round)
    loop = definition.loop
    if loop is not None and (loop.times is None or position.round + 1 < loop.times):
        return Position(definition.step_index(loop.from_step), 0, position.round + 1)
    return None


@dataclass(frozen=True)
class Planned:
    """The next step to run and when; `skipped` lists steps passed over on the way, with reasons.

    `on_time`: when that step would have been due had no gate deferral of this cadence held
    the enrollment back (None when it is due on time), so that a later anchored step is
    moved by the deferral rather than dropped.
    """

    position: Position | None
    at: dt.datetime | None
    skipped: tuple[tuple[Position, str], ...] = ()
    on_time: dt.datetime | None = None


@dataclass(frozen=True)
class Behind:
    """Steps an enrollment had already passed in round `round` when its cadence changed
    under it: a new version that puts one of them further on does not run it again (in the
    same round; a loop's next round runs it as usual)."""

    steps: frozenset[str]
    round: int = 0


def plan(
    definition: CadenceDefinition,
    position: Position | None,
    *,
    reference: dt.datetime,
    rhythm_start: dt.datetime,
    calendar: ContactCalendar,
    on_time: dt.datetime | None = None,
    behind: Behind | None = None,
) -> Planned:
    """Schedule `position`, skipping forward over steps that cannot run (anchor passed,
    repeat past its `until`). Returns no position when the cadence has nothing left.

    `on_time`: when the enrollment would have reached `position` had no gate deferral of
    this cadence held it back (the previous step's planned time); see `due_at`. `behind`:
    steps passed before a change of version, passed over without a record (they ran)."""
    skipped: list[tuple[Position, str]] = []
    guard = 0
    while position is not None:
        guard += 1
        if guard > 10 * len(definition.steps) + 10:
            # A loop whose every step is skipped would spin forever; end the cadence instead.
            return Planned(None, None, tuple(skipped))
        step = definition.steps[position.step]
        if behind is not None and position.round == behind.round and step.id in behind.steps:
            position = after(definition, position, end_repeat=True)
            continue
        due = due_at(step.wait, reference=reference, rhythm_start=rhythm_start, calendar=calendar, on_time=on_time)
        reason = due.skip_reason
        if reason is not None and step.repeat is not None:
            # A repeating step that cannot be scheduled again (its rule ran out, its anchor
            # passed) is finished. Only a step that never ran at all counts as skipped.
            if position.occurrence == 0:
                skipped.append((position, reason))
            position = after(definition, position, end_repeat=True)
            continue
        if due.at is not None and step.repeat is not None and step.repeat.until is not None:
            if to_local(due.at, zone(calendar.timezone)).date() > step.repeat.until:
                if position.occurrence == 0:
                    reason = f"the repeat ended on {step.repeat.until.isoformat()}"
                else:
                    # The rhythm ran its course: move to the next step without recording a skip.
                    position = after(definition, position, end_repeat=True)
                    continue
        if reason is None and due.at is not None:
            return Planned(position, due.at, tuple(skipped), _held_back(step.wait, due.at, on_time, rhythm_start, calendar))
        skipped.append((position, reason or "not schedulable"))
        position = after(definition, position)
    return Planned(None, None, tuple(skipped))


def _held_back(
    wait: Wait, at: dt.datetime, on_time: dt.datetime | None, rhythm_start: dt.datetime, calendar: ContactCalendar
) -> dt.datetime | None:
    """When a step due at `at` would have been due without the deferral behind `on_time`
    (None once the deferral no longer shows: the step is due when it would have been anyway)."""
    if on_time is None:
        return None
    undeferred = due_at(wait, reference=on_time, rhythm_start=rhythm_start, calendar=calendar).at
    return undeferred if undeferred is not None and undeferred < at else None


def ensure_utc(instant: dt.datetime) -> dt.datetime:
    """Normalise an aware instant to UTC; naive input is a programming error."""
    if instant.tzinfo is None:
        raise ValueError("naive datetime: every instant must carry a time zone")
    return instant.astimezone(UTC)
