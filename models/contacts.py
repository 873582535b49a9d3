"""Contacts and accounts: upserts by external id, lookups, and the facts timing depends on."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Session, select

from cadence.contact_policy import ContactPolicy, EffectivePolicy, resolve
from cadence.contact_rules import ContactRules
from models import locks
from models.payloads import CalendarFacts
from models.schemas import AccountIn, ContactIn, FieldError
from models.tables import Account, Contact, Owner, Suppression


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def as_uuid(value: str | uuid.UUID) -> uuid.UUID | None:
    """The UUID in a string, or None when it is not one (so lookups can 404, not 500)."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        return None


def upsert_account(session: Session, data: AccountIn) -> Account:
    """Create the account or update the fields given."""
    if data.owner_id:
        ensure_owner(session, data.owner_id)
    account = session.exec(select(Account).where(Account.external_id == data.external_id)).first()
    values = data.model_dump(exclude_unset=True, mode="json")
    if account is None:
        account = Account(**values)
    else:
        for key, value in values.items():
            setattr(account, key, value)
        account.updated_at = _now()
    session.add(account)
    session.flush()
    return account


def upsert_contact(session: Session, data: ContactIn) -> tuple[Contact, bool]:
    """Create the contact or update the fields given; returns (contact, created).

    An account is found (or created, when `account_name` is given) by `account_external_id`.
    """
    values: dict[str, Any] = data.model_dump(exclude_unset=True, mode="json", exclude={"account_external_id", "account_name"})
    if "phone" in values:
        try:
            values["phone"] = data.normalized_phone()
        except ValueError as exc:
            raise FieldError("phone", str(exc)) from None
    if data.account_external_id:
        account = session.exec(select(Account).where(Account.external_id == data.account_external_id)).first()
        if account is None or data.account_name:
            account = upsert_account(
                session, AccountIn(external_id=data.account_external_id, name=data.account_name or data.account_external_id)
            )
        values["account_id"] = account.id
    if data.owner_id:
        ensure_owner(session, data.owner_id)
    contact = session.exec(select(Contact).where(Contact.external_id == data.external_id).with_for_update()).first()
    created = contact is None
    if contact is None:
        contact = Contact(**values)
    else:
        for key, value in values.items():
            if key in ("consent", "preferences", "dates", "fields") and isinstance(value, dict):
                value = {**getattr(contact, key), **value}
            setattr(contact, key, value)
        contact.updated_at = _now()
    session.add(contact)
    session.flush()
    return contact, created


def ensure_owner(session: Session, owner_id: str) -> None:
    """Make sure an owner row exists (a contact may name its owner before the owner is set up)."""
    session.exec(insert(Owner).values(id=owner_id, name=owner_id).on_conflict_do_nothing(index_elements=["id"]))


def find_contact(session: Session, ref: str | uuid.UUID) -> Contact | None:
    """A contact by id or by external id."""
    as_id = as_uuid(ref)
    if as_id is not None:
        found = session.get(Contact, as_id)
        if found is not None:
            return found
    return session.exec(select(Contact).where(Contact.external_id == str(ref))).first()


def find_account(session: Session, ref: str | uuid.UUID) -> Account | None:
    """An account by id or by external id."""
    as_id = as_uuid(ref)
    found = session.get(Account, as_id) if as_id else None
    return found or session.exec(select(Account).where(Account.external_id == str(ref))).first()


def contacts_by_phone(session: Session, phone: str) -> list[Contact]:
    """Every contact with this phone number (a shared line reaches them all)."""
    return list(session.exec(select(Contact).where(Contact.phone == phone, Contact.erased_at.is_(None))).all())  # type: ignore[union-attr]


def contacts_by_email(session: Session, address: str) -> list[Contact]:
    """Every contact with this email address (case-insensitive)."""
    return list(session.exec(select(Contact).where(sa.func.lower(Contact.email) == address.strip().lower())).all())


def calendar_facts(contact: Contact, account: Account | None) -> CalendarFacts:
    """Time zone, country and date fields (the contact's dates override the account's)."""
    dates: dict[str, dt.date] = {}
    for source in (account.dates if account else {}, contact.dates):
        for name, value in source.items():
            try:
                dates[name] = dt.date.fromisoformat(str(value))
            except ValueError:
                continue
    return CalendarFacts(timezone=contact.timezone, country=contact.country, subdivision=contact.region, dates=dates)


def effective_dates(session: Session, contact: Contact) -> dict[str, dt.date]:
    """The date fields the contact's enrollments anchor to (its own over its account's)."""
    account = session.get(Account, contact.account_id) if contact.account_id else None
    return calendar_facts(contact, account).dates


def contacts_of_account(session: Session, account_id: uuid.UUID) -> list[Contact]:
    """The account's contacts (not erased)."""
    return list(session.exec(select(Contact).where(Contact.account_id == account_id, Contact.erased_at.is_(None))).all())  # type: ignore[union-attr]


def policy_in_force(
    config: ContactPolicy, contact: Contact, account: Account | None, cadence_rules: ContactRules | None
) -> EffectivePolicy:
    """The contact policy in force for this contact in a cadence with these overrides (the
    account's industry and tier stand in for the contact's own when it has none)."""
    return resolve(
        config,
        cadence=cadence_rules,
        persona=contact.persona,
        industry=contact.industry or (account.industry if account else None),
        tier=contact.tier or (account.tier if account else None),
        country=contact.country,
        region=contact.region,
        frequency=str((contact.preferences or {}).get("frequency") or "normal"),
    )


def active_suppressions(session: Session, contact: Contact) -> list[Suppression]:
    """Suppressions in force for this contact, matched by contact id or by address."""
    addresses = [a for a in (contact.email, contact.phone) if a]
    condition: Any = Suppression.contact_id == contact.id
    if addresses:
        condition = sa.or_(condition, sa.column("address").in_(addresses))
    return list(session.exec(select(Suppression).where(condition, Suppression.lifted_at.is_(None))).all())  # type: ignore[union-attr]


def suppress(session: Session, contact: Contact, *, channel: str, reason: str, source: str) -> Suppression:
    """Record a do-not-contact for the contact on a channel ("all" for every channel).

    Takes the contact lock: a send claim already holding it finishes first; every claim
    after this commit sees the suppression.
    """
    locks.hold_contact(session, contact.id)
    existing = session.exec(
        select(Suppression).where(Suppression.contact_id == contact.id, Suppression.channel == channel, Suppression.lifted_at.is_(None))  # type: ignore[union-attr]
    ).first()
    if existing is not None:
        return existing  # already suppressed on this channel: one row is enough
    address = {"email": contact.email, "sms": contact.phone, "call": contact.phone}.get(channel)
    row = Suppression(contact_id=contact.id, channel=channel, address=address, reason=reason, source=source)
    session.add(row)
    session.flush()
    return row
