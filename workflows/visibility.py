"""Custom search attributes: how enrollments are found in the Temporal UI and by the API.

Values are opaque ids and statuses only; Temporal stores them unencrypted.
"""

from __future__ import annotations

from typing import Any

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

CADENCE_ID = SearchAttributeKey.for_keyword("CadenceId")
CADENCE_VERSION = SearchAttributeKey.for_keyword("CadenceVersion")
CONTACT_ID = SearchAttributeKey.for_keyword("ContactId")
ACCOUNT_ID = SearchAttributeKey.for_keyword("AccountId")
OWNER_ID = SearchAttributeKey.for_keyword("OwnerId")
ENROLLMENT_ID = SearchAttributeKey.for_keyword("EnrollmentId")
ENROLLMENT_STATUS = SearchAttributeKey.for_keyword("EnrollmentStatus")
STEP_INDEX = SearchAttributeKey.for_int("StepIndex")
NEXT_STEP_AT = SearchAttributeKey.for_datetime("NextStepAt")

ALL_KEYS = (
    CADENCE_ID,
    CADENCE_VERSION,
    CONTACT_ID,
    ACCOUNT_ID,
    OWNER_ID,
    ENROLLMENT_ID,
    ENROLLMENT_STATUS,
    STEP_INDEX,
    NEXT_STEP_AT,
)


def start_attributes(params: Any) -> TypedSearchAttributes:
    """The attributes an enrollment workflow starts with (from its EnrollmentParams)."""
    pairs: list[SearchAttributePair[Any]] = [
        SearchAttributePair(CADENCE_ID, params.cadence_id),
        SearchAttributePair(CADENCE_VERSION, params.version_hash[:12]),
        SearchAttributePair(CONTACT_ID, params.contact_id),
        SearchAttributePair(ENROLLMENT_ID, params.enrollment_id),
        SearchAttributePair(ENROLLMENT_STATUS, "active"),
    ]
    if params.account_id:
        pairs.append(SearchAttributePair(ACCOUNT_ID, params.account_id))
    if params.owner_id:
        pairs.append(SearchAttributePair(OWNER_ID, params.owner_id))
    return TypedSearchAttributes(pairs)
