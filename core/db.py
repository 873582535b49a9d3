"""Engine and session factories built from settings (nothing is created at import time)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine
from sqlmodel import Session


def make_engine(url: str, pool_size: int = 10, connect_timeout: int = 5) -> Engine:
    """A pooled psycopg 3 engine; connections are checked before use after a restart."""
    # No pre-ping round trip on every checkout (it doubled the statements of a send); stale
    # connections are recycled instead, and a failed activity is retried by Temporal anyway.
    # A bounded connect: an unreachable server is an error in seconds (the API's 503, an
    # activity's retry), not a request that hangs until the client gives up.
    return create_engine(
        url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=1800, future=True, connect_args={"connect_timeout": connect_timeout}
    )


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """One transaction: committed when the block ends, rolled back if it raises."""
    with Session(engine, expire_on_commit=False) as session, session.begin():
        yield session
