"""Reports on real enrollments, checked against counts worked out here: who got which
variant (from the enrollment ids, as the engine assigns them), who replied or opted out,
by owner and by cohort, and the step funnel."""

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


async def test_reports_count_each_enrollment_once_by_variant_owner_cohort_and_step(stack: Stack) -> None:
    await stack.client.publish_cadence(AB, actor="admin")
    first = parse_text(AB).definition.steps[0]
    assert isinstance(first, EmailStep) and first.variants is not None
    variants = first.variants
    got: dict[str, str] = {}
    replied: set[str] = set()
    for owner in ("o-even", "o-odd"):
        stack.owner(owner)
    for i in range(16):
        person = stack.contact(
            external_id=f"ab-{i}",
            email=f"ab{i}@example.com",
            owner_id="o-even" if i % 2 == 0 else "o-odd",
            persona="executive" if i < 4 else None,
        )
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
    await stack.client.send_event("opt_out", "ab-1", event_id="ab-stop-1", channel="email")

    async def settled() -> bool:
        with transaction(stack.engine) as session:
            ended = session.exec(select(func.count()).select_from(Enrollment).where(Enrollment.status.in_(("replied", "opted_out")))).one()  # type: ignore[attr-defined]
            return ended == len(replied) + 1

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
        assert by_name[name].rate == pytest.approx(responded / exposed if exposed else 0.0, abs=1e-4)
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

    # By owner: replies at 0, 6, 12 (even) and 3, 9, 15 (odd); the opt-out at 1 (odd).
    by_owner = {r.key: r for r in (await reports.outcomes(stack.client.backend, "ab-test", by="owner")).rows}
    even, odd = by_owner["o-even"], by_owner["o-odd"]
    assert (even.enrolled, even.touched, even.sent, even.replied, even.opted_out, even.still_open) == (8, 8, 8, 3, 0, 5)
    assert (odd.enrolled, odd.touched, odd.sent, odd.replied, odd.opted_out, odd.still_open) == (8, 8, 8, 3, 1, 4)
    assert (even.response_rate, odd.opt_out_rate, odd.completion_rate) == (0.375, 0.125, 0.0)
    assert even.first_touch_p50_seconds is not None and 0 <= even.first_touch_p50_seconds < 60  # the first email goes at once
    assert odd.response_p50_seconds is not None and odd.response_p50_seconds >= 0
    by_cohort = {r.key: r.enrolled for r in (await reports.outcomes(stack.client.backend, "ab-test", by="cohort")).rows}
    assert by_cohort == {"executive / standard / -": 4, "- / standard / -": 12}
    by_version = (await reports.outcomes(stack.client.backend, "ab-test", by="version")).rows
    assert [(r.key, r.enrolled) for r in by_version] == [("v1", 16)]
    assert "response_rate" in reports.rows_csv(list(by_version)).splitlines()[0]
    # The funnel: every first email went out; the seven who left did so waiting for the second.
    funnel = await reports.funnel(stack.client.backend, "ab-test")
    assert funnel.enrolled == 16
    hello, later = funnel.steps
    assert (hello.step_id, hello.reached, hello.sent, hello.ended_here) == ("hello", 16, 16, {})
    assert (later.step_id, later.reached, later.ended_here) == ("later", 0, {"replied": 6, "opted_out": 1})
    with pytest.raises(Invalid) as bad_by:
        await reports.outcomes(stack.client.backend, "ab-test", by="shoe")  # type: ignore[arg-type]
    assert bad_by.value.details == {"field": "by"}
