"""Activities: thin adapters from the workflow to Postgres, SMTP, Twilio and webhooks.

`build_activities` wires the real clients from settings; tests pass their own clients to
the activity classes directly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import Engine
from temporalio.client import Client

from activities.archive import ArchiveActivities
from activities.channels import OutboxSmsSender, SmsSender, SmtpConfig, SmtpMailer, TwilioSmsSender
from activities.enrollments import EnrollmentActivities
from activities.touches import TouchActivities
from activities.work import WorkActivities
from cadence.policy import PolicyConfig
from core.settings import Settings
from models.catalog import load_policy, load_rules
from starter.client import CadenceClient


def sms_sender(settings: Settings, engine: Engine) -> SmsSender:
    """Twilio when credentials are set; otherwise the dev outbox (texts are recorded, not sent)."""
    if settings.twilio_enabled:
        from activities.twilio_http import make_client

        assert settings.twilio_account_sid and settings.twilio_auth_token
        client = make_client(settings.twilio_account_sid, settings.twilio_auth_token, api_base=settings.twilio_api_base)
        return TwilioSmsSender(
            client, from_number=settings.twilio_from_number, messaging_service_sid=settings.twilio_messaging_service_sid
        )
    return OutboxSmsSender(engine, settings.twilio_from_number)


def mailer(settings: Settings) -> SmtpMailer:
    """The SMTP client described by settings."""
    return SmtpMailer(
        SmtpConfig(
            host=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password,
            starttls=settings.smtp_starttls,
            timeout=settings.smtp_timeout_seconds,
        )
    )


def build_activities(
    engine: Engine,
    settings: Settings,
    *,
    mail: SmtpMailer | None = None,
    sms: SmsSender | None = None,
    http: httpx.Client | None = None,
    temporal: Client | None = None,
    policy: PolicyConfig | None = None,
) -> list[Callable[..., Any]]:
    """Every activity the enrollment workflow calls, bound to its clients.

    `temporal` lets the switch activity enroll the contact in a follow-up cadence.
    """
    policy = policy or load_policy(settings.policy_file)
    touches = TouchActivities(engine, settings, mail or mailer(settings), sms or sms_sender(settings, engine), policy)
    work = WorkActivities(engine, http or httpx.Client(timeout=30.0), policy)
    starter = (
        CadenceClient(temporal, engine, task_queue=settings.task_queue, policy=policy, rules=load_rules(settings.rules_file))
        if temporal is not None
        else None
    )
    async def enroller(cadence_key: str, contact_id: str, *, actor: str) -> Any:
        from models.payloads import SwitchResult
        from starter.errors import Conflict, NotFound

        assert starter is not None
        try:
            info = await starter.enroll(cadence_key, contact_id, actor=actor)
        except (NotFound, Conflict) as err:
            return SwitchResult(reason=err.message)
        return SwitchResult(enrollment_id=info.id, workflow_id=info.workflow_id, created=info.created)

    enrollments = EnrollmentActivities(engine, enroller if starter is not None else None)
    archive = [ArchiveActivities(engine, temporal).archive_histories] if temporal is not None else []
    return [
        *archive,
        touches.send_email,
        touches.send_sms,
        work.create_task,
        work.escalate_task,
        work.crm_update,
        enrollments.record_transition,
        enrollments.switch_cadence,
    ]
