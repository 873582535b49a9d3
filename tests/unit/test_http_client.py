"""The HTTP client against scripted answers (httpx.MockTransport): every error shape maps to
its exception, retries happen only where repeating cannot act twice, an idempotency key is
reused on each retry, Retry-After is honoured; and the models match the API's OpenAPI."""

from __future__ import annotations

import datetime as dt
import email.utils
import inspect
import json
from collections.abc import Callable
from typing import Any

import cadence_client
import httpx
import pytest
from cadence_client import AsyncCadence, Cadence, Retries, errors, models

from core.settings import Settings
from starter.api import create_app

NOW = "2026-12-01T09:00:00Z"
ENROLLMENT = {
    "id": "e-1",
    "workflow_id": "enr-1",
    "cadence_id": "c-1",
    "cadence_key": "inbound",
    "contact_id": "p-1",
    "account_id": None,
    "owner_id": None,
    "status": "active",
    "current_step": 0,
    "next_step_at": NOW,
    "waiting_reason": "waiting for step 1",
    "outcome_reason": None,
    "touches_sent": 0,
    "enrolled_by": "svc",
    "created_at": NOW,
    "ended_at": None,
    "created": True,
}
FAST = Retries(attempts=3, base_delay=0.0, max_delay=0.0)


def error(status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": message, "details": details}}, headers=headers)


def scripted(*answers: httpx.Response | Exception) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    queue = list(answers)

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = queue.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return httpx.MockTransport(handle), seen


def client(*answers: httpx.Response | Exception, retries: Retries = FAST) -> tuple[Cadence, list[httpx.Request]]:
    transport, seen = scripted(*answers)
    return Cadence("http://cadence.test", "cad_key", transport=transport, retries=retries), seen


@pytest.mark.parametrize(
    ("response", "kind", "check"),
    [
        (
            error(404, "not_found", "contact 'x' not found", {"field": "contact_id"}),
            errors.NotFound,
            lambda e: e.message == "contact 'x' not found",
        ),
        (
            error(409, "conflict", "cannot resume: the enrollment is not paused (it is active)"),
            errors.Conflict,
            lambda e: "not paused" in e.message,
        ),
        (
            error(422, "validation_error", "start_at: must carry a time zone", {"fields": [{"field": "start_at", "message": "x"}]}),
            errors.Invalid,
            lambda e: e.field == "start_at",
        ),
        (error(422, "validation_error", "phone is not valid", {"field": "phone"}), errors.Invalid, lambda e: e.field == "phone"),
        (error(401, "unauthorized", "the API key is not valid"), errors.Unauthorized, lambda e: e.status == 401),
        (error(403, "forbidden", "the service role may not do this"), errors.Forbidden, lambda e: e.code == "forbidden"),
        (error(413, "too_large", "the request body is larger than 5242880 bytes"), errors.TooLarge, lambda e: e.status == 413),
        (error(429, "rate_limited", "slow down", headers={"Retry-After": "7"}), errors.RateLimited, lambda e: e.retry_after == 7.0),
        (error(503, "unavailable", "postgres not answering"), errors.Unavailable, lambda e: e.message == "postgres not answering"),
        (error(500, "internal_error", "an unexpected error occurred"), errors.ServerError, lambda e: e.status == 500),
        (httpx.Response(502, text="<html>bad gateway</html>"), errors.ServerError, lambda e: "502" in e.message),
    ],
)
def test_every_error_answer_maps_to_its_exception(
    response: httpx.Response, kind: type[errors.CadenceError], check: Callable[[Any], bool]
) -> None:
    cadence, _ = client(response, response, response, response, retries=Retries(attempts=0))
    with pytest.raises(kind) as raised:
        cadence.complete_task("t-1")
    assert isinstance(raised.value, errors.CadenceError) and check(raised.value)


def test_retry_after_as_an_http_date() -> None:
    when = email.utils.format_datetime(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30), usegmt=True)
    cadence, _ = client(error(429, "rate_limited", "slow down", headers={"Retry-After": when}), retries=Retries(attempts=0))
    with pytest.raises(errors.RateLimited) as raised:
        cadence.get_contact("crm-1")
    assert raised.value.retry_after is not None and 25 <= raised.value.retry_after <= 30


