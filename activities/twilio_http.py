"""Point the real Twilio SDK at a different Twilio-compatible endpoint.

Business meaning: in tests and local development Cadence must exercise the
*real* ``twilio`` client (its URL building, form encoding, error parsing) while
never texting a real phone or needing internet access. ``make_client`` with an
``api_base`` sends every Twilio API call to that endpoint instead (normally the
local fake in ``tests/support/fake_twilio.py``); without one it is the plain
production client.

Either way the client never retries an HTTP request on its own: creating a
Message is not idempotent, so a blind resend can text a prospect twice. Retry
decisions belong to the workflow, after reconciliation (reliability.md 2.4).
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from requests.adapters import HTTPAdapter
from twilio.http import HttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

__all__ = ["RedirectingHttpClient", "make_client", "no_retry_http_client"]


# The SDK does ``environment or os.environ``: an empty dict would fall back to
# os.environ (TWILIO_EDGE/TWILIO_REGION would silently change hostnames), so
# hand it a non-empty mapping that holds no TWILIO_* keys.
_NO_ENV: dict[str, str] = {"CADENCE_TWILIO_ENV": "explicit"}


def _is_twilio_host(host: str) -> bool:
    host = host.lower().rstrip(".")
    return host == "twilio.com" or host.endswith(".twilio.com")


def no_retry_http_client(timeout: float) -> TwilioHttpClient:
    """A stock ``TwilioHttpClient`` that gives up after one attempt.

    A timeout means "we don't know whether the SMS went out", never "try again".
    """
    if timeout <= 0:
        raise ValueError(f"timeout must be positive, got {timeout!r}")
    inner = TwilioHttpClient(timeout=timeout)
    # requests' default is already 0 retries; mounting explicitly makes it a
    # guarantee rather than a coincidence of library defaults.
    for prefix in ("https://", "http://"):
        inner.session.mount(prefix, HTTPAdapter(max_retries=0))
    return inner


class RedirectingHttpClient(HttpClient):  # type: ignore[misc]
    """Send Twilio API calls to ``api_base`` instead of ``https://*.twilio.com``.

    Scheme and host of every Twilio URL are replaced by ``api_base``; path and
    query string are kept, so the fake sees exactly what Twilio would. A URL
    outside ``twilio.com`` is refused: a client configured for a fake must
    never reach a real service by accident. Environment proxy settings are
    ignored (the redirected endpoint is addressed directly). No HTTP retries.
    """

    def __init__(self, api_base: str, timeout: float = 10.0) -> None:
        inner = no_retry_http_client(timeout)
        super().__init__(inner.logger, False, timeout)
        base = urlsplit(api_base)
        if base.scheme not in ("http", "https") or not base.netloc:
            raise ValueError(f"api_base must be an http(s) URL, got {api_base!r}")
        self.api_base = api_base
        self._base = base
        self._inner = inner
        # Don't let HTTP(S)_PROXY / .netrc from the environment route or
        # re-authenticate requests meant for the configured endpoint.
        inner.session.trust_env = False

    def rewrite(self, url: str) -> str:
        """Return ``url`` re-targeted at ``api_base`` (path and query kept)."""
        parts = urlsplit(url)
        if parts.scheme != "https" or not _is_twilio_host(parts.hostname or ""):
            raise ValueError(f"refusing non-Twilio URL while redirected: {url!r}")
        path = self._base.path.rstrip("/") + parts.path
        return urlunsplit((self._base.scheme, self._base.netloc, path, parts.query, ""))

    def request(
        self,
        method: str,
        uri: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        """Perform one HTTP request against the redirected URL (no retries)."""
        response: Response = self._inner.request(
            method,
            self.rewrite(uri),
            params=params,
            data=data,
            headers=headers,
            auth=auth,
            timeout=timeout if timeout is not None else self.timeout,
            allow_redirects=allow_redirects,
        )
        self._test_only_last_request = self._inner._test_only_last_request
        self._test_only_last_response = response
        return response


def make_client(account_sid: str, auth_token: str, api_base: str | None = None, timeout: float = 10.0) -> Client:
    """The real Twilio client Cadence sends SMS with.

    ``api_base`` set (tests/dev): every call goes to that endpoint. Unset
    (production): calls go to Twilio. In both cases each request is attempted
    once and bounded by ``timeout`` seconds. Credentials are passed explicitly;
    ``TWILIO_*`` environment variables are not consulted.
    """
    if not account_sid or not auth_token:
        raise ValueError("Twilio account_sid and auth_token are required")
    http_client: HttpClient = RedirectingHttpClient(api_base, timeout=timeout) if api_base else no_retry_http_client(timeout)
    return Client(account_sid, auth_token, http_client=http_client, environment=_NO_ENV)
