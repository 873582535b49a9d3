"""Rate limits: how many requests one API key, and one client address, may make.

Token buckets, refilled continuously: a key gets RATE_LIMIT_PER_KEY requests a minute (with
bursts up to that many), any client address RATE_LIMIT_PER_ADDRESS (so a flood of bad keys
is stopped too), and the provider webhooks (/webhooks/...) their own, higher
RATE_LIMIT_WEBHOOKS per sending address: a Twilio reply wave must not be refused because a
dashboard was busy. Over the limit the answer is 429 in the error shape, with Retry-After
saying when the next request will be let in. /healthz and static files are never limited.

The buckets live in the API process: with several API processes behind a load balancer each
one limits on its own (the effective limit is the per-process limit times the processes).
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from core.settings import Settings
from starter.api.errors import error_body

EXEMPT = ("/healthz", "/metrics", "/static/")
# Buckets untouched for this long are forgotten (an idle bucket is full anyway).
IDLE_SECONDS = 600.0


@dataclass
class _Bucket:
    tokens: float
    at: float


class Buckets:
    """Token buckets by name, all with the same rate (per minute) and burst."""

    def __init__(self, per_minute: int) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(per_minute)
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()
        self._swept = time.monotonic()

    def take(self, name: str, now: float | None = None) -> float:
        """Take one token; 0 when granted, else the seconds until one is available."""
        now = time.monotonic() if now is None else now
        with self._lock:
            bucket = self._buckets.get(name)
            if bucket is None:
                bucket = self._buckets[name] = _Bucket(self.burst, now)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate)
            bucket.at = now
            if now - self._swept > IDLE_SECONDS:
                self._sweep(now)
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / self.rate

    def _sweep(self, now: float) -> None:
        self._swept = now
        for name in [n for n, b in self._buckets.items() if now - b.at > IDLE_SECONDS]:
            del self._buckets[name]


class RateLimit:
    """ASGI middleware that applies the per-key, per-address and webhook limits."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.keys = Buckets(settings.rate_limit_per_key)
        self.addresses = Buckets(settings.rate_limit_per_address)
        self.webhooks = Buckets(settings.rate_limit_webhooks)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(EXEMPT):
            await self.app(scope, receive, send)
            return
        address = (scope.get("client") or ("unknown", 0))[0]
        if path.startswith("/webhooks/"):
            wait = self.webhooks.take(address)
            what = "this sender's webhook limit"
        else:
            wait = self.addresses.take(address)
            what = "this address's limit"
            key = _key_of(scope)
            if not wait and key is not None:
                wait = self.keys.take(key)
                what = "this API key's limit"
        if wait:
            await _too_many(send, wait, what)
            return
        await self.app(scope, receive, send)


def _key_of(scope: Scope) -> str | None:
    """A digest of the caller's API key (the key itself is never kept)."""
    for name, value in scope.get("headers", []):
        if name == b"authorization" and value[:7].lower() == b"bearer ":
            return hashlib.sha256(value[7:].strip()).hexdigest()
        if name == b"x-api-key":
            return hashlib.sha256(value.strip()).hexdigest()
    return None


async def _too_many(send: Send, wait: float, what: str) -> None:
    seconds = max(1, math.ceil(wait))
    message = f"too many requests: {what} was reached; retry in {seconds} s"
    body = json.dumps(error_body("rate_limited", message, {"retry_after": seconds})).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(seconds).encode()),
    ]
    await send({"type": "http.response.start", "status": 429, "headers": headers})
    await send({"type": "http.response.body", "body": body})
