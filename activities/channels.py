"""Channel clients: SMTP for email, Twilio (or the dev outbox) for SMS.

Each client turns provider failures into two kinds: `PermanentSendError` (never retried:
SMTP 5xx, Twilio 21211/21408/21610/21614 and friends) and `TransientSendError` (retried by
Temporal: SMTP 4xx, dropped connections, Twilio 429 and 5xx). Clients are injected into the
activities, so tests use a real local SMTP server and a local fake Twilio server.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import smtplib
import ssl
import threading
from dataclasses import dataclass
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import Engine
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client as TwilioClient

from core.db import transaction
from models.tables import DevOutbox

if TYPE_CHECKING:
    from typing_extensions import Buffer

# Twilio error codes that will fail again however often they are retried.
TWILIO_PERMANENT = {
    21211: "invalid To number",
    21212: "invalid From number",
    21408: "region not enabled for this account",
    21606: "From number cannot send SMS",
    21610: "the recipient replied STOP",
    21612: "no route between these numbers",
    21614: "To number cannot receive SMS",
    21635: "To number is a landline",
}
TWILIO_STOPPED = 21610
# Twilio's longest ValidityPeriod (seconds a text may wait in its queue).
MAX_VALIDITY_SECONDS = 36000


class PermanentSendError(Exception):
    """The provider refused for good. `bounce` marks a hard bounce of the address."""

    def __init__(self, code: str, message: str, *, bounce: bool = False, unsubscribed: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.bounce = bounce
        self.unsubscribed = unsubscribed


class TransientSendError(Exception):
    """Worth retrying later; `retry_after` when the provider said how long to wait.
    `ambiguous` when the message may have been accepted all the same (the connection broke
    mid-message, a 5xx after the request was read): the retry asks before it resends."""

    def __init__(self, code: str, message: str, retry_after: dt.timedelta | None = None, *, ambiguous: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after
        self.ambiguous = ambiguous


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to deliver email."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout: float = 30.0


class SmtpMailer:
    """Sends one message per call over SMTP, reusing a connection per worker thread."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config
        self._local = threading.local()

    def _connect(self) -> _PhasedSMTP:
        conn = _PhasedSMTP(self.config.host, self.config.port, timeout=self.config.timeout)
        if self.config.starttls:
            conn.starttls(context=ssl.create_default_context())
        if self.config.username and self.config.password:
            conn.login(self.config.username, self.config.password)
        return conn

    def _connection(self) -> tuple[_PhasedSMTP, bool]:
        """This thread's connection (and whether it is new)."""
        conn: _PhasedSMTP | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn, False
        conn = self._connect()
        self._local.conn = conn
        return conn, True

    def _close(self) -> None:
        conn: _PhasedSMTP | None = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            try:
                conn.quit()
            except (smtplib.SMTPException, OSError):
                conn.close()

    def send(self, message: Message) -> None:
        """Deliver; raises PermanentSendError for 5xx and TransientSendError for the rest."""
        try:
            conn, fresh = self._connection()
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            # Nothing was said to a server we could not reach: not sent.
            self._close()
            raise TransientSendError("smtp_connection", f"SMTP connection failed: {type(exc).__name__}: {exc}") from None
        conn.data_started = False
        try:
            refused = self._send_once(message, conn, fresh)
        except smtplib.SMTPRecipientsRefused as exc:
            self._close()
            code, text = next(iter(exc.recipients.values()))
            raise _classify(code, text, recipient=True) from None
        except smtplib.SMTPResponseException as exc:
            self._close()
            raise _classify(exc.smtp_code, exc.smtp_error, recipient=False) from None
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            # Dropped connection or timeout: RFC 5321 says treat it as 451. Before DATA nothing
            # can have been queued; after it the server may have queued the message before
            # the line broke, and the retry must ask before it resends.
            self._close()
            raise TransientSendError(
                "smtp_connection", f"SMTP connection failed: {type(exc).__name__}: {exc}", ambiguous=conn.data_started
            ) from None
        if refused:
            code, text = next(iter(refused.values()))
            raise _classify(code, text, recipient=True)

    def _send_once(self, message: Message, conn: _PhasedSMTP, fresh: bool) -> dict[str, tuple[int, bytes]]:
        try:
            return conn.send_message(message)
        except smtplib.SMTPServerDisconnected:
            # A kept-alive connection the server closed while idle: reconnect once, but only
            # when it broke before DATA. (No NOOP probe before every message: it cost a
            # round trip per send.)
            if fresh or conn.data_started:
                raise
            self._close()
            retry, _ = self._connection()
            try:
                return retry.send_message(message)
            finally:
                conn.data_started = retry.data_started  # what the caller reports on


class _PhasedSMTP(smtplib.SMTP):
    """An SMTP connection that knows whether the current message reached DATA, the one
    phase after which a broken connection leaves its fate unknown."""

    data_started = False

    def data(self, msg: Buffer | str) -> tuple[int, bytes]:
        self.data_started = True
        return super().data(msg)


def _classify(code: int, text: bytes | str, *, recipient: bool) -> PermanentSendError | TransientSendError:
    message = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
    if 500 <= code < 600:
        # A 5xx on the recipient is a hard bounce of that address; elsewhere it is a refusal.
        return PermanentSendError(f"smtp_{code}", f"SMTP {code}: {message}", bounce=recipient)
    return TransientSendError(f"smtp_{code}", f"SMTP {code}: {message}")


def _header(value: str) -> str:
    """A header value, RFC 2047-encoded when it is not plain ASCII."""
    return value if value.isascii() else Header(value, "utf-8").encode()


