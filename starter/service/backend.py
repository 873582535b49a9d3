"""What every business operation needs: the database, Temporal, the contact policy and the
event rules. One `Backend` per process, built by its entry point (API, CLI, library, worker)
and handed to the operations in `starter.service`."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import threading
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.client import Client

from cadence.contact_policy import ContactPolicy
from cadence.scoring import ScoringConfig
from cadence.triggers import Rules
from core.db import make_engine, transaction
from core.settings import Settings
from core.temporal import connect
from models.payloads import TASK_QUEUE
from starter.catalog import load_policy, load_rules, load_scoring
from starter.temporal import Workflows

T = TypeVar("T")
# Previews (and forecasts) that run at once in one process; the rest queue. Each holds a
# database connection and a thread while it steps the machine, so this keeps a burst of them
# from taking the pool from the requests that run the product; and their threads run at a
# lower CPU priority, so on a shared machine the worker, Temporal and Postgres come first.
PREVIEW_CONCURRENCY = 2
PREVIEW_NICENESS = 10


def _lower_priority() -> None:
    """Run this (preview) thread at a lower CPU priority than the rest of the machine."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), PREVIEW_NICENESS)


class Backend:
    """The process's connections and configuration, shared by every operation."""

    def __init__(
        self,
        engine: Engine,
        temporal: Client,
        *,
        task_queue: str = TASK_QUEUE,
        policy: ContactPolicy | None = None,
        rules: Rules | None = None,
        scoring: ScoringConfig | None = None,
        owns_engine: bool = False,
    ) -> None:
        self.engine = engine
        self.workflows = Workflows(temporal, task_queue)
        self.policy = policy or load_policy()
        self.rules = rules if rules is not None else load_rules()
        self.scoring = scoring or load_scoring()
        self._owns_engine = owns_engine
        self._previews: concurrent.futures.ThreadPoolExecutor | None = None

    @classmethod
    async def connect(
        cls,
        *,
        database_url: str,
        temporal_address: str,
        namespace: str = "default",
        task_queue: str = TASK_QUEUE,
        policy_file: str | None = None,
        rules_file: str | None = None,
        scoring_file: str | None = None,
        pool_size: int = 10,
    ) -> Backend:
        """Connect to Postgres and (lazily, at the first call that needs it) to Temporal."""
        temporal = await connect(temporal_address, namespace, lazy=True)
        return cls(
            make_engine(database_url, pool_size),
            temporal,
            task_queue=task_queue,
            policy=load_policy(policy_file),
            rules=load_rules(rules_file),
            scoring=load_scoring(scoring_file),
            owns_engine=True,
        )

    @classmethod
    async def from_settings(cls, settings: Settings, *, engine: Engine | None = None) -> Backend:
        """The backend an entry point describes with its settings (an engine may be shared)."""
        temporal = await connect(settings.temporal_address, settings.temporal_namespace, lazy=True)
        return cls(
            engine or make_engine(settings.database_url, settings.db_pool_size),
            temporal,
            task_queue=settings.task_queue,
            policy=load_policy(settings.policy_file),
            rules=load_rules(settings.rules_file),
            scoring=load_scoring(settings.scoring_file),
            owns_engine=engine is None,
        )

    @property
    def temporal(self) -> Client:
        """The Temporal client (reading histories; starts and signals go through `workflows`)."""
        return self.workflows.client

    async def db(self, fn: Callable[[Session], T]) -> T:
        """Run `fn` in one transaction on a worker thread (committed if it returns)."""

        def run() -> T:
            with transaction(self.engine) as session:
                return fn(session)

        return await asyncio.to_thread(run)

    async def background(self, fn: Callable[[Session], T]) -> T:
        """Like `db`, on the preview threads: `PREVIEW_CONCURRENCY` at a time, at a lower CPU
        priority, queued beyond that. For read-only work that may take a while (previews,
        forecasts)."""
        if self._previews is None:
            self._previews = concurrent.futures.ThreadPoolExecutor(
                PREVIEW_CONCURRENCY, thread_name_prefix="preview", initializer=_lower_priority
            )

        def run() -> T:
            with transaction(self.engine) as session:
                return fn(session)

        return await asyncio.get_running_loop().run_in_executor(self._previews, run)

    async def close(self) -> None:
        """Release the preview threads, and the database pool if this backend created it."""
        if self._previews is not None:
            self._previews.shutdown(wait=False, cancel_futures=True)
        if self._owns_engine:
            self.engine.dispose()
