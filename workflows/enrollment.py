"""EnrollmentWorkflow: one contact in one cadence, for as long as the cadence lasts.

The workflow sleeps on a durable timer until the next step is due, runs the step through an
activity, and lets `cadence.machine` decide what comes next. Replies, opt-outs, bounces,
meetings, named events and changed dates arrive as signals and are applied at once, even
while paused.
Operators pause, resume, stop and skip through updates whose validators reject illegal
transitions before anything reaches history. Orchestration only: the rules live in
`cadence/`, every side effect is an activity (`workflows.calls`).
"""

from __future__ import annotations

import datetime as dt
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from cadence import events
    from cadence.machine import EnrollmentMachine, IllegalTransition
    from cadence.machine_core import ENDS_WITH_ITS_LAST_STEP
    from cadence.migration import Landing
    from cadence.rules import Status
    from cadence.state import Detail, Mirror, PendingTask
    from models.payloads import (
        ENGINE_REVISION,
        WORKFLOW_TYPE,
        ActorRequest,
        ContactEventSignal,
        DatesChangedSignal,
        EnrollmentInput,
        MigrateRequest,
        MigrateResult,
        NamedEventSignal,
        PauseRequest,
        ReplySignal,
        StatusView,
        StopRequest,
        TaskCompletedSignal,
        TransitionBatch,
    )
    from workflows import calls, inputs, visibility
    from workflows.steps import Steps

# Mirror writes made only so the row says what the workflow waits for (new in this version).
MIRROR_WHEN_WAITING = "mirror-when-waiting"
# How far a migration's due time may be from its preview's and still be what was previewed:
# the preview reads when a wait began from the status mirror, which is written to the second
# only at transitions (a step's own write uses the moment the step started).
MIGRATION_TOLERANCE = timedelta(minutes=5)


# Migrations applied are remembered (by operation) so a repeated update changes nothing.
SEEN_MIGRATIONS = 50


def _illegal(err: IllegalTransition) -> ApplicationError:
    return ApplicationError(err.message, {"code": err.code}, type="IllegalTransition", non_retryable=True)


