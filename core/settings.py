"""Settings from the environment and `.env` (every name is listed in `.env.example`)."""

from __future__ import annotations

import functools
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Secrets whose shipped defaults are public (they are in this repository): fine for
# `cadence dev`, never for a system that sends real mail and takes real webhooks.
DEV_SECRETS = {"link_secret": "dev-only-link-secret-change-me", "inbound_email_secret": "dev-only-inbound-secret-change-me"}


class Settings(BaseSettings):
    """Process configuration. Entry points (worker, API, CLI) build one and pass it down."""

    model_config = SettingsConfigDict(env_file=".env", env_ignore_empty=True, extra="ignore")

    database_url: str = Field(
        default="postgresql+psycopg://postgres@127.0.0.1:5432/cadence",
        description="Postgres URL (postgresql:// is accepted and rewritten for psycopg 3)",
    )
    migration_database_url: str | None = Field(
        default=None,
        description=(
            "Postgres URL of the role that owns the schema, for `cadence migrate` (default: DATABASE_URL). When its role "
            "differs from DATABASE_URL's, migrating also grants DATABASE_URL's role what the application needs and no more"
        ),
    )
    db_pool_size: int = Field(default=25, ge=1, le=200, description="Connections per process (plus as many overflow)")

    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    task_queue: str = "cadence"

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_timeout_seconds: float = Field(default=30.0, gt=0)

    mail_from_name: str = "Cadence"
    mail_from_address: str = "cadence@example.com"
    sender_company: str = "Example Co."
    sender_postal_address: str = "100 Main Street, Springfield, IL 62701, USA"
    message_id_domain: str = "cadence.example.com"
    unsubscribe_mailto: str | None = None
    email_lookup: Literal["none", "dev_outbox"] = Field(
        default="none",
        description=(
            "How a retry asks whether an earlier attempt's email was accepted: 'dev_outbox' searches the dev SMTP sink's "
            "table by Message-ID; 'none' cannot tell (plain SMTP relays)"
        ),
    )
    unclear_email: Literal["hold", "resend"] = Field(
        default="hold",
        description=(
            "When a retry cannot tell whether an email went out: 'hold' marks the touch unclear for an operator "
            "(never sends twice), 'resend' sends it again with the same Message-ID"
        ),
    )
    meeting_url: str | None = Field(default=None, description="Booking page for owners without one of their own (else a mailto: link)")

    public_base_url: str = "http://127.0.0.1:8000"
    link_secret: str = Field(default=DEV_SECRETS["link_secret"], min_length=16)
    report_refresh_seconds: float = Field(
        default=5,
        ge=0,
        description="How often the API brings the report rollups up to date in the background (0: only when a report is read)",
    )
    track_opens: bool = Field(default=True, description="Add an open-tracking pixel to emails")
    track_opens_regulated: bool = Field(
        default=False, description="Also track opens of contacts in regulated industries (off: no pixel for them)"
    )
    track_clicks: bool = Field(default=True, description="Rewrite email links to signed click redirects")
    tracking_token_days: int = Field(
        default=365, ge=1, description="After this many days a tracking link still forwards but records nothing"
    )
    inbound_email_secret: str = Field(
        default=DEV_SECRETS["inbound_email_secret"], min_length=16, description="HMAC key of the inbound email webhook"
    )

    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_from_number: str | None = None
    twilio_messaging_service_sid: str | None = None
    twilio_api_base: str | None = Field(default=None, description="Send Twilio REST calls here (tests, local fakes)")
    sms_outbox: bool = Field(default=False, description="Record texts to the dev outbox instead of Twilio")

    worker_max_concurrent_activities: int = Field(default=50, ge=1)
    worker_max_cached_workflows: int = Field(default=1000, ge=0)
    worker_shutdown_grace_seconds: float = Field(default=30.0, ge=0)
    worker_metrics_address: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9.\-]*:[0-9]{1,5}$",
        description="host:port where the worker serves GET /metrics (its own series and the Temporal SDK's); unset: off",
    )

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    dev_mode: bool = False
    max_body_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    rate_limit_per_key: int = Field(default=600, ge=1, description="Requests per minute one API key may make (bursts up to as many)")
    rate_limit_per_address: int = Field(default=1200, ge=1, description="Requests per minute from one client address, whatever the key")
    rate_limit_webhooks: int = Field(default=6000, ge=1, description="Provider webhook requests per minute from one sending address")
    bulk_starts_per_second: float = Field(default=20.0, gt=0)

    policy_file: str | None = Field(default=None, description="Contact policy file (default: playbooks/policy.yaml)")
    rules_file: str | None = Field(default=None, description="Event rules file (default: playbooks/rules.yaml)")
    scoring_file: str | None = Field(default=None, description="Lead-scoring file (default: playbooks/scoring.yaml)")

    log_level: str = "INFO"

    @field_validator("database_url", "migration_database_url")
    @classmethod
    def _psycopg(cls, value: str | None) -> str | None:
        if value is None:
            return None
        for prefix in ("postgres://", "postgresql://"):
            if value.startswith(prefix):
                return "postgresql+psycopg://" + value[len(prefix) :]
        return value

    def require_real_secrets(self) -> None:
        """Refuse to run outside dev mode with a secret left at its public default (anyone
        could forge unsubscribe links, console sessions or inbound email events)."""
        if self.dev_mode:
            return
        left = [name.upper() for name, default in DEV_SECRETS.items() if getattr(self, name) == default]
        if left:
            raise InsecureSettings(
                f"{' and '.join(left)} {'is' if len(left) == 1 else 'are'} still the development default; set a secret of your own (or DEV_MODE=true for local use)"
            )

    @property
    def twilio_enabled(self) -> bool:
        """Whether texts go to Twilio (credentials set and the dev outbox not forced)."""
        return bool(self.twilio_account_sid and self.twilio_auth_token) and not self.sms_outbox


class InsecureSettings(RuntimeError):
    """A setting that must be changed before the system may run for real."""


@functools.cache
def get_settings() -> Settings:
    """The process settings, read once."""
    return Settings()
