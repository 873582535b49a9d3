"""The effective contact policy from the rows: contact, account and the cadence's overrides."""

from __future__ import annotations

from cadence.definition import Policy
from cadence.policy import Effective, PolicyConfig, resolve
from models.tables import Account, Contact


def effective_policy(config: PolicyConfig, contact: Contact, account: Account | None, cadence_policy: Policy | None) -> Effective:
    """The policy in force for this contact in this cadence."""
    return resolve(
        config,
        cadence=cadence_policy,
        persona=contact.persona,
        industry=contact.industry or (account.industry if account else None),
        tier=contact.tier or (account.tier if account else None),
        country=contact.country,
        region=contact.region,
        frequency=str((contact.preferences or {}).get("frequency") or "normal"),
    )