def test_an_enrollment_is_retried_with_the_same_idempotency_key_until_it_goes_through() -> None:
    cadence, seen = client(
        error(503, "unavailable", "temporal not answering"), httpx.ReadTimeout("lost"), httpx.Response(201, json=ENROLLMENT)
    )
    enrollment = cadence.enroll("inbound", contact_external_id="crm-1")
    assert enrollment.id == "e-1" and enrollment.created
    assert len(seen) == 3
    assert len({r.headers["Idempotency-Key"] for r in seen}) == 1  # generated once, sent each time
    assert json.loads(seen[0].content) == {"cadence_id": "inbound", "contact_external_id": "crm-1"}
    assert seen[0].headers["Authorization"] == "Bearer cad_key"


def test_a_task_completion_whose_answer_was_lost_is_not_repeated() -> None:
    cadence, seen = client(httpx.ReadTimeout("lost"), httpx.Response(200, json={}))
    with pytest.raises(errors.Unreachable) as raised:
        cadence.complete_task("t-1", outcome="connected")
    assert len(seen) == 1 and raised.value.status is None and "ReadTimeout" in raised.value.message


def test_a_request_that_never_arrived_is_retried_whatever_it_is() -> None:
    task = {
        "id": "t-1",
        "enrollment_id": "e-1",
        "contact_id": "p-1",
        "owner_id": None,
        "step_id": "call",
        "kind": "call",
        "title": "Call",
        "instructions": None,
        "status": "completed",
        "outcome": "connected",
        "due_at": None,
        "sla_at": None,
        "escalated_to": None,
        "completed_by": "svc",
        "completed_at": NOW,
        "created_at": NOW,
    }
    cadence, seen = client(httpx.ConnectError("refused"), httpx.Response(200, json=task))
    assert cadence.complete_task("t-1", outcome="connected").status == "completed" and len(seen) == 2


def test_retries_give_up_after_the_configured_attempts() -> None:
    unavailable = error(503, "unavailable", "postgres not answering")
    cadence, seen = client(unavailable, unavailable, unavailable, retries=Retries(attempts=2, base_delay=0.0, max_delay=0.0))
    with pytest.raises(errors.Unavailable):
        cadence.get_enrollment("e-1")
    assert len(seen) == 3  # the first try and two retries


def test_the_wait_between_retries_honours_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []
    monkeypatch.setattr("cadence_client._sync.time.sleep", waits.append)
    cadence, _ = client(
        error(429, "rate_limited", "slow down", headers={"Retry-After": "4"}),
        httpx.Response(201, json=ENROLLMENT),
        retries=Retries(attempts=3, base_delay=0.1, max_delay=1.0),
    )
    cadence.enroll("inbound", contact_id="p-1")
    assert waits == [4.0]


def test_backoff_grows_and_stays_under_the_ceiling() -> None:
    retries = Retries(attempts=10, base_delay=1.0, max_delay=8.0)
    failure = errors.Unavailable("down")
    call = cadence_client._requests.get_contact("x")
    delays = [retries.delay(n, call, failure) for n in range(1, 8)]
    assert all(d is not None for d in delays)
    assert all(0.5 * min(2 ** (n - 1), 8) <= d <= min(2 ** (n - 1), 8) for n, d in enumerate(delays, start=1))
    assert retries.delay(11, call, failure) is None


