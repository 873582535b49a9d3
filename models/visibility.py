"""Custom search attributes: how enrollments are found in the Temporal UI and by the API.

Values are opaque ids and statuses only; Temporal stores them unencrypted.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

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


def dev_server_flags() -> list[str]:
    """`--search-attribute Name=Type` flags that register every key on a dev server."""
    kinds = {"KEYWORD": "Keyword", "INT": "Int", "DATETIME": "Datetime"}
    flags: list[str] = []
    for key in ALL_KEYS:
        flags += ["--search-attribute", f"{key.name}={kinds[key.indexed_value_type.name]}"]
    return flags
