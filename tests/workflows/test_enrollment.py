"""EnrollmentWorkflow on the time-skipping test server, with stand-in activities.

Days of cadence run in milliseconds; the stand-ins record what the workflow asked for.
"""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from typing import Any

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from cadence.parse import parse_definition
from cadence.variants import choose
from models.payloads import (
    ENGINE_REVISION,
    ActorRequest,
    CalendarFacts,
    ContactEventSignal,
    DatesChangedSignal,
    EnrollmentInput,
    EnrollmentParams,
    NamedEventSignal,
    PauseRequest,
    ReplySignal,
    StatusView,
    StopRequest,
    SwitchResult,
    TaskCompletedSignal,
    TouchResult,
)
from tests.workflows.conftest import Recorder

DAY = dt.timedelta(days=1)

THREE_EMAILS = {
    "key": "three",
    "name": "Three emails",
    "steps": [
        {"id": "first", "type": "email", "template": "t1"},
        {"id": "second", "type": "email", "template": "t2", "wait": {"days": 3}},
        {"id": "third", "type": "email", "template": "t3", "wait": {"days": 3}},
    ],
}


def make_params(definition: dict[str, Any], **overrides: Any) -> EnrollmentParams:
    parsed = parse_definition(definition)
    values: dict[str, Any] = {
        "enrollment_id": str(uuid.uuid4()),
        "cadence_id": str(uuid.uuid4()),
        "cadence_key": parsed.key,
        "cadence_version_id": str(uuid.uuid4()),
        "version_hash": "0" * 64,
        "contact_id": str(uuid.uuid4()),
        "definition": parsed,
        "revision": ENGINE_REVISION,
    }
    values.update(overrides)
    return EnrollmentParams(**values)


async def start(
    env: WorkflowEnvironment, worker: Worker, params: EnrollmentParams, recorder: Recorder | None = None
) -> WorkflowHandle[Any, StatusView]:
    handle = await env.client.start_workflow(
        "Enrollment", EnrollmentInput(params=params), id=f"enr-{uuid.uuid4()}", task_queue=worker.task_queue, result_type=StatusView
    )
    if recorder is not None:
        recorder.started.append((handle.id, handle.result_run_id))
    return handle


async def status(handle: WorkflowHandle[Any, Any]) -> StatusView:
    return await handle.query("status", result_type=StatusView)


def offsets(recorder: Recorder, start: dt.datetime) -> list[float]:
    """Days after `start` at which each touch was attempted."""
    return [round((t - start).total_seconds() / 86400, 2) for t in recorder.times]  # type: ignore[operator]


async def test_full_cadence_runs_every_step_on_time(ts_env: WorkflowEnvironment, worker: Worker, recorder: Recorder) -> None:
    begin = await ts_env.get_current_time()
    handle = await start(ts_env, worker, make_params(THREE_EMAILS), recorder)
    result = await handle.result()
    assert result.status == "completed"
    assert [t.step_id for t in recorder.touches] == ["first", "second", "third"]
    assert offsets(recorder, begin) == [0.0, 3.0, 6.0]
    assert result.counters.sent == 3
    assert recorder.actions()[-1] == "ended"


async def test_reply_ends_the_enrollment(ts_env: WorkflowEnvironment, worker: Worker, recorder: Recorder) -> None:
    handle = await start(ts_env, worker, make_params(THREE_EMAILS), recorder)
    await ts_env.sleep(DAY)
    await handle.signal("reply", ReplySignal(event_id="r1", intent="negative"))
    result = await handle.result()
    assert result.status == "replied"
    assert [t.step_id for t in recorder.touches] == ["first"]