async def test_the_async_client_has_the_same_behaviour() -> None:
    seen: list[httpx.Request] = []
    answers: list[httpx.Response | Exception] = [
        error(503, "unavailable", "down"),
        httpx.Response(201, json=ENROLLMENT),
        error(409, "conflict", "cannot resume: the enrollment is not paused (it is active)"),
    ]

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async with AsyncCadence("http://cadence.test", "cad_key", transport=httpx.MockTransport(handle), retries=FAST) as cadence:
        assert (await cadence.enroll("inbound", contact_external_id="crm-1")).created
        with pytest.raises(errors.Conflict):
            await cadence.resume("e-1")
    assert seen[0].headers["Idempotency-Key"] == seen[1].headers["Idempotency-Key"]


def test_the_sync_and_async_clients_have_the_same_shape() -> None:
    def public(cls: type) -> dict[str, inspect.Signature]:
        return {name: inspect.signature(fn) for name, fn in vars(cls).items() if callable(fn) and not name.startswith("_")}

    sync, aio = public(Cadence), public(AsyncCadence)
    assert set(sync) == set(aio)
    for name, signature in sync.items():
        assert list(signature.parameters) == list(aio[name].parameters), name
        assert [p.default for p in signature.parameters.values()] == [p.default for p in aio[name].parameters.values()], name


def test_events_get_an_id_and_need_exactly_one_contact() -> None:
    cadence, seen = client(httpx.Response(202, json={"event_id": "x", "status": "processed"}))
    cadence.send_event("reply", contact_external_id="crm-1", intent="positive", return_date=dt.date(2026, 12, 24))
    body = json.loads(seen[0].content)
    assert body["event_id"] and body["return_date"] == "2026-12-24" and "contact_id" not in body
    with pytest.raises(ValueError, match="exactly one"):
        cadence.send_event("reply", contact_external_id="a", contact_id="b")


# --- the models against the API's own OpenAPI document -----------------------------------

PAIRS: dict[str, Any] = {
    "EnrollmentInfo": models.Enrollment,
    "EnrollmentDetail": models.EnrollmentDetail,
    "TouchInfo": models.Touch,
    "Page": models.Page,
    "BulkRow": models.BulkRow,
    "BulkResult": models.BulkResult,
    "StatusView": models.LiveStatus,
    "PauseInfo": models.PauseInfo,
    "PendingTask": models.PendingTask,
    "Counters": models.Counters,
    "EventOutcome": models.EventOutcome,
    "Timeline": models.Timeline,
    "TimelineEntry": models.TimelineEntry,
    "ContactOut": models.Contact,
    "ContactSaved": models.SavedContact,
    "ImportResult": models.ImportResult,
    "ImportRowError": models.ImportRowError,
    "AccountOut": models.Account,
    "AccountCommandResult": models.AccountCommandResult,
    "EnrollmentOutcome": models.EnrollmentOutcome,
    "TaskOut": models.Task,
    "TaskPage": models.TaskPage,
    "TouchOut": models.TouchRecord,
    "TouchPage": models.TouchPage,
    "AccountPause": models.AccountPause,
    "Status": models.Status,
    "DraftOut": models.Draft,
    "PublishOut": models.Published,
    "DiffOut": models.Diff,
    "CadenceDiff": models.CadenceDiff,
    "StepRef": models.StepRef,
    "Moved": models.Moved,
    "Change": models.Change,
    "StepChange": models.StepChange,
    "OperationOut": models.Operation,
    "ItemOut": models.OperationItem,
    "ItemPage": models.OperationItemPage,
    "PreviewOut": models.Preview,
    "PreviewItem": models.PreviewItem,
    "ForecastOut": models.Forecast,
    "OwnerForecast": models.OwnerForecast,
    "WeekLoad": models.WeekLoad,
    "VariantReport": models.VariantReport,
    "StepTest": models.StepTest,
    "VariantOut": models.VariantResult,
    "OutcomeReport": models.OutcomeReport,
    "OutcomeRow": models.OutcomeRow,
    "FunnelReport": models.FunnelReport,
    "FunnelStep": models.FunnelStep,
    "Filters": models.ReportFilters,
    "TouchRow": models.TouchRow,
    "TouchReport": models.TouchReport,
    "DayActivity": models.DayActivity,
    "DailyReport": models.DailyReport,
    "ComparedSide": models.ComparedSide,
    "Comparison": models.Comparison,
}
CLIENT_NAMES = {model.__name__: server for server, model in PAIRS.items()}


