"""Activity names, timeouts and retry policies used by the enrollment workflow.

Every activity has a start-to-close timeout (one attempt) and a schedule-to-close timeout
(all attempts), because Temporal's default retry policy retries forever. Permanent errors
are raised by activities as non-retryable ApplicationErrors of the types listed here.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.common import RetryPolicy

SEND_EMAIL = "send_email"
SEND_SMS = "send_sms"
CREATE_TASK = "create_task"
CRM_UPDATE = "crm_update"
RECORD_TRANSITION = "record_transition"
SWITCH_CADENCE = "switch_cadence"
ESCALATE_TASK = "escalate_task"

ALL_ACTIVITIES = (SEND_EMAIL, SEND_SMS, CREATE_TASK, CRM_UPDATE, RECORD_TRANSITION, SWITCH_CADENCE, ESCALATE_TASK)

# Error types raised by activities that must never be retried.
BOUNCED = "Bounced"
SEND_REJECTED = "SendRejected"
TEMPLATE_ERROR = "TemplateError"
INVALID_INPUT = "InvalidInput"
PERMANENT = [BOUNCED, SEND_REJECTED, TEMPLATE_ERROR, INVALID_INPUT]

# Email: SMTP 4xx and dropped connections are retried for up to 6 hours, 5xx never.
EMAIL: dict[str, Any] = {
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
SMS: dict[str, Any] = {
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
DATABASE: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=30),
    "schedule_to_close_timeout": timedelta(hours=1),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(minutes=1),
        non_retryable_error_types=PERMANENT,
    ),
}

# CRM updates may call an outside webhook, which gets a longer attempt.
CRM: dict[str, Any] = {**DATABASE, "start_to_close_timeout": timedelta(seconds=60)}
