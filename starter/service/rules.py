"""Rule-triggered enrollment: the event rules (`playbooks/rules.yaml`) enroll a contact when
a named event or a newly set date field matches (a health score drop starts the at-risk
playbook; a renewal date starts the renewal cadence). Enrolling is idempotent, so a rule
that fires twice reuses the open enrollment."""

from __future__ import annotations

import logging
from typing import Any

from cadence.triggers import Rule
from starter.errors import CadenceError
from starter.service.backend import Backend
from starter.service.enroll import enroll_contact

log = logging.getLogger("cadence.rules")


async def enroll_for_event(backend: Backend, contact_id: str, name: str, data: dict[str, Any]) -> list[str]:
    """Enroll the contact in every cadence a named event with this data triggers."""
    return await _apply(backend, contact_id, backend.rules.for_event(name, data))


async def enroll_for_dates(backend: Backend, contact_id: str, newly_set: set[str]) -> list[str]:
    """Date rules: a contact (or account) date field set for the first time starts its cadence."""
    return await _apply(backend, contact_id, backend.rules.for_dates(newly_set))


async def _apply(backend: Backend, contact_id: str, rules: list[Rule]) -> list[str]:
    enrolled = []
    for rule in rules:
        try:
            info = await enroll_contact(backend, rule.enroll, contact_id, actor=f"rule:{rule.name}")
            enrolled.append(info.id)
        except CadenceError as err:
            log.info("rule %s did not enroll %s: %s", rule.name, contact_id, err.message)
    return enrolled