async def test_opt_out_ends_it_and_duplicate_events_are_ignored(ts_env: WorkflowEnvironment, worker: Worker, recorder: Recorder) -> None:
    definition = {**THREE_EMAILS, "exit_on": ["reply"]}  # opt_out is added whatever the author says
    handle = await start(ts_env, worker, make_params(definition), recorder)
    await ts_env.sleep(DAY)
    await handle.signal("bounce", ContactEventSignal(event_id="b1"))  # bounce is not an exit here
    await handle.signal("bounce", ContactEventSignal(event_id="b1"))
    await handle.signal("opt_out", ContactEventSignal(event_id="o1"))
    result = await handle.result()
    assert result.status == "opted_out"
    assert result.counters.events == 2  # the repeated b1 was not applied twice
    assert recorder.actions().count("event_recorded") == 1


async def test_pause_and_resume_keep_the_remaining_delay(ts_env: WorkflowEnvironment, worker: Worker, recorder: Recorder) -> None:
    begin = await ts_env.get_current_time()
    handle = await start(ts_env, worker, make_params(THREE_EMAILS), recorder)
    await ts_env.sleep(2 * DAY)  # 2 of the 3 days before "second" have passed
    paused = await handle.execute_update(
        "pause", PauseRequest(actor="cs-lead@acme", reason="customer asked for a break"), result_type=StatusView
    )
    assert paused.status == "paused"
    assert paused.pause is not None and paused.pause.remaining_seconds == pytest.approx(DAY.total_seconds(), abs=60)
    await ts_env.sleep(10 * DAY)
    assert len(recorder.touches) == 1  # nothing is sent while paused
    resumed = await handle.execute_update("resume", ActorRequest(actor="cs-lead@acme"), result_type=StatusView)
    assert resumed.status == "active"
    result = await handle.result()
    assert result.status == "completed"
    # second: 2 days before the pause + 10 paused + the 1 day left = day 13; third 3 days later.
    assert offsets(recorder, begin)[1:] == pytest.approx([13.0, 16.0], abs=0.01)
    paused_entry = next(t for t in recorder.transitions if t.action == "paused")
    assert paused_entry.actor == "cs-lead@acme" and paused_entry.reason == "customer asked for a break"


async def test_pause_until_resumes_by_itself(ts_env: WorkflowEnvironment, worker: Worker, recorder: Recorder) -> None:
    handle = await start(ts_env, worker, make_params(THREE_EMAILS), recorder)
    await ts_env.sleep(DAY)
    until = await ts_env.get_current_time() + 5 * DAY
    await handle.execute_update("pause", PauseRequest(actor="lead", reason="holiday", until=until))
    result = await handle.result()
    assert result.status == "completed"
    resumed = next(t for t in recorder.transitions if t.action == "resumed")
    assert resumed.actor == "system"


async def test_reply_while_paused_still_ends_it(ts_env: WorkflowEnvironment, worker: Worker, recorder: Recorder) -> None:
    handle = await start(ts_env, worker, make_params(THREE_EMAILS), recorder)
    await ts_env.sleep(DAY)
    await handle.execute_update("pause", PauseRequest(actor="lead", reason="on hold"))
    await handle.signal("reply", ReplySignal(event_id="r-paused", intent="neutral"))
    result = await handle.result()
    assert result.status == "replied"
    assert len(recorder.touches) == 1


async def test_illegal_transitions_are_rejected_without_trace(ts_env: WorkflowEnvironment, worker: Worker, recorder: Recorder) -> None:
    handle = await start(ts_env, worker, make_params(THREE_EMAILS), recorder)
    await ts_env.sleep(DAY)
    with pytest.raises(WorkflowUpdateFailedError) as not_paused:
        await handle.execute_update("resume", ActorRequest(actor="lead"))
    assert "not paused" in str(not_paused.value.cause)
    with pytest.raises(WorkflowUpdateFailedError) as past:
        await handle.execute_update("pause", PauseRequest(actor="lead", reason="x", until=dt.datetime(2000, 1, 1, tzinfo=dt.UTC)))
    assert "in the past" in str(past.value.cause)
    await handle.execute_update("stop", StopRequest(actor="lead", reason="wrong contact"))
    result = await handle.result()
    assert result.status == "stopped" and result.outcome_reason == "wrong contact"
    history = await handle.fetch_history()
    accepted = [e for e in history.events if e.HasField("workflow_execution_update_accepted_event_attributes")]
    assert len(accepted) == 1  # only the stop reached history
    assert recorder.actions() == ["ended"]


