"""Background delivery of recorded events: prompt after each webhook, and a sweeper that
retries whatever is left undelivered (a crash, Temporal briefly down).

Up to `max_in_flight` events are delivered at once (each mostly waits on Temporal and
Postgres), so a burst of replies does not queue behind one another; an event is never
delivered by two tasks of this process at the same time, and two processes never deliver
the same row at once (its row lock is taken with SKIP LOCKED).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import uuid

from sqlmodel import Session, select

from models.tables import InboundEvent
from starter.service.backend import Backend
from starter.service.events import Recorded, deliver

log = logging.getLogger("cadence.inbound")


class InboundProcessor:
    """Delivers recorded events to their enrollments in the background."""

    def __init__(self, backend: Backend, *, sweep_seconds: float = 5.0, max_in_flight: int = 16) -> None:
        self.backend = backend
        self.sweep_seconds = sweep_seconds
        self._queue: asyncio.Queue[uuid.UUID] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._slots = asyncio.Semaphore(max_in_flight)
        self._in_flight: set[uuid.UUID] = set()
        self._deliveries: set[asyncio.Task[None]] = set()

    def notify(self, event_row_id: uuid.UUID) -> None:
        """Ask for prompt delivery of a freshly recorded event."""
        self._queue.put_nowait(event_row_id)

    def notify_all(self, event_row_ids: list[uuid.UUID]) -> None:
        """Ask for prompt delivery of each of these events."""
        for row_id in event_row_ids:
            self.notify(row_id)

    def notify_recorded(self, recorded: Recorded | None) -> None:
        """Ask for prompt delivery of an event just recorded, if it is new and waits for it,
        and of the events it led to (a lead score crossing a threshold)."""
        if recorded is not None and recorded.created and recorded.status == "received":
            self.notify(recorded.id)
        if recorded is not None:
            self.notify_all(recorded.follow_ups)

    async def start(self) -> None:
        """Run the delivery loop in the background."""
        self._task = asyncio.create_task(self._run(), name="inbound-processor")

    async def stop(self) -> None:
        """Stop the loop; undelivered events stay recorded for the next start."""
        tasks = [t for t in (self._task, *self._deliveries) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            try:
                row_id = await asyncio.wait_for(self._queue.get(), timeout=self.sweep_seconds)
            except TimeoutError:
                try:
                    await self.sweep()
                except Exception:  # keep the loop alive; the next sweep retries
                    log.exception("inbound sweep failed")
                continue
            task = asyncio.create_task(self._deliver(row_id))
            self._deliveries.add(task)
            task.add_done_callback(self._deliveries.discard)

    async def _deliver(self, row_id: uuid.UUID) -> None:
        if row_id in self._in_flight:
            return
        self._in_flight.add(row_id)
        try:
            async with self._slots:
                await deliver(self.backend, row_id)
        except Exception:  # the sweeper retries
            log.exception("inbound delivery failed")
        finally:
            self._in_flight.discard(row_id)

    async def sweep(self, older_than: dt.timedelta = dt.timedelta(seconds=2)) -> int:
        """Deliver events left in `received` (after a crash or an outage); returns how many."""

        def pending(session: Session) -> list[uuid.UUID]:
            cutoff = dt.datetime.now(dt.UTC) - older_than
            rows = session.exec(
                select(InboundEvent.id)
                .where(InboundEvent.status == "received", InboundEvent.received_at < cutoff, InboundEvent.attempts < 50)
                .order_by(InboundEvent.received_at)  # type: ignore[arg-type]
                .limit(200)
            ).all()
            return list(rows)

        ids = [row_id for row_id in await self.backend.db(pending) if row_id not in self._in_flight]
        await asyncio.gather(*(self._deliver(row_id) for row_id in ids))
        return len(ids)
