"""The HTTP API (FastAPI): OpenAPI at /openapi.json, interactive docs at /docs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine

from core.db import make_engine
from core.settings import Settings
from core.temporal import connect
from models.catalog import load_policy, load_rules
from starter import console
from starter.api import errors
from starter.api.routes import accounts, audit, cadences, contacts, dev, enrollments, events, health, keys, links, tasks, webhooks
from starter.client import CadenceClient
from starter.inbound import InboundProcessor
from starter.web import STATIC_DIR

DESCRIPTION = """Durable sales and customer cadences on Temporal.

Authenticate with an API key: `Authorization: Bearer <key>`. Roles: **service** (contacts,
enrollments, events), **cs_lead** (pause, resume, stop, skip, tasks, reading), **auditor**
(read-only), **admin** (everything, including cadences and keys).

Every error has the shape `{"error": {"code", "message", "details"}}`.
"""


def create_app(settings: Settings, *, client: CadenceClient | None = None, engine: Engine | None = None) -> FastAPI:
    """The API app. Without a client it connects to Temporal and Postgres at start-up."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own_engine = engine is None
        app.state.engine = engine or make_engine(settings.database_url, settings.db_pool_size)
        app.state.client = client or CadenceClient(
            await connect(settings.temporal_address, settings.temporal_namespace, lazy=True),
            app.state.engine,
            task_queue=settings.task_queue,
            policy=load_policy(settings.policy_file),
            rules=load_rules(settings.rules_file),
        )
        app.state.settings = settings
        app.state.inbound = InboundProcessor(app.state.client)
        await app.state.inbound.start()
        try:
            yield
        finally:
            await app.state.inbound.stop()
            if own_engine:
                app.state.engine.dispose()

    app = FastAPI(title="Cadence", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    errors.install(app)
    for module in (health, contacts, accounts, cadences, enrollments, audit, events, tasks, keys, webhooks, links):
        app.include_router(module.router)
    app.include_router(console.router)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    if settings.dev_mode:
        app.include_router(dev.router)
    app.add_middleware(errors.BodyLimit, limit=settings.max_body_bytes)
    return app
