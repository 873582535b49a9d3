"""The report rollups kept incrementally equal what a full rebuild computes, after real sends,
a reply, an open, a contact's new persona and a bounce; and a refresh recomputes only the
enrollments that changed."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa

from core.db import transaction
from models import rollups
from starter.service import engagement_reports, reports
from tests.integration.conftest import Stack

pytestmark = pytest.mark.integration

TWO = """
key: rolled
name: Rolled
steps:
  - {id: hello, type: email, template: hello}
  - {id: later, type: email, template: hello, wait: {days: 3}}
templates:
  hello: {channel: email, subject: "Hi", html: "<p>Hi</p>", text: "Hi"}
"""
TABLES = ("report_enrollments", "report_steps", "report_days")


def _snapshot(stack: Stack) -> dict[str, list[Any]]:
    """Every rollup row, without what a row was computed from (the test moved those clocks)."""
    out = {}
    with transaction(stack.engine) as session:
        for table in TABLES:
            rows = session.execute(sa.text(f"SELECT * FROM {table}")).mappings().all()
            out[table] = sorted(
                (tuple(v for k, v in r.items() if k not in ("source_updated_at", "contact_updated_at")) for r in rows), key=repr
            )
    return out


async def _settled(stack: Stack) -> None:
    """Refresh until two refreshes in a row, half a second apart, find nothing new (the
    workflows may still be writing their last transitions)."""
    quiet = 0
    for _ in range(60):
        quiet = quiet + 1 if _refresh(stack).enrollments == 0 else 0
        if quiet == 2:
            return
        await asyncio.sleep(0.5)
    raise AssertionError("the enrollments kept changing")


def _rows_of(stack: Stack, external_ids: list[str]) -> list[Any]:
    with transaction(stack.engine) as session:
        rows = session.execute(
            sa.text(
                "SELECT r.* FROM report_steps r JOIN enrollments e ON e.id = r.enrollment_id JOIN contacts c ON c.id = e.contact_id"
                " WHERE c.external_id = ANY(:ids) ORDER BY r.enrollment_id, r.step_id"
            ),
            {"ids": external_ids},
        ).all()
    return [tuple(r) for r in rows]


def _refresh(stack: Stack, *, full: bool = False) -> rollups.Refreshed:
    with transaction(stack.engine) as session:
        return rollups.refresh(session, full=full)


async def test_incremental_refreshes_match_a_full_rebuild_and_touch_only_what_changed(stack: Stack) -> None:
    await stack.client.publish_cadence(TWO, actor="admin")
    people = [stack.contact(external_id=f"roll-{i}", email=f"roll{i}@example.com", persona="executive") for i in range(5)]
    for person in people:
        await stack.client.enroll("rolled", person.external_id)
    for i in range(5):
        await asyncio.to_thread(stack.smtp.sink.wait_for, f"roll{i}@example.com")
    for _ in range(100):
        with transaction(stack.engine) as session:
            if session.execute(sa.text("SELECT count(*) FROM touches WHERE status = 'sent'")).scalar() == 5:
                break
        await asyncio.sleep(0.1)

    first = _refresh(stack)
    assert first.enrollments == 5
    # Written within the margin, but nothing changed since their rows were computed.
    assert _refresh(stack).enrollments == 0
    with transaction(stack.engine) as session:
        # Nothing changed for a while: move every change back past the margin.
        session.execute(sa.text("UPDATE enrollments SET updated_at = updated_at - interval '1 hour'"))
        session.execute(sa.text("UPDATE contacts SET updated_at = updated_at - interval '1 hour'"))
        session.execute(sa.text("UPDATE report_marks SET refreshed_to = refreshed_to - interval '30 minutes'"))
    assert _refresh(stack).enrollments == 0

    # Three enrollments change: a reply ends one, a bounce another, a third's contact changes persona.
    await stack.client.send_event("reply", "roll-0", event_id="roll-reply", intent="positive")
    await stack.client.send_event("bounce", "roll-1", event_id="roll-bounce")
    with transaction(stack.engine) as session:
        session.execute(sa.text("UPDATE contacts SET persona = 'practitioner', updated_at = now() WHERE external_id = 'roll-2'"))
    for _ in range(100):
        with transaction(stack.engine) as session:
            ended = session.execute(sa.text("SELECT count(*) FROM enrollments WHERE status IN ('replied', 'bounced')")).scalar()
        if ended == 2:
            break
        await asyncio.sleep(0.1)

    untouched = _rows_of(stack, ["roll-3", "roll-4"])
    assert len(untouched) == 2
    caught_up = _refresh(stack)
    assert 1 <= caught_up.enrollments <= 3 and not caught_up.full
    await _settled(stack)
    assert _rows_of(stack, ["roll-3", "roll-4"]) == untouched  # the others were left as they were
    incremental = _snapshot(stack)
    rebuilt = _refresh(stack, full=True)
    assert rebuilt.full and rebuilt.enrollments == 5
    assert _snapshot(stack) == incremental
    with transaction(stack.engine) as session:
        rows = dict(session.execute(sa.text("SELECT persona, count(*) FROM report_enrollments GROUP BY persona")).all())
        intents = session.execute(sa.text("SELECT reply_intent FROM report_enrollments WHERE reply_intent IS NOT NULL")).scalars().all()
    assert rows == {"executive": 4, "practitioner": 1} and intents == ["positive"]
    _totals_match_their_rows(stack)


def _totals_match_their_rows(stack: Stack) -> None:
    """Each total equals the sum of the rows it stands for (after every take-out and put-in)."""
    for totals, source, keys, row in (
        ("report_step_totals", "report_steps", rollups.STEP_KEYS, rollups.STEP_ROW),
        ("report_day_totals", "report_days", rollups.DAY_KEYS, rollups.DAY_ROW),
    ):
        regrouped = (
            f"SELECT {', '.join(f'{e} AS {n}' for n, e in keys.items())}, {', '.join(f'sum({e}) AS {n}' for n, e in row.items())}"
            f" FROM {source} r GROUP BY {', '.join(str(i + 1) for i in range(len(keys)))}"
        )
        columns = ", ".join([*keys, *row])
        with transaction(stack.engine) as session:
            kept = session.execute(sa.text(f"SELECT {columns} FROM {totals}")).all()
            expected = session.execute(sa.text(regrouped)).all()
        assert sorted(map(tuple, kept), key=repr) == sorted(map(tuple, expected), key=repr), totals
        assert kept, totals


async def test_reports_over_whole_days_read_the_totals_and_the_hours_at_either_end_read_the_rows(stack: Stack) -> None:
    await stack.client.publish_cadence(TWO, actor="admin")
    for i in range(5):
        person = stack.contact(external_id=f"days-{i}", email=f"days{i}@example.com")
        await stack.client.enroll("rolled", person.external_id)
    for _ in range(100):
        with transaction(stack.engine) as session:
            if session.execute(sa.text("SELECT count(*) FROM touches WHERE status = 'sent'")).scalar() == 5:
                break
        await asyncio.sleep(0.1)
    # Three of them started three days ago at 10:00 UTC (with their sends), two today.
    with transaction(stack.engine) as session:
        moved = "SELECT id FROM enrollments ORDER BY id LIMIT 3"
        back = "date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - interval '3 days' + interval '10 hours'"
        session.execute(sa.text(f"UPDATE enrollments SET created_at = {back}, updated_at = now() WHERE id IN ({moved})"))
        session.execute(sa.text(f"UPDATE touches SET sent_at = {back}, claimed_at = {back} WHERE enrollment_id IN ({moved})"))
    backend = stack.client.backend
    today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    whole = await reports.funnel(backend, "rolled", since=today - dt.timedelta(days=10), until=today)
    assert whole.enrolled == 3 and whole.steps[0].sent == 3  # only the totals: whole days
    _totals_match_their_rows(stack)
    for since, until, expected in (
        (today - dt.timedelta(days=3, hours=-9), today, 3),  # from 09:00 that day: its hours from the rows
        (today - dt.timedelta(days=3, hours=-11), today, 0),  # from 11:00: after they started
        (today - dt.timedelta(days=10), dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1), 5),  # and today's hours
    ):
        messages = await engagement_reports.touches(backend, "rolled", by="step", since=since, until=until)
        sent = {r.key: r.sent for r in messages.rows}.get("hello", 0)
        funnel = await reports.funnel(backend, "rolled", since=since, until=until)
        days = await engagement_reports.daily(backend, "rolled", since=since, until=until)
        assert (sent, funnel.enrolled, sum(d.sent for d in days.days)) == (expected, expected, expected), (since, until)
