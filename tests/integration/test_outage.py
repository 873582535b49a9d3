"""Postgres or Temporal goes away and comes back: the API answers 503 with Retry-After and the
error shape on the same keep-alive connection (never a 500, never a reset), recovers by itself,
and the worker's activities retry until the database is back and then send exactly once."""

from __future__ import annotations

import asyncio
import concurrent.futures
import http.client
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlmodel import select
from temporalio.testing import WorkflowEnvironment

from core.db import make_engine, transaction
from core.settings import Settings
from models.keys import Role, create_key
from models.tables import Touch
from starter.api import create_app
from starter.local import LocalCadence
from tests.integration.conftest import OPEN_POLICY, Stack
from tests.support.server import serve
from tests.support.smtp import SmtpServer, free_port
from tests.support.tcp_proxy import TcpProxy
from worker import build_activities, build_worker

pytestmark = pytest.mark.integration

CADENCE = """
key: outage
name: Outage
steps:
  - id: hello
    type: email
    template: hello
templates:
  hello:
    channel: email
    subject: "Hello"
    html: "<p>Hello</p>"
    text: "Hello"
"""


@pytest.fixture
def db_proxy(db_url: str) -> Iterator[tuple[TcpProxy, str]]:
    """A proxy in front of the test database, and the URL that goes through it."""
    url = make_url(db_url)
    with TcpProxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        yield proxy, url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)


class Keepalive:
    """One HTTP/1.1 connection, reused for every request; it fails loudly if the server
    closed it (a reset is what clients saw before: the next request on it broke)."""

    def __init__(self, port: int, key: str) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.key = key
        self.conn.connect()
        self.socket = self.conn.sock

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, str], Any]:
        headers = {"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"}
        self.conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        response = self.conn.getresponse()
        raw = response.read()
        assert self.conn.sock is self.socket, "the server closed the keep-alive connection"
        kind = response.getheader("content-type", "")
        return response.status, dict(response.getheaders()), json.loads(raw) if "json" in kind else raw.decode()


def test_api_answers_503_while_postgres_is_down_and_recovers(clean_db: Engine, settings: Settings, db_proxy: tuple[TcpProxy, str]) -> None:
    proxy, url = db_proxy
    with transaction(clean_db) as session:
        _, admin = create_key(session, name="admin", role=Role.admin)
    port = free_port()
    app_settings = settings.model_copy(update={"database_url": url, "temporal_address": f"127.0.0.1:{free_port()}"})
    with serve(create_app(app_settings), port=port):
        http = Keepalive(port, admin)
        status, _, _ = http.request("GET", "/v1/cadences")
        assert status == 200

        proxy.cut()
        outage = [
            http.request("GET", "/v1/cadences"),
            http.request("POST", "/v1/contacts", {"external_id": "during-outage", "email": "o@example.com"}),
            http.request("GET", "/v1/enrollments"),
            http.request("GET", "/v1/audit/verify"),
            http.request("GET", "/v1/tasks"),
            http.request("GET", "/v1/events"),
        ]
        for status, headers, body in outage:
            assert status == 503, body
            assert headers["retry-after"] == "5"
            assert body["error"]["code"] == "unavailable"
            assert "database" in body["error"]["message"]

        proxy.restore()
        status, _, body = http.request("POST", "/v1/contacts", {"external_id": "after-outage", "email": "a@example.com"})
        assert status == 201, body
        status, _, body = http.request("GET", "/v1/contacts/after-outage")
        assert status == 200 and body["email"] == "a@example.com"
        status, _, body = http.request("GET", "/v1/contacts/during-outage")
        assert status == 404  # nothing was half-written during the outage


def test_api_answers_503_while_temporal_is_down(clean_db: Engine, settings: Settings, stack: Stack) -> None:
    stack.load(CADENCE)
    person = stack.contact(email="t@example.com")
    with transaction(clean_db) as session:
        _, admin = create_key(session, name="admin", role=Role.admin)
    port = free_port()
    app_settings = settings.model_copy(update={"temporal_address": f"127.0.0.1:{free_port()}"})
    with serve(create_app(app_settings), port=port):
        http = Keepalive(port, admin)
        status, headers, body = http.request("POST", "/v1/enrollments", {"cadence_id": "outage", "contact_external_id": person.external_id})
        assert status == 503, body
        assert headers["retry-after"] == "5"
        assert body["error"]["code"] == "unavailable"
        assert "Temporal" in body["error"]["message"]
        status, _, body = http.request("GET", "/healthz")
        assert status == 503 and "temporal" in body["error"]["message"]


async def test_worker_retries_through_a_database_outage_and_sends_once(
    dev_env: WorkflowEnvironment, clean_db: Engine, settings: Settings, smtp: SmtpServer, db_proxy: tuple[TcpProxy, str]
) -> None:
    proxy, url = db_proxy
    queue = f"tq-{uuid.uuid4()}"
    local = settings.model_copy(update={"task_queue": queue, "database_url": url})
    worker_engine = make_engine(url, 4)
    smtp.sink.messages.clear()
    client = LocalCadence(dev_env.client, clean_db, task_queue=queue, policy=OPEN_POLICY)
    stack = Stack(client, dev_env, clean_db, local, smtp, None)  # type: ignore[arg-type]
    stack.load(CADENCE)
    person = stack.contact(email="outage@example.com")
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=local.worker_max_concurrent_activities) as executor:
            worker = build_worker(
                dev_env.client, local, build_activities(worker_engine, local, temporal=dev_env.client, policy=OPEN_POLICY), executor
            )
            async with worker:
                proxy.cut()
                info = await client.enroll("outage", person.external_id, actor="test")
                await asyncio.sleep(3)  # the first attempts fail: the worker cannot reach Postgres
                assert smtp.sink.to("outage@example.com") == []
                proxy.restore()
                await asyncio.to_thread(smtp.sink.wait_for, "outage@example.com", 1, 60.0)
                await asyncio.sleep(1)
    finally:
        worker_engine.dispose()
    assert len(smtp.sink.to("outage@example.com")) == 1
    with transaction(clean_db) as session:
        touches = session.exec(select(Touch).where(Touch.enrollment_id == uuid.UUID(info.id))).all()
    assert [(t.step_id, t.status) for t in touches] == [("hello", "sent")]
