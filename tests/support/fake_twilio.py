"""A real local HTTP server that behaves like the parts of Twilio Cadence uses.

Cadence's SMS path is tested with the *real* ``twilio`` client (see
``activities.twilio_http.make_client(..., api_base=fake.url)``) talking to this
server on 127.0.0.1, so nothing ever reaches a phone or the internet.

Implemented (Twilio-shaped JSON, HTTP basic auth, Twilio error bodies):

* ``POST /2010-04-01/Accounts/{sid}/Messages.json``: create; Twilio test
  "magic numbers" (reliability.md 2.6); injectable faults: 429/20429, 5xx,
  stalls (with or without the Message having been created);
* ``GET  /2010-04-01/Accounts/{sid}/Messages.json``: list, newest first,
  filters ``To``, ``From``, ``DateSent``, ``DateSent>``, ``DateSent<`` and
  paging (``PageSize``, ``Page``; ``next_page_uri`` like Twilio);
* ``GET  /2010-04-01/Accounts/{sid}/Messages/{MessageSid}.json``: fetch.

Plus signed webhook senders: status callbacks (``deliver_status``) and inbound
SMS (``send_inbound_sms`` / ``post_signed_form``), signed exactly like Twilio
with ``RequestValidator(auth_token).compute_signature(url, params)``.

Modelling choices (documented so tests don't over-trust the fake):

* Magic numbers apply to every credential (real Twilio: test credentials only).
* ``DateSent>``/``DateSent<`` are inclusive (Twilio documents them as
  ``DateSent>=``/``DateSent<=``); a date-only value covers that whole UTC day.
  Messages that were never sent (``date_sent`` null) never match a DateSent
  filter - as on Twilio, where a still-queued message is invisible to it.
* With ``auto_send=True`` (default) a created Message is stored as ``sent``
  with ``date_sent`` = creation time right after the 201 (whose body still
  says ``queued``/``accepted`` with ``date_sent: null``, like Twilio).
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import math
import re
import secrets
import threading
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlencode, urlsplit

from twilio.request_validator import RequestValidator

API_VERSION = "2010-04-01"
TEST_ACCOUNT_SID = "AC" + "0" * 32
TEST_AUTH_TOKEN = "fake-twilio-auth-token"
TEST_FROM_OK = "+15005550006"  # Twilio's "valid sender" magic number

MAGIC_TO_ERRORS: dict[str, tuple[int, str]] = {
    "+15005550001": (21211, "The 'To' number {to} is not a valid phone number."),
    "+15005550002": (21612, ("The 'To' phone number: {to}, is not currently reachable using the 'From' phone number: {from_} via SMS.")),
    "+15005550003": (21408, ("Permission to send an SMS has not been enabled for the region indicated by the 'To' number: {to}.")),
    "+15005550004": (21610, "Attempt to send to unsubscribed recipient"),
    "+15005550009": (21614, "'To' number {to} is not a valid mobile number"),
}
MAGIC_FROM_ERRORS: dict[str, tuple[int, str]] = {
    "+15005550001": (21212, ("The 'From' number {from_} is not a valid phone number, shortcode, or alphanumeric sender ID.")),
    "+15005550007": (
        21606,
        ("The 'From' phone number provided is not a valid message-capable Twilio phone number for this destination/account."),
    ),
    "+15005550008": (21611, "This 'From' number has exceeded the maximum number of queued messages."),
}
_DEFAULT_CODES = {400: 20001, 401: 20003, 404: 20404, 429: 20429, 500: 20500, 503: 20503}
_SENT_STATES = frozenset({"sent", "delivered", "undelivered", "read"})
_ERROR_STATES = frozenset({"failed", "undelivered"})
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_MESSAGES_RE = re.compile(r"^/2010-04-01/Accounts/([^/]+)/Messages\.json$")
_MESSAGE_RE = re.compile(r"^/2010-04-01/Accounts/([^/]+)/Messages/([^/]+)\.json$")


def new_sid(prefix: str = "SM") -> str:
    """A Twilio-shaped SID: two-letter prefix + 32 lowercase hex digits."""
    return prefix + secrets.token_hex(16)


def twilio_error(status: int, code: int | None, message: str) -> dict[str, Any]:
    """Twilio's legacy REST error body (what ``TwilioRestException`` parses)."""
    return {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status}


