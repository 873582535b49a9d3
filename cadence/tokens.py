"""Signed, opaque link tokens for one-click unsubscribe and the preference page.

A token names a contact (by opaque id) and a purpose, signed with HMAC-SHA256. It holds no
email or phone, cannot be forged without the secret, and every invalid token looks the same
to whoever presents it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from typing import Literal

Purpose = Literal["unsubscribe", "preferences"]
_PURPOSES: dict[str, int] = {"unsubscribe": 1, "preferences": 2}
_SIG_BYTES = 16


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(payload: bytes, secret: str) -> bytes:
    return hmac.new(secret.encode(), payload, hashlib.sha256).digest()[:_SIG_BYTES]


def make_token(contact_id: uuid.UUID | str, purpose: Purpose, secret: str) -> str:
    """A URL-safe token for this contact and purpose."""
    payload = uuid.UUID(str(contact_id)).bytes + bytes([_PURPOSES[purpose]])
    return _b64(payload) + "." + _b64(_sign(payload, secret))


def read_token(token: str, purpose: Purpose, secret: str) -> uuid.UUID | None:
    """The contact a token names, or None for anything invalid (same answer for every kind
    of invalid: forged, truncated, other purpose, garbage)."""
    try:
        head, sig = token.split(".", 1)
        payload, signature = _unb64(head), _unb64(sig)
    except (ValueError, TypeError):
        return None
    expected = _sign(payload, secret)
    if len(payload) != 17 or not hmac.compare_digest(signature, expected):
        return None
    if payload[16] != _PURPOSES[purpose]:
        return None
    return uuid.UUID(bytes=payload[:16])
