"""Return dates in out-of-office replies: "back on Monday", "returning 12/3", "until the
14th of January": the first plausible date on or after today, preferring one that follows a
return cue ("back", "returning", "until"). Linear in the text; at most the first few
thousand characters are read.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Iterator
from typing import Final

from dateutil.relativedelta import FR, MO, SA, SU, TH, TU, WE, relativedelta

from cadence.keywords import fold_text

_MONTHS: Final = {"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12}
_WEEKDAYS: Final = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_MONTH: Final = (
    r"(?P<mon>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?"
    r"|nov(?:ember)?|dec(?:ember)?)\.?"
)
_DAY: Final = r"(?P<day>\d{1,2})(?:st|nd|rd|th)?"
_YEAR: Final = r"(?:,?\s*(?P<year>\d{4})\b)?"
_DATE_PATTERNS: Final = (
    ("iso", re.compile(r"\b(?P<year>\d{4})-(?P<month>\d{1,2})-(?P<day>\d{1,2})\b")),
    ("named", re.compile(rf"\b{_MONTH}\s+{_DAY}\b{_YEAR}")),
    ("named", re.compile(rf"\b{_DAY}(?:\s+of)?\s+{_MONTH}(?![a-z]){_YEAR}")),
    ("slash", re.compile(r"\b(?P<a>\d{1,2})/(?P<b>\d{1,2})(?:/(?P<year>\d{4}|\d{2}))?\b(?!/)")),
    ("dotted", re.compile(r"\b(?P<day>\d{1,2})\.(?P<month>\d{1,2})\.(?P<year>\d{4})\b")),
    ("ordinal", re.compile(r"\bthe (?P<day>\d{1,2})(?:st|nd|rd|th)\b(?!\s+of)")),
    (
        "weekday",
        re.compile(
            r"\b(?:(?P<next>next|this|coming) )?(?P<weekday>" + "|".join(_WEEKDAYS) + r")\b"
            r"(?!,?\s*(?:the\s+)?(?:\d{1,2}(?:st|nd|rd|th)?(?:\s+of)?\s+[a-z]{3}|\d{1,2}/\d|\d{4}-)|,?\s*(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec))"
        ),
    ),
    ("relative", re.compile(r"\b(?P<rel>tomorrow|next week|in (?P<n>\d{1,2}|a|one|two|three|four) (?P<unit>days?|weeks?))\b")),
)
_RETURN_CUE: Final = re.compile(
    r"(?:\b(?:back|return|returns|returning|until|till|til|through|thru|resume|resuming|reachable|available)\b"
    r"[^.\n]{0,30}|\bto\s*|[-\u2013\u2014]\s*)$"
)
_RETURN_DATE_CHARS: Final = 5_000
"""Out-of-office notices give the date early; only this much text is searched for it."""
_MAX_DATES_PER_PATTERN: Final = 50
_SMALL_NUMBERS: Final = {"a": 1, "one": 1, "two": 2, "three": 3, "four": 4}


def _safe_date(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def _with_year(today: dt.date, year: str | None, month: int, day: int) -> dt.date | None:
    """The date as written; without a year, this year's if not yet past, else next year's."""
    if year:
        full = int(year) + (2000 if len(year) == 2 else 0)
        return _safe_date(full, month, day)
    this_year = _safe_date(today.year, month, day)
    if this_year is not None and this_year >= today:
        return this_year
    return _safe_date(today.year + 1, month, day)


def _resolve(kind: str, m: re.Match[str], today: dt.date, cued: bool) -> dt.date | None:
    g = m.groupdict()
    if kind == "iso":
        return _safe_date(int(g["year"]), int(g["month"]), int(g["day"]))
    if kind == "named":
        return _with_year(today, g["year"], _MONTHS[g["mon"][:3]], int(g["day"]))
    if kind == "slash":
        if not g["year"] and not cued:
            return None
        a, b = int(g["a"]), int(g["b"])
        month, day = (b, a) if a > 12 else (a, b)
        return _with_year(today, g["year"], month, day)
    if kind == "dotted":
        return _safe_date(int(g["year"]), int(g["month"]), int(g["day"]))
    if kind == "ordinal":
        day = int(g["day"])
        for months_ahead in range(3):
            first = today.replace(day=1) + relativedelta(months=months_ahead)
            candidate = _safe_date(first.year, first.month, day)
            if candidate is not None and candidate >= today:
                return candidate
        return None
    if kind == "weekday":
        target = (MO, TU, WE, TH, FR, SA, SU)[_WEEKDAYS.index(g["weekday"])]
        return today + relativedelta(days=1, weekday=target(+1))
    if g["rel"] == "tomorrow":
        return today + dt.timedelta(days=1)
    if g["rel"] == "next week":
        return today + relativedelta(days=1, weekday=MO(+1))
    n = int(g["n"]) if g["n"].isdigit() else _SMALL_NUMBERS[g["n"]]
    return today + dt.timedelta(days=n * (7 if g["unit"].startswith("week") else 1))


def _date_candidates(text: str, today: dt.date) -> Iterator[tuple[int, bool, dt.date]]:
    """(position, after a return cue, date) for every date expression, overlapping ones dropped."""
    taken: list[tuple[int, int]] = []
    found: list[tuple[int, bool, dt.date]] = []
    for kind, pattern in _DATE_PATTERNS:
        for m in itertools.islice(pattern.finditer(text), _MAX_DATES_PER_PATTERN):
            if any(m.start() < end and start < m.end() for start, end in taken):
                continue
            cued = bool(_RETURN_CUE.search(text[max(0, m.start() - 60) : m.start()]))
            date = _resolve(kind, m, today, cued)
            if date is not None:
                taken.append((m.start(), m.end()))
                found.append((m.start(), cued, date))
    yield from sorted(found)


def parse_return_date(text: str, today: dt.date) -> dt.date | None:
    """When an out-of-office contact says they are back: the first plausible date on or after `today`, preferring one
    written after a return cue ("back on", "until", "returning"). None when no date is given."""
    folded = fold_text(text[:_RETURN_DATE_CHARS])
    horizon = today + relativedelta(years=2)
    plausible = [(cued, date) for _, cued, date in _date_candidates(folded, today) if today <= date <= horizon]
    for cued, date in plausible:
        if cued:
            return date
    return plausible[0][1] if plausible else None
