"""GET /healthz: is Postgres up, is Temporal up?"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from starter.api.deps import BackendDep
from starter.api.errors import error_body
from starter.service import health

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Check Postgres and Temporal")
async def healthz(backend: BackendDep) -> JSONResponse:
    """200 when both answer; 503 naming the one that does not."""
    checks = await health.check(backend)
    down = [name for name, state in checks.items() if state != "ok"]
    if down:
        return JSONResponse(error_body("unavailable", f"{' and '.join(down)} not answering", checks), status_code=503)
    return JSONResponse({"status": "ok", **checks})