def _require_loopback(url: str) -> None:
    if (urlsplit(url).hostname or "") not in _LOOPBACK_HOSTS:
        raise ValueError(f"fake Twilio only calls loopback URLs, refusing {url!r}")


def _rfc2822(d: datetime | None) -> str | None:
    return None if d is None else format_datetime(d)


def _segments(body: str) -> int:
    gsm = all(ord(c) < 128 for c in body)
    single, multi = (160, 153) if gsm else (70, 67)
    return 1 if len(body) <= single else math.ceil(len(body) / multi)


@dataclass(frozen=True)
class Fault:
    """What one upcoming create does instead of a clean 201.

    ``status=None``: the Message is created and 201 returned, after stalling
    ``delay`` seconds (accepted, but the client may time out: ambiguous).
    ``status`` set: after ``delay`` answer that status with Twilio error
    ``code``; the Message is created first only if ``create`` is true.
    """

    status: int | None = None
    code: int | None = None
    message: str = "Injected fault"
    delay: float = 0.0
    create: bool = False


@dataclass(frozen=True)
class WebhookResponse:
    """What our webhook endpoint answered to a signed Twilio-style POST."""

    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


@dataclass(frozen=True)
class RecordedRequest:
    """One HTTP request the fake received (for "exactly one attempt" checks)."""

    method: str
    path: str
    query: dict[str, list[str]]
    form: dict[str, list[str]]
    authorized: bool


@dataclass
class _Message:
    sid: str
    account_sid: str
    to: str
    from_: str | None
    body: str
    messaging_service_sid: str | None
    status_callback: str | None
    params: dict[str, list[str]]
    date_created: datetime
    direction: str = "outbound-api"
    status: str = "queued"
    date_updated: datetime | None = None
    date_sent: datetime | None = None
    error_code: int | None = None
    error_message: str | None = None
    num_media: int = 0

    def resource(self) -> dict[str, Any]:
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{self.sid}"
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": self.body,
            "date_created": _rfc2822(self.date_created),
            "date_sent": _rfc2822(self.date_sent),
            "date_updated": _rfc2822(self.date_updated or self.date_created),
            "direction": self.direction,
            "error_code": self.error_code,
            "error_message": self.error_message,
            "from": self.from_,
            "messaging_service_sid": self.messaging_service_sid,
            "num_media": str(self.num_media),
            "num_segments": str(_segments(self.body)),
            "price": None,
            "price_unit": "USD",
            "sid": self.sid,
            "status": self.status,
            "subresource_uris": {"media": f"{uri}/Media.json"},
            "to": self.to,
            "uri": f"{uri}.json",
        }


def _parse_bound(value: str, *, upper: bool) -> datetime:
    """Parse a DateSent filter value; date-only bounds cover the whole day."""
    if "T" in value:
        return datetime.fromisoformat(value).astimezone(UTC)
    day = date.fromisoformat(value)
    return datetime.combine(day, time.max if upper else time.min, tzinfo=UTC)


def _matches(m: _Message, q: Mapping[str, list[str]]) -> bool:
    def one(key: str) -> str | None:
        vals = q.get(key)
        return vals[0] if vals else None

    if (to := one("To")) is not None and m.to != to:
        return False
    if (from_ := one("From")) is not None and m.from_ != from_:
        return False
    exact, after, before = one("DateSent"), one("DateSent>"), one("DateSent<")
    if exact is None and after is None and before is None:
        return True
    if m.date_sent is None:
        return False
    if exact is not None:
        lo, hi = _parse_bound(exact, upper=False), _parse_bound(exact, upper=True)
        if "T" in exact:
            hi = lo
        if not lo <= m.date_sent <= hi:
            return False
    if after is not None and m.date_sent < _parse_bound(after, upper=False):
        return False
    return before is None or m.date_sent <= _parse_bound(before, upper=True)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeTwilio

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that time out and hang up are expected here


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "FakeTwilio/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.fake._dispatch(self, "GET")

    def do_POST(self) -> None:
        self.server.fake._dispatch(self, "POST")

    def do_DELETE(self) -> None:
        self.server.fake._dispatch(self, "DELETE")


