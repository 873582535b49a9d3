"""`cadence dev --demo`: sample owners, accounts and contacts to try the engine with.

The addresses are on example.com and the phone numbers are Twilio's test numbers, so nothing
here can reach a real person even with real credentials.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine

from core.db import transaction
from models.contacts import upsert_account, upsert_contact
from models.schemas import AccountIn, ContactIn
from models.tables import Owner

OWNERS = [
    ("maria", "Maria Lopez", "maria@example.com", None, "Account Executive"),
    ("sam", "Sam Okafor", "sam@example.com", "maria", "Customer Success Manager"),
    ("lee", "Lee Chen", "lee@example.com", "maria", "Customer Success Manager"),
]

ACCOUNTS = [
    ("acme", "Acme Logistics", "acme.example.com", "logistics", "enterprise", "sam", 120),
    ("globex", "Globex Health", "globex.example.com", "healthcare", "mid_market", "lee", 75),
    ("initech", "Initech", "initech.example.com", "software", "smb", "lee", 40),
]

CONTACTS = [
    ("demo-ada", "acme", "Ada", "Park", "VP Operations", "executive", "America/Chicago", "US", "IL", "+15005550006", True),
    ("demo-ben", "acme", "Ben", "Ruiz", "Logistics Manager", "practitioner", "America/New_York", "US", "NY", None, False),
    ("demo-cleo", "globex", "Cleo", "Nakamura", "Procurement Lead", "procurement", "America/Los_Angeles", "US", "CA", "+15005550006", True),
    ("demo-dev", "initech", "Dev", "Patel", "Engineering Lead", "practitioner", "Europe/London", "GB", None, None, False),
    ("demo-eva", None, "Eva", "Schmidt", "Head of Sales", "executive", "Europe/Berlin", "DE", None, None, False),
]


def load_demo(engine: Engine) -> None:
    """Create (or refresh) the sample data; safe to run on every start."""
    today = dt.datetime.now(dt.UTC).date()
    with transaction(engine) as session:
        for owner_id, name, mail, _manager, title in OWNERS:
            owner = session.get(Owner, owner_id) or Owner(id=owner_id, name=name)
            owner.name, owner.email, owner.title = name, mail, title
            session.add(owner)
        session.flush()
        for owner_id, _, _, manager, _ in OWNERS:
            row = session.get(Owner, owner_id)
            assert row is not None
            row.manager_id = manager
            session.add(row)
        for external_id, name, domain, industry, tier, account_owner, renewal_in in ACCOUNTS:
            upsert_account(
                session,
                AccountIn(
                    external_id=external_id,
                    name=name,
                    domain=domain,
                    industry=industry,
                    tier=tier,
                    owner_id=account_owner,
                    dates={"renewal_date": today + dt.timedelta(days=renewal_in)},
                ),
            )
        for external_id, account, first, last, title, persona, tz, country, region, phone, sms in CONTACTS:
            upsert_contact(
                session,
                ContactIn(
                    external_id=external_id,
                    account_external_id=account,
                    email=f"{first.lower()}@example.com",
                    phone=phone,
                    first_name=first,
                    last_name=last,
                    title=title,
                    persona=persona,
                    timezone=tz,
                    country=country,
                    region=region,
                    owner_id="sam" if account == "acme" else "lee" if account else "maria",
                    consent={"sms": {"granted": True, "source": "demo data"}} if sms else None,
                    dates={"webinar_date": today + dt.timedelta(days=20)},
                ),
            )
