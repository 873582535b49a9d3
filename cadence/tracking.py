"""Open and click tracking for emails: signed tokens, link rewriting, the pixel, and which
opens and clicks a machine made.

A tracking token names one touch (by opaque id), what it tracks (an open, or a click on one
URL) and the day it was issued, signed with HMAC-SHA256. A click token carries its target
URL inside the signed part, so the redirect can only ever forward to a URL that Cadence put
in one of its own emails: a changed URL breaks the signature, and nothing forged is ever
followed (no open redirect). Tokens expire (`TRACKING_TOKEN_DAYS`): an authentic but expired
click still forwards, but nothing is recorded.

Only `href` links to http(s) in the HTML part are rewritten. The unsubscribe and preference
links (and mailto:/tel: links) are never rewritten: opting out must not depend on the
tracker, and it must not count as engagement. The plain-text part is left as written.

Machine opens: Apple Mail Privacy Protection fetches every image on delivery from Apple's
network, mail security gateways fetch images and follow links to scan them, and some
clients prefetch. An open or click is flagged as a machine's (kept, never counted as a
person's) when it comes within `MACHINE_SECONDS` of the send, from Apple's 17.0.0.0/8
network, with a bare "Mozilla/5.0" user agent (what Apple's proxy sends), with no user agent,
or with a user agent naming a known scanner, bot or HTTP library. Gmail's and Yahoo's image
proxies fetch when the person opens the message, so they count as people.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import html as markup
import ipaddress
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal

TrackKind = Literal["open", "click"]
_KINDS: Final = {"open": 11, "click": 12}
_NAMES: Final = {v: k for k, v in _KINDS.items()}
_SIG_BYTES: Final = 16
_EPOCH: Final = dt.date(2020, 1, 1)
MAX_URL_CHARS: Final = 2000

MACHINE_SECONDS: Final = 5.0
"""An open or click this soon after the send was not a person reading it."""

APPLE_NETWORK: Final = ipaddress.ip_network("17.0.0.0/8")
_SCANNERS: Final = re.compile(
    r"bot|crawl|spider|scan|preview|proofpoint|mimecast|barracuda|forcepoint|symantec|trend ?micro|sophos|"
    r"python|curl|wget|go-http|java/|okhttp|libwww|httpclient|axios|node-fetch|headless",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class TrackToken:
    """What a valid token says: the touch, open or click, the target URL of a click, and
    the day it was issued."""

    touch_id: uuid.UUID
    kind: TrackKind
    url: str | None
    issued: dt.date


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(payload: bytes, secret: str) -> bytes:
    return hmac.new(b"track:" + secret.encode(), payload, hashlib.sha256).digest()[:_SIG_BYTES]


def make_track_token(touch_id: uuid.UUID, kind: TrackKind, secret: str, *, url: str | None = None, issued: dt.date) -> str:
    """A URL-safe token for an open pixel or a click on `url` in this touch's email."""
    if (kind == "click") != (url is not None):
        raise ValueError("a click token needs its URL; an open token has none")
    day = (issued - _EPOCH).days
    payload = touch_id.bytes + bytes([_KINDS[kind]]) + day.to_bytes(3, "big") + (url or "").encode()
    return _b64(payload) + "." + _b64(_sign(payload, secret))


def read_track_token(token: str, kind: TrackKind, secret: str) -> TrackToken | None:
    """What the token says, or None for anything forged, truncated, of the other kind or not
    a token at all (the same None for every kind of invalid)."""
    try:
        head, sig = token.split(".", 1)
        payload, signature = _unb64(head), _unb64(sig)
    except (ValueError, TypeError):
        return None
    if len(payload) < 20 or not hmac.compare_digest(signature, _sign(payload, secret)):
        return None
    if _NAMES.get(payload[16]) != kind:
        return None
    try:
        url = payload[20:].decode() or None
        issued = _EPOCH + dt.timedelta(days=int.from_bytes(payload[17:20], "big"))
    except (UnicodeDecodeError, OverflowError):
        return None
    if (kind == "click") != (url is not None):
        return None
    return TrackToken(uuid.UUID(bytes=payload[:16]), kind, url, issued)


def expired(token: TrackToken, today: dt.date, days: int) -> bool:
    """Whether the token is older than `days` (its link still forwards; nothing is recorded)."""
    return (today - token.issued).days > days


_HREF: Final = re.compile(r"""(<a\b[^>]*?\bhref\s*=\s*)(["'])(.*?)\2""", re.IGNORECASE | re.DOTALL)


def rewrite_links(html: str, track: Callable[[str], str], *, never: tuple[str, ...]) -> str:
    """The HTML with each http(s) `href` replaced by `track(url)`, except links that start
    with one of `never` (the unsubscribe and preference pages) and over-long URLs.
    Entities in the link (`&amp;`) are decoded before signing and the tracked link is
    written back escaped, so the forwarded URL is exactly the one the author wrote."""

    def replace(match: re.Match[str]) -> str:
        raw = match.group(3)
        url = markup.unescape(raw).strip()
        if not url.lower().startswith(("http://", "https://")) or url.startswith(never) or len(url) > MAX_URL_CHARS:
            return match.group(0)
        quote = match.group(2)
        return f"{match.group(1)}{quote}{markup.escape(track(url))}{quote}"

    return _HREF.sub(replace, html)


def add_pixel(html: str, pixel_url: str) -> str:
    """The HTML with a 1x1 transparent image just before `</body>` (or at the end)."""
    tag = f'<img src="{markup.escape(pixel_url)}" width="1" height="1" alt="" style="display:block;border:0;width:1px;height:1px">'
    closing = html.lower().rfind("</body>")
    return html[:closing] + tag + html[closing:] if closing >= 0 else html + tag


def machine_reason(user_agent: str | None, client_ip: str | None, seconds_since_sent: float | None) -> str | None:
    """Why an open or click was a machine's (see the module docstring), or None: a person."""
    agent = (user_agent or "").strip()
    if seconds_since_sent is not None and seconds_since_sent < MACHINE_SECONDS:
        return f"within {MACHINE_SECONDS:g} s of sending"
    if client_ip:
        try:
            if ipaddress.ip_address(client_ip) in APPLE_NETWORK:
                return "Apple Mail Privacy Protection (Apple network)"
        except ValueError:
            pass
    if not agent:
        return "no user agent"
    if agent == "Mozilla/5.0":
        return "Apple Mail Privacy Protection (bare user agent)"
    if _SCANNERS.search(agent):
        return "security scanner or bot"
    return None
