"""Log redaction: addresses and numbers go, everything a formatter needs stays."""

from __future__ import annotations

import logging

import pytest

from core.logs import install_redaction, redact


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("to ada.lovelace@example.com now", "to [email] now"),
        ("GET /v1/contacts/ada%40example.co.uk", "GET /v1/contacts/[email]"),
        ("Messages.json?To=%2B14155550133&PageSize=50", "Messages.json?To=[phone]&PageSize=50"),
        ("texting +442071838750 and (415) 555-0101 or 415.555.0101", "texting [phone] and [phone] or [phone]"),
        (
            "enrollment 0b6f2f0e-1c2d-4e5f-8a9b-0c1d2e3f4a5b at 2026-12-02 03:04:05",
            "enrollment 0b6f2f0e-1c2d-4e5f-8a9b-0c1d2e3f4a5b at 2026-12-02 03:04:05",
        ),
        ("took 1234567 µs; status 200; port 50589", "took 1234567 µs; status 200; port 50589"),
    ],
)
def test_what_is_redacted_and_what_is_not(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_records_are_redacted_and_keep_their_arguments(caplog: pytest.LogCaptureFixture) -> None:
    install_redaction()
    log = logging.getLogger("cadence.test")
    with caplog.at_level(logging.DEBUG, logger="cadence.test"):
        log.info("%s - %s %s", "127.0.0.1:5000", "GET", "/v1/contacts/bea@example.com")
        log.warning("refused %s (%d tries)", ValueError("550 <cy@example.com> unknown"), 3)
        try:
            raise RuntimeError("texting +14155550101 failed")
        except RuntimeError:
            log.exception("send failed for %s", "dee@example.com")
    text = caplog.text
    assert "bea@example.com" not in text and "cy@example.com" not in text and "dee@example.com" not in text and "+14155550101" not in text
    assert "(3 tries)" in text and "127.0.0.1:5000 - GET /v1/contacts/[email]" in text and "RuntimeError: texting [phone] failed" in text
    assert caplog.records[0].args == ("127.0.0.1:5000", "GET", "/v1/contacts/[email]")  # a tuple still, for formatters that unpack it
