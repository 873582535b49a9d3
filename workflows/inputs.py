"""What the enrollment workflow sends its activities and answers its status query, built
from its fixed parameters and its state machine (no decisions are made here)."""

from __future__ import annotations

import datetime as dt

from temporalio.exceptions import ActivityError, ApplicationError

from cadence.definition import CadenceDefinition
from cadence.machine import EnrollmentMachine
from cadence.rules import Status
from cadence.schedule import Position
from cadence.state import EnrollmentState, MirrorHint, Record
from cadence.steps import CrmUpdateStep, EmailStep, SmsStep, TaskStep
from cadence.variants import choose
from models.payloads import CrmInput, EnrollmentParams, StatusView, TaskInput, TouchInput, TransitionInput


def touch(
    params: EnrollmentParams, step: EmailStep | SmsStep, position: Position, scheduled_at: dt.datetime, hint: MirrorHint
) -> TouchInput:
    """The email or text to send for this step (its A/B variant fixed per enrollment)."""
    variant = choose(params.enrollment_id, step.id, step.variants) if step.variants else None
    template = variant.template if variant else step.template
    assert template is not None
    return TouchInput(
        enrollment_id=params.enrollment_id,
        cadence_version_id=params.cadence_version_id,
        contact_id=params.contact_id,
        step_id=step.id,
        step_index=position.step,
        occurrence=position.occurrence,
        round=position.round,
        channel=step.type,
        template=template,
        variant=variant.id if variant else None,
        topic=step.topic,
        scheduled_at=scheduled_at,
        mirror=hint,
    )


def task_waiting(step: TaskStep, position: Position) -> MirrorHint:
    """The mirror while a step waits for its rep task."""
    return MirrorHint(next_step_index=position.step, next_due_at=None, waiting_reason=EnrollmentMachine.task_waiting_reason(step))


def task(params: EnrollmentParams, step: TaskStep, position: Position, mirror: MirrorHint) -> TaskInput:
    """The rep task to create for a call, LinkedIn or manual step."""
    spec = step.task
    return TaskInput(
        enrollment_id=params.enrollment_id,
        contact_id=params.contact_id,
        owner_id=params.owner_id,
        step_id=step.id,
        step_index=position.step,
        occurrence=position.occurrence,
        round=position.round,
        kind=step.type,
        title=spec.title,
        instructions=spec.instructions,
        due_hours=spec.due_hours,
        sla_hours=spec.sla_hours,
        mirror=mirror,
    )


def crm(params: EnrollmentParams, step: CrmUpdateStep, position: Position, hint: MirrorHint) -> CrmInput:
    """The fields a CRM step writes, and its webhook."""
    return CrmInput(
        enrollment_id=params.enrollment_id,
        contact_id=params.contact_id,
        step_id=step.id,
        occurrence=position.occurrence,
        round=position.round,
        set_fields=step.set_fields,
        webhook_url=step.webhook_url,
        mirror=hint,
    )


def transitions(params: EnrollmentParams, records: list[Record]) -> list[TransitionInput]:
    """The machine's audit records, addressed to this enrollment and contact."""
    return [TransitionInput(enrollment_id=params.enrollment_id, contact_id=params.contact_id, **vars(r)) for r in records]


def failure(err: ActivityError) -> tuple[str | None, str]:
    """The error type and message a failed step's activity raised."""
    cause = err.cause
    if isinstance(cause, ApplicationError):
        return cause.type, cause.message
    return type(cause).__name__, str(cause)


def status_view(params: EnrollmentParams, definition: CadenceDefinition, s: EnrollmentState) -> StatusView:
    """State, current step, next due time, why it waits, and counters."""
    position = s.position if not s.status.terminal else None
    step = definition.steps[position.step] if position is not None else None
    return StatusView(
        enrollment_id=params.enrollment_id,
        cadence_key=params.cadence_key,
        version_hash=params.version_hash,
        status=s.status,
        step_index=position.step if position else None,
        step_id=step.id if step else None,
        step_type=step.type if step else None,
        occurrence=position.occurrence if position else None,
        round=position.round if position else None,
        next_due_at=s.due_at if s.status == Status.active else None,
        waiting_reason=s.waiting_reason,
        pause=s.pause,
        task=s.task,
        counters=s.counters,
        outcome_reason=s.outcome_reason,
        ended_at=s.ended_at,
        runs=s.runs,
    )


def step_label(machine: EnrollmentMachine) -> str:
    """What a timer waits for, as the Temporal UI and the timeline show it."""
    step, position = machine.step(), machine.state.position
    if step is None or position is None:
        return "done"
    return f"step {position.step + 1} {step.id} ({step.type})"
