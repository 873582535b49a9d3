"""The activities the workflows call: typed declarations, timeouts and retry policies.

Workflow code imports nothing that does I/O, so it cannot import the activity classes.
It calls these declarations instead: the same names, inputs and results as the real
activities, which the worker registers (tests/unit/test_activity_contracts.py checks that
every implementation matches its declaration). A call therefore type-checks its input and
its result, and no activity name is ever a bare string in workflow code.

Every activity has a start-to-close timeout (one attempt) and a schedule-to-close timeout
(all attempts), because Temporal's default retry policy retries forever. Permanent errors
are raised by activities as non-retryable ApplicationErrors of the types listed here.
"""

from __future__ import annotations

from datetime import timedelta
from typing import NoReturn, TypedDict

from temporalio import activity
from temporalio.common import RetryPolicy

from models.payloads import (
    ArchiveInput,
    ArchiveResult,
    CrmInput,
    CrmResult,
    OperationBatch,
    OperationProgress,
    SwitchInput,
    SwitchResult,
    TaskInput,
    TaskOverdueInput,
    TaskOverdueResult,
    TaskResult,
    TouchInput,
    TouchResult,
    TransitionBatch,
)

# Error types raised by activities that must never be retried.
BOUNCED = "Bounced"
SEND_REJECTED = "SendRejected"
TEMPLATE_ERROR = "TemplateError"
INVALID_INPUT = "InvalidInput"
PERMANENT = [BOUNCED, SEND_REJECTED, TEMPLATE_ERROR, INVALID_INPUT]


def _declared() -> NoReturn:
    raise NotImplementedError("a declaration: the worker registers the implementation under this name")


@activity.defn(name="send_email")
def send_email(touch: TouchInput) -> TouchResult:
    """Claim, gate, render and send one email of a step, at most once per touch key."""
    _declared()


@activity.defn(name="send_sms")
def send_sms(touch: TouchInput) -> TouchResult:
    """Claim, gate, render and send one text of a step, at most once per touch key."""
    _declared()


@activity.defn(name="create_task")
def create_task(task: TaskInput) -> TaskResult:
    """Create the rep task of a call, LinkedIn or manual step (once per step key)."""
    _declared()


@activity.defn(name="escalate_task")
def escalate_task(task: TaskOverdueInput) -> TaskOverdueResult:
    """Mark a task overdue and hand it to the owner's manager."""
    _declared()


@activity.defn(name="crm_update")
def crm_update(update: CrmInput) -> CrmResult:
    """Write a CRM step's fields on the contact and notify its webhook."""
    _declared()


@activity.defn(name="record_transition")
def record_transition(batch: TransitionBatch) -> None:
    """Append transitions to the audit log and bring the status mirror up to date."""
    _declared()


@activity.defn(name="switch_cadence")
def switch_cadence(switch: SwitchInput) -> SwitchResult:
    """Enroll the contact in the follow-up cadence (idempotently)."""
    _declared()


@activity.defn(name="archive_histories")
def archive_histories(request: ArchiveInput) -> ArchiveResult:
    """Store the histories of closed enrollment runs in Postgres."""
    _declared()


@activity.defn(name="apply_operation_batch")
def apply_operation_batch(batch: OperationBatch) -> OperationProgress:
    """Apply the next pending items of a bulk operation, at its rate; record each result."""
    _declared()


DECLARED = (
    send_email,
    send_sms,
    create_task,
    escalate_task,
    crm_update,
    record_transition,
    switch_cadence,
    archive_histories,
    apply_operation_batch,
)


class Options(TypedDict, total=False):
    """How long one attempt and all attempts may take, and how attempts are retried."""

    start_to_close_timeout: timedelta
    schedule_to_close_timeout: timedelta
    heartbeat_timeout: timedelta
    retry_policy: RetryPolicy


# Email: SMTP 4xx and dropped connections are retried for up to 6 hours, 5xx never.
EMAIL: Options = {
    "start_to_close_timeout": timedelta(seconds=60),
    "schedule_to_close_timeout": timedelta(hours=6),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(seconds=10),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(minutes=10),
        non_retryable_error_types=PERMANENT,
    ),
}

# SMS: Twilio 429 is retried with backoff; a text more than 2 hours late is not worth sending.
SMS: Options = {
    "start_to_close_timeout": timedelta(seconds=30),
    "schedule_to_close_timeout": timedelta(hours=2),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(seconds=5),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(minutes=5),
        non_retryable_error_types=PERMANENT,
    ),
}

# Postgres writes (tasks, CRM fields, the mirror, the audit log): short attempts, retried for an hour.
DATABASE: Options = {
    "start_to_close_timeout": timedelta(seconds=30),
    "schedule_to_close_timeout": timedelta(hours=1),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(minutes=1),
        non_retryable_error_types=PERMANENT,
    ),
}


class LocalOptions(TypedDict, total=False):
    """How long a local activity (run by the worker inside the workflow task) may take, and
    how it is retried: up to `local_retry_threshold` by the worker itself, after that on a
    durable timer."""

    start_to_close_timeout: timedelta
    schedule_to_close_timeout: timedelta
    local_retry_threshold: timedelta
    retry_policy: RetryPolicy


# The audit records and the status mirror of a transition (record_transition): a short
# Postgres write, run as a local activity so it costs no activity task and no extra
# workflow task (the dev server records one marker). Attempts of 10 s, retried with the
# same backoff as DATABASE for an hour; past a minute of failures the retries wait on
# durable timers, so a Postgres outage holds the enrollment without a busy workflow task.
RECORD: LocalOptions = {
    "start_to_close_timeout": timedelta(seconds=10),
    "schedule_to_close_timeout": timedelta(hours=1),
    "local_retry_threshold": timedelta(minutes=1),
    "retry_policy": DATABASE["retry_policy"],
}

# CRM updates may call an outside webhook, which gets a longer attempt.
CRM: Options = {**DATABASE, "start_to_close_timeout": timedelta(seconds=60)}

# Archiving lists and copies many histories: long attempts that heartbeat, retried without end
# (the archiver runs for as long as the namespace does).
ARCHIVE: Options = {
    "start_to_close_timeout": timedelta(minutes=10),
    "heartbeat_timeout": timedelta(minutes=2),
    "retry_policy": RetryPolicy(initial_interval=timedelta(seconds=5), maximum_interval=timedelta(minutes=5)),
}

# A batch of a bulk operation: each item is recorded as soon as it is applied, so a retried
# batch (after a worker crash) carries on with what is still pending; updates are idempotent
# per operation, so an item applied just before the crash is not applied twice. Heartbeats
# (after every item, and while waiting for the next one's turn) show a crashed worker's
# attempt within 20 s. Retried without end: an operation runs to its end.
OPERATION: Options = {
    "start_to_close_timeout": timedelta(minutes=15),
    "heartbeat_timeout": timedelta(seconds=20),
    "retry_policy": RetryPolicy(initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=1)),
}
