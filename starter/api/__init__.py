"""The HTTP API (FastAPI): OpenAPI at /openapi.json, interactive docs at /docs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine

from core.settings import Settings
from starter import console
from starter.api import errors, openapi, request_metrics
from starter.api.limits import RateLimit
from starter.api.no_nul import RefuseNul
from starter.api.request_metrics import RequestMetrics
from starter.api.routes import (
    accounts,
    audit,
    cadences,
    contacts,
    dev,
    enrollments,
    events,
    health,
    keys,
    links,
    operations,
    previews,
    reports,
    tasks,
    touches,
    tracking,
    webhooks,
)
from starter.service.backend import Backend
from starter.service.delivery import InboundProcessor
from starter.service.inbound import InboundEmail
from starter.service.refresher import RollupRefresher
from starter.web import STATIC_DIR

DESCRIPTION = """Durable sales and customer cadences on Temporal.

Authenticate with an API key: `Authorization: Bearer <key>`. Roles: **service** (contacts,
enrollments, events), **cs_lead** (pause, resume, stop, skip, tasks, reading), **auditor**
(read-only), **admin** (everything, including cadences and keys).

Every error has the shape `{"error": {"code", "message", "details"}}`.
"""


def create_app(settings: Settings, *, backend: Backend | None = None, engine: Engine | None = None) -> FastAPI:
    """The API app. Without a backend it connects to Postgres (or uses `engine`) and,
    lazily, to Temporal at start-up, so it starts (and says so on /healthz) while either is down."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.require_real_secrets()
        app.state.backend = backend or await Backend.from_settings(settings, engine=engine)
        app.state.settings = settings
        app.state.inbound = InboundProcessor(app.state.backend)
        await app.state.inbound.start()
        refresher = RollupRefresher(app.state.backend, every_seconds=settings.report_refresh_seconds)
        await refresher.start()
        try:
            yield
        finally:
            await refresher.stop()
            await app.state.inbound.stop()
            if backend is None:
                await app.state.backend.close()

    app = FastAPI(title="Cadence", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    errors.install(app)
    openapi.install(app, models=(InboundEmail,))
    for module in (
        health,
        contacts,
        accounts,
        cadences,
        enrollments,
        operations,
        previews,
        reports,
        audit,
        events,
        tasks,
        touches,
        keys,
        webhooks,
        links,
        tracking,
    ):
        app.include_router(module.router)
    app.include_router(request_metrics.router)
    app.include_router(console.router)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    if settings.dev_mode:
        app.include_router(dev.router)
    app.add_middleware(RefuseNul)  # inside the body limit: it reads bodies whole
    app.add_middleware(errors.BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(RateLimit, settings=settings)  # a refused request costs nothing
    app.add_middleware(RequestMetrics)  # outermost: every answer is timed, a 429 too
    return app
