"""Test helpers: a brute-force time-zone oracle and small definition builders.

The oracle never calls the code under test: it finds transitions by scanning UTC offsets and
resolves a local wall time by trying each candidate offset and checking the round trip.
"""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo
from dataclasses import dataclass
from typing import Any

from cadence.definition import CadenceDefinition
from cadence.parse import parse_definition

UTC = dt.UTC
ALL_ZONES: tuple[str, ...] = tuple(sorted(zoneinfo.available_timezones()))
SCAN_START = dt.datetime(2024, 1, 1, tzinfo=UTC)
SCAN_END = dt.datetime(2031, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Transition:
    zone: str
    at: dt.datetime  # first UTC instant with the new offset
    before: dt.timedelta
    after: dt.timedelta

    @property
    def is_gap(self) -> bool:
        return self.after > self.before

    @property
    def size(self) -> dt.timedelta:
        return abs(self.after - self.before)

    @property
    def wall_start(self) -> dt.datetime:
        """Naive local wall time where the skipped (gap) or repeated (fold) stretch begins."""
        if self.is_gap:
            return (self.at + self.before).replace(tzinfo=None)
        return (self.at + self.after).replace(tzinfo=None)


@functools.cache
def transitions(zone_name: str) -> tuple[Transition, ...]:
    """Offset changes of a zone between 2024 and 2030, to the minute (weekly scan + bisection)."""
    tz = zoneinfo.ZoneInfo(zone_name)
    found: list[Transition] = []
    step = dt.timedelta(days=7)
    cur = SCAN_START
    offset = cur.astimezone(tz).utcoffset()
    while cur < SCAN_END:
        nxt = cur + step
        new = nxt.astimezone(tz).utcoffset()
        if new != offset:
            lo, hi = cur, nxt
            while hi - lo > dt.timedelta(minutes=1):
                mid = (lo + (hi - lo) / 2).replace(second=0, microsecond=0)
                if mid <= lo:
                    mid = lo + dt.timedelta(minutes=1)
                if mid.astimezone(tz).utcoffset() == offset:
                    lo = mid
                else:
                    hi = mid
            assert offset is not None and new is not None
            found.append(Transition(zone_name, hi, offset, new))
        cur, offset = nxt, new
    return tuple(found)


@functools.lru_cache(maxsize=1)
def all_transitions() -> tuple[Transition, ...]:
    return tuple(t for z in ALL_ZONES for t in transitions(z))


def wall(instant: dt.datetime, zone_name: str) -> dt.datetime:
    """Naive local wall time of an aware instant."""
    return instant.astimezone(zoneinfo.ZoneInfo(zone_name)).replace(tzinfo=None)


def occurrences(naive: dt.datetime, zone_name: str) -> list[dt.datetime]:
    """Every UTC instant whose local wall time is `naive` (0 in a gap, 2 in a fold), sorted."""
    tz = zoneinfo.ZoneInfo(zone_name)
    found = set()
    # Any offset in use around that day is a candidate; ±36 h covers every real zone.
    for probe_hours in range(-36, 37, 3):
        probe = (naive - dt.timedelta(hours=probe_hours)).replace(tzinfo=UTC)
        offset = probe.astimezone(tz).utcoffset()
        assert offset is not None
        candidate = (naive - offset).replace(tzinfo=UTC)
        if wall(candidate, zone_name) == naive:
            found.add(candidate)
    return sorted(found)


def gap_containing(naive: dt.datetime, zone_name: str) -> Transition | None:
    for t in transitions(zone_name):
        if t.is_gap and t.wall_start <= naive < t.wall_start + t.size:
            return t
    return None


def expected_local_instant(day: dt.date, clock: dt.time, zone_name: str) -> dt.datetime:
    """Oracle for "this wall time on this day": the first occurrence if it exists at all;
    inside a DST gap, the wall time moved forward by the size of the gap."""
    naive = dt.datetime.combine(day, clock)
    found = occurrences(naive, zone_name)
    if found:
        return found[0]
    gap = gap_containing(naive, zone_name)
    assert gap is not None, f"{naive} in {zone_name} neither exists nor lies in a known gap"
    shifted = occurrences(naive + gap.size, zone_name)
    assert len(shifted) == 1
    return shifted[0]


def in_fold(instant: dt.datetime, zone_name: str) -> bool:
    """Whether the instant's local wall time occurs twice (it lies in a DST fold)."""
    return len(occurrences(wall(instant, zone_name), zone_name)) > 1


# --- definition builders --------------------------------------------------------------------


def email(step_id: str, **extra: Any) -> dict[str, Any]:
    return {"id": step_id, "type": "email", "template": extra.pop("template", f"{step_id}-tpl"), **extra}


def doc(*steps: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"key": extra.pop("key", "demo"), "name": extra.pop("name", "Demo cadence"), "steps": list(steps), **extra}


def definition(*steps: dict[str, Any], **extra: Any) -> CadenceDefinition:
    if not steps:
        steps = (email("first"),)
    return parse_definition(doc(*steps, **extra))
