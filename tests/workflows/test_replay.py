"""Replay of committed workflow histories against the current code.

`tests/histories/*.json` are real histories recorded from the scenario tests
(`CADENCE_RECORD_HISTORIES=1 pytest tests/workflows`). If a code change would break
enrollments already running in production, replaying these fails here first.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner

from core.temporal import DATA_CONVERTER
from models.payloads import EnrollmentInput
from worker import workflow_runner
from workflows.registry import WORKFLOWS

HISTORIES = sorted((Path(__file__).resolve().parent.parent / "histories").glob("*.json"))


def load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, path.read_text())


def test_the_corpus_covers_the_scenarios() -> None:
    names = {p.stem for p in HISTORIES}
    for scenario in (
        "continue_as_new_carries_all_state",
        "pause_and_resume_keep_the_remaining_delay",
        "positive_reply_switches_cadence",
        "task_step_waits_for_completion_and_escalates",
        "renewal_cadence_anchored_to_a_date",
    ):
        assert scenario in names


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_recorded_history_replays_on_current_code(path: Path) -> None:
    replayer = Replayer(workflows=WORKFLOWS, data_converter=DATA_CONVERTER, workflow_runner=workflow_runner(WORKFLOWS))
    await replayer.replay_workflow(load(path))


@workflow.defn(name="Enrollment")
class ChangedEnrollment:
    """A deliberately incompatible version: it waits differently before its first step."""

    @workflow.run
    async def run(self, input: EnrollmentInput) -> Any:
        await asyncio.sleep(timedelta(days=365).total_seconds())


async def test_an_incompatible_change_is_caught() -> None:
    # Unsandboxed: this test module itself imports things the sandbox would refuse.
    replayer = Replayer(workflows=[ChangedEnrollment], data_converter=DATA_CONVERTER, workflow_runner=UnsandboxedWorkflowRunner())
    result = await replayer.replay_workflow(load(HISTORIES[0]), raise_on_replay_failure=False)
    assert result.replay_failure is not None
    assert "Nondeterminism" in type(result.replay_failure).__name__ or "nondetermin" in str(result.replay_failure).lower()
