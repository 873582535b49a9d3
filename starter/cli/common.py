"""Shared CLI plumbing: settings, async running, output (tables or --json) and exit codes."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import getpass
import json
import os
import sys
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

import sqlalchemy.exc
import typer
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from core.settings import Settings, get_settings
from starter.errors import CadenceError
from starter.service.backend import Backend

T = TypeVar("T")

# Exit codes: scripts can tell "not found" from "not allowed now" from "bad input".
OK = 0
FAILED = 1
USAGE = 2
NOT_FOUND = 3
CONFLICT = 4
INVALID = 5
UNAVAILABLE = 6
EXIT_BY_STATUS = {404: NOT_FOUND, 409: CONFLICT, 422: INVALID, 400: INVALID, 503: UNAVAILABLE}

out = Console()
err = Console(stderr=True)


@dataclass
class Context:
    """Options every command shares."""

    json: bool = False

    @property
    def settings(self) -> Settings:
        """Settings from the environment and .env."""
        return get_settings()


def finish(status: int) -> NoReturn:
    """Flush and leave with the real status (sdk-python #300: the Temporal runtime can abort
    during interpreter exit, which would hide the real result)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def actor() -> str:
    """Who is at the keyboard, for the audit trail."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"cli:{user}"


def run(fn: Callable[[Backend], Awaitable[T]], settings: Settings) -> T:
    """Connect (Postgres now, Temporal when an operation needs it), run one operation, close."""

    async def main() -> T:
        backend = await Backend.connect(
            database_url=settings.database_url,
            temporal_address=settings.temporal_address,
            namespace=settings.temporal_namespace,
            task_queue=settings.task_queue,
            policy_file=settings.policy_file,
            rules_file=settings.rules_file,
            pool_size=2,
        )
        try:
            return await fn(backend)
        finally:
            await backend.close()

    return asyncio.run(main())


def parse_when(value: str | None) -> dt.datetime | None:
    """An ISO 8601 instant with a time zone from the command line (None stays None)."""
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        fail(f"{value!r} is not an ISO 8601 date-time (e.g. 2026-12-01T09:00:00+00:00)", code=INVALID)
    if parsed.tzinfo is None:
        fail(f"{value!r} has no time zone; add one, e.g. {value}+00:00", code=INVALID)
    return parsed


def fail(error: CadenceError | str, *, code: int | None = None, as_json: bool = False) -> NoReturn:
    """Report an error (human text or JSON on stderr) and exit with a meaningful status."""
    if isinstance(error, CadenceError):
        status = code or EXIT_BY_STATUS.get(error.status, FAILED)
        payload = {"error": {"code": error.code, "message": error.message, "details": error.details}}
        message = error.message
    else:
        status = code or FAILED
        payload = {"error": {"code": "failed", "message": error, "details": None}}
        message = error
    if as_json:
        err.print_json(json.dumps(payload, default=str))
    else:
        err.print(f"[bold red]error:[/] {message}")
        if isinstance(error, CadenceError) and isinstance(error.details, dict) and error.details.get("problems"):
            for problem in error.details["problems"]:
                err.print(f"  - {problem}")
    finish(status)


def emit(data: Any, *, as_json: bool, table: Callable[[], Table | str] | None = None) -> None:
    """Print JSON (for machines) or a table/sentence (for people)."""
    if as_json:
        out.print_json(json.dumps(_plain(data), default=str))
    elif table is not None:
        out.print(table())


def _plain(data: Any) -> Any:
    if isinstance(data, BaseModel):
        return data.model_dump(mode="json")
    if isinstance(data, list | tuple):
        return [_plain(d) for d in data]
    if isinstance(data, dict):
        return {k: _plain(v) for k, v in data.items()}
    if hasattr(data, "__dataclass_fields__"):
        return {k: _plain(getattr(data, k)) for k in data.__dataclass_fields__}
    return data


def make_table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Table:
    """A rich table with the given columns."""
    table = Table(title=title, show_lines=False, header_style="bold")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*["" if v is None else str(v) for v in row])
    return table


def guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn CadenceErrors into clean messages and exit codes, and always exit via finish()."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        ctx = kwargs.get("ctx") or (args[0] if args else None)
        as_json = bool(getattr(getattr(ctx, "obj", None), "json", False))
        try:
            fn(*args, **kwargs)
        except CadenceError as error:
            fail(error, as_json=as_json)
        except typer.Exit as done:
            finish(done.exit_code)
        except KeyboardInterrupt:
            finish(130)
        except OSError as error:
            fail(f"{error}", code=UNAVAILABLE, as_json=as_json)
        except sqlalchemy.exc.OperationalError as error:
            fail(f"the database is not reachable: {error.orig}", code=UNAVAILABLE, as_json=as_json)
        except RuntimeError as error:
            fail(str(error), code=UNAVAILABLE if "connect" in str(error).lower() else FAILED, as_json=as_json)
        finish(OK)

    return wrapper
