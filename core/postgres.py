"""Finding a Postgres to use: a configured URL, the local server, or an embedded one.

The embedded server (pgserver) keeps its files in a data directory, so `cadence dev` and
the tests work on a machine with no Postgres at all.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import psycopg
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
LOCAL_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def answers(url: str, timeout: int = 2) -> bool:
    """Whether a Postgres server accepts connections at this URL."""
    try:
        with psycopg.connect(_libpq(url), connect_timeout=timeout):
            return True
    except psycopg.Error:
        return False


def embedded(data_dir: Path) -> tuple[str, Any]:
    """Start (or reuse) an embedded Postgres in `data_dir`; returns (admin URL, server handle).

    The server stops when the last handle is released (pgserver's own reference counting).
    """
    from pgserver import get_server  # type: ignore[attr-defined]

    data_dir.mkdir(parents=True, exist_ok=True)
    server = get_server(str(data_dir), cleanup_mode="stop")
    uri = server.get_uri()
    return uri.replace("postgresql://", "postgresql+psycopg://", 1), server


def with_database(url: str, name: str) -> str:
    """The same server, another database."""
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def ensure_database(admin_url: str, name: str) -> str:
    """Create the database if it does not exist; returns its URL."""
    with psycopg.connect(_libpq(admin_url), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')  # name is ours, never user input
    return with_database(admin_url, name)


def drop_database(admin_url: str, name: str) -> None:
    """Drop a database (used by tests to clean up after themselves)."""
    with contextlib.suppress(psycopg.Error), psycopg.connect(_libpq(admin_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def migrate(url: str) -> None:
    """Bring the schema up to date (`cadence migrate` calls this)."""
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["database_url"] = url
    command.upgrade(config, "head")
