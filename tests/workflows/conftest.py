"""Time-skipping test server fixtures and stand-in activities registered under real names."""

from __future__ import annotations

import dataclasses
import json
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from core.temporal import DATA_CONVERTER, binary, register_search_attributes
from models.payloads import (
    CrmInput,
    CrmResult,
    SwitchInput,
    SwitchResult,
    TaskInput,
    TaskOverdueInput,
    TaskOverdueResult,
    TaskResult,
    TouchInput,
    TouchResult,
    TransitionBatch,
    TransitionInput,
)
from worker import workflow_runner
from workflows import visibility
from workflows.enrollment import EnrollmentWorkflow


@pytest.fixture(scope="session")
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=DATA_CONVERTER, test_server_existing_path=binary("temporal-test-server")
    )
    await register_search_attributes(env.client, visibility.ALL_KEYS)
    try:
        yield env
    finally:
        await env.shutdown()


@dataclasses.dataclass
class Recorder:
    """Stand-in activities: they record what the workflow asked for and answer as told."""

    touches: list[TouchInput] = dataclasses.field(default_factory=list)
    tasks: list[TaskInput] = dataclasses.field(default_factory=list)
    crm: list[CrmInput] = dataclasses.field(default_factory=list)
    transitions: list[TransitionInput] = dataclasses.field(default_factory=list)
    batches: list[TransitionBatch] = dataclasses.field(default_factory=list)
    switches: list[SwitchInput] = dataclasses.field(default_factory=list)
    escalations: list[TaskOverdueInput] = dataclasses.field(default_factory=list)
    touch_answers: dict[str, TouchResult] = dataclasses.field(default_factory=dict)
    started: list[tuple[str, str | None]] = dataclasses.field(default_factory=list)
    on_switch: Callable[[SwitchInput], Awaitable[SwitchResult]] | None = None
    times: list[object] = dataclasses.field(default_factory=list)

    def activities(self) -> list[Callable[..., Any]]:
        rec = self

        @activity.defn(name="send_email")
        async def send_email(touch: TouchInput) -> TouchResult:
            return rec._touch(touch)

        @activity.defn(name="send_sms")
        async def send_sms(touch: TouchInput) -> TouchResult:
            return rec._touch(touch)

        @activity.defn(name="create_task")
        async def create_task(task: TaskInput) -> TaskResult:
            rec.tasks.append(task)
            return TaskResult(status="created", task_id=f"task-{len(rec.tasks)}")

        @activity.defn(name="crm_update")
        async def crm_update(crm: CrmInput) -> CrmResult:
            rec.crm.append(crm)
            return CrmResult(fields_written=sorted(crm.set_fields))

        @activity.defn(name="record_transition")
        async def record_transition(batch: TransitionBatch) -> None:
            rec.batches.append(batch)
            rec.transitions.extend(batch.items)

        @activity.defn(name="switch_cadence")
        async def switch_cadence(switch: SwitchInput) -> SwitchResult:
            rec.switches.append(switch)
            if rec.on_switch is not None:
                return await rec.on_switch(switch)
            return SwitchResult(reason="no target in this test")

        @activity.defn(name="escalate_task")
        async def escalate_task(task: TaskOverdueInput) -> TaskOverdueResult:
            rec.escalations.append(task)
            return TaskOverdueResult(escalated_to="manager-1")

        return [send_email, send_sms, create_task, crm_update, record_transition, switch_cadence, escalate_task]

    def _touch(self, touch: TouchInput) -> TouchResult:
        self.touches.append(touch)
        self.times.append(activity.info().current_attempt_scheduled_time)
        answer = self.touch_answers.pop(touch.step_id, None)
        key = f"{touch.enrollment_id}:{touch.step_id}:{touch.round}.{touch.occurrence}"
        return answer or TouchResult(status="sent", touch_key=key, provider_id=f"p-{len(self.touches)}")

    def actions(self) -> list[str]:
        return [t.action for t in self.transitions]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


HISTORIES = Path(__file__).resolve().parent.parent / "histories"


@pytest.fixture
async def worker(ts_env: WorkflowEnvironment, recorder: Recorder, request: pytest.FixtureRequest) -> AsyncIterator[Worker]:
    async with Worker(
        ts_env.client,
        task_queue=f"tq-{uuid.uuid4()}",
        workflows=[EnrollmentWorkflow],
        activities=recorder.activities(),
        workflow_runner=workflow_runner([EnrollmentWorkflow]),
    ) as w:
        yield w
        if os.environ.get("CADENCE_RECORD_HISTORIES") == "1":
            # Refresh the replay corpus: every run of every enrollment this test started.
            name = request.node.name.removeprefix("test_")
            for index, (workflow_id, first_run) in enumerate(recorder.started):
                first = (await ts_env.client.get_workflow_handle(workflow_id, run_id=first_run).fetch_history()).to_json()
                latest = (await ts_env.client.get_workflow_handle(workflow_id).fetch_history()).to_json()
                same = json.loads(latest) == json.loads(first)
                for run_no, text in enumerate([first] if same else [first, latest]):
                    suffix = "".join(f"-{n}" for n in (index, run_no) if n)
                    (HISTORIES / f"{name}{suffix}.json").write_text(text)
