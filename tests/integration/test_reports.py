"""The A/B report on real enrollments: who got which variant (worked out here from the
enrollment ids, as the engine assigns them), who replied, and what the report says."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import pytest
from sqlmodel import func, select

from cadence.steps import EmailStep
from cadence.variants import choose
from core.db import transaction
from models.tables import Enrollment, Touch
from starter.catalog import parse_text
from starter.errors import Invalid, NotFound
from starter.service import reports
from tests.integration.conftest import Stack

pytestmark = pytest.mark.integration

AB = """
key: ab-test
name: A/B test
steps:
  - id: hello
    type: email
    variants:
      - {id: short, weight: 1, template: short}
      - {id: long, weight: 1, template: long}
  - {id: later, type: email, template: short, wait: {days: 3}}
templates:
  short: {channel: email, subject: "Hi", html: "<p>Hi</p>", text: "Hi"}
  long: {channel: email, subject: "Hello there", html: "<p>Hello there</p>", text: "Hello there"}
"""


async def test_the_variant_report_counts_each_enrollment_once_and_calls_it_too_early(stack: Stack) -> None:
    await stack.client.publish_cadence(AB, actor="admin")
    first = parse_text(AB).definition.steps[0]
    assert isinstance(first, EmailStep) and first.variants is not None
    variants = first.variants
    got: dict[str, str] = {}
    replied: set[str] = set()
    for i in range(16):
        person = stack.contact(external_id=f"ab-{i}", email=f"ab{i}@example.com")
        info = await stack.client.enroll("ab-test", person.external_id)
        got[info.id] = choose(info.id, "hello", variants).id

    async def all_sent() -> bool:
        with transaction(stack.engine) as session:
            return session.exec(select(func.count()).select_from(Touch).where(Touch.step_id == "hello", Touch.status == "sent")).one() == 16

    for _ in range(300):
        if await all_sent():
            break
        await asyncio.sleep(0.1)
    assert await all_sent()
    for i, enrollment_id in enumerate(got):
        if i % 3 == 0:
            await stack.client.send_event("reply", f"ab-{i}", event_id=f"ab-reply-{i}", intent="neutral")
            replied.add(enrollment_id)

    async def settled() -> bool:
        with transaction(stack.engine) as session:
            return session.exec(select(func.count()).select_from(Enrollment).where(Enrollment.status == "replied")).one() == len(replied)

    for _ in range(300):
        if await settled():
            break
        await asyncio.sleep(0.1)
    report = await reports.variants(stack.client.backend, "ab-test")
    [step] = report.steps
    assert step.step_id == "hello"
    by_name = {v.variant: v for v in step.variants}
    for name in ("short", "long"):
        exposed = sum(1 for v in got.values() if v == name)
        responded = sum(1 for e, v in got.items() if v == name and e in replied)
        assert (by_name[name].exposed, by_name[name].responded) == (exposed, responded)
        assert by_name[name].rate == pytest.approx(responded / exposed if exposed else 0.0)
    assert step.verdict == "too_early" and "below 100 enrollments" in step.reason
    assert abs(sum(v.probability_best for v in step.variants) - 1) < 0.01
    # The date range is of enrollment starts: one that ends before them finds nothing.
    old = await reports.variants(stack.client.backend, "ab-test", until=dt.datetime.now(dt.UTC) - dt.timedelta(days=1))
    assert old.steps == []
    with pytest.raises(Invalid) as inverted:
        await reports.variants(
            stack.client.backend, "ab-test", since=dt.datetime.now(dt.UTC), until=dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
        )
    assert inverted.value.details == {"field": "since"}
    with pytest.raises(NotFound):
        await reports.variants(stack.client.backend, str(uuid.uuid4()))
    with pytest.raises(NotFound) as no_version:
        await reports.variants(stack.client.backend, "ab-test", version=7)
    assert no_version.value.details == {"field": "version"}
