"""Every shipped playbook validates and runs, end to end, on the time-skipping server.

Each one is enrolled with a contact whose renewal and webinar dates lie ahead, rep tasks
are completed as they appear, and time runs until the cadence ends (or, for the rhythms
that never end, through a full loop). Every step of every playbook must have run.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from cadence.definition import CadenceDefinition
from cadence.steps import CrmUpdateStep, EmailStep, SmsStep, TaskStep, WaitEventStep
from models.payloads import ENGINE_REVISION, CalendarFacts, EnrollmentInput, EnrollmentParams, StatusView, StopRequest, TaskCompletedSignal
from starter.catalog import load_file, playbook_files
from tests.workflows.conftest import Recorder

PLAYBOOKS = playbook_files()


def test_every_seed_cadence_ships_as_a_playbook() -> None:
    keys = {p.stem for p in PLAYBOOKS}
    assert {
        "inbound",
        "outbound-12-day",
        "email-call-5-day",
        "smb-onboarding",
        "enterprise-rhythm",
        "renewal-90-60-30",
        "webinar-invitation",
        "quarterly-kickoff",
        "customer-retention",
    } <= keys
    for path in PLAYBOOKS:
        assert load_file(path).definition.key == path.stem


def step_ids_run(recorder: Recorder) -> set[str]:
    return {t.step_id for t in recorder.touches} | {t.step_id for t in recorder.tasks} | {c.step_id for c in recorder.crm}


@pytest.mark.parametrize("path", PLAYBOOKS, ids=lambda p: p.stem)
async def test_playbook_runs_every_step(path: Any, ts_env: WorkflowEnvironment, worker: Worker, recorder: Recorder) -> None:
    bundle = load_file(path)
    definition: CadenceDefinition = bundle.definition
    now = await ts_env.get_current_time()
    calendar = CalendarFacts(
        timezone="America/Chicago",
        country="US",
        dates={"renewal_date": (now + dt.timedelta(days=120)).date(), "webinar_date": (now + dt.timedelta(days=20)).date()},
    )
    params = EnrollmentParams(
        enrollment_id=str(uuid.uuid4()),
        cadence_id=str(uuid.uuid4()),
        cadence_key=definition.key,
        cadence_version_id=str(uuid.uuid4()),
        version_hash=bundle.version_hash,
        contact_id=str(uuid.uuid4()),
        owner_id="csm-1",
        definition=definition,
        calendar=calendar,
        revision=ENGINE_REVISION,
    )
    handle = await ts_env.client.start_workflow(
        "Enrollment", EnrollmentInput(params=params), id=f"enr-{uuid.uuid4()}", task_queue=worker.task_queue, result_type=StatusView
    )
    wanted = {s.id for s in definition.steps if not isinstance(s, WaitEventStep)}
    completed: set[str] = set()
    for _ in range(400):
        view = await handle.query("status", result_type=StatusView)
        if view.status.terminal:
            break
        if view.task is not None and view.task.task_id not in completed:
            completed.add(view.task.task_id)
            await handle.signal("task_completed", TaskCompletedSignal(event_id=f"done-{view.task.task_id}", task_id=view.task.task_id))
            continue
        if definition.loop is not None and wanted <= step_ids_run(recorder) and view.round:
            break  # a rhythm that never ends: one full loop is enough
        await ts_env.sleep(dt.timedelta(days=2))
    view = await handle.query("status", result_type=StatusView)
    if not view.status.terminal:
        await handle.execute_update("stop", StopRequest(actor="test", reason="end of the test"))
    result = await handle.result()
    assert result.counters.failed == 0
    assert wanted <= step_ids_run(recorder), f"steps that never ran: {sorted(wanted - step_ids_run(recorder))}"
    kinds = {type(s) for s in definition.steps}
    if EmailStep in kinds or SmsStep in kinds:
        assert recorder.touches
    if TaskStep in kinds:
        assert recorder.tasks
    if CrmUpdateStep in kinds:
        assert recorder.crm
