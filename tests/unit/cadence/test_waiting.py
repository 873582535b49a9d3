"""The sentences that explain why an enrollment is waiting."""

from __future__ import annotations

from typing import Any

import pytest

from cadence.schedule import Position
from cadence.steps import Wait
from cadence.waiting import describe_step, describe_wait
from tests.unit.cadence.support import definition, email


@pytest.mark.parametrize(
    ("wait", "sentence"),
    [
        ({}, "right after the previous step"),
        ({"days": 1}, "1 day after the previous step"),
        ({"days": 3, "at": "09:00"}, "3 days after the previous step at 09:00"),
        ({"hours": 2}, "2 hours after the previous step"),
        ({"minutes": 1}, "1 minute after the previous step"),
        ({"days": 1, "hours": 2, "minutes": 30}, "1 day 2 hours 30 minutes after the previous step"),
        ({"seconds": 1}, "1 second after the previous step"),
        ({"minutes": 2, "seconds": 5}, "2 minutes 5 seconds after the previous step"),
        ({"at": "10:30"}, "next at 10:30"),
        ({"business_days": 1}, "1 business day after the previous step"),
        ({"business_days": 3, "at": "09:00"}, "3 business days after the previous step at 09:00"),
        ({"anchor": "renewal_date"}, "on the contact's renewal_date"),
        ({"anchor": "renewal_date", "offset_days": -90, "at": "10:00"}, "90 days before the contact's renewal_date at 10:00"),
        ({"anchor": "webinar_date", "offset_days": 7}, "7 days after the contact's webinar_date"),
        ({"rrule": "FREQ=WEEKLY;INTERVAL=2", "at": "09:00"}, "on the rhythm FREQ=WEEKLY;INTERVAL=2 at 09:00"),
    ],
)
def test_describe_wait(wait: dict[str, Any], sentence: str) -> None:
    assert describe_wait(Wait(**wait)) == sentence


@pytest.mark.parametrize(
    ("offset", "sentence"),
    [
        (-1, "1 day before the contact's webinar_date"),
        (1, "1 day after the contact's webinar_date"),
        (-2, "2 days before the contact's webinar_date"),
        (0, "on the contact's webinar_date"),
    ],
)
def test_describe_wait_anchor_offsets_singular_and_plural(offset: int, sentence: str) -> None:
    assert describe_wait(Wait(anchor="webinar_date", offset_days=offset)) == sentence


def test_describe_step_names_position_id_type_and_timing() -> None:
    d = definition(email("intro"), email("follow-up", wait={"business_days": 2, "at": "09:00"}, repeat={"count": 3}))
    assert describe_step(d.steps[1], Position(1, 0, 0)) == (
        "waiting for step 2 'follow-up' (email): 2 business days after the previous step at 09:00"
    )
    assert describe_step(d.steps[1], Position(1, 2, 0)) == (
        "waiting for step 2 'follow-up' (email, occurrence 3): 2 business days after the previous step at 09:00"
    )


def test_describe_step_for_a_task() -> None:
    d = definition({"id": "call", "type": "call", "task": {"title": "Call"}, "wait": {"days": 2}})
    assert describe_step(d.steps[0], Position()) == "waiting for step 1 'call' (call): 2 days after the previous step"
