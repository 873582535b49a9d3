"""EnrollmentWorkflow: one contact in one cadence, for as long as the cadence lasts.

The workflow sleeps on a durable timer until the next step is due, runs the step through an
activity, and lets `cadence.machine` decide what comes next. Replies, opt-outs, bounces,
meetings and named events arrive as signals and are applied at once, even while paused.
Operators pause, resume, stop and skip through updates whose validators reject illegal
transitions before anything reaches history. Orchestration only: the rules live in
`cadence/`, every side effect is an activity (`workflows.calls`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate, TypedSearchAttributes
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from cadence import events
    from cadence.definition import CrmUpdateStep, EmailStep, SmsStep, TaskStep, WaitEventStep
    from cadence.machine import EnrollmentMachine, IllegalTransition
    from cadence.rules import Status
    from cadence.schedule import Position
    from cadence.state import PendingTask
    from cadence.variants import choose
    from models.payloads import (
        WORKFLOW_TYPE,
        ActorRequest,
        ContactEventSignal,
        CrmInput,
        EnrollmentInput,
        MirrorHint,
        NamedEventSignal,
        PauseRequest,
        ReplySignal,
        StatusView,
        StopRequest,
        SwitchInput,
        TaskCompletedSignal,
        TaskInput,
        TaskOverdueInput,
        TouchInput,
        TransitionBatch,
        TransitionInput,
    )
    from workflows import calls, visibility

# Mirror writes made only so the row says what the workflow waits for (new in this version).
MIRROR_WHEN_WAITING = "mirror-when-waiting"


def _illegal(err: IllegalTransition) -> ApplicationError:
    return ApplicationError(err.message, type="IllegalTransition", non_retryable=True)


@workflow.defn(name=WORKFLOW_TYPE)
class EnrollmentWorkflow:
    """Runs one enrollment: timers between steps, signals from the world, operator updates."""

    @workflow.init
    def __init__(self, input: EnrollmentInput) -> None:
        self.params = input.params
        self.definition = input.params.definition
        self.m = EnrollmentMachine(
            self.definition, input.params.calendar.calendar(), input.state, pure=workflow.unsafe.sandbox_unrestricted
        )
        self._fresh = input.state is None
        self._wake = False

    # --- main loop -------------------------------------------------------------------------

    @workflow.run
    async def run(self, input: EnrollmentInput) -> StatusView:
        """Drive the enrollment to its end; returns the final status."""
        if self._fresh:
            self._do(lambda now: self.m.start(now, self.params.start_at))
        self._upsert_visibility()
        s = self.m.state
        while not s.status.terminal:
            await self._flush()
            if s.status.terminal:
                break
            if self._will_wait() and await self._mirror_before_waiting():
                continue  # messages may have arrived meanwhile: look again
            if s.status == Status.paused:
                await self._wait_while_paused()
            elif s.task is not None:
                await self._wait_for_task(s.task)
            elif s.position is None:
                self._do(self.m.no_steps_left)
            elif s.awaiting_event is not None:
                await self._wait_for_event()
            elif self.m.due_in(workflow.now()) > timedelta(0):
                await self._wait(self.m.due_in(workflow.now()), self._step_label())
            else:
                await self._run_step()
                if not s.status.terminal and self._should_continue_as_new():
                    await workflow.wait_condition(workflow.all_handlers_finished)
                    await self._flush()
                    if not s.status.terminal:
                        s.runs += 1
                        workflow.continue_as_new(EnrollmentInput(params=self.params, state=s))
        return await self._finish()

    def _will_wait(self) -> bool:
        s = self.m.state
        if s.status == Status.paused or s.task is not None or s.awaiting_event is not None:
            return True
        return s.position is not None and self.m.due_in(workflow.now()) > timedelta(0)

    async def _wait(self, timeout: timedelta | None, summary: str) -> bool:
        """Wait until a message wakes the workflow (True) or the timeout passes (False)."""
        self._wake = False
        if timeout is not None and timeout <= timedelta(0):
            return False
        try:
            await workflow.wait_condition(lambda: self._wake, timeout=timeout, timeout_summary=summary)
        except TimeoutError:
            return False
        return True

    async def _wait_for_event(self) -> None:
        s = self.m.state
        timeout = self.m.due_in(workflow.now()) if s.due_at is not None else None
        if not await self._wait(timeout, "event wait"):
            self._do(self.m.event_wait_timed_out)

    async def _wait_while_paused(self) -> None:
        pause = self.m.state.pause
        assert pause is not None
        timeout = pause.until - workflow.now() if pause.until else None
        if timeout is not None and timeout <= timedelta(0):
            self._do(self.m.pause_ended)
        elif not await self._wait(timeout, "paused") and self.m.status == Status.paused:
            self._do(self.m.pause_ended)

    async def _wait_for_task(self, task: PendingTask) -> None:
        timeout = None if task.overdue or task.sla_at is None else task.sla_at - workflow.now()
        if timeout is not None and timeout <= timedelta(0):
            await self._task_overdue(task)
        elif not await self._wait(timeout, "task SLA") and self.m.state.task is task and not self.m.status.terminal:
            await self._task_overdue(task)

    async def _task_overdue(self, task: PendingTask) -> None:
        result = await workflow.execute_activity(
            calls.escalate_task, TaskOverdueInput(task_id=task.task_id, enrollment_id=self.params.enrollment_id), **calls.DATABASE
        )
        self._do(lambda now: self.m.task_overdue(task, result.escalated_to, now))

    def _should_continue_as_new(self) -> bool:
        info = workflow.info()
        return info.is_continue_as_new_suggested() or info.get_current_history_length() > self.params.history_cap

    # --- steps -----------------------------------------------------------------------------

    async def _run_step(self) -> None:
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
                await workflow.execute_activity(
                    calls.crm_update,
                    CrmInput(
                        enrollment_id=self.params.enrollment_id,
                        contact_id=self.params.contact_id,
                        step_id=step.id,
                        occurrence=position.occurrence,
                        round=position.round,
                        set_fields=step.set_fields,
                        webhook_url=step.webhook_url,
                        mirror=hint,
                    ),
                    **calls.CRM,
                )
                self._told(hint)
                self._do(self.m.crm_updated)
            elif isinstance(step, WaitEventStep):
                self._do(lambda now: self.m.wait_for_event(step, now))
        except ActivityError as err:
            cause = err.cause
            kind = cause.type if isinstance(cause, ApplicationError) else type(cause).__name__
            message = cause.message if isinstance(cause, ApplicationError) else str(cause)
            self._do(lambda now: self.m.step_failed(step.id, kind, message, bounced=kind == calls.BOUNCED, now=now))

    async def _send(self, step: EmailStep | SmsStep, position: Position, hint: MirrorHint) -> None:
        variant = choose(self.params.enrollment_id, step.id, step.variants) if step.variants else None
        template = variant.template if variant else step.template
        assert template is not None
        touch = TouchInput(
            enrollment_id=self.params.enrollment_id,
            cadence_version_id=self.params.cadence_version_id,
            contact_id=self.params.contact_id,
            step_id=step.id,
            step_index=position.step,
            occurrence=position.occurrence,
            round=position.round,
            channel=step.type,
            template=template,
            variant=variant.id if variant else None,
            topic=step.topic,
            scheduled_at=self.m.state.due_at or workflow.now(),
            mirror=hint,
        )
        declared, options = (calls.send_email, calls.EMAIL) if step.type == "email" else (calls.send_sms, calls.SMS)
        result = await workflow.execute_activity(declared, touch, summary=f"{step.type} {step.id}", **options)
        if result.status in ("sent", "skipped"):
            self._told(hint)
            self._do(self.m.touch_sent if result.status == "sent" else self.m.touch_skipped)
        elif result.status == "deferred":
            assert result.defer_until is not None
            until, reason = result.defer_until, result.reason
            self._do(lambda _now: self.m.touch_deferred(until, reason))
            # The activity wrote the deferral into the mirror in its own transaction.
            self._told_current()
        else:
            self._do(lambda now: self.m.touch_stopped(result.reason_code, result.reason, now))

    async def _create_task(self, step: TaskStep, position: Position, hint: MirrorHint) -> None:
        spec = step.task
        waiting = MirrorHint(next_step_index=position.step, next_due_at=None, waiting_reason=self.m.task_waiting_reason(step))
        result = await workflow.execute_activity(
            calls.create_task,
            TaskInput(
                enrollment_id=self.params.enrollment_id,
                contact_id=self.params.contact_id,
                owner_id=self.params.owner_id,
                step_id=step.id,
                step_index=position.step,
                occurrence=position.occurrence,
                round=position.round,
                kind=step.type,
                title=spec.title,
                instructions=spec.instructions,
                due_hours=spec.due_hours,
                sla_hours=spec.sla_hours,
                mirror=waiting if spec.wait_for_completion else hint,
            ),
            **calls.DATABASE,
        )
        if result.status == "created":
            self._told(waiting if spec.wait_for_completion and result.task_id is not None else hint)
            self._do(lambda now: self.m.task_created(step, result.task_id, result.sla_at, now))
        else:
            self._do(lambda now: self.m.task_refused(result.status == "stopped", result.reason, now))

    def _step_label(self) -> str:
        step = self.m.step()
        position = self.m.state.position
        if step is None or position is None:
            return "done"
        return f"step {position.step + 1} {step.id} ({step.type})"

    # --- signals: the world speaks ---------------------------------------------------------

    @workflow.signal(name=events.REPLY_SIGNAL)
    def reply(self, signal: ReplySignal) -> None:
        """The contact replied. Exits, switches or pauses per the cadence's reply branches."""
        self._react(lambda now: self.m.event("reply", signal.event_id, now, intent=signal.intent, return_date=signal.return_date))

    @workflow.signal(name=events.MEETING_SIGNAL)
    def meeting_booked(self, signal: ContactEventSignal) -> None:
        """A meeting was booked with the contact."""
        self._react(lambda now: self.m.event("meeting_booked", signal.event_id, now))

    @workflow.signal(name=events.BOUNCE_SIGNAL)
    def bounce(self, signal: ContactEventSignal) -> None:
        """A message to the contact bounced."""
        self._react(lambda now: self.m.event("bounce", signal.event_id, now))

    @workflow.signal(name=events.OPT_OUT_SIGNAL)
    def opt_out(self, signal: ContactEventSignal) -> None:
        """The contact opted out: always ends the enrollment, paused or not."""
        self._react(lambda now: self.m.event("opt_out", signal.event_id, now))

    @workflow.signal(name=events.NAMED_EVENT_SIGNAL)
    def named_event(self, signal: NamedEventSignal) -> None:
        """A named business event: ends the enrollment if an exit rule says so, or ends a
        wait_event step waiting for it."""
        self._react(lambda now: self.m.named_event(signal.event_id, signal.name, now))

    @workflow.signal(name=events.TASK_COMPLETED_SIGNAL)
    def task_completed(self, signal: TaskCompletedSignal) -> None:
        """The rep completed or skipped the pending task; the cadence moves on."""
        self._react(lambda now: self.m.task_completed(signal.event_id, signal.task_id, signal.outcome, signal.skipped, now))

    # --- updates: operators command --------------------------------------------------------

    @workflow.update(name="pause")
    def pause(self, request: PauseRequest) -> StatusView:
        """Pause the enrollment (optionally until an instant). The remaining wait is kept."""
        return self._command(lambda now: self.m.pause(request.actor, request.reason, request.until, now))

    @pause.validator
    def _validate_pause(self, request: PauseRequest) -> None:
        self._check(lambda: self.m.check_pause(request.until, workflow.now()))

    @workflow.update(name="resume")
    def resume(self, request: ActorRequest) -> StatusView:
        """Resume a paused enrollment; the wait left at pause time is honoured."""
        return self._command(lambda now: self.m.resume(request.actor, request.reason, now))

    @resume.validator
    def _validate_resume(self, request: ActorRequest) -> None:
        self._check(self.m.check_resume)

    @workflow.update(name="stop")
    def stop(self, request: StopRequest) -> StatusView:
        """Stop the enrollment for good."""
        return self._command(lambda now: self.m.stop(request.actor, request.reason, now))

    @stop.validator
    def _validate_stop(self, request: StopRequest) -> None:
        self._check(self.m.check_stop)

    @workflow.update(name="skip_step")
    def skip_step(self, request: ActorRequest) -> StatusView:
        """Skip the step the enrollment is waiting for; the next one is scheduled from now."""
        return self._command(lambda now: self.m.skip(request.actor, request.reason, now))

    @skip_step.validator
    def _validate_skip(self, request: ActorRequest) -> None:
        self._check(self.m.check_skip)

    def _check(self, check: Any) -> None:
        try:
            check()
        except IllegalTransition as err:
            raise _illegal(err) from None

    def _command(self, transition: Any) -> StatusView:
        self._do(transition)
        self._wake = True
        return self.status()

    def _react(self, transition: Any) -> None:
        if self._do(transition):
            self._wake = True

    # --- query -----------------------------------------------------------------------------

    @workflow.query(name="status")
    def status(self) -> StatusView:
        """State, current step, next due time, why it waits, and counters."""
        s = self.m.state
        position = s.position if not s.status.terminal else None
        step = self.definition.steps[position.step] if position is not None else None
        return StatusView(
            enrollment_id=self.params.enrollment_id,
            cadence_key=self.params.cadence_key,
            version_hash=self.params.version_hash,
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

    # --- bookkeeping -----------------------------------------------------------------------

    def _do(self, transition: Any) -> Any:
        """Run a machine transition at the workflow's now; upsert search attributes where
        it says they may have changed (in the same place in the command sequence)."""
        result = transition(workflow.now())
        if self.m.take_visibility_change():
            self._upsert_visibility()
        return result

    def _told(self, hint: MirrorHint) -> None:
        """The activity just wrote this hint into the mirror row."""
        self.m.state.mirrored = hint.applied()

    def _told_current(self) -> None:
        self.m.state.mirrored = self.m.mirror()

    async def _flush(self) -> None:
        """Write queued audit records and the current mirror (handlers cannot run activities)."""
        records = self.m.take_records()
        if records:
            await self._record(records)

    async def _mirror_before_waiting(self) -> bool:
        """Before waiting, make sure the mirror row says what the workflow waits for: the
        first step after a start, or a plan that moved while a step was retried. True if
        it had to write the row."""
        if self.m.mirror().agrees_with(self.m.state.mirrored) or not workflow.patched(MIRROR_WHEN_WAITING):
            return False
        await self._record([])
        return True

    async def _record(self, records: list[Any]) -> None:
        mirror = self.m.mirror()
        items = [TransitionInput(enrollment_id=self.params.enrollment_id, contact_id=self.params.contact_id, **vars(r)) for r in records]
        await workflow.execute_activity(
            calls.record_transition, TransitionBatch(items=items, enrollment_id=self.params.enrollment_id, mirror=mirror), **calls.DATABASE
        )
        self.m.state.mirrored = mirror

    def _upsert_visibility(self) -> None:
        s = self.m.state
        updates: list[SearchAttributeUpdate[Any]] = [
            visibility.ENROLLMENT_STATUS.value_set(s.status.value),
            visibility.STEP_INDEX.value_set(s.position.step if s.position else -1),
        ]
        if s.due_at is not None and s.status == Status.active:
            updates.append(visibility.NEXT_STEP_AT.value_set(s.due_at))
        else:
            updates.append(visibility.NEXT_STEP_AT.value_unset())
        current = workflow.info().typed_search_attributes
        changed = [u for u in updates if _differs(current, u)]
        if changed:
            workflow.upsert_search_attributes(changed)

    async def _finish(self) -> StatusView:
        self._upsert_visibility()
        await self._flush()
        if self.m.status == Status.switched and self.m.state.switch_to:
            await self._switch(self.m.state.switch_to)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.status()

    async def _switch(self, cadence_key: str) -> None:
        result = await workflow.execute_activity(
            calls.switch_cadence,
            SwitchInput(from_enrollment_id=self.params.enrollment_id, contact_id=self.params.contact_id, cadence_key=cadence_key),
            **calls.DATABASE,
        )
        self._do(lambda now: self.m.switched(cadence_key, result.enrollment_id, result.created, result.reason, now))
        await self._flush()


def _differs(current: TypedSearchAttributes, update: Any) -> bool:
    value = current.get(update.key)
    return bool(value != update.value)