async def test_skip_moves_to_the_next_step(ts_env: WorkflowEnvironment, worker: Worker, recorder: Recorder) -> None:
    handle = await start(ts_env, worker, make_params(THREE_EMAILS), recorder)
    await ts_env.sleep(DAY)
    view = await handle.execute_update("skip_step", ActorRequest(actor="lead", reason="already covered on a call"), result_type=StatusView)
    assert view.step_id == "third"
    result = await handle.result()
    assert [t.step_id for t in recorder.touches] == ["first", "third"]
    assert result.counters.skipped == 1


async def test_gate_deferral_skip_and_stop(ts_env: WorkflowEnvironment, worker: Worker, recorder: Recorder) -> None:
    begin = await ts_env.get_current_time()
    later = begin + dt.timedelta(hours=7)
    recorder.touch_answers["first"] = TouchResult(
        status="deferred", touch_key="k", reason_code="window", reason="deferred to 09:00: outside the send window", defer_until=later
    )
    recorder.touch_answers["second"] = TouchResult(
        status="skipped", touch_key="k2", reason_code="no_consent", reason="skipped: no SMS consent"
    )
    handle = await start(ts_env, worker, make_params(THREE_EMAILS), recorder)
    await ts_env.sleep(dt.timedelta(hours=1))
    view = await status(handle)
    assert view.waiting_reason == "deferred to 09:00: outside the send window"
    assert view.next_due_at == later
    recorder.touch_answers["third"] = TouchResult(status="stopped", touch_key="k3", reason_code="suppressed", reason="stopped: suppressed")
    result = await handle.result()
    # first was tried twice (deferred, then sent), second skipped, third stopped the enrollment.
    assert [t.step_id for t in recorder.touches] == ["first", "first", "second", "third"]
    assert result.status == "opted_out"
    assert result.counters.deferred == 1 and result.counters.skipped == 1


async def test_an_unclear_touch_is_not_sent_again_and_the_cadence_moves_on(
    ts_env: WorkflowEnvironment, worker: Worker, recorder: Recorder
) -> None:
    recorder.touch_answers["first"] = TouchResult(
        status="unclear", touch_key="k1", reason_code="unclear_after_crash", reason="held: the transport cannot tell"
    )
    handle = await start(ts_env, worker, make_params(THREE_EMAILS), recorder)
    result = await handle.result()
    assert [t.step_id for t in recorder.touches] == ["first", "second", "third"]  # asked once, never retried
    assert result.status == "completed"
    assert result.counters.unclear == 1 and result.counters.sent == 2


async def test_continue_as_new_carries_all_state(ts_env: WorkflowEnvironment, worker: Worker, recorder: Recorder) -> None:
    definition = {
        "key": "rhythm",
        "name": "Weekly rhythm",
        "exit_on": ["reply"],
        "steps": [{"id": "weekly", "type": "email", "template": "t", "wait": {"days": 7}, "repeat": {"count": 12}}],
    }
    handle = await start(ts_env, worker, make_params(definition, history_cap=10), recorder)
    await handle.signal("meeting_booked", ContactEventSignal(event_id="m-1"))
    await ts_env.sleep(5 * 7 * DAY + DAY)
    before = await status(handle)
    assert before.runs > 1  # the history cap forced continue-as-new at step boundaries
    await handle.signal("meeting_booked", ContactEventSignal(event_id="m-1"))  # a repeat from before the boundary
    await handle.execute_update("pause", PauseRequest(actor="lead", reason="carry me over"))
    await ts_env.sleep(3 * DAY)
    await handle.execute_update("resume", ActorRequest(actor="lead"))
    result = await handle.result()
    assert result.status == "completed"
    assert [t.occurrence for t in recorder.touches] == list(range(12))  # no step lost or repeated
    assert result.counters.sent == 12
    assert result.counters.events == 1  # the repeated event id was recognised across runs
    first_run = ts_env.client.get_workflow_handle(handle.id, run_id=handle.result_run_id)
    assert (await first_run.describe()).status.name == "CONTINUED_AS_NEW"


async def test_positive_reply_switches_cadence(ts_env: WorkflowEnvironment, worker: Worker, recorder: Recorder) -> None:
    definition = {**THREE_EMAILS, "key": "outbound", "on_reply": {"positive": {"action": "switch", "switch_to": "inbound"}}}
    follow_up = make_params({"key": "inbound", "name": "Inbound", "steps": [{"id": "welcome", "type": "email", "template": "w"}]})
    child_id = f"enr-child-{uuid.uuid4()}"

    async def enroll_follow_up(request: Any) -> SwitchResult:
        await ts_env.client.start_workflow("Enrollment", EnrollmentInput(params=follow_up), id=child_id, task_queue=worker.task_queue)
        return SwitchResult(enrollment_id=follow_up.enrollment_id, workflow_id=child_id, created=True)

    recorder.on_switch = enroll_follow_up
    params = make_params(definition)
    handle = await start(ts_env, worker, params, recorder)
    await ts_env.sleep(DAY)
    await handle.signal("reply", ReplySignal(event_id="r+", intent="positive"))
    result = await handle.result()
    assert result.status == "switched"
    assert recorder.switches[0].cadence_key == "inbound"
    child = ts_env.client.get_workflow_handle(child_id, result_type=StatusView)
    child_result = await child.result()
    assert child_result.status == "completed"
    assert [t.step_id for t in recorder.touches] == ["first", "welcome"]
    assert "switched" in recorder.actions()


async def test_ab_assignment_is_stable_per_enrollment(ts_env: WorkflowEnvironment, worker: Worker, recorder: Recorder) -> None:
    definition = {
        "key": "ab",
        "name": "A/B",
        "steps": [
            {
                "id": "cold",
                "type": "email",
                "variants": [{"id": "a", "template": "ta", "weight": 1}, {"id": "b", "template": "tb", "weight": 1}],
            },
            {
                "id": "cold2",
                "type": "email",
                "wait": {"days": 1},
                "repeat": {"count": 2},
                "variants": [{"id": "a", "template": "ta2"}, {"id": "b", "template": "tb2"}],
            },
        ],
    }
    params = make_params(definition)
    await (await start(ts_env, worker, params, recorder)).result()
    parsed = params.definition
    expected = [choose(params.enrollment_id, s.id, s.variants).id for s in parsed.steps for _ in range(1 if s.id == "cold" else 2)]  # type: ignore[arg-type]
    assert [t.variant for t in recorder.touches] == expected


async def test_renewal_cadence_anchored_to_a_date(ts_env: WorkflowEnvironment, worker: Worker, recorder: Recorder) -> None:
    now = await ts_env.get_current_time()
    renewal = (now + 70 * DAY).date()
    definition = {
        "key": "renewal",
        "name": "Renewal",
        "exit_on": ["reply", "event:renewal_signed"],
        "steps": [
            {"id": f"r{n}", "type": "email", "template": f"r{n}", "wait": {"anchor": "renewal_date", "offset_days": -n, "at": "09:00"}}
            for n in (90, 60, 30, 14, 7)
        ],
    }
    params = make_params(definition, calendar=CalendarFacts(timezone="America/Chicago", country="US", dates={"renewal_date": renewal}))
    handle = await start(ts_env, worker, params, recorder)
    await ts_env.sleep(60 * DAY)  # past r60, r30, r14 (day 56)
    await handle.signal("event", NamedEventSignal(event_id="signed-1", name="renewal_signed"))
    result = await handle.result()
    assert result.status == "exited"
    # r90 had passed when the contact enrolled, so it was skipped with a reason.
    skipped = [t for t in recorder.transitions if t.action == "step_skipped"]
    assert skipped[0].details["step_id"] == "r90" and "has already passed" in (skipped[0].reason or "")
    assert [t.step_id for t in recorder.touches] == ["r60", "r30", "r14"]
    chicago = zoneinfo.ZoneInfo("America/Chicago")
    for touch, when in zip(recorder.touches, recorder.times, strict=True):
        days = int(touch.step_id[1:])
        local = when.astimezone(chicago)  # type: ignore[attr-defined]
        assert local.date() == renewal - dt.timedelta(days=days)
        assert (local.hour, local.minute) == (9, 0)


