"""Input and output shapes for contacts and accounts, shared by the API, the CLI and the client.

Validation happens here, once: a bad email, phone number, time zone or country is refused
with an error naming the field before anything is written.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Literal

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cadence.contact_rules import check_timezone

CHANNELS = ("email", "sms", "call", "linkedin")
PERSONAS = ("executive", "practitioner", "procurement")
TIERS = ("enterprise", "mid_market", "smb", "tech_touch")
FREQUENCIES = ("normal", "reduced", "minimal")


def normalize_phone(value: str, country: str | None = None) -> str:
    """E.164 form of a phone number; raises ValueError for anything that is not one."""
    try:
        parsed = phonenumbers.parse(value, country or None)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"{value!r} is not a phone number ({exc})") from None
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError(f"{value!r} is not a valid phone number; use E.164 such as +14155552671")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(value: str) -> str:
    """The normalised address; raises ValueError for anything that is not an email address."""
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(f"{value!r} is not a valid email address: {exc}") from None


def check_country(value: str) -> str:
    """An ISO 3166-1 alpha-2 country code, upper-cased."""
    code = value.strip().upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"{value!r} is not an ISO 3166 country code (such as US, GB, DE)")
    return code


# Mappings merged into what is stored: null means "leave it as it is", like leaving it out.
MERGED_MAPPINGS = ("consent", "preferences", "dates", "fields")


def _null_mappings_unset(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: v for k, v in data.items() if not (k in MERGED_MAPPINGS and v is None)}
    return data


class FieldError(ValueError):
    """A value the database layer refused, with the field it belongs to."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class ConsentRecord(BaseModel):
    """Recorded consent for one channel: when, how, and whether it was revoked."""

    model_config = ConfigDict(extra="forbid")
    granted: bool = True
    at: dt.datetime | None = None
    source: str | None = Field(default=None, max_length=200)
    revoked_at: dt.datetime | None = None


class Preferences(BaseModel):
    """The contact's own choices (the preference centre): channels, frequency, topics."""

    model_config = ConfigDict(extra="forbid")
    channels: list[Literal["email", "sms", "call", "linkedin"]] | None = None
    frequency: Literal["normal", "reduced", "minimal"] = "normal"
    topics_opted_out: list[str] = Field(default_factory=list)


class ContactIn(BaseModel):
    """Create or update a contact by `external_id` (your system's id for the person)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    external_id: str = Field(min_length=1, max_length=200)
    account_external_id: str | None = Field(default=None, max_length=200)
    account_name: str | None = Field(default=None, max_length=300)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=40)
    first_name: str | None = Field(default=None, max_length=200)
    last_name: str | None = Field(default=None, max_length=200)
    title: str | None = Field(default=None, max_length=200)
    timezone: str | None = Field(default=None, max_length=64)
    country: str | None = Field(default=None, max_length=2)
    region: str | None = Field(default=None, max_length=10)
    persona: Literal["executive", "practitioner", "procurement"] | None = None
    industry: str | None = Field(default=None, max_length=100)
    tier: Literal["enterprise", "mid_market", "smb", "tech_touch"] | None = None
    owner_id: str | None = Field(default=None, max_length=100)
    consent: dict[Literal["email", "sms", "call", "linkedin"], ConsentRecord] | None = None
    preferences: Preferences | None = None
    dates: dict[str, dt.date] | None = None
    fields: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _null_mappings(cls, data: Any) -> Any:
        return _null_mappings_unset(data)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        return normalize_email(value) if value else None

    @field_validator("country")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        return check_country(value) if value else None

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str | None) -> str | None:
        return check_timezone(value) if value else None

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        # Without a country, only +E.164 numbers parse; the country-aware pass happens in
        # `normalized()` so a national number with a country also works.
        if not value:
            return None
        if not value.startswith("+"):
            return value
        return normalize_phone(value)

    @field_validator("dates")
    @classmethod
    def _date_names(cls, value: dict[str, dt.date] | None) -> dict[str, dt.date] | None:
        for name in value or {}:
            if not re.fullmatch(r"[a-z][a-z0-9_]{0,62}", name):
                raise ValueError(f"date field name {name!r} must be lower_snake_case")
        return value

    def normalized_phone(self) -> str | None:
        """The phone in E.164, using the contact's country for national numbers."""
        if not self.phone:
            return None
        return normalize_phone(self.phone, self.country)


class AccountIn(BaseModel):
    """Create or update an account (a company) by `external_id`."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    external_id: str = Field(min_length=1, max_length=200)
    name: str = Field(min_length=1, max_length=300)
    domain: str | None = Field(default=None, max_length=300)
    industry: str | None = Field(default=None, max_length=100)
    tier: Literal["enterprise", "mid_market", "smb", "tech_touch"] | None = None
    owner_id: str | None = Field(default=None, max_length=100)
    dates: dict[str, dt.date] | None = None
    fields: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _null_mappings(cls, data: Any) -> Any:
        return _null_mappings_unset(data)


class ContactOut(BaseModel):
    """A contact as the API returns it."""

    id: str
    external_id: str
    account_id: str | None
    email: str | None
    phone: str | None
    first_name: str | None
    last_name: str | None
    title: str | None
    timezone: str | None
    country: str | None
    region: str | None
    persona: str | None
    industry: str | None
    tier: str | None
    owner_id: str | None
    consent: dict[str, Any]
    preferences: dict[str, Any]
    dates: dict[str, Any]
    fields: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime
