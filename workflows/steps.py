"""Running one step of an enrollment: the activity it needs, and what came of it, told to
the state machine. Also the two other activity calls a step can lead to: escalating an
overdue task, and enrolling the contact in the cadence a positive reply switches to.

Each step's activity also writes the status mirror (the workflow's hint of where the
enrollment goes next) in its own transaction; what it wrote is noted on the state, so the
workflow does not write the same row again before it waits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from cadence.machine import EnrollmentMachine
    from cadence.schedule import Position
    from cadence.state import MirrorHint, PendingTask
    from cadence.steps import CrmUpdateStep, EmailStep, SmsStep, TaskStep, WaitEventStep
    from models.payloads import EnrollmentParams, SwitchInput, TaskOverdueInput
    from workflows import calls, inputs

# A transition of the machine, run at the workflow's current time.
Apply = Callable[[Callable[[dt.datetime], Any]], Any]


class Steps:
    """The step activities of one enrollment."""

    def __init__(self, params: EnrollmentParams, machine: EnrollmentMachine, apply: Apply) -> None:
        self.params = params
        self.m = machine
        self.apply = apply

    async def run(self) -> None:
        """Run the step the enrollment is at (it is due)."""
        position = self.m.state.position
        assert position is not None
        step = self.m.begin_step()
        hint = self.m.next_mirror(workflow.now())
        try:
            if isinstance(step, EmailStep | SmsStep):
                await self._send(step, position, hint)
            elif isinstance(step, TaskStep):
                await self._create_task(step, position, hint)
            elif isinstance(step, CrmUpdateStep):
                await workflow.execute_activity(calls.crm_update, inputs.crm(self.params, step, position, hint), **calls.CRM)
                self._written(hint)
                self.apply(self.m.crm_updated)
            elif isinstance(step, WaitEventStep):
                self.apply(lambda now: self.m.wait_for_event(step, now))
        except ActivityError as err:
            kind, message = inputs.failure(err)
            self.apply(lambda now: self.m.step_failed(step.id, kind, message, bounced=kind == calls.BOUNCED, now=now))

    async def _send(self, step: EmailStep | SmsStep, position: Position, hint: MirrorHint) -> None:
        touch = inputs.touch(self.params, step, position, self.m.state.due_at or workflow.now(), hint)
        declared, options = (calls.send_email, calls.EMAIL) if step.type == "email" else (calls.send_sms, calls.SMS)
        result = await workflow.execute_activity(declared, touch, summary=f"{step.type} {step.id}", **options)
        if result.status in ("sent", "skipped", "unclear"):
            self._written(hint)
            moves = {"sent": self.m.touch_sent, "skipped": self.m.touch_skipped, "unclear": self.m.touch_unclear}
            self.apply(moves[result.status])
        elif result.status == "deferred":
            assert result.defer_until is not None
            until, reason = result.defer_until, result.reason
            self.apply(lambda _now: self.m.touch_deferred(until, reason))
            self.m.state.mirrored = self.m.mirror()  # the activity wrote the deferral in its transaction
        else:
            self.apply(lambda now: self.m.touch_stopped(result.reason_code, result.reason, now))

    async def _create_task(self, step: TaskStep, position: Position, hint: MirrorHint) -> None:
        mirror = inputs.task_waiting(step, position) if step.task.wait_for_completion else hint
        result = await workflow.execute_activity(calls.create_task, inputs.task(self.params, step, position, mirror), **calls.DATABASE)
        if result.status == "created":
            self._written(mirror if result.task_id is not None else hint)
            self.apply(lambda now: self.m.task_created(step, result.task_id, result.sla_at, now))
        else:
            self.apply(lambda now: self.m.task_refused(result.status == "stopped", result.reason, now))

    def _written(self, hint: MirrorHint) -> None:
        self.m.state.mirrored = hint.applied()

    async def escalate(self, task: PendingTask) -> None:
        """The task passed its SLA: mark it overdue and hand it to the owner's manager."""
        request = TaskOverdueInput(task_id=task.task_id, enrollment_id=self.params.enrollment_id)
        result = await workflow.execute_activity(calls.escalate_task, request, **calls.DATABASE)
        self.apply(lambda now: self.m.task_overdue(task, result.escalated_to, now))

    async def switch(self, cadence_key: str) -> None:
        """Enroll the contact in the cadence a reply switched it to (idempotently)."""
        request = SwitchInput(from_enrollment_id=self.params.enrollment_id, contact_id=self.params.contact_id, cadence_key=cadence_key)
        result = await workflow.execute_activity(calls.switch_cadence, request, **calls.DATABASE)
        self.apply(lambda now: self.m.switched(cadence_key, result.enrollment_id, result.created, result.reason, now))
