"""Finding a Postgres to use (a configured URL, the local server, or an embedded one), and
the two roles Cadence's database is meant to be used with.

The embedded server (pgserver) keeps its files in a data directory, so `cadence dev` and
the tests work on a machine with no Postgres at all.

Roles: an owner role runs the migrations and owns every table; the API and the worker
connect as an application role that owns nothing. It may read and write the business
tables, but only read and append to the audit log: it cannot update, delete or truncate it,
disable its triggers, alter it or grant itself more (only an owner or a superuser could).
`ensure_roles` sets this up on a server where we are superuser (the dev stack, the tests);
in production a DBA creates the roles and `cadence migrate` (MIGRATION_DATABASE_URL) grants.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import psycopg.sql
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


def migrate(url: str, app_role: str | None = None) -> None:
    """Bring the schema up to date as the owner at `url` (`cadence migrate` calls this),
    then give `app_role` (if any) what the application needs and nothing more."""
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["database_url"] = url
    command.upgrade(config, "head")
    if app_role is not None:
        grant_app_role(url, app_role)


def role_of(url: str) -> str | None:
    """The role a database URL connects as."""
    return make_url(url).username


# What the application role may do, applied after every migration (new tables included).
# The audit log and its head: read and append; the head also moves forward (a trigger
# refuses anything else). alembic_version: read only.
_GRANTS = """
GRANT USAGE ON SCHEMA public TO {app};
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {app};
REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON audit_log FROM {app};
REVOKE DELETE, TRUNCATE, REFERENCES, TRIGGER ON audit_head FROM {app};
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON alembic_version FROM {app};
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {app};
"""


def grant_app_role(owner_url: str, app_role: str) -> None:
    """As the owner: grant the application role its privileges (idempotent)."""
    app = psycopg.sql.Identifier(app_role).as_string(None)
    with psycopg.connect(_libpq(owner_url), autocommit=True) as conn:
        for statement in filter(None, (line.strip() for line in _GRANTS.format(app=app).splitlines())):
            conn.execute(statement)


_TAKE_OVER = """
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT c.oid::regclass AS name, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm') AND pg_get_userbyid(c.relowner) <> {owner}
    LOOP
        EXECUTE format('ALTER TABLE %s OWNER TO %I', r.name, {owner});
    END LOOP;
    FOR r IN SELECT c.oid::regclass AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'public' AND c.relkind = 'S' AND pg_get_userbyid(c.relowner) <> {owner}
               AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a', 'i'))
    LOOP
        EXECUTE format('ALTER SEQUENCE %s OWNER TO %I', r.name, {owner});
    END LOOP;
    FOR r IN SELECT p.oid::regprocedure AS name FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
             WHERE n.nspname = 'public' AND pg_get_userbyid(p.proowner) <> {owner}
    LOOP
        EXECUTE format('ALTER FUNCTION %s OWNER TO %I', r.name, {owner});
    END LOOP;
END $$
"""


@dataclass(frozen=True)
class RoleUrls:
    """The two ways into one database: as its owner (migrations) and as the application."""

    owner: str
    app: str


def ensure_roles(admin_url: str, database: str, *, owner: str, app: str, password: str) -> RoleUrls:
    """As a superuser at `admin_url`: create the owner and application roles (or reset their
    passwords), give `database` (which must exist) to the owner, and keep everyone else from
    creating objects in it. Returns the owner's and the application's URLs."""
    ident = psycopg.sql.Identifier
    with psycopg.connect(_libpq(admin_url), autocommit=True) as conn:
        for role in (owner, app):
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
            verb = "ALTER" if exists else "CREATE"
            conn.execute(
                psycopg.sql.SQL("{} ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS PASSWORD {}").format(
                    psycopg.sql.SQL(verb), ident(role), psycopg.sql.Literal(password)
                )
            )
        conn.execute(psycopg.sql.SQL("ALTER DATABASE {} OWNER TO {}").format(ident(database), ident(owner)))
    with psycopg.connect(_libpq(with_database(admin_url, database)), autocommit=True) as conn:
        conn.execute(psycopg.sql.SQL("ALTER SCHEMA public OWNER TO {}").format(ident(owner)))
        conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        # A database migrated before the roles existed: its tables, sequences and functions
        # move to the owner role, so that later migrations (run as the owner) can alter them.
        conn.execute(psycopg.sql.SQL(_TAKE_OVER).format(owner=psycopg.sql.Literal(owner)))
    base = make_url(with_database(admin_url, database))
    return RoleUrls(
        owner=base.set(username=owner, password=password).render_as_string(hide_password=False),
        app=base.set(username=app, password=password).render_as_string(hide_password=False),
    )
