"""Identifiers built from opaque ids only: no email, phone or name ever appears in them.

Workflow ids are deterministic so that enrolling twice attaches to the running enrollment;
touch keys are deterministic so that a retried send finds its own claim.
"""

from __future__ import annotations

import uuid


def workflow_id(cadence_id: uuid.UUID | str, contact_id: uuid.UUID | str) -> str:
    """The enrollment workflow id: one running enrollment per contact and cadence."""
    return f"enr-{cadence_id}-{contact_id}"


def touch_key(enrollment_id: uuid.UUID | str, step_id: str, occurrence: int, round_: int) -> str:
    """The claim key of one send: unique per enrollment, step, repeat and loop round."""
    return f"{enrollment_id}:{step_id}:{round_}.{occurrence}"


def message_id(touch: str, domain: str) -> str:
    """A deterministic RFC 5322 Message-ID: a resend of the same touch reuses it."""
    token = uuid.uuid5(uuid.NAMESPACE_URL, f"cadence-touch:{touch}")
    return f"<touch-{token}@{domain}>"