def _shape(schema: dict[str, Any], names: dict[str, str]) -> Any:
    """A property's type, without titles, descriptions or defaults; refs by server name."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return ("ref", names.get(name, name))
    if "anyOf" in schema:
        return ("any", tuple(sorted((_shape(s, names) for s in schema["anyOf"]), key=repr)))
    if "enum" in schema:
        return ("enum", tuple(sorted(schema["enum"])))
    kind = schema.get("type")
    if kind == "array":
        return ("array", _shape(schema.get("items", {}), names))
    return (kind, schema.get("format"))


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    return create_app(Settings(_env_file=None)).openapi()


@pytest.mark.parametrize("server_name", sorted(PAIRS))
def test_each_model_matches_the_openapi_document(openapi: dict[str, Any], server_name: str) -> None:
    server = openapi["components"]["schemas"][server_name]
    if "enum" in server:
        assert sorted(s.value for s in models.Status) == sorted(server["enum"])
        return
    client_schema = PAIRS[server_name].model_json_schema(ref_template="#/$defs/{model}")
    server_props = {name: _shape(prop, {}) for name, prop in server["properties"].items()}
    client_props = {name: _shape(prop, CLIENT_NAMES) for name, prop in client_schema["properties"].items()}
    assert client_props == server_props
    assert sorted(client_schema.get("required", [])) == sorted(server.get("required", []))


def test_every_call_the_client_makes_is_an_endpoint_of_the_api(openapi: dict[str, Any]) -> None:
    import re

    calls = cadence_client._requests
    made: list[cadence_client._requests.Call[Any]] = [
        calls.upsert_contact("x", {}),
        calls.get_contact("x"),
        calls.import_contacts("external_id\n"),
        calls.upsert_account("x", "X", {}),
        calls.get_account("x"),
        calls.pause_account("x", "r", None),
        calls.resume_account("x", None),
        calls.enroll(None, "x", None, None, None),
        calls.bulk_enroll("c", ["x"], None, None),
        calls.get_enrollment("x", True),
        calls.list_enrollments(None, None, None, None, None, 50, 0),
        calls.pause("x", "r", None, None),
        calls.resume("x", None, None),
        calls.stop("x", "r", None),
        calls.skip("x", None, None),
        calls.timeline("x"),
        calls.contact_timeline("x"),
        calls.send_event("reply", "x", None, None),
        calls.tasks(None, None, 100, 0),
        calls.complete_task("x", "done"),
        calls.skip_task("x", "r"),
        calls.save_draft("x", "key: x"),
        calls.publish("x", None, None),
        calls.diff("x", "published", "draft"),
        calls.follow_published("x", True),
        calls.preview_operation({"action": "pause"}),
        calls.apply_operation("x"),
        calls.get_operation("x"),
        calls.list_operations(None, None, 50, 0),
        calls.operation_items("x", None, None, 100, 0),
        calls.preview({"cadence": "x"}),
        calls.enrollment_preview("x", 30),
        calls.forecast("x", 12),
        calls.variant_report("x", None, None, version=None),
        calls.outcome_report("x", "owner", None, None),
        calls.funnel_report("x", None, None, owner="o"),
        calls.touch_report("x", "step", None, None),
        calls.daily_report("x", None, None),
        calls.compare_report("x", "y@2", None, None),
    ]
    templates = [
        (method.upper(), re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$"))
        for path, item in openapi["paths"].items()
        for method in item
    ]
    for call in made:
        assert any(m == call.method and pattern.match(call.path) for m, pattern in templates), (call.method, call.path)
