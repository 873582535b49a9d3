"""Is the system up? Postgres and Temporal each answer, or say why not."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from starter.service.backend import Backend


async def check(backend: Backend, timeout: float = 5.0) -> dict[str, str]:
    """ "ok" or "down: <error>" for postgres and temporal."""

    def ping_db() -> None:
        with backend.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    checks: dict[str, str] = {}
    try:
        await asyncio.wait_for(asyncio.to_thread(ping_db), timeout=timeout)
        checks["postgres"] = "ok"
    except Exception as exc:
        checks["postgres"] = f"down: {type(exc).__name__}"
    try:
        await backend.workflows.ping(timeout)
        checks["temporal"] = "ok"
    except Exception as exc:
        checks["temporal"] = f"down: {type(exc).__name__}"
    return checks
