"""The HTTP API over a real uvicorn server, real Postgres, the real dev server and worker."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from core.db import transaction
from models.keys import Role, create_key
from models.tables import Enrollment
from starter.api import create_app
from tests.integration.conftest import Stack
from tests.support.server import serve

pytestmark = pytest.mark.integration

CADENCE_YAML = """
key: api-cadence
name: API cadence
steps:
  - id: hello
    type: email
    template: hello
  - id: later
    type: email
    template: hello
    wait: {days: 2}
templates:
  hello:
    channel: email
    subject: "Hello {{ contact.first_name or 'there' }}"
    html: "<p>Hello {{ contact.first_name or 'there' }}</p>"
    text: "Hello {{ contact.first_name or 'there' }}"
"""


@dataclass
class Api:
    url: str
    keys: dict[str, str]
    stack: Stack

    def client(self, role: str | None = "admin") -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {self.keys[role]}"} if role else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=60)


@pytest.fixture
def keys(stack: Stack) -> dict[str, str]:
    out = {}
    with transaction(stack.engine) as session:
        for role in Role:
            _, secret = create_key(session, name=f"{role.value}-tester", role=role)
            out[role.value] = secret
    return out


@pytest.fixture
def api(stack: Stack, keys: dict[str, str]) -> Iterator[Api]:
    settings = stack.settings.model_copy(
        update={"temporal_address": stack.env.client.service_client.config.target_host, "max_body_bytes": 200_000}
    )
    with serve(create_app(settings)) as url:
        yield Api(url, keys, stack)


@pytest.fixture
async def admin(api: Api) -> AsyncIterator[httpx.AsyncClient]:
    async with api.client("admin") as http:
        yield http


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code and body["error"]["message"]
    return body["error"]


async def test_healthz_reports_each_dependency(api: Api, stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=api.url) as http:
        ok = await http.get("/healthz")
    assert ok.status_code == 200 and ok.json() == {"status": "ok", "postgres": "ok", "temporal": "ok"}
    broken = stack.settings.model_copy(update={"temporal_address": "127.0.0.1:1"})
    with serve(create_app(broken)) as url:
        async with httpx.AsyncClient(base_url=url) as http:
            down = await http.get("/healthz")
    error = assert_error(down, 503, "unavailable")
    assert "temporal" in error["message"] and error["details"]["postgres"] == "ok"


async def test_contacts_create_update_read_and_validation(admin: httpx.AsyncClient) -> None:
    created = await admin.post(
        "/v1/contacts", json={"external_id": "crm-1", "email": "Ada@Example.com", "timezone": "Europe/London", "country": "gb"}
    )
    assert created.status_code == 201
    body = created.json()
    assert body["email"] == "Ada@example.com" and body["country"] == "GB"
    updated = await admin.post("/v1/contacts", json={"external_id": "crm-1", "first_name": "Ada", "phone": "+14155552671"})
    assert updated.status_code == 200 and updated.json()["first_name"] == "Ada" and updated.json()["email"] == "Ada@example.com"
    by_id = await admin.get(f"/v1/contacts/{body['id']}")
    by_external = await admin.get("/v1/contacts/crm-1")
    assert by_id.json() == by_external.json()
    assert_error(await admin.get(f"/v1/contacts/{uuid.uuid4()}"), 404, "not_found")
    for bad, field in [
        ({"external_id": "x", "email": "not-an-email"}, "email"),
        ({"external_id": "x", "phone": "+1 555"}, "phone"),
        ({"external_id": "x", "timezone": "Mars/Olympus"}, "timezone"),
        ({"external_id": "x", "country": "XX"}, "country"),
        ({"external_id": "x", "shoe_size": 9}, "shoe_size"),
        ({"email": "a@example.com"}, "external_id"),
    ]:
        error = assert_error(await admin.post("/v1/contacts", json=bad), 422, "validation_error")
        assert error["details"]["fields"][0]["field"] == field, error
    assert_error(
        await admin.post("/v1/contacts", content=b"{not json", headers={"content-type": "application/json"}), 422, "validation_error"
    )


async def test_csv_import_reports_rows_and_keeps_the_good_ones(admin: httpx.AsyncClient) -> None:
    csv = (
        "external_id,email,phone,first_name,timezone,consent_sms,date_renewal_date,field_plan\n"
        "a-1,a1@example.com,+14155552671,Ann,America/Chicago,yes,2027-03-01,pro\n"
        "a-2,broken-email,,Bob,,no,,\n"
        "a-3,a3@example.com,,Cy,Nowhere/Land,,,\n"
        "a-4,a4@example.com,,Di,,maybe,,\n"
        "a-5,a5@example.com,,Ed,,,,\n"
    )
    response = await admin.post("/v1/contacts/import", content=csv, headers={"content-type": "text/csv"})
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["imported"], report["created"], report["failed"]) == (2, 2, 3)
    assert [(e["row"], e["field"]) for e in report["errors"]] == [(3, "email"), (4, "timezone"), (5, "consent_sms")]
    ann = (await admin.get("/v1/contacts/a-1")).json()
    assert ann["consent"]["sms"]["granted"] is True and ann["dates"] == {"renewal_date": "2027-03-01"} and ann["fields"] == {"plan": "pro"}
    assert_error(await admin.get("/v1/contacts/a-2"), 404, "not_found")
    no_key = await admin.post("/v1/contacts/import", content="email\nx@example.com\n", headers={"content-type": "text/csv"})
    assert "external_id" in assert_error(no_key, 422, "validation_error")["message"]
    unknown = await admin.post("/v1/contacts/import", content="external_id,shoe\n1,9\n", headers={"content-type": "text/csv"})
    assert "shoe" in assert_error(unknown, 422, "validation_error")["message"]
    binary = await admin.post("/v1/contacts/import", content=b"\xff\xfe\x00", headers={"content-type": "text/csv"})
    assert_error(binary, 422, "validation_error")


async def test_cadences_are_versioned_by_content(admin: httpx.AsyncClient) -> None:
    first = await admin.post("/v1/cadences", content=CADENCE_YAML, headers={"content-type": "application/yaml"})
    assert first.status_code == 201, first.text
    again = await admin.post("/v1/cadences", content=CADENCE_YAML, headers={"content-type": "application/yaml"})
    assert again.status_code == 200 and again.json()["latest_version"]["id"] == first.json()["latest_version"]["id"]
    changed = await admin.post(
        "/v1/cadences", content=CADENCE_YAML.replace("days: 2", "days: 3"), headers={"content-type": "application/yaml"}
    )
    assert changed.status_code == 201 and changed.json()["latest_version"]["version"] == 2
    detail = (await admin.get("/v1/cadences/api-cadence")).json()
    assert [v["version"] for v in detail["versions"]] == [2, 1]
    assert detail["definition"]["steps"][1]["wait"]["days"] == 3
    listing = (await admin.get("/v1/cadences")).json()
    assert [c["key"] for c in listing] == ["api-cadence"]
    bad = await admin.post(
        "/v1/cadences",
        content=CADENCE_YAML.replace("type: email\n    template: hello\n    wait", "type: emial\n    template: hello\n    wait"),
        headers={"content-type": "application/yaml"},
    )
    error = assert_error(bad, 422, "validation_error")
    assert "step 2 'later'" in error["message"] and error["details"]["problems"][0]["step_id"] == "later"
    assert_error(
        await admin.post("/v1/cadences", content="key: [unclosed", headers={"content-type": "application/yaml"}), 422, "validation_error"
    )
    assert_error(await admin.get("/v1/cadences/nope"), 404, "not_found")


async def _setup(admin: httpx.AsyncClient, external_id: str = "enr-1") -> str:
    await admin.post("/v1/cadences", content=CADENCE_YAML, headers={"content-type": "application/yaml"})
    response = await admin.post(
        "/v1/contacts", json={"external_id": external_id, "email": f"{external_id}@example.com", "first_name": "Eve"}
    )
    return str(response.json()["id"])


async def test_enroll_is_idempotent_even_under_concurrency(api: Api, admin: httpx.AsyncClient) -> None:
    contact_id = await _setup(admin)
    async with api.client("service") as service:
        responses = await asyncio.gather(
            *[service.post("/v1/enrollments", json={"cadence_id": "api-cadence", "contact_external_id": "enr-1"}) for _ in range(20)]
        )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 19 + [201], [r.text for r in responses if r.status_code >= 400]
    assert len({r.json()["id"] for r in responses}) == 1
    with transaction(api.stack.engine) as session:
        assert session.exec(select(func.count()).select_from(Enrollment)).one()[0] == 1  # type: ignore[call-overload]
    count = await api.stack.env.client.count_workflows(f"ContactId='{contact_id}'")
    assert count.count == 1
    created = next(r.json() for r in responses if r.status_code == 201)
    assert created["status"] == "active" and created["workflow_id"].startswith("enr-") and created["cadence_key"] == "api-cadence"


async def test_enroll_errors(api: Api, admin: httpx.AsyncClient) -> None:
    await _setup(admin)
    assert_error(await admin.post("/v1/enrollments", json={"cadence_id": "missing", "contact_external_id": "enr-1"}), 404, "not_found")
    assert_error(await admin.post("/v1/enrollments", json={"cadence_id": "api-cadence", "contact_external_id": "nobody"}), 404, "not_found")
    both = await admin.post("/v1/enrollments", json={"cadence_id": "api-cadence", "contact_id": "a", "contact_external_id": "b"})
    assert "exactly one" in assert_error(both, 422, "validation_error")["message"]
    naive = await admin.post(
        "/v1/enrollments", json={"cadence_id": "api-cadence", "contact_external_id": "enr-1", "start_at": "2030-01-01T09:00:00"}
    )
    assert "time zone" in assert_error(naive, 422, "validation_error")["message"]


async def test_status_commands_and_illegal_transitions(api: Api, admin: httpx.AsyncClient) -> None:
    await _setup(admin)
    enrolled = (await admin.post("/v1/enrollments", json={"cadence_id": "api-cadence", "contact_external_id": "enr-1"})).json()
    eid = enrolled["id"]
    await asyncio.to_thread(api.stack.smtp.sink.wait_for, "enr-1@example.com")
    async with api.client("cs_lead") as lead:
        for _ in range(100):
            detail = (await lead.get(f"/v1/enrollments/{eid}")).json()
            if detail["live"] and detail["live"]["step_id"] == "later":
                break
            await asyncio.sleep(0.1)
        assert detail["live"]["status"] == "active" and "2 days" in detail["live"]["waiting_reason"]
        assert [t["step_id"] for t in detail["touches"]] == ["hello"]
        conflict = await lead.post(f"/v1/enrollments/{eid}/resume")
        assert "not paused" in assert_error(conflict, 409, "conflict")["message"]
        paused = await lead.post(f"/v1/enrollments/{eid}/pause", json={"reason": "customer on vacation"})
        assert paused.status_code == 200 and paused.json()["status"] == "paused"
        assert paused.json()["pause"]["actor"] == "cs_lead-tester"
        again = await lead.post(f"/v1/enrollments/{eid}/pause", json={"reason": "twice"})
        assert "already paused" in assert_error(again, 409, "conflict")["message"]
        resumed = await lead.post(f"/v1/enrollments/{eid}/resume", json={"reason": "back"})
        assert resumed.json()["status"] == "active"
        skipped = await lead.post(f"/v1/enrollments/{eid}/skip")
        assert skipped.status_code == 200
        for _ in range(100):
            if (await lead.get(f"/v1/enrollments/{eid}")).json()["status"] == "completed":
                break
            await asyncio.sleep(0.1)
        stopped = await lead.post(f"/v1/enrollments/{eid}/stop", json={"reason": "done"})
        assert "already ended" in assert_error(stopped, 409, "conflict")["message"]
        assert_error(await lead.post(f"/v1/enrollments/{uuid.uuid4()}/pause", json={"reason": "x"}), 404, "not_found")
        assert_error(await lead.post(f"/v1/enrollments/{eid}/pause", json={}), 422, "validation_error")


async def test_list_filters_and_pages(api: Api, admin: httpx.AsyncClient) -> None:
    await _setup(admin, "l-1")
    for n in (2, 3):
        await admin.post("/v1/contacts", json={"external_id": f"l-{n}", "email": f"l{n}@example.com", "owner_id": "grace"})
    for n in (1, 2, 3):
        await admin.post("/v1/enrollments", json={"cadence_id": "api-cadence", "contact_external_id": f"l-{n}"})
    page = (await admin.get("/v1/enrollments", params={"limit": 2})).json()
    assert page["total"] == 3 and len(page["items"]) == 2
    rest = (await admin.get("/v1/enrollments", params={"limit": 2, "offset": 2})).json()
    assert len(rest["items"]) == 1 and {i["id"] for i in page["items"]}.isdisjoint({rest["items"][0]["id"]})
    mine = (await admin.get("/v1/enrollments", params={"owner": "grace"})).json()
    assert mine["total"] == 2
    by_contact = (await admin.get("/v1/enrollments", params={"contact_id": "l-1"})).json()
    assert by_contact["total"] == 1
    assert_error(await admin.get("/v1/enrollments", params={"status": "sleeping"}), 422, "validation_error")
    assert_error(await admin.get("/v1/enrollments", params={"cadence_id": "nope"}), 404, "not_found")


async def test_bulk_reports_each_row(api: Api, admin: httpx.AsyncClient) -> None:
    await _setup(admin, "b-1")
    await admin.post("/v1/contacts", json={"external_id": "b-2", "email": "b2@example.com"})
    await admin.post("/v1/enrollments", json={"cadence_id": "api-cadence", "contact_external_id": "b-2"})
    result = await admin.post("/v1/enrollments/bulk", json={"cadence_id": "api-cadence", "contacts": ["b-1", "b-2", "ghost"]})
    body = result.json()
    assert (body["enrolled"], body["already_enrolled"], body["failed"]) == (1, 1, 1)
    assert body["rows"][2] == {**body["rows"][2], "row": 3, "ok": False, "code": "not_found"}


async def test_reply_event_reaches_the_enrollment(api: Api, admin: httpx.AsyncClient) -> None:
    await _setup(admin, "ev-1")
    eid = (await admin.post("/v1/enrollments", json={"cadence_id": "api-cadence", "contact_external_id": "ev-1"})).json()["id"]
    async with api.client("service") as service:
        sent = await service.post(
            "/v1/events", json={"type": "reply", "contact_external_id": "ev-1", "event_id": "msg-1", "intent": "negative"}
        )
        assert sent.status_code == 202 and sent.json()["delivered_to"] == [eid]
        assert_error(
            await service.post("/v1/events", json={"type": "event", "contact_external_id": "ev-1", "event_id": "e"}),
            422,
            "validation_error",
        )
        unmatched = await service.post("/v1/events", json={"type": "reply", "contact_external_id": "ghost", "event_id": "e"})
        assert unmatched.status_code == 202 and unmatched.json()["status"] == "unmatched"
        again = await service.post(
            "/v1/events", json={"type": "reply", "contact_external_id": "ev-1", "event_id": "msg-1", "intent": "negative"}
        )
        assert again.json()["duplicate"] is True
    for _ in range(100):
        if (await admin.get(f"/v1/enrollments/{eid}")).json()["status"] == "replied":
            break
        await asyncio.sleep(0.1)
    assert (await admin.get(f"/v1/enrollments/{eid}")).json()["outcome_reason"] == "the contact replied (negative)"


async def test_auth_roles_and_error_shape(api: Api) -> None:
    async with api.client(None) as anonymous:
        assert_error(await anonymous.get("/v1/cadences"), 401, "unauthorized")
        assert_error(await anonymous.get("/v1/cadences", headers={"Authorization": "Bearer cad_wrong"}), 401, "unauthorized")
    async with api.client("auditor") as auditor:
        assert (await auditor.get("/v1/enrollments")).status_code == 200
        assert_error(await auditor.post(f"/v1/enrollments/{uuid.uuid4()}/pause", json={"reason": "x"}), 403, "forbidden")
        assert_error(await auditor.post("/v1/contacts", json={"external_id": "x"}), 403, "forbidden")
    async with api.client("service") as service:
        assert_error(await service.post("/v1/cadences", content=CADENCE_YAML), 403, "forbidden")
        assert_error(await service.get("/v1/nowhere"), 404, "not_found")
        big = await service.post("/v1/contacts/import", content="external_id\n" + "x\n" * 150_000, headers={"content-type": "text/csv"})
        assert_error(big, 413, "too_large")


async def test_a_chunked_body_over_the_limit_is_413_and_malformed_json_names_the_body(api: Api) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"external_id": "big", "fields": {"notes": "'
        for _ in range(6 * 1024):
            yield b"x" * 1024  # 6 MB, sent without a Content-Length
        yield b'"}}'

    async with api.client("service") as service:
        big = await service.post("/v1/contacts", content=chunks(), headers={"content-type": "application/json"})
        assert "content-length" not in big.request.headers
        assert_error(big, 413, "too_large")
        broken = await service.post(
            "/v1/contacts", content=b'{"external_id": "x", "email": }', headers={"content-type": "application/json"}
        )
        assert_error(broken, 422, "validation_error")
        assert broken.json()["error"]["details"]["fields"][0]["field"] == "(body)"
        assert "not valid JSON" in broken.json()["error"]["message"]


async def test_what_the_fuzzer_found_is_a_clear_error_now(api: Api) -> None:
    async with api.client("admin") as admin:
        for body in ({"external_id": "a1", "name": "A", "fields": None}, {"external_id": "a2", "name": "A", "dates": None}):
            assert (await admin.post("/v1/accounts", json=body)).status_code in (200, 201)
        assert (await admin.post("/v1/contacts", json={"external_id": "c1", "dates": None, "fields": None})).status_code in (200, 201)
        nul = await admin.post("/v1/contacts", json={"external_id": "c2", "first_name": "A\u0000da"})
        assert assert_error(nul, 422, "validation_error")["details"]["fields"][0]["field"] == "first_name"
        nested = await admin.post("/v1/contacts", json={"external_id": "c3", "fields": {"plan": ["pro", "x\u0000"]}})
        assert assert_error(nested, 422, "validation_error")["details"]["fields"][0]["field"] == "fields.plan.1"
        query = await admin.get("/v1/enrollments", params={"owner": "a\x00b"})
        assert assert_error(query, 422, "validation_error")["details"]["fields"][0]["field"] == "owner"
        assert_error(await admin.get("/v1/contacts/a%00b"), 422, "validation_error")
        for path in ("/v1/tasks", "/v1/events", "/v1/touches", "/v1/enrollments"):
            assert_error(await admin.get(path, params={"offset": 2**64}), 422, "validation_error")
        blank = await admin.post("/v1/accounts", json={"external_id": "a3", "name": "A", "owner_id": ""})
        assert blank.status_code == 201 and blank.json()["owner_id"] is None  # a blank owner is no owner
        numeric = await admin.post("/v1/enrollments/bulk", json={"cadence_id": "x", "contacts": ["c1"], "start_at": 0})
        assert "ISO 8601" in assert_error(numeric, 422, "validation_error")["message"]
        document = (await admin.get("/openapi.json")).json()
        responses = document["paths"]["/v1/contacts/{contact_id}"]["get"]["responses"]
        assert {"200", "401", "403", "404", "422", "429", "503"} <= set(responses)
        assert (await admin.options("/v1/enrollments")).headers["allow"] == "GET, POST"


async def test_previews_refuse_bad_input_naming_the_field_and_start_no_workflow(api: Api, stack: Stack) -> None:
    from starter.catalog import playbook_files

    async with api.client("auditor") as auditor, api.client("admin") as admin:
        assert (await admin.post("/v1/cadences", content=CADENCE_YAML)).status_code in (200, 201)
        rhythm = next(p for p in playbook_files() if p.stem == "enterprise-rhythm").read_text()
        assert (await admin.post("/v1/cadences", content=rhythm)).status_code in (200, 201)
        assert (await admin.post("/v1/contacts", json={"external_id": "pv-api", "email": "pv@example.com"})).status_code in (200, 201)
        before = [w async for w in stack.env.client.list_workflows()]
        for body, status, field in [
            ({"cadence": "api-cadence", "contact": {"timezone": "Mars/Olympus"}}, 422, "contact.timezone"),
            ({"cadence": "api-cadence", "contact": {"country": "USA"}}, 422, "contact.country"),
            ({"cadence": "api-cadence", "contact": {}, "horizon_days": 0}, 422, "horizon_days"),
            (
                {"cadence": "api-cadence", "contact": {}, "pauses": [{"start": "2030-01-02T00:00:00Z", "until": "2030-01-01T00:00:00Z"}]},
                422,
                "pauses.0",
            ),
            ({"cadence": "no-such-cadence", "contact": {}}, 404, "cadence"),
            ({"cadence": "api-cadence", "version": 99, "contact": {}}, 404, "version"),
            ({"cadence": "api-cadence", "version": "draft", "contact": {}}, 404, "version"),
            ({"cadence": "api-cadence", "contact_id": "nobody"}, 404, "contact_id"),
            ({"cadence": "api-cadence", "contact": {}, "replies": [{"step_id": "nope"}]}, 422, "replies[0].step_id"),
        ]:
            response = await auditor.post("/v1/previews", json=body)
            error = assert_error(response, status, "validation_error" if status == 422 else "not_found")
            named = [f["field"] for f in error["details"].get("fields", [])] or [error["details"].get("field")]
            assert any(str(name).startswith(field) for name in named), (body, error)
        bad_definition = await auditor.post("/v1/previews", json={"definition": "key: x\nsteps: [{id: a, type: fax}]", "contact": {}})
        error = assert_error(bad_definition, 422, "validation_error")
        assert {p["step_id"] for p in error["details"]["problems"]} == {None, "a"}, error  # the missing name, and step a
        # An unbounded rhythm is previewed up to the horizon the request sets, and says so.
        rhythm_preview = await auditor.post(
            "/v1/previews", json={"cadence": "enterprise-rhythm", "contact_id": "pv-api", "horizon_days": 45}
        )
        assert rhythm_preview.status_code == 200, rhythm_preview.text
        out = rhythm_preview.json()
        horizon = dt.datetime.fromisoformat(out["horizon_end"]) - dt.datetime.fromisoformat(out["start_at"])
        assert horizon == dt.timedelta(days=45) and out["items"][-1]["kind"] == "open" and out["outcome"] == "open"
        assert "still open at the end of the preview" in out["items"][-1]["sentence"]
        missing = await auditor.get(f"/v1/enrollments/{uuid.uuid4()}/preview")
        assert assert_error(missing, 404, "not_found")["details"] == {"field": "enrollment_id"}
        after = [w async for w in stack.env.client.list_workflows()]
        assert len(after) == len(before)  # previews start no workflow


def sample(text: str, name: str, **labels: str) -> float:
    """A series' value in a Prometheus exposition (0 when it is not there yet)."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and all(found.labels.get(k) == v for k, v in labels.items()):
                return float(found.value)
    return 0.0


