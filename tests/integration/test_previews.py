"""Previews on real Postgres with the real gate and the default contact policy: a stored
and an inline contact, the contact's other enrollments counted against its caps, what-ifs,
bad input named by field, and a preview writes nothing and starts nothing."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import pytest
from sqlmodel import func, select

from core.db import transaction
from models.tables import AuditEntry, Enrollment, Task, Touch
from starter.catalog import load_policy, playbook_files
from starter.errors import Invalid, NotFound
from starter.service.previews import InlineContact, PauseWhatIf, PreviewRequest, ReplyWhatIf
from tests.integration.conftest import Stack

pytestmark = pytest.mark.integration

OUTBOUND = next(p for p in playbook_files() if p.stem == "outbound-12-day").read_text()
THREE = """
key: three
name: Three emails
steps:
  - {id: a, type: email, template: a}
  - {id: b, type: email, template: b, wait: {hours: 1}}
  - {id: c, type: sms, template: c, wait: {hours: 1}}
templates:
  a: {channel: email, subject: "A", html: "<p>A</p>", text: "A"}
  b: {channel: email, subject: "B", html: "<p>B</p>", text: "B"}
  c: {channel: sms, body: "C"}
"""


def written(stack: Stack) -> tuple[int, int, int, int]:
    with transaction(stack.engine) as session:
        return tuple(  # type: ignore[return-value]
            session.exec(select(func.count()).select_from(table)).one() for table in (Touch, Task, Enrollment, AuditEntry)
        )


async def test_an_inline_contact_in_chicago_gets_the_outbound_cadence_on_business_days_inside_the_window(stack: Stack) -> None:
    stack.client.policy = load_policy()
    await stack.client.publish_cadence(OUTBOUND, actor="admin")
    before = written(stack)
    monday = dt.datetime(2027, 1, 4, 6, 0, tzinfo=dt.UTC)  # 00:00 in Chicago
    out = await stack.client.preview(
        PreviewRequest(cadence="outbound-12-day", contact=InlineContact(timezone="America/Chicago", country="US"), start_at=monday)
    )
    assert written(stack) == before  # a preview writes nothing
    touches = [i for i in out.items if i.kind == "touch"]
    assert touches and all(dt.datetime.fromisoformat(i.local).weekday() < 5 for i in touches)
    assert all(dt.time(9) <= dt.datetime.fromisoformat(i.local).time() <= dt.time(17) for i in touches)
    assert {i.channel for i in touches} == {"email"}
    sms = [i for i in out.items if i.channel == "sms"]
    assert all(i.kind == "skipped" and i.code == "no_consent" for i in sms)
    assert out.outcome == "completed" and out.timezone == "America/Chicago"
    assert out.items[-1].kind == "ended"
    for item in out.items:
        print(item.sentence)


async def test_a_stored_contacts_other_open_enrollment_counts_against_its_cap(stack: Stack) -> None:
    stack.client.policy = load_policy()
    await stack.client.publish_cadence(THREE, actor="admin")
    await stack.client.publish_cadence(THREE.replace("key: three", "key: other"), actor="admin")
    person = stack.contact(email="pat@example.com", timezone="America/Chicago", country="US")
    alone = await stack.client.preview(PreviewRequest(cadence="three", contact_id=person.external_id))
    assert alone.other_open_enrollments == 0
    info = await stack.client.enroll("other", person.external_id)

    async def running() -> bool:
        return (await stack.client.status(info.id)).live is not None

    for _ in range(100):
        if await running():
            break
        await asyncio.sleep(0.1)
    crowded = await stack.client.preview(PreviewRequest(cadence="three", contact_id=person.external_id))
    assert crowded.other_open_enrollments == 1
    caps = [i for i in crowded.items if i.kind == "deferred" and i.code in ("frequency_cap", "cooldown")]
    assert caps, [i.sentence for i in crowded.items]
    first_alone = next(i.at for i in alone.items if i.kind == "touch")
    first_crowded = next(i.at for i in crowded.items if i.kind == "touch")
    assert first_crowded > first_alone  # the other enrollment's touches come first


async def test_what_ifs_a_positive_reply_ends_it_and_a_pause_moves_the_rest(stack: Stack) -> None:
    stack.client.policy = load_policy()
    await stack.client.publish_cadence(OUTBOUND, actor="admin")
    monday = dt.datetime(2027, 1, 4, 6, 0, tzinfo=dt.UTC)
    chicago = InlineContact(timezone="America/Chicago", country="US", consent={"call": True})
    base = await stack.client.preview(PreviewRequest(cadence="outbound-12-day", contact=chicago, start_at=monday))
    replied = await stack.client.preview(
        PreviewRequest(
            cadence="outbound-12-day",
            contact=chicago,
            start_at=monday,
            replies=[ReplyWhatIf(step_id="day-4-cold-email", intent="negative", after_hours=2)],
        )
    )
    assert replied.outcome != "completed" and replied.items[-1].kind == "ended"
    assert not [i for i in replied.items if i.step_id == "day-5-follow-up-email" and i.kind == "touch"]
    assert len([i for i in replied.items if i.kind == "touch"]) < len([i for i in base.items if i.kind == "touch"])
    paused = await stack.client.preview(
        PreviewRequest(
            cadence="outbound-12-day",
            contact=chicago,
            start_at=monday,
            pauses=[PauseWhatIf(start=monday + dt.timedelta(days=2), until=monday + dt.timedelta(days=16))],
        )
    )
    assert [i.code for i in paused.items if i.kind == "event"][:2] == ["paused", "resumed"]
    assert paused.items[-1].at > base.items[-1].at + dt.timedelta(days=10)


async def test_bad_input_is_refused_naming_the_field(stack: Stack) -> None:
    await stack.client.publish_cadence(THREE, actor="admin")
    with pytest.raises(ValueError, match="unknown time zone"):
        InlineContact(timezone="Mars/Olympus")
    with pytest.raises(ValueError, match="either contact_id or an inline contact"):
        PreviewRequest(cadence="three")
    with pytest.raises(NotFound) as missing:
        await stack.client.preview(PreviewRequest(cadence="nope", contact=InlineContact()))
    assert missing.value.details == {"field": "cadence"}
    with pytest.raises(NotFound) as no_version:
        await stack.client.preview(PreviewRequest(cadence="three", version=9, contact=InlineContact()))
    assert no_version.value.details == {"field": "version"}
    with pytest.raises(NotFound):
        await stack.client.preview(PreviewRequest(cadence="three", contact_id=str(uuid.uuid4())))
    with pytest.raises(Invalid) as bad_step:
        await stack.client.preview(PreviewRequest(cadence="three", contact=InlineContact(), replies=[ReplyWhatIf(step_id="zzz")]))
    assert bad_step.value.details == {"field": "replies[0].step_id"}
    with pytest.raises(Invalid) as bad_definition:
        await stack.client.preview(PreviewRequest(definition="key: x\nsteps: 3", contact=InlineContact()))
    assert "problems" in bad_definition.value.details


async def test_an_inline_definition_and_the_draft_preview_without_being_published(stack: Stack) -> None:
    stack.client.policy = load_policy()
    out = await stack.client.preview(
        PreviewRequest(definition=THREE, contact=InlineContact(timezone="Europe/Berlin", consent={"sms": True}))
    )
    assert out.version == "inline" and [i.step_id for i in out.items if i.kind == "touch"] == ["a", "b", "c"]
    await stack.client.publish_cadence(THREE, actor="admin")
    await stack.client.save_draft("three", THREE.replace("hours: 1}", "days: 2}"), actor="admin")
    draft = await stack.client.preview(PreviewRequest(cadence="three", version="draft", contact=InlineContact(timezone="Europe/Berlin")))
    touches = [i.at for i in draft.items if i.kind == "touch"]
    assert draft.version == "draft" and touches[1] - touches[0] >= dt.timedelta(days=2)


CHECKINS = """
key: checkins
name: Weekly check-ins
steps:
  - {id: call-1, type: task, task: {title: Check in, due_hours: 0, wait_for_completion: false}}
  - {id: call-2, type: task, wait: {days: 7}, task: {title: Check in, due_hours: 0, wait_for_completion: false}}
  - {id: call-3, type: task, wait: {days: 7}, task: {title: Check in, due_hours: 0, wait_for_completion: false}}
