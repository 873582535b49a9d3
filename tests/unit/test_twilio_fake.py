"""The real twilio Client, redirected by make_client, against the local fake.

Every socket connect in this module is checked to stay on 127.0.0.1.
"""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs

import pytest
import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.request_validator import RequestValidator

from activities.twilio_http import RedirectingHttpClient, make_client
from tests.support.fake_twilio import TEST_FROM_OK, FakeTwilio, post_signed_form

TO = "+15551230001"
OTHER = "+15551230002"
SID_RE = re.compile(r"^SM[0-9a-f]{32}$")


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if anything tries to connect beyond 127.0.0.1."""
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in ("127.0.0.1", "::1"):
            raise AssertionError(f"network access outside loopback: {address!r}")
        real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    with FakeTwilio() as server:
        yield server


@pytest.fixture
def client(fake: FakeTwilio) -> Any:
    return make_client(fake.account_sid, fake.auth_token, api_base=fake.url, timeout=2.0)


# -- redirecting HTTP client ------------------------------------------------


def test_rewrite_keeps_path_and_query_for_every_twilio_domain() -> None:
    http = RedirectingHttpClient("http://127.0.0.1:18080")
    assert (
        http.rewrite("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json?To=%2B1&Page=2")
        == "http://127.0.0.1:18080/2010-04-01/Accounts/AC1/Messages.json?To=%2B1&Page=2"
    )
    assert http.rewrite("https://messaging.twilio.com/v1/Services") == "http://127.0.0.1:18080/v1/Services"
    prefixed = RedirectingHttpClient("http://127.0.0.1:9/twilio/")
    assert prefixed.rewrite("https://api.twilio.com/x.json") == "http://127.0.0.1:9/twilio/x.json"


@pytest.mark.parametrize("url", ["https://example.com/x", "https://api.twilio.com.evil.io/x", "http://api.twilio.com/x"])
def test_rewrite_refuses_non_twilio_urls(url: str) -> None:
    with pytest.raises(ValueError):
        RedirectingHttpClient("http://127.0.0.1:18080").rewrite(url)


def test_make_client_requires_explicit_credentials() -> None:
    with pytest.raises(ValueError):
        make_client("", "token")
    with pytest.raises(ValueError):
        RedirectingHttpClient("127.0.0.1:18080")


# -- create -------------------------------------------------------------------


def test_real_client_creates_message_and_ledger_records_it(fake: FakeTwilio, client: Any) -> None:
    msg = client.messages.create(
        to=TO, from_=TEST_FROM_OK, body="Hi Ada, quick question", status_callback="http://127.0.0.1:1/twilio/status?touch=t1"
    )
    assert SID_RE.match(msg.sid)
    assert (msg.status, msg.to, msg.from_, msg.body) == ("queued", TO, TEST_FROM_OK, "Hi Ada, quick question")
    assert msg.date_created is not None and msg.date_sent is None
    [entry] = fake.messages
    assert entry["sid"] == msg.sid and entry["body"] == "Hi Ada, quick question"
    assert entry["status_callback"] == "http://127.0.0.1:1/twilio/status?touch=t1"
    [req] = fake.requests
    assert (req.method, req.path, req.authorized) == ("POST", f"/2010-04-01/Accounts/{fake.account_sid}/Messages.json", True)


def test_messaging_service_create_is_accepted_without_from(fake: FakeTwilio, client: Any) -> None:
    msg = client.messages.create(to=TO, messaging_service_sid="MG" + "1" * 32, body="hello")
    assert (msg.status, msg.from_) == ("accepted", None)
    assert fake.message(msg.sid)["from"] == TEST_FROM_OK


def test_wrong_auth_token_is_a_401_20003(fake: FakeTwilio) -> None:
    bad = make_client(fake.account_sid, "not-the-token", api_base=fake.url)
    with pytest.raises(TwilioRestException) as exc:
        bad.messages.create(to=TO, from_=TEST_FROM_OK, body="x")
    assert (exc.value.status, exc.value.code) == (401, 20003)
    assert fake.messages == []


@pytest.mark.parametrize(
    ("to", "from_", "code"),
    [
        ("+15005550001", TEST_FROM_OK, 21211),
        ("+15005550002", TEST_FROM_OK, 21612),
        ("+15005550003", TEST_FROM_OK, 21408),
        ("+15005550004", TEST_FROM_OK, 21610),
        ("+15005550009", TEST_FROM_OK, 21614),
        (TO, "+15005550001", 21212),
        (TO, "+15005550007", 21606),
        (TO, "+15005550008", 21611),
    ],
)
def test_magic_numbers_raise_twilio_errors(fake: FakeTwilio, client: Any, to: str, from_: str, code: int) -> None:
    with pytest.raises(TwilioRestException) as exc:
        client.messages.create(to=to, from_=from_, body="x")
    assert (exc.value.status, exc.value.code, exc.value.method) == (400, code, "POST")
    assert fake.messages == []


def test_injected_429_surfaces_as_20429_and_is_not_retried(fake: FakeTwilio, client: Any) -> None:
    fake.throttle_next(1)
    with pytest.raises(TwilioRestException) as exc:
        client.messages.create(to=TO, from_=TEST_FROM_OK, body="x")
    assert (exc.value.status, exc.value.code) == (429, 20429)
    assert fake.create_attempts() == 1 and fake.messages == []
    client.messages.create(to=TO, from_=TEST_FROM_OK, body="x")  # fault consumed
    assert len(fake.messages) == 1


def test_ambiguous_500_creates_once_and_is_not_retried(fake: FakeTwilio, client: Any) -> None:
    fake.fail_next(status=500, create=True)
    with pytest.raises(TwilioRestException) as exc:
        client.messages.create(to=TO, from_=TEST_FROM_OK, body="x")
    assert (exc.value.status, exc.value.code) == (500, 20500)
    assert fake.create_attempts() == 1
    assert len(fake.messages) == 1  # it went out even though we saw an error


def test_hang_times_out_then_reconciliation_finds_the_message(fake: FakeTwilio) -> None:
    impatient = make_client(fake.account_sid, fake.auth_token, api_base=fake.url, timeout=0.2)
    started = datetime.now(UTC) - timedelta(seconds=1)
    fake.hang_next(5.0)
    with pytest.raises(requests.exceptions.Timeout):  # not wrapped by twilio
        impatient.messages.create(to=TO, from_=TEST_FROM_OK, body="hang")
    assert fake.create_attempts() == 1
    found = impatient.messages.list(to=TO, date_sent_after=started, limit=20)
    assert [m.sid for m in found] == [fake.messages[0]["sid"]]


def test_hang_without_create_leaves_nothing_to_find(fake: FakeTwilio) -> None:
    impatient = make_client(fake.account_sid, fake.auth_token, api_base=fake.url, timeout=0.2)
    fake.hang_next(5.0, create=False)
    with pytest.raises(requests.exceptions.Timeout):
        impatient.messages.create(to=TO, from_=TEST_FROM_OK, body="hang")
    assert impatient.messages.list(to=TO) == []


# -- list / fetch ---------------------------------------------------------------


def test_list_filters_by_to_and_date_sent_window_and_pages() -> None:
    clock = Clock(datetime(2025, 3, 3, 15, 0, 0, tzinfo=UTC))
    with FakeTwilio(clock=clock) as fake:
        client = make_client(fake.account_sid, fake.auth_token, api_base=fake.url)
        sids = []
        for i in range(5):
            sids.append(client.messages.create(to=TO, from_=TEST_FROM_OK, body=f"m{i}").sid)
            client.messages.create(to=OTHER, from_=TEST_FROM_OK, body=f"o{i}")
            clock.now += timedelta(minutes=10)
        t2 = datetime(2025, 3, 3, 15, 20, tzinfo=UTC)
        recent = client.messages.list(to=TO, date_sent_after=t2)
        assert [m.sid for m in recent] == sids[:1:-1]  # newest first, bound inclusive
        window = client.messages.list(to=TO, date_sent_after=t2, date_sent_before=t2 + timedelta(minutes=10))
        assert [m.sid for m in window] == [sids[3], sids[2]]
        paged = client.messages.list(to=TO, page_size=2)  # follows next_page_uri x3
        assert [m.sid for m in paged] == sids[::-1]
        assert sum(r.method == "GET" for r in fake.requests) == 2 + 3
        assert len(client.messages.list(from_=TEST_FROM_OK, date_sent="2025-03-03")) == 10
        assert client.messages.list(date_sent="2025-03-04") == []


def test_sdk_sends_date_filters_as_wall_clock_plus_z() -> None:
    """Surprise pinned: the SDK does not convert to UTC, it appends 'Z'."""
    with FakeTwilio() as fake:
        client = make_client(fake.account_sid, fake.auth_token, api_base=fake.url)
        cet = timezone(timedelta(hours=1))
        client.messages.list(to=TO, date_sent_after=datetime(2025, 3, 3, 16, 0, tzinfo=cet))
        assert fake.requests[-1].query["DateSent>"] == ["2025-03-03T16:00:00Z"]


def test_unsent_message_is_invisible_to_date_sent_filters() -> None:
    with FakeTwilio(auto_send=False) as fake:
        client = make_client(fake.account_sid, fake.auth_token, api_base=fake.url)
        msg = client.messages.create(to=TO, from_=TEST_FROM_OK, body="x")
        since = datetime.now(UTC) - timedelta(minutes=5)
        assert client.messages.list(to=TO, date_sent_after=since) == []
        assert [m.sid for m in client.messages.list(to=TO)] == [msg.sid]


def test_fetch_message_and_unknown_sid_404(fake: FakeTwilio, client: Any) -> None:
    msg = client.messages.create(to=TO, from_=TEST_FROM_OK, body="x")
    fetched = client.messages(msg.sid).fetch()
    assert (fetched.sid, fetched.status, fetched.body) == (msg.sid, "sent", "x")
    assert fetched.date_sent is not None
    with pytest.raises(TwilioRestException) as exc:
        client.messages("SM" + "f" * 32).fetch()
    assert (exc.value.status, exc.value.code) == (404, 20404)


# -- signed webhooks ----------------------------------------------------------------


@dataclass
class Received:
    url: str
    params: dict[str, str]
    headers: dict[str, str]
    valid: bool


@dataclass
class Receiver:
    """Tiny webhook endpoint validating X-Twilio-Signature like our app will."""

    auth_token: str
    received: list[Received] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    def url(self, path: str) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def __enter__(self) -> Self:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["Content-Length"])).decode()
                params = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
                url = receiver.url(self.path)
                sig = self.headers.get("X-Twilio-Signature", "")
                valid = RequestValidator(receiver.auth_token).validate(url, params, sig)
                receiver.received.append(Received(url, params, dict(self.headers.items()), valid))
                self.send_response(204 if valid else 403)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.shutdown()
        self.server.server_close()


def test_status_callbacks_are_signed_and_update_the_message(fake: FakeTwilio, client: Any) -> None:
    with Receiver(fake.auth_token) as rx:
        cb = rx.url("/twilio/status?touch=enr-1%3A3")
        ok = client.messages.create(to=TO, from_=TEST_FROM_OK, body="a", status_callback=cb)
        bad = client.messages.create(to=OTHER, from_=TEST_FROM_OK, body="b", status_callback=cb)
        assert [r.status for r in fake.deliver_status(ok.sid)] == [204, 204]
        fake.deliver_status(bad.sid, ["sent", "undelivered"], error_code=30003)

    assert all(r.valid for r in rx.received)
    assert [(r.params["MessageSid"], r.params["MessageStatus"]) for r in rx.received] == [
        (ok.sid, "sent"),
        (ok.sid, "delivered"),
        (bad.sid, "sent"),
        (bad.sid, "undelivered"),
    ]
    assert rx.received[-1].params["ErrorCode"] == "30003"
    assert "ErrorCode" not in rx.received[1].params
    first = rx.received[0]
    assert first.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert first.params["AccountSid"] == fake.account_sid and first.params["To"] == TO
    # the signature really depends on the token and on the exact URL
    assert not RequestValidator("other-token").validate(first.url, first.params, first.headers["X-Twilio-Signature"])
    assert not RequestValidator(fake.auth_token).validate(
        first.url.replace("enr-1", "enr-2"), first.params, first.headers["X-Twilio-Signature"]
    )
    assert client.messages(ok.sid).fetch().status == "delivered"
    assert fake.message(bad.sid)["error_code"] == 30003


def test_inbound_sms_webhook_is_signed_and_recorded(fake: FakeTwilio) -> None:
    with Receiver(fake.auth_token) as rx:
        url = rx.url("/twilio/inbound")
        good = fake.send_inbound_sms(url, from_=TO, body="STOP")
        forged = fake.send_inbound_sms(url, from_=TO, body="STOP", signature="AAAA")
        unsigned = fake.send_inbound_sms(url, from_=TO, body="STOP", sign=False)
    assert (good.status, forged.status, unsigned.status) == (204, 403, 403)
    params = rx.received[0].params
    assert (params["From"], params["To"], params["Body"], params["NumMedia"]) == (TO, TEST_FROM_OK, "STOP", "0")
    assert params["MessageSid"] == params["SmsSid"] and SID_RE.match(params["MessageSid"])
    assert [m["direction"] for m in fake.messages] == ["inbound"] * 3


def test_signed_posts_refuse_non_loopback_urls() -> None:
    with pytest.raises(ValueError):
        post_signed_form("https://example.com/hook", {"a": "b"}, "token")


def test_list_errors_surface_as_plain_twilio_exception_without_code(fake: FakeTwilio) -> None:
    """Surprise pinned: list/page errors are not TwilioRestException (no .code)."""
    bad = make_client(fake.account_sid, "not-the-token", api_base=fake.url)
    with pytest.raises(TwilioException) as exc:
        bad.messages.list(to=TO)
    assert not isinstance(exc.value, TwilioRestException)
    assert exc.value.args[0] == "Unable to fetch page"
    assert exc.value.args[1].status_code == 401  # the raw twilio Response
