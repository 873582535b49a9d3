"""One exception per kind of failure, mapped from the API's error shape
`{"error": {"code", "message", "details"}}`.

Catch `CadenceError` for everything, or the specific class for what you can act on:
`Invalid.field` names the field (or CSV row) that was refused, `Conflict.message` carries
the workflow's own reason ("cannot resume: the enrollment is not paused"), and
`RateLimited.retry_after` says how long the server asked you to wait.
"""

from __future__ import annotations

from typing import Any


class CadenceError(Exception):
    """Any failure of a Cadence call. `status` is the HTTP status (None: no answer)."""

    status: int | None = None

    def __init__(self, message: str, *, code: str | None = None, details: Any = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.details = details
        if status is not None:
            self.status = status


class Invalid(CadenceError):
    """422: the request was refused before anything was written; `field` says which part."""

    status: int | None = 422

    @property
    def field(self) -> str | None:
        """The refused field ("contact_external_id", "start_at", "(body)"...), when known."""
        details = self.details if isinstance(self.details, dict) else {}
        if isinstance(details.get("field"), str):
            return str(details["field"])
        fields = details.get("fields")
        if isinstance(fields, list) and fields and isinstance(fields[0], dict):
            return str(fields[0].get("field"))
        return None


class Unauthorized(CadenceError):
    """401: no API key, or one that is not valid (revoked, mistyped)."""

    status: int | None = 401


class Forbidden(CadenceError):
    """403: the key's role may not do this (a service key pausing, an auditor enrolling)."""

    status: int | None = 403


class NotFound(CadenceError):
    """404: an id or external id that names nothing."""

    status: int | None = 404


class Conflict(CadenceError):
    """409: valid, but the current state forbids it (an illegal transition, a re-enrollment
    inside the no-contact period, an Idempotency-Key reused for another request)."""

    status: int | None = 409


class TooLarge(CadenceError):
    """413: the body is larger than the server accepts."""

    status: int | None = 413


class RateLimited(CadenceError):
    """429: too many requests; `retry_after` is the wait the server asked for (seconds)."""

    status: int | None = 429

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class Unavailable(CadenceError):
    """503 (a dependency of the API is down: nothing was changed), or no answer at all (the
    API is unreachable); `retry_after` is the wait the server asked for, when it said."""

    status: int | None = 503

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class Unreachable(Unavailable):
    """No answer at all: the API could not be reached, or the connection broke."""

    status = None


class ServerError(CadenceError):
    """Any other 5xx: a bug on the server's side; the message is the server's."""

    status: int | None = 500


BY_STATUS: dict[int, type[CadenceError]] = {
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: TooLarge,
    422: Invalid,
    429: RateLimited,
    503: Unavailable,
}


def from_response(status: int, body: Any, retry_after: float | None = None) -> CadenceError:
    """The exception for an error response (any body; the API's shape when it has one)."""
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    message = str(error.get("message") or f"the Cadence API answered {status}")
    kind = BY_STATUS.get(status) or (ServerError if status >= 500 else CadenceError)
    kwargs: dict[str, Any] = {"code": error.get("code"), "details": error.get("details"), "status": status}
    if kind is RateLimited or kind is Unavailable:
        return kind(message, retry_after=retry_after, **kwargs)
    return kind(message, **kwargs)
