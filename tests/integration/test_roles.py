"""Every API endpoint against every role: 401 without a key, 403 with the wrong role, and
through to the endpoint (any other answer) with a right one. A new endpoint must be added
to the matrix, or this test fails."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import Engine

from core.db import transaction
from core.settings import Settings
from models.keys import Role, create_key
from starter.api import create_app
from tests.support.server import serve

pytestmark = pytest.mark.integration

SERVICE, LEAD, AUDITOR, ADMIN = "service", "cs_lead", "auditor", "admin"
READERS = {SERVICE, LEAD, AUDITOR}
X = str(uuid.uuid4())

# (method, path template) -> roles allowed besides admin. Public endpoints are listed apart.
MATRIX: dict[tuple[str, str], set[str]] = {
    ("POST", "/v1/contacts"): {SERVICE},
    ("POST", "/v1/contacts/import"): {SERVICE},
    ("GET", "/v1/contacts/{contact_id}"): READERS,
    ("GET", "/v1/contacts/{contact_id}/timeline"): {AUDITOR, LEAD},
    ("POST", "/v1/accounts"): {SERVICE},
    ("GET", "/v1/accounts/{account_id}"): READERS,
    ("POST", "/v1/accounts/{account_id}/pause"): {LEAD},
    ("POST", "/v1/accounts/{account_id}/resume"): {LEAD},
    ("POST", "/v1/cadences"): set(),
    ("GET", "/v1/cadences"): READERS,
    ("GET", "/v1/cadences/{cadence_id}"): READERS,
    ("PATCH", "/v1/cadences/{cadence_id}"): set(),
    ("GET", "/v1/cadences/{cadence_id}/draft"): READERS,
    ("PUT", "/v1/cadences/{cadence_id}/draft"): set(),
    ("DELETE", "/v1/cadences/{cadence_id}/draft"): set(),
    ("POST", "/v1/cadences/{cadence_id}/publish"): set(),
    ("GET", "/v1/cadences/{cadence_id}/diff"): READERS,
    # Leads may preview and apply pauses, resumes and stops; a migration is refused them
    # inside (403), by the operation's action.
    ("POST", "/v1/previews"): READERS,
    ("GET", "/v1/forecast"): READERS,
    ("GET", "/v1/reports/variants"): READERS,
    ("GET", "/v1/reports"): READERS,
    ("GET", "/v1/reports/funnel"): READERS,
    ("GET", "/v1/reports/touches"): READERS,
    ("GET", "/v1/reports/daily"): READERS,
    ("GET", "/v1/reports/compare"): READERS,
    ("GET", "/v1/enrollments/{enrollment_id}/preview"): READERS,
    ("POST", "/v1/operations"): {LEAD},
    ("GET", "/v1/operations"): READERS,
    ("GET", "/v1/operations/{operation_id}"): READERS,
    ("GET", "/v1/operations/{operation_id}/items"): READERS,
    ("POST", "/v1/operations/{operation_id}/apply"): {LEAD},
    ("POST", "/v1/enrollments"): {SERVICE},
    ("POST", "/v1/enrollments/bulk"): {SERVICE},
    ("GET", "/v1/enrollments"): READERS,
    ("GET", "/v1/enrollments/{enrollment_id}"): READERS,
    ("GET", "/v1/enrollments/{enrollment_id}/timeline"): {AUDITOR, LEAD},
    ("POST", "/v1/enrollments/{enrollment_id}/pause"): {LEAD},
    ("POST", "/v1/enrollments/{enrollment_id}/resume"): {LEAD},
    ("POST", "/v1/enrollments/{enrollment_id}/stop"): {LEAD},
    ("POST", "/v1/enrollments/{enrollment_id}/skip"): {LEAD},
    ("POST", "/v1/events"): {SERVICE},
    ("GET", "/v1/events"): READERS,
    ("GET", "/v1/tasks"): READERS,
    ("POST", "/v1/tasks/{task_id}/complete"): {LEAD},
    ("POST", "/v1/tasks/{task_id}/skip"): {LEAD},
    ("GET", "/v1/touches"): READERS,
    ("POST", "/v1/touches/{touch_id}/resolve"): {LEAD},
    ("GET", "/v1/audit/verify"): {AUDITOR, LEAD},
    ("POST", "/v1/keys"): set(),
    ("GET", "/v1/keys"): set(),
    ("DELETE", "/v1/keys/{key_id}"): set(),
    ("GET", "/dev/mail"): READERS,
    ("GET", "/dev/sms"): READERS,
}
# Authenticated otherwise: by Twilio's signature, an HMAC, a signed link, or not at all.
PUBLIC = {
    ("GET", "/healthz"),
    ("POST", "/webhooks/twilio/sms"),
    ("POST", "/webhooks/twilio/status"),
    ("POST", "/webhooks/email"),
    ("GET", "/u/{token}"),
    ("POST", "/u/{token}"),
    ("GET", "/p/{token}"),
    ("POST", "/p/{token}"),
    ("GET", "/t/o/{token}.gif"),
    ("GET", "/t/c/{token}"),
}


@pytest.fixture(scope="module")
def api(db_url: str, engine: Engine) -> Iterator[tuple[str, dict[str, str], set[tuple[str, str]]]]:
    settings = Settings(_env_file=None, database_url=db_url, dev_mode=True, temporal_address="127.0.0.1:1")
    keys = {}
    with transaction(engine) as session:
        for role in Role:
            keys[role.value] = create_key(session, name=f"matrix-{role.value}", role=role)[1]
    app = create_app(settings)
    routes = {(method.upper(), path) for path, item in app.openapi()["paths"].items() for method in item}
    with serve(app) as url:
        yield url, keys, routes


def test_every_endpoint_is_in_the_matrix(api: tuple[str, dict[str, str], set[tuple[str, str]]]) -> None:
    _, _, routes = api
    console = {r for r in routes if r[1].startswith("/console")}
    assert routes - console == set(MATRIX) | PUBLIC


@pytest.mark.parametrize(("method", "path"), sorted(MATRIX), ids=lambda v: str(v))
def test_roles(api: tuple[str, dict[str, str], set[tuple[str, str]]], method: str, path: str) -> None:
    url, keys, _ = api
    concrete = path.format(contact_id=X, account_id=X, cadence_id=X, enrollment_id=X, task_id=X, touch_id=X, key_id=X, operation_id=X)
    allowed = MATRIX[(method, path)] | {ADMIN}
    with httpx.Client(base_url=url, timeout=30) as http:
        assert http.request(method, concrete).status_code == 401
        for role, key in keys.items():
            response = http.request(method, concrete, headers={"Authorization": f"Bearer {key}"})
            if role in allowed:
                assert response.status_code not in (401, 403), (role, response.text)
            else:
                assert response.status_code == 403, (role, response.status_code, response.text)
                assert response.json()["error"]["code"] == "forbidden"


def test_a_revoked_key_is_refused(api: tuple[str, dict[str, str], set[tuple[str, str]]], engine: Engine) -> None:
    url, keys, _ = api
    with httpx.Client(base_url=url, timeout=30) as http:
        admin = {"Authorization": f"Bearer {keys['admin']}"}
        created = http.post("/v1/keys", json={"name": "temp", "role": "auditor"}, headers=admin).json()
        temp = {"Authorization": f"Bearer {created['key']}"}
        assert http.get("/v1/cadences", headers=temp).status_code == 200
        assert http.delete(f"/v1/keys/{created['id']}", headers=admin).status_code == 200
        assert http.get("/v1/cadences", headers=temp).status_code == 401
        assert all("key" not in k for k in http.get("/v1/keys", headers=admin).json())


def test_a_key_cannot_revoke_itself(api: tuple[str, dict[str, str], set[tuple[str, str]]]) -> None:
    url, keys, _ = api
    with httpx.Client(base_url=url, timeout=30) as http:
        admin = {"Authorization": f"Bearer {keys['admin']}"}
        mine = next(k for k in http.get("/v1/keys", headers=admin).json() if k["name"] == "matrix-admin" and not k["revoked_at"])
        refused = http.delete(f"/v1/keys/{mine['id']}", headers=admin)
        assert refused.status_code == 409 and "cannot revoke itself" in refused.json()["error"]["message"]
        assert http.get("/v1/keys", headers=admin).status_code == 200  # still signed in
