"""EnrollmentWorkflow: one contact in one cadence, for as long as the cadence lasts.

The workflow interprets the pinned cadence definition: it sleeps on a durable timer until
the next step is due, runs the step through an activity, and plans the next one. Replies,
opt-outs, bounces, meetings and named events arrive as signals and are applied at once, even
while paused. Operators pause, resume, stop and skip through updates whose validators reject
illegal transitions before anything reaches history. Orchestration only: every rule lives
in `cadence/`, every side effect in an activity.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate, TypedSearchAttributes
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from cadence.definition import CrmUpdateStep, EmailStep, SmsStep, TaskStep, WaitEventStep
    from cadence.rules import Decision, EventKind, Status, decide
    from cadence.schedule import Planned, Position, after, plan
    from cadence.variants import choose
    from cadence.waiting import describe_step
    from models import visibility
    from models.payloads import (
        WORKFLOW_TYPE,
        ActorRequest,
        ContactEventSignal,
        CrmInput,
        CrmResult,
        EnrollmentInput,
        EnrollmentState,
        MirrorHint,
        NamedEventSignal,
        PauseInfo,
        PauseRequest,
        PendingTask,
        ReplySignal,
        StatusView,
        StopRequest,
        SwitchInput,
        SwitchResult,
        TaskCompletedSignal,
        TaskInput,
        TaskOverdueInput,
        TaskOverdueResult,
        TaskResult,
        TouchInput,
        TouchResult,
        TransitionBatch,
        TransitionInput,
    )
    from workflows import policies

SEEN_EVENTS_KEPT = 500
# Gate reasons that mean the contact asked not to be contacted at all.
OPTED_OUT_CODES = ("suppressed", "opted_out", "erased")


def _illegal(message: str) -> ApplicationError:
    return ApplicationError(message, type="IllegalTransition", non_retryable=True)


@workflow.defn(name=WORKFLOW_TYPE)
class EnrollmentWorkflow:
    """Runs one enrollment: timers between steps, signals from the world, operator updates."""

    @workflow.init
    def __init__(self, input: EnrollmentInput) -> None:
        self.params = input.params
        self.definition = input.params.definition
        self.calendar = input.params.calendar.calendar()
        self.s = input.state or EnrollmentState()
        self._fresh = input.state is None
        self._wake = False
        self._transitions: list[TransitionInput] = []

    # --- main loop -------------------------------------------------------------------------

    @workflow.run
    async def run(self, input: EnrollmentInput) -> StatusView:
        """Drive the enrollment to its end; returns the final status."""
        if self._fresh:
            self._start()
        self._upsert_visibility()
        while not self.s.status.terminal:
            await self._flush_transitions()
            if self.s.status.terminal:
                break
            if self.s.status == Status.paused:
                await self._wait_while_paused()
            elif self.s.task is not None:
                await self._wait_for_task()
            elif self.s.position is None:
                self._end(Status.completed, "every step has run")
            elif self.s.awaiting_event is not None:
                await self._wait_for_event()
            elif self._due_in() > timedelta(0):
                await self._sleep_until_due()
            else:
                await self._run_step()
                if not self.s.status.terminal and self._should_continue_as_new():
                    await workflow.wait_condition(workflow.all_handlers_finished)
                    await self._flush_transitions()
                    if not self.s.status.terminal:
                        self.s.runs += 1
                        workflow.continue_as_new(EnrollmentInput(params=self.params, state=self.s))
        return await self._finish()

    def _start(self) -> None:
        now = workflow.now()
        start = max(self.params.start_at or now, now)
        self.s.rhythm_start = start
        self._schedule(Position(), reference=start)

    def _due_in(self) -> timedelta:
        assert self.s.due_at is not None
        return self.s.due_at - workflow.now()

    async def _sleep_until_due(self) -> None:
        self._wake = False
        try:
            await workflow.wait_condition(
                lambda: self._wake, timeout=self._due_in(), timeout_summary=self._step_label()
            )
        except TimeoutError:
            pass

    async def _wait_for_event(self) -> None:
        self._wake = False
        timeout = self._due_in() if self.s.due_at is not None else None
        try:
            if timeout is not None and timeout <= timedelta(0):
                raise TimeoutError
            await workflow.wait_condition(lambda: self._wake, timeout=timeout, timeout_summary="event wait")
        except TimeoutError:
            if self.s.awaiting_event is not None and self.s.status == Status.active:
                self._note("event_wait_timed_out", reason=f"no {self.s.awaiting_event} event arrived in time")
                self.s.awaiting_event = None
                self._advance()

    async def _wait_while_paused(self) -> None:
        pause = self.s.pause
        assert pause is not None
        self._wake = False
        timeout = pause.until - workflow.now() if pause.until else None
        if timeout is not None and timeout <= timedelta(0):
            self._resume("system", "the pause ended")
            return
        try:
            await workflow.wait_condition(lambda: self._wake, timeout=timeout, timeout_summary="paused")
        except TimeoutError:
            if self.s.status == Status.paused:
                self._resume("system", "the pause ended")

    async def _wait_for_task(self) -> None:
        task = self.s.task
        assert task is not None
        self._wake = False
        timeout = None if task.overdue or task.sla_at is None else task.sla_at - workflow.now()
        if timeout is not None and timeout <= timedelta(0):
            await self._task_overdue(task)
            return
        try:
            await workflow.wait_condition(lambda: self._wake, timeout=timeout, timeout_summary="task SLA")
        except TimeoutError:
            if self.s.task is task and not self.s.status.terminal:
                await self._task_overdue(task)

    async def _task_overdue(self, task: PendingTask) -> None:
        result: TaskOverdueResult = await workflow.execute_activity(
            policies.ESCALATE_TASK,
            TaskOverdueInput(task_id=task.task_id, enrollment_id=self.params.enrollment_id),
            result_type=TaskOverdueResult,
            **policies.DATABASE,
        )
        task.overdue = True
        who = f", escalated to {result.escalated_to}" if result.escalated_to else ""
        if task.on_overdue == "continue" and self.s.task is task:
            self.s.task = None
            self._note("task_overdue", reason=f"task passed its SLA{who}; moving on")
            self._advance()
        else:
            self.s.waiting_reason = f"waiting for an overdue task{who}"
            self._note("task_overdue", reason=f"task passed its SLA{who}; still waiting")

    def _should_continue_as_new(self) -> bool:
        info = workflow.info()
        return info.is_continue_as_new_suggested() or info.get_current_history_length() > self.params.history_cap

    # --- steps -----------------------------------------------------------------------------

    async def _run_step(self) -> None:
        position = self.s.position
        assert position is not None
        step = self.definition.steps[position.step]
        hint = self._hint_after(position)
        self.s.counters.steps_run += 1
        try:
            if isinstance(step, EmailStep | SmsStep):
                await self._send(step, position, hint)
            elif isinstance(step, TaskStep):
                await self._create_task(step, position, hint)
            elif isinstance(step, CrmUpdateStep):
                await workflow.execute_activity(
                    policies.CRM_UPDATE,
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
                    result_type=CrmResult,
                    **policies.CRM,
                )
                self._advance_unless_ended()
            elif isinstance(step, WaitEventStep):
                self.s.awaiting_event = step.event
                timeout = timedelta(days=step.timeout_days) if step.timeout_days else None
                self.s.due_at = workflow.now() + timeout if timeout else None
                self.s.waiting_reason = f"waiting for the {step.event} event" + (
                    f" until {self.s.due_at:%Y-%m-%d %H:%M} UTC" if self.s.due_at else ""
                )
                self._note("waiting_for_event", reason=self.s.waiting_reason)
        except ActivityError as err:
            await self._step_failed(step.id, err)

    async def _send(self, step: EmailStep | SmsStep, position: Position, hint: MirrorHint) -> None:
        variant = choose(self.params.enrollment_id, step.id, step.variants) if step.variants else None
        template = variant.template if variant else step.template
        assert template is not None
        channel = step.type
        result: TouchResult = await workflow.execute_activity(
            policies.SEND_EMAIL if channel == "email" else policies.SEND_SMS,
            TouchInput(
                enrollment_id=self.params.enrollment_id,
                cadence_version_id=self.params.cadence_version_id,
                contact_id=self.params.contact_id,
                step_id=step.id,
                step_index=position.step,
                occurrence=position.occurrence,
                round=position.round,
                channel=channel,
                template=template,
                variant=variant.id if variant else None,
                topic=step.topic,
                scheduled_at=self.s.due_at or workflow.now(),
                mirror=hint,
            ),
            result_type=TouchResult,
            summary=f"{channel} {step.id}",
            **(policies.EMAIL if channel == "email" else policies.SMS),
        )
        if self.s.status.terminal:
            return
        if result.status == "sent":
            self.s.counters.sent += 1
            self._advance()
        elif result.status == "skipped":
            self.s.counters.skipped += 1
            self._advance()
        elif result.status == "deferred":
            assert result.defer_until is not None
            self.s.counters.deferred += 1
            self.s.due_at = result.defer_until
            self.s.waiting_reason = result.reason or "deferred by the gate"
            self._upsert_visibility()
        else:
            outcome = Status.opted_out if result.reason_code in OPTED_OUT_CODES else Status.stopped
            self._end(outcome, result.reason or "stopped by the gate")

    async def _create_task(self, step: TaskStep, position: Position, hint: MirrorHint) -> None:
        spec = step.task
        result: TaskResult = await workflow.execute_activity(
            policies.CREATE_TASK,
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
                mirror=None if spec.wait_for_completion else hint,
            ),
            result_type=TaskResult,
            **policies.DATABASE,
        )
        if self.s.status.terminal:
            return
        if result.status == "stopped":
            self._end(Status.opted_out, result.reason or "stopped by the gate")
            return
        if result.status == "skipped":
            self.s.counters.skipped += 1
            self._advance()
            return
        self.s.counters.tasks += 1
        if spec.wait_for_completion and result.task_id is not None:
            now = workflow.now()
            self.s.task = PendingTask(
                task_id=result.task_id,
                step_id=step.id,
                created_at=now,
                sla_at=result.sla_at or (now + timedelta(hours=spec.sla_hours) if spec.sla_hours else None),
                on_overdue=spec.on_overdue,
            )
            self.s.due_at = None
            self.s.waiting_reason = f"waiting for the rep to complete the {step.type} task {spec.title!r}"
            self._upsert_visibility()
        else:
            self._advance()

    async def _step_failed(self, step_id: str, err: ActivityError) -> None:
        cause = err.cause
        kind = cause.type if isinstance(cause, ApplicationError) else type(cause).__name__
        message = cause.message if isinstance(cause, ApplicationError) else str(cause)
        if kind == policies.BOUNCED and not self.s.status.terminal:
            self._apply(self._decide("bounce"), "system")
            if self.s.status.terminal:
                return
        self.s.counters.failed += 1
        self._note("step_failed", reason=f"step {step_id} failed: {message}", details={"error_type": kind})
        if not self.s.status.terminal:
            self._advance()

    def _hint_after(self, position: Position) -> MirrorHint:
        planned = self._plan(after(self.definition, position), reference=workflow.now())
        return MirrorHint(
            next_step_index=planned.position.step if planned.position else None,
            next_due_at=planned.at,
            waiting_reason=self._waiting_for(planned.position),
        )

    def _waiting_for(self, position: Position | None) -> str:
        if position is None:
            return "no steps left"
        return describe_step(self.definition.steps[position.step], position)

    def _advance_unless_ended(self) -> None:
        if not self.s.status.terminal:
            self._advance()

    def _advance(self) -> None:
        """Move past the current step and schedule the next one from now."""
        position = self.s.position
        assert position is not None
        self._schedule(after(self.definition, position), reference=workflow.now())

    def _schedule(self, position: Position | None, *, reference: datetime) -> None:
        planned = self._plan(position, reference=reference)
        for skipped, reason in planned.skipped:
            self.s.counters.skipped += 1
            self._note("step_skipped", reason=reason, details={"step_id": self.definition.steps[skipped.step].id})
        self.s.position = planned.position
        self.s.due_at = planned.at
        self.s.waiting_reason = self._waiting_for(planned.position)
        if self.s.status == Status.paused and self.s.pause is not None and planned.at is not None:
            self.s.pause.remaining_seconds = max((planned.at - workflow.now()).total_seconds(), 0.0)
        self._upsert_visibility()

    def _plan(self, position: Position | None, *, reference: datetime) -> Planned:
        # Public-holiday tables are package data read through gettext, which the sandbox
        # forbids; the result depends only on the pinned package, so it stays deterministic.
        with workflow.unsafe.sandbox_unrestricted():
            return plan(self.definition, position, reference=reference, rhythm_start=self._rhythm_start(), calendar=self.calendar)

    def _decide(self, kind: EventKind, **kwargs: Any) -> Decision:
        with workflow.unsafe.sandbox_unrestricted():
            return decide(self.definition, kind, now=workflow.now(), calendar=self.calendar, **kwargs)

    def _rhythm_start(self) -> datetime:
        return self.s.rhythm_start or workflow.now()

    def _step_label(self) -> str:
        if self.s.position is None:
            return "done"
        step = self.definition.steps[self.s.position.step]
        return f"step {self.s.position.step + 1} {step.id} ({step.type})"

    # --- signals: the world speaks ---------------------------------------------------------

    def _first_time(self, event_id: str) -> bool:
        if event_id in self.s.seen_event_ids:
            return False
        self.s.seen_event_ids.append(event_id)
        del self.s.seen_event_ids[:-SEEN_EVENTS_KEPT]
        self.s.counters.events += 1
        return True

    def _event(self, kind: EventKind, event_id: str, **kwargs: Any) -> None:
        if not self._first_time(event_id):
            return
        if self.s.status.terminal:
            return
        decision = self._decide(kind, **kwargs)
        self._apply(decision, "contact", event_id=event_id, event=kind)

    @workflow.signal(name="reply")
    def reply(self, signal: ReplySignal) -> None:
        """The contact replied. Exits, switches or pauses per the cadence's reply branches."""
        self._event("reply", signal.event_id, intent=signal.intent, return_date=signal.return_date)

    @workflow.signal(name="meeting_booked")
    def meeting_booked(self, signal: ContactEventSignal) -> None:
        """A meeting was booked with the contact."""
        self._event("meeting_booked", signal.event_id)

    @workflow.signal(name="bounce")
    def bounce(self, signal: ContactEventSignal) -> None:
        """A message to the contact bounced."""
        self._event("bounce", signal.event_id)

    @workflow.signal(name="opt_out")
    def opt_out(self, signal: ContactEventSignal) -> None:
        """The contact opted out: always ends the enrollment, paused or not."""
        self._event("opt_out", signal.event_id)

    @workflow.signal(name="event")
    def named_event(self, signal: NamedEventSignal) -> None:
        """A named business event: ends the enrollment if an exit rule says so, or ends a
        wait_event step waiting for it."""
        if not self._first_time(signal.event_id) or self.s.status.terminal:
            return
        decision = self._decide("event", name=signal.name)
        if decision.action == "continue" and self.s.awaiting_event == signal.name and self.s.position is not None:
            self.s.awaiting_event = None
            self._note("event_arrived", actor="contact", reason=f"{signal.name} arrived", details={"event_id": signal.event_id})
            self._advance()
            self._wake = True
            return
        self._apply(decision, "contact", event_id=signal.event_id, event="event")

    @workflow.signal(name="task_completed")
    def task_completed(self, signal: TaskCompletedSignal) -> None:
        """The rep completed or skipped the pending task; the cadence moves on."""
        if not self._first_time(signal.event_id) or self.s.status.terminal:
            return
        task = self.s.task
        if task is None or task.task_id != signal.task_id:
            return
        self.s.task = None
        self._note(
            "task_skipped" if signal.skipped else "task_completed",
            actor="rep",
            reason=signal.outcome,
            details={"task_id": signal.task_id},
        )
        self._advance()
        self._wake = True

    def _apply(self, decision: Decision, actor: str, **details: Any) -> None:
        if decision.action == "exit":
            assert decision.outcome is not None
            self._end(decision.outcome, decision.reason, actor=actor, details=details)
        elif decision.action == "switch":
            self.s.switch_to = decision.switch_to
            self._end(Status.switched, decision.reason, actor=actor, details=details)
        elif decision.action == "pause":
            if self.s.status == Status.paused:
                self._note("event_recorded", actor=actor, reason=decision.reason + " (already paused)", details=details)
            else:
                self._pause(PauseRequest(actor="system", reason=decision.reason, until=decision.pause_until))
        else:
            self._note("event_recorded", actor=actor, reason=decision.reason, details=details)
        self._wake = True

    # --- updates: operators command --------------------------------------------------------

    def _must_be_open(self, verb: str) -> None:
        if self.s.status.terminal:
            raise _illegal(f"cannot {verb}: the enrollment has already ended ({self.s.status.value})")

    @workflow.update(name="pause")
    def pause(self, request: PauseRequest) -> StatusView:
        """Pause the enrollment (optionally until an instant). The remaining wait is kept."""
        self._pause(request)
        self._wake = True
        return self.status()

    @pause.validator
    def _validate_pause(self, request: PauseRequest) -> None:
        self._must_be_open("pause")
        if self.s.status == Status.paused and self.s.pause is not None:
            raise _illegal(f"already paused by {self.s.pause.actor}: {self.s.pause.reason}")
        if request.until is not None:
            if request.until.tzinfo is None:
                raise _illegal("'until' must carry a time zone")
            if request.until <= workflow.now():
                raise _illegal("'until' is in the past")

    @workflow.update(name="resume")
    def resume(self, request: ActorRequest) -> StatusView:
        """Resume a paused enrollment; the wait left at pause time is honoured."""
        self._resume(request.actor, request.reason or "resumed")
        self._wake = True
        return self.status()

    @resume.validator
    def _validate_resume(self, request: ActorRequest) -> None:
        self._must_be_open("resume")
        if self.s.status != Status.paused:
            raise _illegal(f"cannot resume: the enrollment is not paused (it is {self.s.status.value})")

    @workflow.update(name="stop")
    def stop(self, request: StopRequest) -> StatusView:
        """Stop the enrollment for good."""
        self._end(Status.stopped, request.reason, actor=request.actor)
        self._wake = True
        return self.status()

    @stop.validator
    def _validate_stop(self, request: StopRequest) -> None:
        self._must_be_open("stop")

    @workflow.update(name="skip_step")
    def skip_step(self, request: ActorRequest) -> StatusView:
        """Skip the step the enrollment is waiting for; the next one is scheduled from now."""
        position = self.s.position
        assert position is not None
        step = self.definition.steps[position.step]
        if self.s.task is not None:
            self._note("task_skipped", actor=request.actor, reason="the step was skipped", details={"task_id": self.s.task.task_id})
            self.s.task = None
        self.s.awaiting_event = None
        self.s.counters.skipped += 1
        self._note("step_skipped", actor=request.actor, reason=request.reason or "skipped by an operator", details={"step_id": step.id})
        self._advance()
        self._wake = True
        return self.status()

    @skip_step.validator
    def _validate_skip(self, request: ActorRequest) -> None:
        self._must_be_open("skip a step")
        if self.s.position is None:
            raise _illegal("cannot skip: there is no step left to skip")

    def _pause(self, request: PauseRequest) -> None:
        now = workflow.now()
        remaining = (self.s.due_at - now).total_seconds() if self.s.due_at else None
        self.s.pause = PauseInfo(
            actor=request.actor,
            reason=request.reason,
            at=now,
            until=request.until,
            remaining_seconds=max(remaining, 0.0) if remaining is not None else None,
        )
        self.s.status = Status.paused
        until = f" until {request.until:%Y-%m-%d %H:%M} UTC" if request.until else ""
        self.s.waiting_reason = f"paused by {request.actor}{until}: {request.reason}"
        self._note("paused", actor=request.actor, reason=request.reason, details={"until": request.until.isoformat() if request.until else None})
        self._upsert_visibility()

    def _resume(self, actor: str, reason: str) -> None:
        pause = self.s.pause
        now = workflow.now()
        self.s.status = Status.active
        self.s.pause = None
        if pause is not None and pause.remaining_seconds is not None and self.s.due_at is not None:
            self.s.due_at = now + timedelta(seconds=pause.remaining_seconds)
        if self.s.position is not None:
            self.s.waiting_reason = describe_step(self.definition.steps[self.s.position.step], self.s.position)
        self._note("resumed", actor=actor, reason=reason)
        self._upsert_visibility()

    def _end(self, outcome: Status, reason: str, *, actor: str = "system", details: dict[str, Any] | None = None) -> None:
        if self.s.status.terminal:
            return
        self.s.status = outcome
        self.s.outcome_reason = reason
        self.s.ended_at = workflow.now()
        self.s.pause = None
        self.s.due_at = None
        self.s.waiting_reason = f"ended: {reason}"
        self._note("ended", actor=actor, reason=reason, details={"outcome": outcome.value, **(details or {})})

    # --- query -----------------------------------------------------------------------------

    @workflow.query(name="status")
    def status(self) -> StatusView:
        """State, current step, next due time, why it waits, and counters."""
        position = self.s.position if not self.s.status.terminal else None
        step = self.definition.steps[position.step] if position is not None else None
        return StatusView(
            enrollment_id=self.params.enrollment_id,
            cadence_key=self.params.cadence_key,
            version_hash=self.params.version_hash,
            status=self.s.status,
            step_index=position.step if position else None,
            step_id=step.id if step else None,
            step_type=step.type if step else None,
            occurrence=position.occurrence if position else None,
            round=position.round if position else None,
            next_due_at=self.s.due_at if self.s.status == Status.active else None,
            waiting_reason=self.s.waiting_reason,
            pause=self.s.pause,
            task=self.s.task,
            counters=self.s.counters,
            outcome_reason=self.s.outcome_reason,
            ended_at=self.s.ended_at,
            runs=self.s.runs,
        )

    # --- bookkeeping -----------------------------------------------------------------------

    def _note(self, action: str, *, actor: str = "system", reason: str | None = None, details: dict[str, Any] | None = None) -> None:
        """Queue an audit entry and a mirror update; the main loop writes them (handlers can't)."""
        clean = {k: v for k, v in (details or {}).items() if v is None or isinstance(v, str | int | float | bool)}
        self._transitions.append(
            TransitionInput(
                enrollment_id=self.params.enrollment_id,
                contact_id=self.params.contact_id,
                action=action,
                at=workflow.now(),
                actor=actor,
                reason=reason,
                status=self.s.status,
                step_index=self.s.position.step if self.s.position else None,
                next_due_at=self.s.due_at,
                waiting_reason=self.s.waiting_reason,
                details=clean,
                ended=self.s.status.terminal,
            )
        )

    async def _flush_transitions(self) -> None:
        if self._transitions:
            batch, self._transitions = self._transitions, []
            await workflow.execute_activity(policies.RECORD_TRANSITION, TransitionBatch(items=batch), **policies.DATABASE)

    def _upsert_visibility(self) -> None:
        updates: list[SearchAttributeUpdate[Any]] = [
            visibility.ENROLLMENT_STATUS.value_set(self.s.status.value),
            visibility.STEP_INDEX.value_set(self.s.position.step if self.s.position else -1),
        ]
        if self.s.due_at is not None and self.s.status == Status.active:
            updates.append(visibility.NEXT_STEP_AT.value_set(self.s.due_at))
        else:
            updates.append(visibility.NEXT_STEP_AT.value_unset())
        current = workflow.info().typed_search_attributes
        changed = [u for u in updates if _differs(current, u)]
        if changed:
            workflow.upsert_search_attributes(changed)

    async def _finish(self) -> StatusView:
        self._upsert_visibility()
        await self._flush_transitions()
        if self.s.status == Status.switched and self.s.switch_to:
            await self._switch(self.s.switch_to)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.status()

    async def _switch(self, cadence_key: str) -> None:
        result: SwitchResult = await workflow.execute_activity(
            policies.SWITCH_CADENCE,
            SwitchInput(from_enrollment_id=self.params.enrollment_id, contact_id=self.params.contact_id, cadence_key=cadence_key),
            result_type=SwitchResult,
            **policies.DATABASE,
        )
        if result.enrollment_id is None:
            self._note("switch_skipped", reason=result.reason or "no enrollment started")
        else:
            already = "" if result.created else " (already enrolled there)"
            self._note("switched", reason=f"enrolled in {cadence_key}{already}", details={"new_enrollment_id": result.enrollment_id})
        await self._flush_transitions()


def _differs(current: TypedSearchAttributes, update: Any) -> bool:
    value = current.get(update.key)
    return bool(value != update.value)
