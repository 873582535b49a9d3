"""Logging for every Cadence process, with no contact's email address or phone number in
any line at any level.

Logs are read by more people, and kept longer and in more places, than the database: an
address in a log line is personal data that erasure can never reach. Every record is
redacted when it is made, whatever logger or handler it goes to (the Twilio SDK logs each
request URL with the number in it, SQLAlchemy logs statement parameters at DEBUG, an SMTP
refusal quotes the address), so a library configuring its own handlers cannot leak one.
"""

from __future__ import annotations

import logging
import re
from typing import Any

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# An address, also URL-encoded (%40) as it appears in request URLs and form bodies.
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+(?:@|%40)[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# E.164 (+14155550101, URL-encoded %2B14155550101) and North American national forms.
_PHONE = re.compile(r"(?:\+|%2B)\d{7,15}\b|(?<![\d-])\(?\d{3}\)?[ .-]\d{3}[ .-]\d{4}(?![\d-])")
# Loggers that say at INFO what should not be said at all (the Twilio SDK logs each request).
QUIET = {"twilio.http_client": logging.WARNING}


def redact(text: str) -> str:
    """The text with every email address and phone number replaced by a placeholder."""
    return _PHONE.sub("[phone]", _EMAIL.sub("[email]", text))


_base_factory = logging.getLogRecordFactory()


def _clean(value: Any) -> Any:
    """A log argument without addresses; its type is kept unless its text had one (so
    formatters that read arguments, like uvicorn's access log, still find theirs)."""
    if value is None or isinstance(value, bool | int | float):
        return value
    text = value if isinstance(value, str) else str(value)
    cleaned = redact(text)
    return value if cleaned == text else cleaned


def _redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
    record = _base_factory(*args, **kwargs)
    if isinstance(record.msg, str):
        record.msg = redact(record.msg)
    if isinstance(record.args, tuple):
        record.args = tuple(_clean(a) for a in record.args)
    elif isinstance(record.args, dict):
        record.args = {k: _clean(v) for k, v in record.args.items()}
    if record.exc_info and not record.exc_text:
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    return record


def install_redaction() -> None:
    """Redact every log record of this process from now on (idempotent)."""
    if logging.getLogRecordFactory() is not _redacting_factory:
        logging.setLogRecordFactory(_redacting_factory)
    for name, level in QUIET.items():
        logging.getLogger(name).setLevel(max(level, logging.getLogger(name).getEffectiveLevel()))


def configure(level: str | int) -> None:
    """Set up this process's logging: one format on stderr, redacted."""
    logging.basicConfig(level=level, format=FORMAT)
    install_redaction()