@workflow.defn(name=WORKFLOW_TYPE)
class EnrollmentWorkflow:
    """Runs one enrollment: timers between steps, signals from the world, operator updates."""

    @workflow.init
    def __init__(self, input: EnrollmentInput) -> None:
        self.params = input.params
        self.definition = input.params.definition
        self.m = EnrollmentMachine(
            self.definition, input.params.calendar.calendar(), input.state, pure=workflow.unsafe.sandbox_unrestricted, applies=self._applies
        )
        self.steps = Steps(self.params, self.m, self._do)
        self._fresh = input.state is None
        # The starter wrote the first step on the row and in the search attributes.
        self._opening: Mirror | None = input.mirrored if self._fresh else None
        self._wake = False
        # While a step runs, where the enrollment goes next is the step's outcome to decide:
        # changed dates arriving meanwhile are applied once it is known.
        self._stepping = False
        self._dates_held: list[DatesChangedSignal] = []
        # The enrollments row learns the version at the next write after a migration.
        self._version_unmirrored = False

    # --- main loop -------------------------------------------------------------------------

    @workflow.run
    async def run(self, input: EnrollmentInput) -> StatusView:
        """Drive the enrollment to its end; returns the final status."""
        if self._fresh:
            self._do(self._begin)
            held = self.params.start_paused
            if held is not None:
                self._do(lambda now: self.m.pause(held.actor, held.reason, held.until, now, held.cause))
        self._upsert_visibility()
        s = self.m.state
        while not s.status.terminal:
            await self._flush()
            if s.status.terminal:
                break
            if self.m.will_wait(workflow.now()) and await self._mirror_before_waiting():
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
                await self._wait(self.m.due_in(workflow.now()), inputs.step_label(self.m))
            else:
                await self._run_step()
                if not s.status.terminal and self._should_continue_as_new():
                    await workflow.wait_condition(workflow.all_handlers_finished)
                    await self._flush()
                    if not s.status.terminal:
                        s.runs += 1
                        # The next run is a new history: it follows the newest engine revision.
                        params = self.params.model_copy(update={"revision": ENGINE_REVISION})
                        workflow.continue_as_new(EnrollmentInput(params=params, state=s))
        return await self._finish()

    def _begin(self, now: dt.datetime) -> None:
        """Plan the first step; where the starter planned it a moment ago (on the row and in
        the search attributes already), take its plan so nothing needs writing again."""
        self.m.start(now, self.params.start_at)
        if self._opening is not None and self.m.adopt(self._opening):
            self.m.state.mirrored = self._opening

    def _applies(self, rule: str) -> bool:
        """Whether a rule newer than some recorded histories applies to this run."""
        if rule == ENDS_WITH_ITS_LAST_STEP:
            return self.params.revision >= 2
        return workflow.patched(rule)

    async def _run_step(self) -> None:
        self._stepping = True
        try:
            await self.steps.run()
        finally:
            self._stepping = False
        held, self._dates_held = self._dates_held, []
        for signal in held:
            self._apply_dates(signal)

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
            await self.steps.escalate(task)
        elif not await self._wait(timeout, "task SLA") and self.m.state.task is task and not self.m.status.terminal:
            await self.steps.escalate(task)

    def _should_continue_as_new(self) -> bool:
        info = workflow.info()
        return info.is_continue_as_new_suggested() or info.get_current_history_length() > self.params.history_cap

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

    @workflow.signal(name=events.DATES_CHANGED_SIGNAL)
    def dates_changed(self, signal: DatesChangedSignal) -> None:
        """The contact's date fields changed: the anchored steps still to come follow them."""
        if self._stepping:
            self._dates_held.append(signal)
        else:
            self._apply_dates(signal)

    def _apply_dates(self, signal: DatesChangedSignal) -> None:
        self._react(lambda now: self.m.dates_changed(signal.dates, signal.as_of, now))

    # --- updates: operators command --------------------------------------------------------

    @workflow.update(name="pause")
    def pause(self, request: PauseRequest) -> StatusView:
        """Pause the enrollment (optionally until an instant). The remaining wait is kept."""
        return self._command(lambda now: self.m.pause(request.actor, request.reason, request.until, now, request.cause))

    @pause.validator
    def _validate_pause(self, request: PauseRequest) -> None:
        self._check(lambda: self.m.check_pause(request.until, workflow.now()))

    @workflow.update(name="resume")
    def resume(self, request: ActorRequest) -> StatusView:
        """Resume a paused enrollment; the wait left at pause time is honoured."""
        return self._command(lambda now: self.m.resume(request.actor, request.reason, now))

    @resume.validator
    def _validate_resume(self, request: ActorRequest) -> None:
        self._check(lambda: self.m.check_resume(request.only_cause))

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

    @workflow.update(name="migrate")
    async def migrate(self, request: MigrateRequest) -> MigrateResult:
        """Move to another version of the cadence, as the migration's preview said: same id,
        history and counters; the timeline shows the move. A step in progress finishes
        first (its outcome decides where the enrollment stands), then the landing is
        checked again: if the enrollment moved on meanwhile, the update fails and nothing
        changes."""
        if request.operation_id in self.m.state.migrations:
            return MigrateResult(applied=False, status=self.status())
        await workflow.wait_condition(lambda: not self._stepping)
        landing = self._check_migration(request)
        if request.operation_id in self.m.state.migrations:  # a twin applied it while this one waited
            return MigrateResult(applied=False, status=self.status())
        summary: dict[str, Detail] = {
            "operation_id": request.operation_id,
            "from_version": request.from_version,
            "to_version": request.to_version,
            "from_version_id": request.from_version_id,
            "to_version_id": request.to_version_id,
        }
        spread = timedelta(seconds=request.spread_seconds)
        self._do(
            lambda now: self.m.migrate(
                request.definition, landing, actor=request.actor, reason=request.reason, summary=summary, now=now, spread=spread
            )
        )
        self.m.state.migrations = [*self.m.state.migrations, request.operation_id][-SEEN_MIGRATIONS:]
        self.params = self.params.model_copy(
            update={"definition": request.definition, "cadence_version_id": request.to_version_id, "version_hash": request.to_version_hash}
        )
        self.definition = request.definition
        self.steps.params = self.params
        self._version_unmirrored = True
        self._wake = True
        return MigrateResult(applied=True, landing=landing, status=self.status())

    @migrate.validator
    def _validate_migrate(self, request: MigrateRequest) -> None:
        if request.operation_id not in self.m.state.migrations:
            self._check_migration(request)

    def _check_migration(self, request: MigrateRequest) -> Landing:
        """The landing the request would get now, or IllegalTransition (as an update failure)."""
        if self.m.status.terminal:
            raise _illegal(IllegalTransition(f"the enrollment has already ended ({self.m.status.value})", "ended"))
        if self.params.cadence_version_id != request.from_version_id:
            raise _illegal(IllegalTransition("changed since the preview: it runs another version now", "stale"))
        if self.m.state.position is None:
            raise _illegal(IllegalTransition("changed since the preview: it has no step left", "stale"))
        landing = self.m.landing(request.definition, workflow.now(), request.planned_from)
        expected = request.expected
        if expected is not None and not landing.agrees_with(expected, MIGRATION_TOLERANCE):
            raise _illegal(IllegalTransition(f"changed since the preview: it would now land as follows: {landing.sentence}", "stale"))
        return landing

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
        return inputs.status_view(self.params, self.definition, self.m.state)

    @workflow.query(name="snapshot")
    def snapshot(self) -> EnrollmentInput:
        """The parameters and the whole state, as a continue-as-new would carry them: what a
        preview of the rest of the enrollment starts from."""
        return EnrollmentInput(params=self.params, state=self.m.state)

    # --- bookkeeping -----------------------------------------------------------------------

    def _do(self, transition: Any) -> Any:
        """Run a machine transition at the workflow's now; upsert search attributes where
        it says they may have changed (in the same place in the command sequence)."""
        result = transition(workflow.now())
        if self.m.take_visibility_change():
            self._upsert_visibility()
        return result

    async def _flush(self, mirror_only: bool = False) -> None:
        """Write queued audit records with the current mirror (handlers cannot run
        activities); `mirror_only` writes the mirror even with no record queued."""
        records = self.m.take_records()
        if not records and not mirror_only:
            return
        mirror = self.m.mirror()
        batch = TransitionBatch(
            items=inputs.transitions(self.params, records),
            enrollment_id=self.params.enrollment_id,
            mirror=mirror,
            cadence_version_id=self.params.cadence_version_id if self._version_unmirrored else None,
        )
        if self.params.revision >= 2:
            await workflow.execute_local_activity(calls.record_transition, batch, **calls.RECORD)
        else:
            await workflow.execute_activity(calls.record_transition, batch, **calls.DATABASE)
        self.m.state.mirrored = mirror
        self._version_unmirrored = False

    async def _mirror_before_waiting(self) -> bool:
        """Before waiting, make sure the mirror row says what the workflow waits for: the
        first step after a start, or a plan that moved while a step was retried. True if
        it had to write the row."""
        if self.m.mirror().agrees_with(self.m.state.mirrored) or not workflow.patched(MIRROR_WHEN_WAITING):
            return False
        await self._flush(mirror_only=True)
        return True

    def _upsert_visibility(self) -> None:
        changed = visibility.changes(self.m.state, workflow.info().typed_search_attributes)
        if changed:
            workflow.upsert_search_attributes(changed)

    async def _finish(self) -> StatusView:
        self._upsert_visibility()
        await self._flush()
        if self.m.status == Status.switched and self.m.state.switch_to:
            await self.steps.switch(self.m.state.switch_to)
            await self._flush()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.status()
