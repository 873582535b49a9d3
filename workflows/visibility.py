"""Custom search attributes: how enrollments are found in the Temporal UI and by the API.

Values are opaque ids and statuses only; Temporal stores them unencrypted.
"""

from __future__ import annotations

from typing import Any

from temporalio.common import SearchAttributeKey, SearchAttributePair, SearchAttributeUpdate, TypedSearchAttributes

from cadence.rules import Status
from cadence.state import EnrollmentState, Mirror
from models.payloads import EnrollmentParams

CADENCE_ID = SearchAttributeKey.for_keyword("CadenceId")
CADENCE_VERSION = SearchAttributeKey.for_keyword("CadenceVersion")
CONTACT_ID = SearchAttributeKey.for_keyword("ContactId")
ACCOUNT_ID = SearchAttributeKey.for_keyword("AccountId")
OWNER_ID = SearchAttributeKey.for_keyword("OwnerId")
ENROLLMENT_ID = SearchAttributeKey.for_keyword("EnrollmentId")
ENROLLMENT_STATUS = SearchAttributeKey.for_keyword("EnrollmentStatus")
STEP_INDEX = SearchAttributeKey.for_int("StepIndex")
NEXT_STEP_AT = SearchAttributeKey.for_datetime("NextStepAt")

ALL_KEYS = (CADENCE_ID, CADENCE_VERSION, CONTACT_ID, ACCOUNT_ID, OWNER_ID, ENROLLMENT_ID, ENROLLMENT_STATUS, STEP_INDEX, NEXT_STEP_AT)


def start_attributes(params: EnrollmentParams, opening: Mirror | None = None) -> TypedSearchAttributes:
    """The attributes an enrollment workflow starts with (from its EnrollmentParams, and the
    first step as planned at enrollment, so the workflow's first update has nothing to do)."""
    pairs: list[SearchAttributePair[Any]] = [
        SearchAttributePair(CADENCE_ID, params.cadence_id),
        SearchAttributePair(CADENCE_VERSION, params.version_hash[:12]),
        SearchAttributePair(CONTACT_ID, params.contact_id),
        SearchAttributePair(ENROLLMENT_ID, params.enrollment_id),
        SearchAttributePair(ENROLLMENT_STATUS, opening.status.value if opening else "active"),
    ]
    if opening is not None:
        pairs.append(SearchAttributePair(STEP_INDEX, opening.current_step if opening.current_step is not None else -1))
        if opening.next_step_at is not None and opening.status == Status.active:
            pairs.append(SearchAttributePair(NEXT_STEP_AT, opening.next_step_at))
    if params.account_id:
        pairs.append(SearchAttributePair(ACCOUNT_ID, params.account_id))
    if params.owner_id:
        pairs.append(SearchAttributePair(OWNER_ID, params.owner_id))
    return TypedSearchAttributes(pairs)


def changes(state: EnrollmentState, current: TypedSearchAttributes) -> list[SearchAttributeUpdate[Any]]:
    """The attribute updates that bring `current` in line with the enrollment's state
    (status, step, and the next step's time while active); empty when nothing changed."""
    wanted: list[SearchAttributeUpdate[Any]] = [
        ENROLLMENT_STATUS.value_set(state.status.value),
        STEP_INDEX.value_set(state.position.step if state.position else -1),
        NEXT_STEP_AT.value_set(state.due_at) if state.due_at is not None and state.status == Status.active else NEXT_STEP_AT.value_unset(),
    ]
    return [u for u in wanted if current.get(u.key) != u.value]
