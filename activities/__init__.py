"""Activities: thin adapters from the workflows to Postgres, SMTP, Twilio and webhooks.

Each class takes its clients in its constructor (tests pass real local servers); the
channel clients below are built from settings. `worker.build_activities` wires them all.
"""

from __future__ import annotations

from sqlalchemy import Engine

from activities.channels import OutboxSmsSender, SmsSender, SmtpConfig, SmtpMailer, TwilioSmsSender
from core.settings import Settings


def sms_sender(settings: Settings, engine: Engine) -> SmsSender:
    """Twilio when credentials are set; otherwise the dev outbox (texts are recorded, not sent)."""
    if settings.twilio_enabled:
        from activities.twilio_http import make_client

        assert settings.twilio_account_sid and settings.twilio_auth_token
        client = make_client(settings.twilio_account_sid, settings.twilio_auth_token, api_base=settings.twilio_api_base)
        return TwilioSmsSender(client, from_number=settings.twilio_from_number, messaging_service_sid=settings.twilio_messaging_service_sid)
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