def build_email(
    *,
    from_name: str,
    from_address: str,
    reply_to: str | None,
    to: str,
    subject: str,
    text: str,
    html: str,
    message_id: str,
    unsubscribe_url: str,
    unsubscribe_mailto: str | None,
    touch_id: str,
) -> Message:
    """A multipart/alternative message with RFC 8058 one-click unsubscribe headers.

    Built with the classic (compat32) MIME classes: the modern header registry parses every
    header it is given, which cost five times as much per send.
    """
    msg = MIMEMultipart("alternative")
    msg["From"] = email.utils.formataddr((from_name, from_address), charset="utf-8")
    msg["To"] = to
    if reply_to:
        msg["Reply-To"] = reply_to
    msg["Subject"] = _header(subject)
    msg["Date"] = email.utils.formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = message_id
    targets = [f"<{unsubscribe_url}>"]
    if unsubscribe_mailto:
        targets.append(f"<mailto:{unsubscribe_mailto}?subject=unsubscribe>")
    msg["List-Unsubscribe"] = ", ".join(targets)
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg["X-Cadence-Touch"] = touch_id
    msg.attach(MIMEText(text, "plain", "utf-8"))
    msg.attach(MIMEText(html, "html", "utf-8"))
    return msg


class SmsSender(Protocol):
    """Sends texts and finds a text already sent (to settle an ambiguous earlier attempt)."""

    def send(
        self, *, to: str, body: str, sender: str | None, status_callback: str | None, touch_key: str, valid_for: int | None = None
    ) -> str:
        """Send; returns the provider's message id. `valid_for`: seconds the provider may
        hold it in its queue before it must give up (the contact's allowed hours end)."""
        ...

    def find_sent(self, *, to: str, body: str, since: dt.datetime) -> str | None:
        """The id of a matching text sent since `since`, if any."""
        ...


class TwilioSmsSender:
    """Texts through the real twilio client; HTTP-level retries stay off (creates are not
    idempotent), Temporal retries only after reconciling."""

    def __init__(self, client: TwilioClient, *, from_number: str | None, messaging_service_sid: str | None) -> None:
        self.client = client
        self.from_number = from_number
        self.messaging_service_sid = messaging_service_sid

    def send(
        self, *, to: str, body: str, sender: str | None, status_callback: str | None, touch_key: str, valid_for: int | None = None
    ) -> str:
        kwargs: dict[str, str | int] = {"to": to, "body": body}
        if self.messaging_service_sid and not sender:
            kwargs["messaging_service_sid"] = self.messaging_service_sid
        else:
            from_ = sender or self.from_number
            if not from_:
                raise PermanentSendError("no_sender", "no Twilio From number or messaging service is configured")
            kwargs["from_"] = from_
        if status_callback:
            kwargs["status_callback"] = status_callback
        if valid_for is not None:
            kwargs["validity_period"] = max(1, min(valid_for, MAX_VALIDITY_SECONDS))
        try:
            message = self.client.messages.create(**kwargs)
        except TwilioRestException as exc:
            raise _twilio_error(exc) from None
        except (TwilioException, OSError) as exc:
            raise TransientSendError("twilio_connection", f"Twilio request failed: {type(exc).__name__}", ambiguous=True) from None
        sid: str | None = message.sid
        assert sid is not None
        return sid

    def find_sent(self, *, to: str, body: str, since: dt.datetime) -> str | None:
        try:
            messages = self.client.messages.list(to=to, date_sent_after=since.astimezone(dt.UTC), limit=50)
        except (TwilioException, OSError) as exc:
            raise TransientSendError("twilio_connection", f"Twilio lookup failed: {type(exc).__name__}") from None
        for message in messages:
            if (message.body or "").strip() == body.strip():
                found: str | None = message.sid
                return found
        return None


def _twilio_error(exc: TwilioRestException) -> PermanentSendError | TransientSendError:
    code = exc.code or 0
    if exc.status == 429 or code == 20429:
        return TransientSendError("twilio_429", "Twilio rate limit (429)", retry_after=dt.timedelta(seconds=10))
    if code in TWILIO_PERMANENT:
        return PermanentSendError(f"twilio_{code}", f"Twilio {code}: {TWILIO_PERMANENT[code]}", unsubscribed=code == TWILIO_STOPPED)
    if exc.status >= 500:
        return TransientSendError(f"twilio_{exc.status}", f"Twilio server error {exc.status}", ambiguous=True)
    if 400 <= exc.status < 500:
        return PermanentSendError(f"twilio_{code or exc.status}", f"Twilio refused the message ({code or exc.status})")
    return TransientSendError(f"twilio_{exc.status}", f"Twilio answered {exc.status}")


class OutboxSmsSender:
    """Dev mode without Twilio credentials: texts are recorded, listed at GET /dev/sms."""

    def __init__(self, engine: Engine, from_number: str | None = None) -> None:
        self.engine = engine
        self.from_number = from_number

    def send(
        self, *, to: str, body: str, sender: str | None, status_callback: str | None, touch_key: str, valid_for: int | None = None
    ) -> str:
        with transaction(self.engine) as session:
            row = DevOutbox(to=to, sender=sender or self.from_number, body=body, touch_key=touch_key)
            session.add(row)
        return f"outbox-{row.id}"

    def find_sent(self, *, to: str, body: str, since: dt.datetime) -> str | None:
        from sqlmodel import select

        with transaction(self.engine) as session:
            row = session.exec(select(DevOutbox).where(DevOutbox.to == to, DevOutbox.body == body, DevOutbox.created_at >= since)).first()
            return f"outbox-{row.id}" if row else None
