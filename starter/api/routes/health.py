"""GET /healthz: is Postgres up, is Temporal up?"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest

from starter.api.deps import ClientDep, EngineDep
from starter.api.errors import error_body

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Check Postgres and Temporal")
async def healthz(client: ClientDep, engine: EngineDep) -> JSONResponse:
    """200 when both answer; 503 naming the one that does not."""

    def ping_db() -> None:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    checks: dict[str, str] = {}
    try:
        await asyncio.wait_for(asyncio.to_thread(ping_db), timeout=5)
        checks["postgres"] = "ok"
    except Exception as exc:
        checks["postgres"] = f"down: {type(exc).__name__}"
    try:
        await asyncio.wait_for(
            client.temporal.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=client.temporal.namespace)),
            timeout=5,
        )
        checks["temporal"] = "ok"
    except Exception as exc:
        checks["temporal"] = f"down: {type(exc).__name__}"
    down = [name for name, state in checks.items() if state != "ok"]
    if down:
        return JSONResponse(error_body("unavailable", f"{' and '.join(down)} not answering", checks), status_code=503)
    return JSONResponse({"status": "ok", **checks})
