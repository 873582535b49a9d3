"""Migrating a running enrollment to another version of its cadence, on the time-skipping
server: mid-wait, what it sends next and when; the preview's landing is checked again by
the workflow; a repeat changes nothing; a paused or task-waiting one stays so."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from cadence.migration import Landing
from cadence.parse import parse_definition
from models.payloads import ActorRequest, MigrateRequest, MigrateResult, PauseRequest, StatusView, StopRequest, TaskCompletedSignal
from tests.workflows.conftest import Recorder
from tests.workflows.test_enrollment import DAY, THREE_EMAILS, make_params, offsets, start, status

V2_SHORTER = {
    **THREE_EMAILS,
    "steps": [
        {"id": "first", "type": "email", "template": "t1"},
        {"id": "second", "type": "email", "template": "t2-new", "wait": {"days": 1}},
        {"id": "third", "type": "email", "template": "t3", "wait": {"days": 5}},
    ],
}
STEPS: list[dict[str, Any]] = THREE_EMAILS["steps"]  # type: ignore[assignment]
V2_WITHOUT_SECOND = {**THREE_EMAILS, "steps": [STEPS[0], STEPS[2]]}


def request(handle_params: Any, new: dict[str, Any], *, operation: str | None = None, **extra: Any) -> MigrateRequest:
    return MigrateRequest(
        operation_id=operation or str(uuid.uuid4()),
        actor="admin@acme",
        reason="shorter follow-up",
        from_version_id=handle_params.cadence_version_id,
        to_version_id=str(uuid.uuid4()),
        to_version_hash="1" * 64,
        from_version=1,
        to_version=2,
        definition=parse_definition(new),
        **extra,
    )


async def migrate(handle: WorkflowHandle[Any, StatusView], req: MigrateRequest, update_id: str | None = None) -> MigrateResult:
    return await handle.execute_update("migrate", req, id=update_id or f"migrate:{req.operation_id}", result_type=MigrateResult)


async def test_a_shortened_wait_applies_mid_wait_and_the_next_touch_uses_the_new_template(
    ts_env: WorkflowEnvironment, worker: Worker, recorder: Recorder
) -> None:
    begin = await ts_env.get_current_time()
    params = make_params(THREE_EMAILS)
    handle = await start(ts_env, worker, params, recorder)
    await ts_env.sleep(2 * DAY)  # "second" is due on day 3
    req = request(params, V2_SHORTER, spread_seconds=30)
    result = await migrate(handle, req)
    assert result.applied and result.landing is not None and result.landing.outcome == "due_now"
    assert result.status.version_hash == "1" * 64 and result.status.counters.sent == 1
    final = await handle.result()
    assert final.status == "completed"
    assert [t.template for t in recorder.touches] == ["t1", "t2-new", "t3"]
    assert [t.cadence_version_id for t in recorder.touches][1:] == [req.to_version_id] * 2
    # second: due at once (30 s spread) on day 2; third: five days after it (the new wait).
    assert offsets(recorder, begin) == pytest.approx([0.0, 2.0, 7.0], abs=0.01)
    migrated = next(t for t in recorder.transitions if t.action == "migrated")
    assert migrated.actor == "admin@acme" and migrated.reason == "shorter follow-up"
    assert migrated.details["from_version"] == 1 and migrated.details["to_version"] == 2
    version_batch = next(b for b in recorder.batches if b.cadence_version_id is not None)
    assert version_batch.cadence_version_id == req.to_version_id  # the row learns its version


async def test_a_removed_step_moves_the_enrollment_on_and_a_repeat_changes_nothing(
    ts_env: WorkflowEnvironment, worker: Worker, recorder: Recorder
) -> None:
    begin = await ts_env.get_current_time()
    params = make_params(THREE_EMAILS)
    handle = await start(ts_env, worker, params, recorder)
    await ts_env.sleep(DAY)
    req = request(params, V2_WITHOUT_SECOND, operation="op-1")
    first = await migrate(handle, req)
    assert first.applied and first.landing is not None and first.landing.step_id == "third"
    again = await migrate(handle, req)  # the same update again: Temporal answers the first result
    assert again.applied and again.landing == first.landing
    other = await migrate(handle, req.model_copy(update={"from_version_id": "whatever"}), update_id="another-attempt")
    assert not other.applied  # the same operation under another update id: nothing happens twice
    final = await handle.result()
    assert [t.step_id for t in recorder.touches] == ["first", "third"]
    assert offsets(recorder, begin) == pytest.approx([0.0, 3.0], abs=0.01)  # third's wait, from when first ran
    assert sum(t.action == "migrated" for t in recorder.transitions) == 1
    assert final.counters.sent == 2


async def test_a_preview_that_no_longer_holds_is_refused_and_nothing_changes(
    ts_env: WorkflowEnvironment, worker: Worker, recorder: Recorder
) -> None:
    params = make_params(THREE_EMAILS)
    handle = await start(ts_env, worker, params, recorder)
    await ts_env.sleep(DAY)
    wrong = Landing(outcome="moved", step_id="third", position=None, due_at=None, sentence="previewed elsewhere")
    with pytest.raises(WorkflowUpdateFailedError) as stale:
        await migrate(handle, request(params, V2_SHORTER, expected=wrong))
    assert "changed since the preview" in str(stale.value.cause) and "stays on step 'second'" in str(stale.value.cause)
    with pytest.raises(WorkflowUpdateFailedError) as other:
        await migrate(handle, request(params.model_copy(update={"cadence_version_id": "other"}), V2_SHORTER))
    assert "another version" in str(other.value.cause)
    now = await status(handle)
    assert now.version_hash == params.version_hash and now.step_id == "second"
    assert "migrated" not in recorder.actions()
    # End it: a workflow left waiting on a stopped worker would hold the test server's clock.
    await handle.execute_update("stop", StopRequest(actor="test", reason="done"), result_type=StatusView)
    await handle.result()


async def test_a_paused_enrollment_stays_paused_with_its_wait_moved(
    ts_env: WorkflowEnvironment, worker: Worker, recorder: Recorder
) -> None:
    begin = await ts_env.get_current_time()
    params = make_params(THREE_EMAILS)
    handle = await start(ts_env, worker, params, recorder)
    await ts_env.sleep(DAY)
    await handle.execute_update("pause", PauseRequest(actor="lead", reason="legal hold"), result_type=StatusView)
    first, second, third = STEPS
    longer = {**THREE_EMAILS, "steps": [first, {**second, "wait": {"days": 5}}, third]}
    result = await migrate(handle, request(params, longer))
    assert result.status.status == "paused" and result.status.pause is not None
    assert result.status.pause.remaining_seconds == pytest.approx(4 * DAY.total_seconds(), abs=120)  # 2 days left + 2 more
    await ts_env.sleep(DAY)
    await handle.execute_update("resume", ActorRequest(actor="lead"), result_type=StatusView)
    await handle.result()
    assert offsets(recorder, begin)[1] == pytest.approx(6.0, abs=0.01)  # resumed on day 2 with 4 days left


async def test_an_enrollment_waiting_on_a_removed_task_step_waits_for_the_task_then_moves_on(
    ts_env: WorkflowEnvironment, worker: Worker, recorder: Recorder
) -> None:
    with_call = {
        **THREE_EMAILS,
        "steps": [STEPS[0], {"id": "call", "type": "call", "task": {"title": "Call them"}, "wait": {"days": 1}}, STEPS[2]],
    }
    params = make_params(with_call)
    handle = await start(ts_env, worker, params, recorder)
    await ts_env.sleep(2 * DAY)  # the call task exists and the enrollment waits for it
    assert (await status(handle)).task is not None
    result = await migrate(handle, request(params, V2_WITHOUT_SECOND))
    assert result.landing is not None and result.landing.outcome == "waiting" and result.landing.resume_here
    await ts_env.sleep(DAY)
    assert [t.step_id for t in recorder.touches] == ["first"]  # still waiting for the rep
    await handle.signal("task_completed", TaskCompletedSignal(event_id="t1", task_id="task-1", outcome="connected"))
    final = await handle.result()
    assert [t.step_id for t in recorder.touches] == ["first", "third"]
    assert final.counters.tasks == 1


async def test_a_migration_that_leaves_no_step_completes_the_enrollment(
    ts_env: WorkflowEnvironment, worker: Worker, recorder: Recorder
) -> None:
    params = make_params(THREE_EMAILS)
    handle = await start(ts_env, worker, params, recorder)
    await ts_env.sleep(DAY)
    only_first = {**THREE_EMAILS, "steps": [STEPS[0]]}
    await migrate(handle, request(params, only_first))
    final = await handle.result()
    assert final.status == "completed" and "no step is left" in (final.outcome_reason or "")
    assert [t.step_id for t in recorder.touches] == ["first"]