@dataclass
class _State:
    messages: list[_Message] = field(default_factory=list)
    faults: deque[Fault] = field(default_factory=deque)
    requests: list[RecordedRequest] = field(default_factory=list)


class FakeTwilio:
    """The fake Twilio API server; use as a context manager::

    with FakeTwilio() as fake:
        client = make_client(fake.account_sid, fake.auth_token, api_base=fake.url)
    """

    def __init__(
        self,
        account_sid: str = TEST_ACCOUNT_SID,
        auth_token: str = TEST_AUTH_TOKEN,
        *,
        clock: Callable[[], datetime] | None = None,
        auto_send: bool = True,
        service_number: str = TEST_FROM_OK,
        port: int = 0,
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.auto_send = auto_send
        self.service_number = service_number
        self._clock = clock or (lambda: datetime.now(UTC))
        self._port = port
        self._lock = threading.Lock()
        self._state = _State()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------
    def start(self) -> Self:
        server = _Server(("127.0.0.1", self._port), _Handler)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-twilio", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._stopping.set()  # wakes stalled handlers
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    @property
    def url(self) -> str:
        """Base URL to pass as ``api_base``, e.g. ``http://127.0.0.1:41234``."""
        if self._server is None:
            raise RuntimeError("FakeTwilio is not running")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # -- ledger & inspection ----------------------------------------------
    @property
    def messages(self) -> list[dict[str, Any]]:
        """Every Message the fake holds, oldest first: the Twilio resource JSON
        plus ledger-only keys ``status_callback`` and ``params`` (raw form)."""
        with self._lock:
            return [m.resource() | {"status_callback": m.status_callback, "params": copy.deepcopy(m.params)} for m in self._state.messages]

    def message(self, sid: str) -> dict[str, Any]:
        """One ledger entry by SID (KeyError if unknown)."""
        for entry in self.messages:
            if entry["sid"] == sid:
                return entry
        raise KeyError(sid)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every HTTP request received, in arrival order."""
        with self._lock:
            return list(self._state.requests)

    def create_attempts(self) -> int:
        """How many create (POST Messages.json) requests arrived."""
        return sum(1 for r in self.requests if r.method == "POST" and _MESSAGES_RE.match(r.path))

    # -- fault injection ----------------------------------------------------
    def inject(self, fault: Fault, times: int = 1) -> None:
        """Queue ``fault`` for the next ``times`` creates (FIFO with others)."""
        with self._lock:
            self._state.faults.extend([fault] * times)

    def throttle_next(self, times: int = 1) -> None:
        """Next creates get 429 / code 20429 (never processed: safe to retry)."""
        self.inject(Fault(status=429, code=20429, message="Too Many Requests"), times)

    def fail_next(self, times: int = 1, status: int = 500, code: int | None = None, create: bool = False) -> None:
        """Next creates get ``status`` (ambiguous 5xx if ``create``)."""
        self.inject(
            Fault(
                status=status,
                code=code or _DEFAULT_CODES.get(status, status),
                message="An internal server error has occurred",
                create=create,
            ),
            times,
        )

    def hang_next(self, seconds: float, times: int = 1, create: bool = True) -> None:
        """Next creates stall ``seconds`` before answering.

        ``create=True``: the Message exists at once, the 201 comes late (the
        send happened though the client timed out). ``create=False``: nothing
        is created and a 504 comes late.
        """
        fault = Fault(delay=seconds) if create else Fault(status=504, code=20504, message="Gateway Timeout", delay=seconds)
        self.inject(fault, times)

    # -- message lifecycle & webhooks ------------------------------------------
    def set_status(self, sid: str, status: str, error_code: int | None = None) -> dict[str, Any]:
        """Move a Message to ``status`` (no monotonicity: tests may reorder)."""
        now = self._now()
        with self._lock:
            m = self._find(sid)
            if m is None:
                raise KeyError(sid)
            m.status, m.date_updated = status, now
            if status in _SENT_STATES and m.date_sent is None:
                m.date_sent = now
            if status in _ERROR_STATES:
                m.error_code = error_code or 30008
                m.error_message = None
            return m.resource()

    def deliver_status(
        self, sid: str, statuses: Iterable[str] = ("sent", "delivered"), *, error_code: int | None = None, url: str | None = None
    ) -> list[WebhookResponse]:
        """Advance a Message through ``statuses`` and POST a signed status
        callback for each to its StatusCallback (or ``url``).

        ``error_code`` (e.g. 30003, 30006) is reported with failed/undelivered.
        Twilio sends no callback for the initial queued status; pass it
        explicitly if a test needs one anyway.
        """
        out = []
        for status in statuses:
            res = self.set_status(sid, status, error_code if status in _ERROR_STATES else None)
            target = url or self.message(sid)["status_callback"]
            if not target:
                raise ValueError(f"message {sid} has no StatusCallback and no url given")
            params = {
                "AccountSid": res["account_sid"],
                "ApiVersion": API_VERSION,
                "From": res["from"] or "",
                "MessageSid": sid,
                "MessageStatus": status,
                "SmsSid": sid,
                "SmsStatus": status,
                "To": res["to"],
            }
            if res["messaging_service_sid"]:
                params["MessagingServiceSid"] = res["messaging_service_sid"]
            if status in _ERROR_STATES:
                params["ErrorCode"] = str(res["error_code"])
            out.append(post_signed_form(target, params, self.auth_token))
        return out

    def send_inbound_sms(
        self,
        url: str,
        *,
        from_: str,
        body: str,
        to: str | None = None,
        media_urls: Iterable[str] = (),
        extra: Mapping[str, str] | None = None,
        signature: str | None = None,
        sign: bool = True,
    ) -> WebhookResponse:
        """Record an inbound SMS (direction ``inbound``) and POST Twilio's
        signed inbound webhook for it to ``url``; returns our app's answer.

        ``signature`` overrides the computed one; ``sign=False`` omits it.
        """
        to = to or self.service_number
        params = inbound_sms_params(from_=from_, to=to, body=body, account_sid=self.account_sid, media_urls=media_urls)
        params.update(extra or {})
        now = self._now()
        with self._lock:
            self._state.messages.append(
                _Message(
                    sid=params["MessageSid"],
                    account_sid=self.account_sid,
                    to=to,
                    from_=from_,
                    body=body,
                    messaging_service_sid=None,
                    status_callback=None,
                    params={k: [v] for k, v in params.items()},
                    date_created=now,
                    direction="inbound",
                    status="received",
                    date_sent=now,
                    num_media=int(params["NumMedia"]),
                )
            )
        return post_signed_form(url, params, self.auth_token, signature=signature, sign=sign)

    # -- HTTP handling -----------------------------------------------------------
    def _now(self) -> datetime:
        return self._clock().astimezone(UTC).replace(microsecond=0)

    def _find(self, sid: str) -> _Message | None:
        return next((m for m in self._state.messages if m.sid == sid), None)

    def _authorized(self, header: str | None) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        try:
            user, _, pw = base64.b64decode(header[6:]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return secrets.compare_digest(user, self.account_sid) and secrets.compare_digest(pw, self.auth_token)

    def _dispatch(self, h: _Handler, method: str) -> None:
        parts = urlsplit(h.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length).decode() if length else ""
        form = parse_qs(raw, keep_blank_values=True)
        authorized = self._authorized(h.headers.get("Authorization"))
        with self._lock:
            self._state.requests.append(RecordedRequest(method, parts.path, query, form, authorized))
        status, payload = self._route(method, parts.path, query, form, authorized, h)
        if status:
            self._send(h, status, payload)

    def _route(
        self, method: str, path: str, query: dict[str, list[str]], form: dict[str, list[str]], authorized: bool, h: _Handler
    ) -> tuple[int, dict[str, Any]]:
        """(status, JSON) to answer; status 0 means ``_create`` already answered."""
        if not authorized:
            body = twilio_error(401, 20003, "Authenticate")
            body["detail"] = "Your AccountSid or AuthToken was incorrect."
            return 401, body
        not_found = (404, twilio_error(404, 20404, f"The requested resource {path} was not found"))
        many, one = _MESSAGES_RE.match(path), _MESSAGE_RE.match(path)
        match = many or one
        if match is None or match.group(1) != self.account_sid:
            return not_found
        if many and method == "POST":
            self._create(h, form)
            return 0, {}
        if many and method == "GET":
            return 200, self._list(path, query)
        if one and method == "GET":
            with self._lock:
                m = self._find(one.group(2))
                return (200, m.resource()) if m else not_found
        return 405, twilio_error(405, 20004, "Method not allowed")

    def _create(self, h: _Handler, form: dict[str, list[str]]) -> None:
        with self._lock:
            fault = self._state.faults.popleft() if self._state.faults else None
        create = fault is None or fault.status is None or fault.create
        status, payload = self._validate(form)
        if status == 201 and create:
            payload = self._store(form)
        if fault is not None:
            if fault.delay and self._stopping.wait(fault.delay):
                return  # server shutting down; client is long gone
            if fault.status is not None:
                status, payload = (fault.status, twilio_error(fault.status, fault.code, fault.message))
        self._send(h, status, payload)

    def _validate(self, form: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        def first(k: str) -> str:
            return (form.get(k) or [""])[0]

        to, from_ = first("To"), first("From")
        if not to:
            return 400, twilio_error(400, 21604, "A 'To' phone number is required.")
        if not from_ and not first("MessagingServiceSid"):
            return 400, twilio_error(400, 21603, "A 'From' phone number is required.")
        if not first("Body") and not form.get("MediaUrl") and not first("ContentSid"):
            return 400, twilio_error(400, 21602, "Message body is required.")
        for table, key in ((MAGIC_FROM_ERRORS, from_), (MAGIC_TO_ERRORS, to)):
            if key in table:
                code, msg = table[key]
                return 400, twilio_error(400, code, msg.format(to=to, from_=from_))
        return 201, {}

    def _store(self, form: dict[str, list[str]]) -> dict[str, Any]:
        def first(k: str) -> str | None:
            vals = form.get(k)
            return vals[0] if vals else None

        now = self._now()
        mss = first("MessagingServiceSid")
        m = _Message(
            sid=new_sid("SM"),
            account_sid=self.account_sid,
            to=first("To") or "",
            from_=first("From"),
            body=first("Body") or "",
            messaging_service_sid=mss,
            status_callback=first("StatusCallback"),
            params=copy.deepcopy(form),
            date_created=now,
            status="accepted" if mss else "queued",
            num_media=len(form.get("MediaUrl", [])),
        )
        response = m.resource()
        if mss and not m.from_:
            m.from_ = self.service_number
        if self.auto_send:
            m.status, m.date_sent, m.date_updated = "sent", now, now
        with self._lock:
            self._state.messages.append(m)
        return response

    def _list(self, path: str, query: dict[str, list[str]]) -> dict[str, Any]:
        size = max(1, min(1000, int((query.get("PageSize") or ["50"])[0])))
        page = max(0, int((query.get("Page") or ["0"])[0]))
        with self._lock:
            found = [m for m in reversed(self._state.messages) if _matches(m, query)]
            records = [m.resource() for m in found[page * size : (page + 1) * size]]
        filters = {k: v[0] for k, v in query.items() if k not in ("Page", "PageSize", "PageToken")}

        def uri(p: int) -> str:
            return f"{path}?{urlencode(filters | {'PageSize': size, 'Page': p})}"

        has_next = (page + 1) * size < len(found)
        return {
            "end": page * size + max(len(records) - 1, 0),
            "first_page_uri": uri(0),
            "messages": records,
            "next_page_uri": uri(page + 1) if has_next else None,
            "page": page,
            "page_size": size,
            "previous_page_uri": uri(page - 1) if page > 0 else None,
            "start": page * size,
            "uri": uri(page),
        }

    @staticmethod
    def _send(h: _Handler, status: int, payload: Mapping[str, Any]) -> None:
        data = json.dumps(payload).encode()
        try:
            h.send_response(status)
            h.send_header("Content-Type", "application/json; charset=utf-8")
            h.send_header("Content-Length", str(len(data)))
            h.send_header("Twilio-Request-Id", new_sid("RQ"))
            h.end_headers()
            h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass


def inbound_sms_params(
    *, from_: str, to: str, body: str, account_sid: str, message_sid: str | None = None, media_urls: Iterable[str] = ()
) -> dict[str, str]:
    """The form fields Twilio POSTs to a number's inbound SMS webhook."""
    sid = message_sid or new_sid("SM")
    media = list(media_urls)
    params = {
        "ToCountry": "US",
        "ToState": "",
        "SmsMessageSid": sid,
        "NumMedia": str(len(media)),
        "ToCity": "",
        "FromZip": "",
        "SmsSid": sid,
        "FromState": "",
        "SmsStatus": "received",
        "FromCity": "",
        "Body": body,
        "FromCountry": "US",
        "To": to,
        "ToZip": "",
        "NumSegments": str(_segments(body)),
        "MessageSid": sid,
        "AccountSid": account_sid,
        "From": from_,
        "ApiVersion": API_VERSION,
    }
    for i, media_url in enumerate(media):
        params[f"MediaUrl{i}"] = media_url
        params[f"MediaContentType{i}"] = "image/jpeg"
    return params


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # Twilio does not follow redirects on webhook POSTs


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


def post_signed_form(
    url: str,
    params: Mapping[str, str],
    auth_token: str,
    *,
    signature: str | None = None,
    sign: bool = True,
    headers: Mapping[str, str] | None = None,
    timeout: float = 5.0,
) -> WebhookResponse:
    """POST ``params`` form-encoded to a loopback ``url`` the way Twilio does,
    with ``X-Twilio-Signature`` computed over the exact URL and params.

    Never raises for HTTP error statuses: the answer is returned as is.
    """
    _require_loopback(url)
    all_headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "User-Agent": "TwilioProxy/1.1",
        "Accept": "*/*",
        "I-Twilio-Idempotency-Token": secrets.token_hex(16),
    }
    if sign:
        all_headers["X-Twilio-Signature"] = (
            signature if signature is not None else RequestValidator(auth_token).compute_signature(url, dict(params))
        )
    all_headers.update(headers or {})
    req = urllib.request.Request(url, data=urlencode(params).encode(), headers=all_headers, method="POST")
    try:
        with _OPENER.open(req, timeout=timeout) as resp:
            return WebhookResponse(resp.status, dict(resp.headers.items()), resp.read())
    except urllib.error.HTTPError as err:
        return WebhookResponse(err.code, dict(err.headers.items()), err.read())


__all__ = [
    "API_VERSION",
    "MAGIC_FROM_ERRORS",
    "MAGIC_TO_ERRORS",
    "TEST_ACCOUNT_SID",
    "TEST_AUTH_TOKEN",
    "TEST_FROM_OK",
    "FakeTwilio",
    "Fault",
    "RecordedRequest",
    "WebhookResponse",
    "inbound_sms_params",
    "new_sid",
    "post_signed_form",
    "twilio_error",
]