"""


async def test_the_capacity_forecast_shows_an_owner_over_their_allowance_and_levels_like_the_engine(stack: Stack) -> None:
    await stack.client.publish_cadence(CHECKINS, actor="admin")
    stack.owner("csm-1", weekly_task_capacity=3)
    start = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    for i in range(5):
        person = stack.contact(external_id=f"fc-{i}", email=f"fc{i}@example.com", owner_id="csm-1")
        await stack.client.enroll("checkins", person.external_id, start_at=start)
    before = written(stack)
    for _ in range(100):
        forecast = await stack.client.forecast(owner="csm-1")
        if forecast.enrollments == 5 and not forecast.unreadable:
            break
        await asyncio.sleep(0.1)
    assert written(stack) == before  # a forecast writes nothing
    [owner] = forecast.owners
    assert (owner.owner_id, owner.capacity, owner.enrollments) == ("csm-1", 3, 5)
    assert [w.asked for w in owner.weeks if w.asked] == [5, 5, 5]  # five calls asked for each week
    assert owner.over_weeks == 3 and all(w.over == (w.asked > 3) for w in owner.weeks)
    assert sum(w.forecast for w in owner.weeks) == 15 and all(w.total <= 3 for w in owner.weeks)  # levelled: never more than 3
    assert [w.total for w in owner.weeks if w.total] == [3, 3, 3, 3, 3]
    assert all(set(w.by_kind) <= {"task"} for w in owner.weeks)
    # One enrollment alone: the forecast's weeks are its preview's tasks.
    await stack.client.publish_cadence(CHECKINS.replace("key: checkins", "key: solo"), actor="admin")
    stack.owner("csm-2", weekly_task_capacity=3)
    solo = stack.contact(external_id="fc-solo", email="solo@example.com", owner_id="csm-2")
    info = await stack.client.enroll("solo", solo.external_id, start_at=start)
    for _ in range(100):
        if (await stack.client.status(info.id)).live is not None:
            break
        await asyncio.sleep(0.1)
    said = await stack.client.enrollment_preview(info.id)
    [alone] = (await stack.client.forecast(owner="csm-2")).owners
    weeks = [w.week for w in alone.weeks if w.total]
    assert weeks == sorted({i.at.date() - dt.timedelta(days=i.at.weekday()) for i in said.items if i.kind == "task"})


async def test_previews_run_on_their_own_threads_below_the_engines_priority(stack: Stack) -> None:
    import os
    import threading

    backend = stack.client.backend
    mine = os.getpriority(os.PRIO_PROCESS, 0)
    names, priorities = zip(
        *await asyncio.gather(
            *(
                backend.background(lambda _s: (threading.current_thread().name, os.getpriority(os.PRIO_PROCESS, threading.get_native_id())))
                for _ in range(6)
            )
        ),
        strict=True,
    )
    assert all(n.startswith("preview") for n in names) and len(set(names)) <= 2  # two at a time
    assert set(priorities) == {min(mine + 10, 19)}
