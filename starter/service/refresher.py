"""The report rollups' background refresh: every `REPORT_REFRESH_SECONDS` the API brings the
rollups up to date, so the catch-up each report does before it reads stays small however
busy the engine is. Several API processes may run one each; refreshes queue on an advisory
lock and each finds little left to do."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from starter.service.backend import Backend
from starter.service.reports import fresh

log = logging.getLogger("cadence.reports")


class RollupRefresher:
    """Refreshes the report rollups in the background of a long-running process."""

    def __init__(self, backend: Backend, *, every_seconds: float) -> None:
        self.backend = backend
        self.every_seconds = every_seconds
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Begin refreshing (nothing when `every_seconds` is 0)."""
        if self.every_seconds > 0:
            self._task = asyncio.create_task(self._run(), name="report-rollups")

    async def stop(self) -> None:
        """Stop; the next report (or the next start) catches up."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.every_seconds)
            try:
                done = await fresh(self.backend)
                if done.seconds > 1:
                    log.info("report rollups: %d enrollments recomputed in %.1f s", done.enrollments, done.seconds)
            except Exception:  # Postgres away: the next round (or the next report) catches up
                log.warning("report rollups could not be refreshed now; retrying", exc_info=True)
