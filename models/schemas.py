"""Input and output shapes for contacts and accounts, shared by the API, the CLI and the client.

Validation happens here, once: a bad email, phone number, time zone or country is refused
with an error naming the field before anything is written.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, field_validator, model_validator

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


def _not_a_number(value: Any) -> Any:
    # Lax parsing would read 0 as 1970-01-01: an instant must be written as one.
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError("must be an ISO 8601 date and time with a time zone, e.g. 2026-12-01T09:00:00Z")
    return value


# A moment in time as the API accepts it: ISO 8601 text, never a bare number.
Instant = Annotated[dt.datetime, BeforeValidator(_not_a_number)]


def _blank_is_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


# An owner reference: a blank one means "no owner" (a CSV column left empty, a form field).
OwnerRef = Annotated[Annotated[str, Field(max_length=100)] | None, BeforeValidator(_blank_is_none)]

# Blank by any reckoning: Python's whitespace (which str_strip_whitespace removes), JSON
# Schema's \s, and NUL; a required name or id must hold at least one other character, and
# the OpenAPI document then says exactly what the API accepts.
_BLANK = "\\t\\n\\v\\f\\r \\u0000\\u001c-\\u001f\\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff"
NOT_BLANK = f"^[^\\u0000]*[^{_BLANK}][^\\u0000]*$"


def required_text(max_length: int, **kw: Any) -> Any:
    """A required text field that may not be blank (nor hold a NUL)."""
    return Field(min_length=1, max_length=max_length, pattern=NOT_BLANK, **kw)


# A date field's name (`renewal_date`): cadences anchor to it by this name, so it is the
# same lower_snake_case as a step id; the OpenAPI document says so, too.
DATE_NAME = r"^[a-z][a-z0-9_]{0,62}$"


def _date_name(name: str) -> str:
    if not re.fullmatch(DATE_NAME, name):
        raise ValueError(f"date field name {name!r} must be lower_snake_case")
    return name


DateName = Annotated[str, AfterValidator(_date_name)]


def _a_date_not_a_number(value: Any) -> Any:
    # Lax parsing would read 0 as 1970-01-01: a date must be written as one.
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError("must be an ISO 8601 date, e.g. 2027-03-31")
    return value


# A calendar date as the API accepts it: ISO 8601 text, never a bare number.
Day = Annotated[dt.date, BeforeValidator(_a_date_not_a_number)]
# Free-form custom fields: any JSON a CRM holds. Postgres text cannot hold a NUL character,
# which the API refuses anywhere; the OpenAPI document spells that out to any depth
# (its FieldValue schema, see starter.api.openapi).
FreeFields = Annotated[
    dict[str, Any], WithJsonSchema({"type": "object", "additionalProperties": {"$ref": "#/components/schemas/FieldValue"}})
]
DateFields = Annotated[
    dict[DateName, Day],
    WithJsonSchema(
        {"type": "object", "patternProperties": {DATE_NAME: {"type": "string", "format": "date"}}, "additionalProperties": False}
    ),
]


class FieldError(ValueError):
    """A value the database layer refused, with the field it belongs to."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class ConsentRecord(BaseModel):
    """Recorded consent for one channel: when, how, and whether it was revoked."""

    model_config = ConfigDict(extra="forbid")
    granted: bool = Field(default=True, strict=True)
    at: Instant | None = None
    source: str | None = Field(default=None, max_length=200)
    revoked_at: Instant | None = None


class Preferences(BaseModel):
    """The contact's own choices (the preference centre): channels, frequency, topics."""

    model_config = ConfigDict(extra="forbid")
    channels: list[Literal["email", "sms", "call", "linkedin"]] | None = None
    frequency: Literal["normal", "reduced", "minimal"] = "normal"
    topics_opted_out: list[str] = Field(default_factory=list)


class ContactIn(BaseModel):
    """Create or update a contact by `external_id` (your system's id for the person)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    external_id: str = required_text(200)
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
    owner_id: OwnerRef = None
    consent: dict[Literal["email", "sms", "call", "linkedin"], ConsentRecord] | None = None
    preferences: Preferences | None = None
    dates: DateFields | None = None
    fields: FreeFields | None = None

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

    def normalized_phone(self) -> str | None:
        """The phone in E.164, using the contact's country for national numbers."""
        if not self.phone:
            return None
        return normalize_phone(self.phone, self.country)


class AccountIn(BaseModel):
    """Create or update an account (a company) by `external_id`."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    external_id: str = required_text(200)
    name: str = required_text(300)
    domain: str | None = Field(default=None, max_length=300)
    industry: str | None = Field(default=None, max_length=100)
    tier: Literal["enterprise", "mid_market", "smb", "tech_touch"] | None = None
    owner_id: OwnerRef = None
    dates: DateFields | None = None
    fields: FreeFields | None = None

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
    score: float = Field(
        default=0.0, description="Lead score now: engagement points, fading by half every half-life (see playbooks/scoring.yaml)"
    )
    created_at: dt.datetime
    updated_at: dt.datetime
