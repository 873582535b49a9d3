"""The status mirror (the enrollments row lists and reports read) is written from the
workflow alone: by each step's activity with the workflow's hint, by every transition, and,
before the workflow waits, whenever the row would otherwise tell another story."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from cadence.rules import Status
from cadence.state import Mirror
from models.enrollments import opening
from models.payloads import EnrollmentInput, EnrollmentParams, StatusView, TouchResult
from tests.workflows.conftest import Recorder
from tests.workflows.test_enrollment import THREE_EMAILS, make_params, start
from workflows import visibility


async def test_a_delayed_first_step_is_in_the_mirror_before_the_workflow_sleeps(
    ts_env: WorkflowEnvironment, worker: Worker, recorder: Recorder
) -> None:
    begin = await ts_env.get_current_time()
    first_due = begin + dt.timedelta(days=2)
    handle = await start(ts_env, worker, make_params(THREE_EMAILS, start_at=first_due), recorder)
    result = await handle.result()
    assert result.status == "completed"
    mirror_only = [b for b in recorder.batches if not b.items]
    assert len(mirror_only) == 1  # only the start needed it: each step's hint covered the next wait
    [start_mirror] = mirror_only
    assert start_mirror.enrollment_id == handle_params_id(recorder) and start_mirror.mirror is not None
    assert (start_mirror.mirror.status, start_mirror.mirror.current_step) == (Status.active, 0)
    assert start_mirror.mirror.next_step_at is not None and abs(start_mirror.mirror.next_step_at - first_due) < dt.timedelta(seconds=1)
    assert start_mirror.mirror.waiting_reason == "waiting for step 1 'first' (email): right after the previous step"
    assert recorder.batches.index(start_mirror) == 0  # written before anything else happened
    final = recorder.batches[-1].mirror
    assert final is not None and (final.status, final.outcome_reason) == (Status.completed, "every step has run")


async def test_a_deferral_written_by_the_send_needs_no_second_write(
    ts_env: WorkflowEnvironment, worker: Worker, recorder: Recorder
) -> None:
    begin = await ts_env.get_current_time()
    recorder.touch_answers["second"] = TouchResult(
        status="deferred",
        touch_key="k",
        reason_code="window",
        reason="deferred to 09:00: outside the send window",
        defer_until=begin + dt.timedelta(days=3, hours=12),
    )
    handle = await start(ts_env, worker, make_params(THREE_EMAILS), recorder)
    assert (await handle.result()).status == "completed"
    assert [b for b in recorder.batches if not b.items] == []
    assert recorder.actions() == ["ended"]


def handle_params_id(recorder: Recorder) -> str:
    return recorder.touches[0].enrollment_id


async def start_told(env: WorkflowEnvironment, worker: Worker, params: EnrollmentParams, told: Mirror, recorder: Recorder) -> Any:
    """Start as the starter does: the row and the search attributes already say `told`."""
    return await env.client.start_workflow(
        "Enrollment",
        EnrollmentInput(params=params, mirrored=told),
        id=f"enr-{uuid.uuid4()}",
        task_queue=worker.task_queue,
        result_type=StatusView,
        search_attributes=visibility.start_attributes(params, told),
    )


async def test_a_first_step_the_starter_wrote_is_not_written_again(ts_env: WorkflowEnvironment, worker: Worker, recorder: Recorder) -> None:
    begin = await ts_env.get_current_time()
    params = make_params(THREE_EMAILS, start_at=begin + dt.timedelta(days=2))
    told = opening(params, begin)
    handle = await start_told(ts_env, worker, params, told, recorder)
    assert (await handle.result()).status == "completed"
    assert [b for b in recorder.batches if not b.items] == []  # nothing but the end was written
    assert recorder.touches[0].scheduled_at == told.next_step_at  # the timer is the row's time


async def test_a_plan_the_workflow_disagrees_with_is_written_before_it_waits(
    ts_env: WorkflowEnvironment, worker: Worker, recorder: Recorder
) -> None:
    begin = await ts_env.get_current_time()
    params = make_params(THREE_EMAILS, start_at=begin + dt.timedelta(days=2))
    stale = opening(params, begin).model_copy(update={"current_step": 1, "waiting_reason": "something else"})
    handle = await start_told(ts_env, worker, params, stale, recorder)
    assert (await handle.result()).status == "completed"
    [first, *_] = recorder.batches
    assert (
        not first.items
        and first.mirror is not None
        and (first.mirror.current_step, first.mirror.waiting_reason)
        == (0, "waiting for step 1 'first' (email): right after the previous step")
    )


async def test_a_run_keeps_its_engine_revision_and_the_next_run_takes_the_newest(
    ts_env: WorkflowEnvironment, worker: Worker, recorder: Recorder
) -> None:
    # An enrollment started before revision 2 (its input has none): transitions recorded by
    # an activity, and a turn of its own to end; its next run, a new history, records locally.
    definition = {
        "key": "rhythm",
        "name": "Rhythm",
        "steps": [{"id": "weekly", "type": "email", "template": "t", "wait": {"days": 7}, "repeat": {"count": 6}}],
    }
    params = make_params(definition, history_cap=10, revision=1)
    handle = await start(ts_env, worker, params, recorder)
    assert (await handle.result()).status == "completed"
    first = await ts_env.client.get_workflow_handle(handle.id, run_id=handle.result_run_id).fetch_history()
    last = await ts_env.client.get_workflow_handle(handle.id).fetch_history()
    assert "record_transition" in activity_types(first) and "record_transition" not in activity_types(last)
    assert local_activities(first) == 0 and local_activities(last) >= 1
    assert recorder.actions()[-1] == "ended" and [t.occurrence for t in recorder.touches] == list(range(6))


def activity_types(history: Any) -> list[str]:
    kind = EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    return [e.activity_task_scheduled_event_attributes.activity_type.name for e in history.events if e.event_type == kind]


def local_activities(history: Any) -> int:
    kind = EventType.EVENT_TYPE_MARKER_RECORDED
    return sum(
        1 for e in history.events if e.event_type == kind and e.marker_recorded_event_attributes.marker_name == "core_local_activity"
    )
