"""Errors the client raises; the API maps each to one HTTP status and one error shape."""

from __future__ import annotations

import re
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


def refusal(exc: BaseException) -> CadenceError | None:
    """The client's error that a database refusal amounts to: a reference to a row that does
    not exist (an unknown owner_id) is a 422 naming the field, a duplicate is a 409. The
    transaction was rolled back: nothing was half-written."""
    if not isinstance(exc, sqlalchemy.exc.IntegrityError):
        return None
    orig = exc.orig
    diag = getattr(orig, "diag", None)
    detail = (getattr(diag, "message_detail", None) or "") if diag is not None else ""
    found = re.search(r"Key \(([^)]+)\)=\((.*)\)", detail)
    field, value = (found.group(1), found.group(2)) if found else ("(body)", "")
    if isinstance(orig, psycopg.errors.ForeignKeyViolation):
        table = re.search(r'table "([^"]+)"', detail)
        what = table.group(1).rstrip("s") if table else "row"
        return Invalid(f"{field}: there is no {what} {value!r}", {"field": field})
    if isinstance(orig, psycopg.errors.UniqueViolation):
        return Conflict(f"{field}: {value!r} is already taken", {"field": field})
    return Invalid(f"{field}: the value was refused ({type(orig).__name__})", {"field": field})
