"""Errors the client raises; the API maps each to one HTTP status and one error shape."""

from __future__ import annotations

from typing import Any


class CadenceError(Exception):
    """Base class: `code` is stable and machine-readable, `message` is for people."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(CadenceError):
    """An id that names nothing (contact, cadence, enrollment, task)."""

    status = 404
    code = "not_found"


class Conflict(CadenceError):
    """The request is valid but the current state forbids it (an illegal transition, a
    re-enrollment inside the no-contact period)."""

    status = 409
    code = "conflict"


class Invalid(CadenceError):
    """Bad input; `details` names the field or row."""

    status = 422
    code = "validation_error"


class Unavailable(CadenceError):
    """A dependency (Postgres, Temporal, the worker) did not answer in time."""

    status = 503
    code = "unavailable"