def renewal_steps(*days: int) -> dict[str, Any]:
    return {
        "key": "renewal",
        "name": "Renewal",
        "exit_on": ["event:renewal_signed"],
        "steps": [
            {"id": f"r{n}", "type": "email", "template": f"r{n}", "wait": {"anchor": "renewal_date", "offset_days": -n, "at": "09:00"}}
            for n in days
        ],
    }


async def test_a_changed_renewal_date_moves_the_running_enrollment(ts_env: WorkflowEnvironment, worker: Worker, recorder: Recorder) -> None:
    now = await ts_env.get_current_time()
    first = (now + 70 * DAY).date()
    params = make_params(
        renewal_steps(90, 60, 30, 14), calendar=CalendarFacts(timezone="America/Chicago", country="US", dates={"renewal_date": first})
    )
    handle = await start(ts_env, worker, params, recorder)
    await ts_env.sleep(DAY)
    assert (await status(handle)).step_id == "r60"
    later = first + 30 * DAY  # the renewal moved a month later
    await handle.signal("dates_changed", DatesChangedSignal(event_id="d1", dates={"renewal_date": later}, as_of=now + DAY))
    view = await status(handle)
    chicago = zoneinfo.ZoneInfo("America/Chicago")
    assert view.step_id == "r60" and view.next_due_at is not None
    assert view.next_due_at.astimezone(chicago).date() == later - 60 * DAY
    await ts_env.sleep(45 * DAY)  # past the new r60 (day 40), before the new r30 (day 70)
    earlier = (await ts_env.get_current_time()).date() + 20 * DAY  # now moved earlier: r30 is behind the contact
    await handle.signal("dates_changed", DatesChangedSignal(event_id="d2", dates={"renewal_date": earlier}, as_of=now + 46 * DAY))
    await handle.signal("dates_changed", DatesChangedSignal(event_id="d0", dates={"renewal_date": first}, as_of=now))  # stale: ignored
    result = await handle.result()
    assert result.status == "completed"
    sent = {t.step_id: when.astimezone(chicago) for t, when in zip(recorder.touches, recorder.times, strict=True)}  # type: ignore[attr-defined]
    assert list(sent) == ["r60", "r14"]  # r60 once, on its new date; r30 skipped; r14 on the latest date
    assert sent["r60"].date() == later - 60 * DAY and (sent["r60"].hour, sent["r60"].minute) == (9, 0)
    assert sent["r14"].date() == earlier - 14 * DAY
    skipped = [(t.details["step_id"], t.reason) for t in recorder.transitions if t.action == "step_skipped"]
    assert [step for step, _ in skipped] == ["r90", "r30"]
    assert "has already passed" in (skipped[1][1] or "")
    assert [t.details for t in recorder.transitions if t.action == "dates_changed"] == [
        {"renewal_date": later.isoformat()},
        {"renewal_date": earlier.isoformat()},
    ]


