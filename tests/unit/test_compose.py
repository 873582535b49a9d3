"""docker-compose.temporal.yml stays in step with the code (no Docker needed to check)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from workflows.visibility import ALL_KEYS

COMPOSE = yaml.safe_load((Path(__file__).resolve().parents[2] / "docker-compose.temporal.yml").read_text())


def test_every_long_running_service_has_a_health_check() -> None:
    for name, service in COMPOSE["services"].items():
        if name != "temporal-setup":  # a one-shot job
            assert "healthcheck" in service, name


def test_it_registers_exactly_the_search_attributes_the_workflow_sets() -> None:
    command = " ".join(COMPOSE["services"]["temporal-setup"]["command"])
    registered = dict(re.findall(r"(\w+):(Keyword|Int|Datetime)", command))
    kinds = {"KEYWORD": "Keyword", "INT": "Int", "DATETIME": "Datetime"}
    assert registered == {key.name: kinds[key.indexed_value_type.name] for key in ALL_KEYS}


def test_services_start_in_dependency_order() -> None:
    temporal = COMPOSE["services"]["temporal"]
    assert temporal["depends_on"]["temporal-postgresql"]["condition"] == "service_healthy"
    assert COMPOSE["services"]["temporal-ui"]["depends_on"]["temporal"]["condition"] == "service_healthy"
