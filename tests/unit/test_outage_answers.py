"""How the API and the console answer when a dependency fails mid-request: an outage of
Postgres or Temporal is a 503 with Retry-After (JSON for the API, a page for the console),
anything else a 500 in the error shape; neither leaks the exception."""

from __future__ import annotations

import psycopg
import pytest
import sqlalchemy.exc
from fastapi import FastAPI
from fastapi.testclient import TestClient
from temporalio.service import RPCError, RPCStatusCode

from core.settings import Settings
from starter.api import errors
from starter.console.pages import console_router
from starter.errors import outage

DOWN = sqlalchemy.exc.OperationalError("SELECT 1", {}, psycopg.OperationalError("connection refused"))


def app_raising(exc: Exception) -> FastAPI:
    app = FastAPI()
    app.state.settings = Settings(_env_file=None)
    errors.install(app)
    pages = console_router("/console")

    @app.get("/v1/thing")
    async def thing() -> None:
        raise exc

    @pages.get("/page")
    async def page() -> None:
        raise exc

    app.include_router(pages)
    return app


@pytest.mark.parametrize(
    ("exc", "what"),
    [
        (DOWN, "database"),
        (psycopg.OperationalError("server closed the connection unexpectedly"), "database"),
        (sqlalchemy.exc.TimeoutError("QueuePool limit reached"), "database"),
        (RPCError("unavailable", RPCStatusCode.UNAVAILABLE, b""), "Temporal"),
        (RuntimeError("Failed client connect: Server connection error"), "Temporal"),
    ],
)
def test_an_outage_is_503_with_retry_after(exc: Exception, what: str) -> None:
    client = TestClient(app_raising(exc), raise_server_exceptions=True)
    api = client.get("/v1/thing")
    assert api.status_code == 503 and api.headers["retry-after"] == "5"
    assert api.json()["error"]["code"] == "unavailable" and what in api.json()["error"]["message"]
    page = client.get("/console/page")
    assert page.status_code == 503 and page.headers["retry-after"] == "5"
    assert "text/html" in page.headers["content-type"] and "Nothing was changed" in page.text


def test_anything_else_is_a_500_without_internals() -> None:
    client = TestClient(app_raising(KeyError("secret-internal-name")), raise_server_exceptions=True)
    api = client.get("/v1/thing")
    assert api.status_code == 500 and api.json()["error"]["code"] == "internal_error"
    assert "secret-internal-name" not in api.text
    page = client.get("/console/page")
    assert page.status_code == 500 and "secret-internal-name" not in page.text


def test_errors_that_are_not_outages_are_not_called_one() -> None:
    assert outage(RPCError("bad", RPCStatusCode.INVALID_ARGUMENT, b"")) is None
    assert outage(RuntimeError("something else")) is None
    integrity = sqlalchemy.exc.IntegrityError("INSERT", {}, psycopg.errors.UniqueViolation("duplicate key"))
    assert outage(integrity) is None
