"""Service functions refuse bad input before they touch Postgres or Temporal: a backend
whose database and Temporal do not exist proves nothing was attempted."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import create_engine
from temporalio.client import Client

from starter.errors import Invalid
from starter.service import cadences, enroll, events
from starter.service.backend import Backend
from starter.service.enroll import BulkResult, BulkRow


@pytest.fixture
async def nowhere() -> Backend:
    temporal = await Client.connect("127.0.0.1:1", lazy=True)
    return Backend(create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none"), temporal)


@pytest.mark.parametrize(
    ("kind", "fields", "field", "message"),
    [
        ("teleport", {}, "type", "unknown event type 'teleport'"),
        ("event", {}, "name", "a named event needs 'name'"),
        ("task_completed", {}, "task_id", "task_completed needs 'task_id'"),
        ("reply", {"intent": "ecstatic"}, "intent", "Input should be 'positive', 'negative', 'neutral' or 'out_of_office'"),
    ],
)
async def test_an_event_is_checked_before_it_is_recorded(
    nowhere: Backend, kind: str, fields: dict[str, str], field: str, message: str
) -> None:
    with pytest.raises(Invalid) as refused:
        await events.send_event(nowhere, kind, "crm-1", event_id="e-1", **fields)  # type: ignore[arg-type]
    assert refused.value.details["field"] == field and refused.value.message.startswith(message)


async def test_an_enrollment_start_needs_a_time_zone(nowhere: Backend) -> None:
    with pytest.raises(Invalid) as refused:
        await enroll.enroll_contact(nowhere, "inbound", "crm-1", start_at=dt.datetime(2030, 1, 1))
    assert refused.value.details == {"field": "start_at"}


def test_a_definition_is_parsed_whole_and_every_problem_named() -> None:
    with pytest.raises(Invalid) as empty:
        cadences.parse("   ")
    assert empty.value.details == {"field": "(body)"}
    with pytest.raises(Invalid) as bad:
        cadences.parse("key: x\nname: X\nsteps:\n  - {id: a, type: email, template: nope}\n  - {id: b, type: sms}\n")
    problems = bad.value.details["problems"]
    assert [(p["step"], p["field"]) for p in problems] == [(1, "(step)")]  # sms without a template or variants
    bundle = cadences.parse("key: x\nname: X\nsteps:\n  - {id: a, type: email, template: inbound/welcome}\n")
    assert bundle.definition.key == "x" and "inbound/welcome" in bundle.templates  # found in the shipped folder


def test_bulk_totals() -> None:
    rows = [BulkRow(row=1, contact="a", ok=True, created=True), BulkRow(row=2, contact="b", ok=True), BulkRow(row=3, contact="c", ok=False)]
    assert (BulkResult.of(rows).enrolled, BulkResult.of(rows).already_enrolled, BulkResult.of(rows).failed) == (1, 1, 1)
