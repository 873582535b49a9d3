"""Errors the client raises; the API maps each to one HTTP status and one error shape."""

from __future__ import annotations

from typing import Any

import psycopg
import sqlalchemy.exc
from temporalio.service import RPCError, RPCStatusCode


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
    """A dependency (Postgres, Temporal, the worker) did not answer in time. Nothing was
    changed; the caller may retry after `retry_after` seconds."""

    status = 503
    code = "unavailable"
    retry_after = 5


def outage(exc: BaseException) -> Unavailable | None:
    """The `Unavailable` that `exc` amounts to when it says a dependency is down or
    unreachable (Postgres refused or dropped the connection, the pool is exhausted, Temporal
    does not answer), else None. An outage is the caller's cue to retry, never a 500."""
    if isinstance(exc, Unavailable):
        return exc
    if isinstance(exc, sqlalchemy.exc.TimeoutError):
        return Unavailable("the database has no free connection; retry shortly")
    if isinstance(exc, sqlalchemy.exc.DBAPIError) and (
        exc.connection_invalidated or isinstance(exc.orig, psycopg.OperationalError | psycopg.InterfaceError)
    ):
        return Unavailable("the database is not answering; retry shortly")
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        return Unavailable("the database is not answering; retry shortly")
    if isinstance(exc, RPCError) and exc.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
        return Unavailable("Temporal is not answering; retry shortly")
    if isinstance(exc, RuntimeError) and str(exc).startswith("Failed client connect"):
        return Unavailable("Temporal is not answering; retry shortly")
    return None