async def test_metrics_count_requests_enrollments_and_inbound_events(api: Api, admin: httpx.AsyncClient) -> None:
    async with httpx.AsyncClient(base_url=api.url) as anonymous:
        before = (await anonymous.get("/metrics")).text
        await _setup(admin, "met-1")
        missing = await admin.get(f"/v1/enrollments/{uuid.uuid4()}")
        assert missing.status_code == 404
        enrolled = await admin.post("/v1/enrollments", json={"cadence_id": "api-cadence", "contact_external_id": "met-1"})
        assert enrolled.status_code == 201
        async with api.client("service") as service:
            sent = await service.post(
                "/v1/events", json={"type": "reply", "contact_external_id": "met-1", "event_id": "met-msg", "intent": "positive"}
            )
            assert sent.status_code == 202
        scrape = await anonymous.get("/metrics")
    assert scrape.status_code == 200 and scrape.headers["content-type"].startswith("text/plain")
    after = scrape.text
    by_route = {"method": "GET", "route": "/v1/enrollments/{enrollment_id}", "status": "404"}
    assert (
        sample(after, "cadence_http_request_duration_seconds_count", **by_route)
        == sample(before, "cadence_http_request_duration_seconds_count", **by_route) + 1
    )
    assert (
        sample(after, "cadence_enrollments_started_total", cadence="api-cadence")
        == sample(before, "cadence_enrollments_started_total", cadence="api-cadence") + 1
    )
    assert sample(after, "cadence_inbound_events_total", kind="reply") == sample(before, "cadence_inbound_events_total", kind="reply") + 1
    # The positive reply (20 points) lifts the contact to warm: Cadence records score_warm and
    # delivers it too, so two events went through delivery.
    assert sample(after, "cadence_inbound_events_total", kind="event") == sample(before, "cadence_inbound_events_total", kind="event") + 1
    assert sample(after, "cadence_inbound_delivery_lag_seconds_count") == sample(before, "cadence_inbound_delivery_lag_seconds_count") + 2
    assert (
        'route="/v1/enrollments/{enrollment_id}"' in after and "/v1/enrollments/" + enrolled.json()["id"] not in after
    )  # templates, not ids
