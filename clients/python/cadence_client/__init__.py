"""The Cadence HTTP client for other services: a URL and an API key are all it needs.

    from cadence_client import Cadence

    with Cadence("https://cadence.example.com", "cad_...") as cadence:
        cadence.upsert_contact("crm-42", email="ada@example.com", timezone="America/Chicago")
        enrollment = cadence.enroll("inbound", contact_external_id="crm-42")
        cadence.send_event("reply", contact_external_id="crm-42", event_id="msg-981", intent="positive")
        print(cadence.get_enrollment(enrollment.id).live)

`AsyncCadence` has the same methods for asyncio code. Errors are subclasses of
`CadenceError` (see `cadence_client.errors`).
"""

from cadence_client._async import AsyncCadence
from cadence_client._requests import Retries
from cadence_client._sync import Cadence
from cadence_client.errors import (
    CadenceError,
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    RateLimited,
    ServerError,
    TooLarge,
    Unauthorized,
    Unavailable,
    Unreachable,
)

__all__ = [
    "AsyncCadence",
    "Cadence",
    "CadenceError",
    "Conflict",
    "Forbidden",
    "Invalid",
    "NotFound",
    "RateLimited",
    "Retries",
    "ServerError",
    "TooLarge",
    "Unauthorized",
    "Unavailable",
    "Unreachable",
]
