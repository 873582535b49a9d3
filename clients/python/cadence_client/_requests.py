"""Every request the client makes, built once for both the sync and the async client: the
method and path, the body, the idempotency key, how to read the answer, and whether a retry
is safe (it is when repeating the request cannot do anything twice)."""

from __future__ import annotations

import datetime as dt
import email.utils
import random
import uuid
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx
from pydantic import TypeAdapter

from cadence_client import errors, models

T = TypeVar("T")


@dataclass(frozen=True)
class Call(Generic[T]):
    """One API request and how to read its answer."""

    method: str
    path: str
    answer: TypeAdapter[T]
    json: Any = None
    content: bytes | None = None
    params: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    # Repeating it cannot act twice (a read, or a write the server deduplicates by key).
    retry_safe: bool = False


def _clean(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _iso(value: dt.datetime | dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _seg(value: str) -> str:
    return quote(value, safe="")


def _key(idempotency_key: str | None) -> dict[str, str]:
    # Generated once per call and sent again on every retry of that call.
    return {"Idempotency-Key": idempotency_key or str(uuid.uuid4())}


_ENROLLMENT = TypeAdapter(models.Enrollment)
_DETAIL = TypeAdapter(models.EnrollmentDetail)
_PAGE = TypeAdapter(models.Page)
_BULK = TypeAdapter(models.BulkResult)
_LIVE = TypeAdapter(models.LiveStatus)
_EVENT = TypeAdapter(models.EventOutcome)
_TIMELINE = TypeAdapter(models.Timeline)
_TIMELINES = TypeAdapter(list[models.Timeline])
_CONTACT = TypeAdapter(models.Contact)
_SAVED = TypeAdapter(models.SavedContact)
_IMPORT = TypeAdapter(models.ImportResult)
_ACCOUNT = TypeAdapter(models.Account)
_ACCOUNT_RESULT = TypeAdapter(models.AccountCommandResult)
_TASK = TypeAdapter(models.Task)
_TASKS = TypeAdapter(models.TaskPage)
_TOUCH = TypeAdapter(models.TouchRecord)
_TOUCHES = TypeAdapter(models.TouchPage)
_DRAFT = TypeAdapter(models.Draft)
_PUBLISHED = TypeAdapter(models.Published)
_DIFF = TypeAdapter(models.Diff)
_OPERATION = TypeAdapter(models.Operation)
_OPERATIONS = TypeAdapter(list[models.Operation])
_ITEMS = TypeAdapter(models.OperationItemPage)
_FOLLOW = TypeAdapter(dict[str, bool])
_PREVIEW = TypeAdapter(models.Preview)
_FORECAST = TypeAdapter(models.Forecast)
_VARIANTS = TypeAdapter(models.VariantReport)
_OUTCOMES = TypeAdapter(models.OutcomeReport)
_FUNNEL = TypeAdapter(models.FunnelReport)
_TOUCH_REPORT = TypeAdapter(models.TouchReport)
_DAILY = TypeAdapter(models.DailyReport)
_COMPARISON = TypeAdapter(models.Comparison)


# --- contacts and accounts ------------------------------------------------------------------


def upsert_contact(external_id: str, fields: dict[str, Any]) -> Call[models.SavedContact]:
    return Call("POST", "/v1/contacts", _SAVED, json=_clean({"external_id": external_id, **fields}), retry_safe=True)


def get_contact(contact: str) -> Call[models.Contact]:
    return Call("GET", f"/v1/contacts/{_seg(contact)}", _CONTACT, retry_safe=True)


def import_contacts(csv_text: str | bytes) -> Call[models.ImportResult]:
    body = csv_text.encode("utf-8") if isinstance(csv_text, str) else csv_text
    # Rows are upserted by external_id, so importing the same file again changes nothing.
    return Call("POST", "/v1/contacts/import", _IMPORT, content=body, headers={"content-type": "text/csv"}, retry_safe=True)


def upsert_account(external_id: str, name: str, fields: dict[str, Any]) -> Call[models.Account]:
    return Call("POST", "/v1/accounts", _ACCOUNT, json=_clean({"external_id": external_id, "name": name, **fields}), retry_safe=True)


def get_account(account: str) -> Call[models.Account]:
    return Call("GET", f"/v1/accounts/{_seg(account)}", _ACCOUNT, retry_safe=True)


def pause_account(account: str, reason: str, until: dt.datetime | None) -> Call[models.AccountCommandResult]:
    # Pausing again pauses nothing more: safe to repeat.
    return Call(
        "POST",
        f"/v1/accounts/{_seg(account)}/pause",
        _ACCOUNT_RESULT,
        json=_clean({"reason": reason, "until": _iso(until)}),
        retry_safe=True,
    )


def resume_account(account: str, reason: str | None) -> Call[models.AccountCommandResult]:
    return Call("POST", f"/v1/accounts/{_seg(account)}/resume", _ACCOUNT_RESULT, json=_clean({"reason": reason}), retry_safe=True)


# --- enrollments ----------------------------------------------------------------------------


def enroll(
    cadence: str | None, contact_external_id: str | None, contact_id: str | None, start_at: dt.datetime | None, idempotency_key: str | None
) -> Call[models.Enrollment]:
    if (contact_external_id is None) == (contact_id is None):
        raise ValueError("give exactly one of contact_external_id and contact_id")
    body = _clean({"cadence_id": cadence, "contact_external_id": contact_external_id, "contact_id": contact_id, "start_at": _iso(start_at)})
    return Call("POST", "/v1/enrollments", _ENROLLMENT, json=body, headers=_key(idempotency_key), retry_safe=True)


def bulk_enroll(cadence: str, contacts: list[str], start_at: dt.datetime | None, idempotency_key: str | None) -> Call[models.BulkResult]:
    body = _clean({"cadence_id": cadence, "contacts": list(contacts), "start_at": _iso(start_at)})
    return Call("POST", "/v1/enrollments/bulk", _BULK, json=body, headers=_key(idempotency_key), retry_safe=True)


def get_enrollment(enrollment_id: str, live: bool) -> Call[models.EnrollmentDetail]:
    params = {} if live else {"live": "false"}
    return Call("GET", f"/v1/enrollments/{_seg(enrollment_id)}", _DETAIL, params=params, retry_safe=True)


def list_enrollments(
    cadence: str | None,
    contact: str | None,
    account_id: str | None,
    status: str | None,
    owner: str | None,
    limit: int,
    offset: int,
    sort: str | None = None,
) -> Call[models.Page]:
    filters = {
        "sort": sort,
        "cadence_id": cadence,
        "contact_id": contact,
        "account_id": account_id,
        "status": status,
        "owner": owner,
        "limit": limit,
        "offset": offset,
    }
    return Call("GET", "/v1/enrollments", _PAGE, params=_clean(filters), retry_safe=True)


def _command(enrollment_id: str, verb: str, body: dict[str, Any], idempotency_key: str | None) -> Call[models.LiveStatus]:
    # The server applies a command with a given key once, so a retry is safe.
    return Call(
        "POST", f"/v1/enrollments/{_seg(enrollment_id)}/{verb}", _LIVE, json=_clean(body), headers=_key(idempotency_key), retry_safe=True
    )


def pause(enrollment_id: str, reason: str, until: dt.datetime | None, idempotency_key: str | None) -> Call[models.LiveStatus]:
    return _command(enrollment_id, "pause", {"reason": reason, "until": _iso(until)}, idempotency_key)


def resume(enrollment_id: str, reason: str | None, idempotency_key: str | None) -> Call[models.LiveStatus]:
    return _command(enrollment_id, "resume", {"reason": reason}, idempotency_key)


def stop(enrollment_id: str, reason: str, idempotency_key: str | None) -> Call[models.LiveStatus]:
    return _command(enrollment_id, "stop", {"reason": reason}, idempotency_key)


def skip(enrollment_id: str, reason: str | None, idempotency_key: str | None) -> Call[models.LiveStatus]:
    return _command(enrollment_id, "skip", {"reason": reason}, idempotency_key)


def timeline(enrollment_id: str) -> Call[models.Timeline]:
    return Call("GET", f"/v1/enrollments/{_seg(enrollment_id)}/timeline", _TIMELINE, retry_safe=True)


def contact_timeline(contact: str) -> Call[list[models.Timeline]]:
    return Call("GET", f"/v1/contacts/{_seg(contact)}/timeline", _TIMELINES, retry_safe=True)


# --- events and tasks -------------------------------------------------------------------------


def send_event(
    type: str, contact_external_id: str | None, contact_id: str | None, event_id: str | None, **fields: Any
) -> Call[models.EventOutcome]:
    if (contact_external_id is None) == (contact_id is None):
        raise ValueError("give exactly one of contact_external_id and contact_id")
    body = _clean(
        {
            "type": type,
            "event_id": event_id or str(uuid.uuid4()),
            "contact_external_id": contact_external_id,
            "contact_id": contact_id,
            **{k: _iso(v) if isinstance(v, dt.date) else v for k, v in fields.items()},
        }
    )
    # The event id is the deduplication key: the same event again is applied once.
    return Call("POST", "/v1/events", _EVENT, json=body, retry_safe=True)


def tasks(owner: str | None, status: str | None, limit: int, offset: int) -> Call[models.TaskPage]:
    return Call(
        "GET", "/v1/tasks", _TASKS, params=_clean({"owner": owner, "status": status, "limit": limit, "offset": offset}), retry_safe=True
    )


def complete_task(task_id: str, outcome: str) -> Call[models.Task]:
    # A retried completion would meet "already completed": not retried on an unclear outcome.
    return Call("POST", f"/v1/tasks/{_seg(task_id)}/complete", _TASK, json={"outcome": outcome})


def skip_task(task_id: str, reason: str) -> Call[models.Task]:
    return Call("POST", f"/v1/tasks/{_seg(task_id)}/skip", _TASK, json={"reason": reason})


def touches(status: str | None, enrollment_id: str | None, contact_id: str | None, limit: int, offset: int) -> Call[models.TouchPage]:
    params = {"status": status, "enrollment_id": enrollment_id, "contact_id": contact_id, "limit": limit, "offset": offset}
    return Call("GET", "/v1/touches", _TOUCHES, params=_clean(params), retry_safe=True)


def resolve_touch(touch_id: str, outcome: str, reason: str) -> Call[models.TouchRecord]:
    # A repeat meets "not unclear" (409): not retried on an unclear outcome.
    return Call("POST", f"/v1/touches/{_seg(touch_id)}/resolve", _TOUCH, json={"outcome": outcome, "reason": reason})


# --- editing cadences and bulk operations ----------------------------------------------------


def save_draft(cadence: str, text: str) -> Call[models.Draft]:
    # The same text again is the same draft.
    body = text.encode("utf-8")
    return Call(
        "PUT", f"/v1/cadences/{_seg(cadence)}/draft", _DRAFT, content=body, headers={"content-type": "application/yaml"}, retry_safe=True
    )


def publish(cadence: str, version: int | None, reason: str | None) -> Call[models.Published]:
    # Publishing what is already published changes nothing (`changed: false`): safe to repeat.
    return Call(
        "POST", f"/v1/cadences/{_seg(cadence)}/publish", _PUBLISHED, json=_clean({"version": version, "reason": reason}), retry_safe=True
    )


def diff(cadence: str, before: str, after: str) -> Call[models.Diff]:
    return Call("GET", f"/v1/cadences/{_seg(cadence)}/diff", _DIFF, params={"from": before, "to": after}, retry_safe=True)


def follow_published(cadence: str, follow: bool) -> Call[dict[str, bool]]:
    return Call("PATCH", f"/v1/cadences/{_seg(cadence)}", _FOLLOW, json={"follow_published": follow}, retry_safe=True)


def preview_operation(body: dict[str, Any]) -> Call[models.Operation]:
    # A repeat previews again (a second plan nobody applies): harmless.
    return Call("POST", "/v1/operations", _OPERATION, json=body, retry_safe=True)


def apply_operation(operation_id: str) -> Call[models.Operation]:
    # Applying again returns the operation's progress: safe to repeat.
    return Call("POST", f"/v1/operations/{_seg(operation_id)}/apply", _OPERATION, retry_safe=True)


def get_operation(operation_id: str) -> Call[models.Operation]:
    return Call("GET", f"/v1/operations/{_seg(operation_id)}", _OPERATION, retry_safe=True)


def list_operations(cadence: str | None, status: str | None, limit: int, offset: int) -> Call[list[models.Operation]]:
    params = _clean({"cadence_id": cadence, "status": status, "limit": limit, "offset": offset})
    return Call("GET", "/v1/operations", _OPERATIONS, params=params, retry_safe=True)


def operation_items(operation_id: str, status: str | None, outcome: str | None, limit: int, offset: int) -> Call[models.OperationItemPage]:
    params = _clean({"status": status, "outcome": outcome, "limit": limit, "offset": offset})
    return Call("GET", f"/v1/operations/{_seg(operation_id)}/items", _ITEMS, params=params, retry_safe=True)


def operation_body(
    action: str,
    filter: dict[str, Any],
    reason: str,
    until: dt.datetime | None,
    to_version: int | None,
    rate_per_second: float | None,
    spread_per_second: float | None,
) -> dict[str, Any]:
    """The body of an operation preview."""
    return _clean(
        {
            "action": action,
            "filter": {k: _iso(v) if isinstance(v, dt.datetime) else v for k, v in filter.items() if v is not None},
            "reason": reason,
            "until": _iso(until),
            "to_version": to_version,
            "rate_per_second": rate_per_second,
            "spread_per_second": spread_per_second,
        }
    )


# --- answers and retries ---------------------------------------------------------------------


def read(call: Call[T], response: httpx.Response) -> T:
    """The parsed answer, or the error the response stands for."""
    if response.is_success:
        return call.answer.validate_json(response.content)
    try:
        body = response.json()
    except ValueError:
        body = None
    raise errors.from_response(response.status_code, body, retry_after(response))


def retry_after(response: httpx.Response) -> float | None:
    """The wait a 429 or 503 asks for: Retry-After in seconds or as an HTTP date."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max((when - dt.datetime.now(dt.UTC)).total_seconds(), 0.0)


@dataclass(frozen=True)
class Retries:
    """How often and how patiently to try again: exponential backoff with jitter, never
    shorter than what the server asked for (Retry-After), never longer than `max_delay`."""

    attempts: int = 3
    base_delay: float = 0.5
    max_delay: float = 30.0

    def delay(self, attempt: int, call: Call[Any], failure: Exception) -> float | None:
        """Seconds to wait before trying `call` again after `failure` on try `attempt`
        (1-based), or None when it must not be retried."""
        if attempt > self.attempts or not _retryable(call, failure):
            return None
        backoff = min(self.base_delay * 2.0 ** (attempt - 1), self.max_delay) * (0.5 + random.random() / 2)
        asked: float = (failure.retry_after or 0.0) if isinstance(failure, errors.RateLimited | errors.Unavailable) else 0.0
        return min(max(backoff, asked), max(self.max_delay, asked))


def _retryable(call: Call[Any], failure: Exception) -> bool:
    if isinstance(failure, httpx.ConnectError | httpx.ConnectTimeout | errors.RateLimited):
        return True  # the request was not taken in: trying again cannot do it twice
    if not call.retry_safe:
        return False
    if isinstance(failure, httpx.TransportError):
        return True  # an answer was lost; repeating a safe request is harmless
    return isinstance(failure, errors.Unavailable) or (isinstance(failure, errors.ServerError) and failure.status in (502, 504))


def unreachable(base_url: str, failure: httpx.TransportError) -> errors.Unreachable:
    """The error for a request that got no answer."""
    return errors.Unreachable(f"no answer from {base_url}: {type(failure).__name__}: {failure}", code="unreachable")


def preview(body: dict[str, Any]) -> Call[models.Preview]:
    # A preview writes nothing: safe to repeat.
    return Call("POST", "/v1/previews", _PREVIEW, json=body, retry_safe=True)


def enrollment_preview(enrollment_id: str, horizon_days: int | None) -> Call[models.Preview]:
    params = _clean({"horizon_days": horizon_days})
    return Call("GET", f"/v1/enrollments/{_seg(enrollment_id)}/preview", _PREVIEW, params=params, retry_safe=True)


def forecast(owner: str | None, weeks: int | None) -> Call[models.Forecast]:
    return Call("GET", "/v1/forecast", _FORECAST, params=_clean({"owner": owner, "weeks": weeks}), retry_safe=True)


def _report_params(cadence: str, since: dt.datetime | None, until: dt.datetime | None, **more: Any) -> dict[str, Any]:
    return _clean({"cadence": cadence, "since": _iso(since), "until": _iso(until), **more})


def variant_report(cadence: str, since: dt.datetime | None, until: dt.datetime | None, **filters: Any) -> Call[models.VariantReport]:
    return Call("GET", "/v1/reports/variants", _VARIANTS, params=_report_params(cadence, since, until, **filters), retry_safe=True)


def outcome_report(
    cadence: str, by: str, since: dt.datetime | None, until: dt.datetime | None, **filters: Any
) -> Call[models.OutcomeReport]:
    return Call("GET", "/v1/reports", _OUTCOMES, params=_report_params(cadence, since, until, by=by, **filters), retry_safe=True)


def funnel_report(cadence: str, since: dt.datetime | None, until: dt.datetime | None, **filters: Any) -> Call[models.FunnelReport]:
    return Call("GET", "/v1/reports/funnel", _FUNNEL, params=_report_params(cadence, since, until, **filters), retry_safe=True)


def touch_report(cadence: str, by: str, since: dt.datetime | None, until: dt.datetime | None, **filters: Any) -> Call[models.TouchReport]:
    return Call(
        "GET", "/v1/reports/touches", _TOUCH_REPORT, params=_report_params(cadence, since, until, by=by, **filters), retry_safe=True
    )


def daily_report(cadence: str, since: dt.datetime | None, until: dt.datetime | None, **filters: Any) -> Call[models.DailyReport]:
    return Call("GET", "/v1/reports/daily", _DAILY, params=_report_params(cadence, since, until, **filters), retry_safe=True)


def compare_report(a: str, b: str, since: dt.datetime | None, until: dt.datetime | None, **filters: Any) -> Call[models.Comparison]:
    params = _clean({"a": a, "b": b, "since": _iso(since), "until": _iso(until), **filters})
    return Call("GET", "/v1/reports/compare", _COMPARISON, params=params, retry_safe=True)
