"""Time zones that make wall-clock tests independent of when they run.

SMS and calls are held to 08:00-21:00 contact-local time whatever the policy says, so a
test that really sends a text "now" needs a contact for whom now is daytime.
"""

from __future__ import annotations

import datetime as dt


def daytime_zone(now: dt.datetime | None = None) -> str:
    """An IANA zone (Etc/GMT±N, no DST) in which it is now between 12:00 and 13:00."""
    now = now or dt.datetime.now(dt.UTC)
    offset = 12 - now.astimezone(dt.UTC).hour
    if offset > 14:
        offset -= 24
    if offset < -12:
        offset += 24
    # Etc/GMT names count the other way round: Etc/GMT-5 is UTC+5.
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"