async def test_a_gate_deferral_moves_the_anchored_step_after_it(ts_env: WorkflowEnvironment, worker: Worker, recorder: Recorder) -> None:
    now = await ts_env.get_current_time()
    renewal = (now + 70 * DAY).date()
    definition = renewal_steps(60)
    definition["steps"].append(
        {
            "id": "r60-call",
            "type": "task",
            "wait": {"anchor": "renewal_date", "offset_days": -60, "at": "10:30"},
            "task": {"title": "Hold the renewal discussion", "wait_for_completion": False},
        }
    )
    anchor_day = dt.datetime.combine(renewal - 60 * DAY, dt.time(9, 0), tzinfo=dt.UTC)
    recorder.touch_answers["r60"] = TouchResult(
        status="deferred", touch_key="k", reason_code="weekend", reason="deferred to Mon 09:00: weekend", defer_until=anchor_day + 2 * DAY
    )
    params = make_params(definition, calendar=CalendarFacts(timezone="UTC", country="US", dates={"renewal_date": renewal}))
    result = await (await start(ts_env, worker, params, recorder)).result()
    assert result.status == "completed"
    assert [t.step_id for t in recorder.touches] == ["r60", "r60"]  # deferred, then sent two days later
    assert [t.step_id for t in recorder.tasks] == ["r60-call"]  # moved with it, not dropped as "already passed"
    assert not [t for t in recorder.transitions if t.action == "step_skipped"]


async def test_task_step_waits_for_completion_and_escalates(ts_env: WorkflowEnvironment, worker: Worker, recorder: Recorder) -> None:
    definition = {
        "key": "calls",
        "name": "Calls",
        "steps": [
            {"id": "call", "type": "call", "task": {"title": "Intro call", "sla_hours": 24, "on_overdue": "wait"}},
            {"id": "recap", "type": "email", "template": "t", "wait": {"hours": 1}},
        ],
    }
    handle = await start(ts_env, worker, make_params(definition), recorder)
    await ts_env.sleep(2 * DAY)
    view = await status(handle)
    assert view.task is not None and view.task.overdue
    assert "overdue" in view.waiting_reason and "manager-1" in view.waiting_reason
    assert recorder.touches == []  # still waiting: the cadence's policy is to wait
    await handle.signal("task_completed", TaskCompletedSignal(event_id="t1", task_id=view.task.task_id, outcome="connected"))
    result = await handle.result()
    assert result.status == "completed"
    assert [t.step_id for t in recorder.touches] == ["recap"]
    assert len(recorder.escalations) == 1


async def test_out_of_office_pauses_until_return_plus_a_business_day(
    ts_env: WorkflowEnvironment, worker: Worker, recorder: Recorder
) -> None:
    params = make_params(THREE_EMAILS, calendar=CalendarFacts(timezone="America/Chicago", country="US"))
    handle = await start(ts_env, worker, params, recorder)
    await ts_env.sleep(DAY)
    today = (await ts_env.get_current_time()).date()
    back = today + dt.timedelta(days=10)
    await handle.signal("reply", ReplySignal(event_id="ooo", intent="out_of_office", return_date=back))
    view = await status(handle)
    assert view.status == "paused" and view.pause is not None and view.pause.until is not None
    assert view.pause.until.date() > back
    result = await handle.result()
    assert result.status == "completed"  # resumed by itself and finished
    assert [t.action for t in recorder.transitions if t.action in ("paused", "resumed")] == ["paused", "resumed"]


async def test_wait_for_event_step(ts_env: WorkflowEnvironment, worker: Worker, recorder: Recorder) -> None:
    definition = {
        "key": "webinar-follow",
        "name": "Webinar follow-up",
        "steps": [
            {"id": "attend", "type": "wait_event", "event": "webinar_attended", "timeout_days": 14},
            {"id": "thanks", "type": "email", "template": "t"},
        ],
    }
    handle = await start(ts_env, worker, make_params(definition), recorder)
    await ts_env.sleep(2 * DAY)
    assert recorder.touches == []
    await handle.signal("event", NamedEventSignal(event_id="e1", name="webinar_attended"))
    result = await handle.result()
    assert result.status == "completed" and [t.step_id for t in recorder.touches] == ["thanks"]
