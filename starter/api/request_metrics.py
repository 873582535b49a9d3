"""Request latency for /metrics, by method, route template and status (ids in paths would
make a series per enrollment), and the `/metrics` endpoint itself (public like /healthz:
counts only, no contact data; restrict it at the network like any scrape target)."""

from __future__ import annotations

import time

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core import metrics

router = APIRouter()
# A path no route matched (a scan for /wp-admin): one series, not one per path tried.
UNMATCHED = "(no route)"


@router.get("/metrics", include_in_schema=False)
async def exposition() -> Response:
    """The API process's series in Prometheus's text format."""
    return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


class RequestMetrics:
    """ASGI middleware timing every HTTP request to its last byte."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", None) or UNMATCHED
            if route != "/metrics":
                metrics.REQUESTS.labels(scope["method"], route, str(status)).observe(time.perf_counter() - started)
