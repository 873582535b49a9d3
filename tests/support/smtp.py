"""A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps what it receives, for tests.

Recipients can be told to fail with a given reply (e.g. "550 5.1.1 no such user") to test
bounce and retry handling.
"""

from __future__ import annotations

import email
import email.policy
import socket
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    """A TCP port nobody is listening on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Received:
    """One delivered message."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class SmtpSink:
    """Collects messages; `fail` maps a recipient to the SMTP reply it should get."""

    messages: list[Received] = field(default_factory=list)
    fail: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]) -> str:
        reply = self.fail.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        with self.lock:
            self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), parsed))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        """Messages delivered to one address."""
        with self.lock:
            return [r.message for r in self.messages if address.lower() in (a.lower() for a in r.rcpt_tos)]

    def wait_for(self, address: str, count: int = 1, timeout: float = 30.0) -> list[EmailMessage]:
        """Block until `count` messages reached `address` (or fail after `timeout`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.to(address)
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"expected {count} message(s) to {address}, got {len(self.to(address))}")


class SmtpServer:
    """aiosmtpd on a free port; `with SmtpServer() as s: s.sink.messages`."""

    def __init__(self) -> None:
        self.sink = SmtpSink()
        self.port = free_port()
        self.controller = Controller(self.sink, hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


class SinkLookup:
    """The test server answering "was this Message-ID accepted?" from what it kept, the way
    a provider's message search or a Sent folder would (activities.lookups.SentLookup)."""

    name = "test_sink"

    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    def accepted(self, message_id: str, *, to: str, since: Any) -> bool | None:
        return any(m["Message-ID"] == message_id for m in self.sink.to(to))
