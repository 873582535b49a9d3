"""The asynchronous client: `AsyncCadence(base_url, api_key)`, the same methods as `Cadence`."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator
from typing import Any, TypeVar, Unpack

import httpx

from cadence_client import _requests as r
from cadence_client import errors, models

T = TypeVar("T")


class AsyncCadence:
    """Cadence over HTTP for asyncio code: the methods of `Cadence`, awaited. Use it as an
    async context manager, or call `await close()`.

        async with AsyncCadence("https://cadence.example.com", api_key) as cadence:
            enrollment = await cadence.enroll("inbound", contact_external_id="crm-42")

    Safe requests (reads, and writes the server deduplicates: enrollments and commands
    carry an Idempotency-Key generated once per call, events their event id) are retried
    with backoff when the API is unavailable, rate limited or the answer is lost; other
    requests only when they provably never arrived.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 30.0,
        retries: r.Retries | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retries = retries or r.Retries()
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {api_key}", "User-Agent": "cadence-client/0.1", **(headers or {})},
            timeout=timeout,
            transport=transport,
        )

    async def __aenter__(self) -> AsyncCadence:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def _send(self, call: r.Call[T]) -> T:
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._http.request(
                    call.method, call.path, json=call.json, content=call.content, params=call.params, headers=call.headers
                )
                return r.read(call, response)
            except (httpx.TransportError, errors.CadenceError) as failure:
                wait = self.retries.delay(attempt, call, failure)
                if wait is None:
                    if isinstance(failure, httpx.TransportError):
                        raise r.unreachable(self.base_url, failure) from failure
                    raise
                await asyncio.sleep(wait)

    # --- contacts and accounts --------------------------------------------------------------

    async def upsert_contact(self, external_id: str, **fields: Any) -> models.SavedContact:
        """Create or update a contact by your id for it (email, phone, timezone, consent...).
        A date field set for the first time fires the date rules (`enrolled` lists them)."""
        return await self._send(r.upsert_contact(external_id, fields))

    async def get_contact(self, contact: str) -> models.Contact:
        """A contact by Cadence id or your external id."""
        return await self._send(r.get_contact(contact))

    async def import_contacts(self, csv_text: str | bytes) -> models.ImportResult:
        """Import contacts from CSV (header row, external_id required); bad rows are
        reported with their row number and field, good ones imported."""
        return await self._send(r.import_contacts(csv_text))

    async def upsert_account(self, external_id: str, name: str, **fields: Any) -> models.Account:
        """Create or update an account (a company) by your id for it."""
        return await self._send(r.upsert_account(external_id, name, fields))

    async def get_account(self, account: str) -> models.Account:
        """An account by Cadence id or external id."""
        return await self._send(r.get_account(account))

    async def pause_account(self, account: str, reason: str, *, until: dt.datetime | None = None) -> models.AccountCommandResult:
        """Pause every active enrollment of the account's contacts (optionally until a time)."""
        return await self._send(r.pause_account(account, reason, until))

    async def resume_account(self, account: str, reason: str | None = None) -> models.AccountCommandResult:
        """Resume every paused enrollment of the account's contacts."""
        return await self._send(r.resume_account(account, reason))

    # --- enrollments ------------------------------------------------------------------------

    async def enroll(
        self,
        cadence: str | None = None,
        *,
        contact_external_id: str | None = None,
        contact_id: str | None = None,
        start_at: dt.datetime | None = None,
        idempotency_key: str | None = None,
    ) -> models.Enrollment:
        """Enroll a contact in a cadence (by id or key; None: the segment's default).
        Returns the open enrollment (created=False) if there is one."""
        return await self._send(r.enroll(cadence, contact_external_id, contact_id, start_at, idempotency_key))

    async def bulk_enroll(
        self, cadence: str, contacts: list[str], *, start_at: dt.datetime | None = None, idempotency_key: str | None = None
    ) -> models.BulkResult:
        """Enroll up to 1,000 contacts (ids or external ids); each row reports its outcome."""
        return await self._send(r.bulk_enroll(cadence, contacts, start_at, idempotency_key))

    async def get_enrollment(self, enrollment_id: str, *, live: bool = True) -> models.EnrollmentDetail:
        """The enrollment with its live status (`live=False`: from Postgres only, no
        round trip to a worker; for frequent polling) and its touches."""
        return await self._send(r.get_enrollment(enrollment_id, live))

    async def list_enrollments(
        self,
        *,
        cadence: str | None = None,
        contact: str | None = None,
        account_id: str | None = None,
        status: str | None = None,
        owner: str | None = None,
        sort: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> models.Page:
        """One page of enrollments, newest first (`sort="score"`: the contacts with the
        highest lead score first), each with its contact's lead score."""
        return await self._send(r.list_enrollments(cadence, contact, account_id, status, owner, limit, offset, sort))

    async def iter_enrollments(self, *, page_size: int = 100, **filters: Any) -> AsyncIterator[models.Enrollment]:
        """Every enrollment matching the filters, page by page."""
        offset = 0
        while True:
            page = await self.list_enrollments(limit=page_size, offset=offset, **filters)
            for item in page.items:
                yield item
            offset += len(page.items)
            if not page.items or offset >= page.total:
                return

    async def pause(
        self, enrollment_id: str, reason: str, *, until: dt.datetime | None = None, idempotency_key: str | None = None
    ) -> models.LiveStatus:
        """Pause (with `until`, it resumes by itself). Conflict with the reason if illegal."""
        return await self._send(r.pause(enrollment_id, reason, until, idempotency_key))

    async def resume(self, enrollment_id: str, reason: str | None = None, *, idempotency_key: str | None = None) -> models.LiveStatus:
        """Resume a paused enrollment; the remaining wait is kept."""
        return await self._send(r.resume(enrollment_id, reason, idempotency_key))

    async def stop(self, enrollment_id: str, reason: str, *, idempotency_key: str | None = None) -> models.LiveStatus:
        """Stop an enrollment for good."""
        return await self._send(r.stop(enrollment_id, reason, idempotency_key))

    async def skip(self, enrollment_id: str, reason: str | None = None, *, idempotency_key: str | None = None) -> models.LiveStatus:
        """Skip the step the enrollment is waiting for."""
        return await self._send(r.skip(enrollment_id, reason, idempotency_key))

    async def timeline(self, enrollment_id: str) -> models.Timeline:
        """The enrollment's whole story, oldest first (an auditor or cs_lead key)."""
        return await self._send(r.timeline(enrollment_id))

    async def contact_timeline(self, contact: str) -> list[models.Timeline]:
        """Every enrollment of a contact, each with its story."""
        return await self._send(r.contact_timeline(contact))

    # --- events and tasks -------------------------------------------------------------------

    async def send_event(
        self,
        type: str,
        *,
        contact_external_id: str | None = None,
        contact_id: str | None = None,
        event_id: str | None = None,
        intent: str | None = None,
        return_date: dt.date | None = None,
        name: str | None = None,
        task_id: str | None = None,
        outcome: str | None = None,
        channel: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> models.EventOutcome:
        """Tell Cadence something happened (reply, meeting_booked, bounce, opt_out,
        task_completed, or a named event); `event_id` (generated if omitted) applies it once."""
        return await self._send(
            r.send_event(
                type,
                contact_external_id,
                contact_id,
                event_id,
                intent=intent,
                return_date=return_date,
                name=name,
                task_id=task_id,
                outcome=outcome,
                channel=channel,
                data=data,
            )
        )

    async def tasks(self, *, owner: str | None = None, status: str | None = None, limit: int = 100, offset: int = 0) -> models.TaskPage:
        """The rep task queue, soonest due first (open and overdue unless a status is given)."""
        return await self._send(r.tasks(owner, status, limit, offset))

    async def complete_task(self, task_id: str, outcome: str = "completed") -> models.Task:
        """Mark a task done; the enrollment waiting for it moves on."""
        return await self._send(r.complete_task(task_id, outcome))

    async def skip_task(self, task_id: str, reason: str = "skipped") -> models.Task:
        """Skip a task; the enrollment waiting for it moves on."""
        return await self._send(r.skip_task(task_id, reason))

    async def touches(
        self,
        *,
        status: str | None = None,
        enrollment_id: str | None = None,
        contact_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> models.TouchPage:
        """Emails and texts Cadence claimed, oldest first; `status="unclear"` lists the sends
        a crash left without an answer (held, never sent twice) for an operator to settle."""
        return await self._send(r.touches(status, enrollment_id, contact_id, limit, offset))

    async def resolve_touch(self, touch_id: str, outcome: str, reason: str) -> models.TouchRecord:
        """Settle an unclear touch: outcome "sent" (it arrived) or "not_sent" (it never left),
        with what was checked."""
        return await self._send(r.resolve_touch(touch_id, outcome, reason))

    # --- editing cadences and bulk operations ------------------------------------------------

    async def save_draft(self, cadence: str, text: str) -> models.Draft:
        """Validate a definition (YAML or JSON text) and keep it as the cadence's draft;
        nothing runs from a draft. A 422 names the step and the field of every problem."""
        return await self._send(r.save_draft(cadence, text))

    async def publish(self, cadence: str, *, version: int | None = None, reason: str | None = None) -> models.Published:
        """Publish the draft, or (with `version`) an earlier version again: a rollback."""
        return await self._send(r.publish(cadence, version, reason))

    async def diff(self, cadence: str, before: str | int = "published", after: str | int = "draft") -> models.Diff:
        """What changed between two versions (numbers, "draft" or "published")."""
        return await self._send(r.diff(cadence, str(before), str(after)))

    async def follow_published(self, cadence: str, follow: bool) -> bool:
        """Whether running enrollments move to each newly published version."""
        answer = await self._send(r.follow_published(cadence, follow))
        return answer["follow_published"]

    async def preview_operation(
        self,
        action: str,
        reason: str,
        *,
        until: dt.datetime | None = None,
        to_version: int | None = None,
        to_cadence_id: str | None = None,
        rate_per_second: float | None = None,
        spread_per_second: float | None = None,
        **filter: Any,
    ) -> models.Operation:
        """Preview a bulk operation ("migrate", "pause", "resume", "stop") over the open
        enrollments matching the filter (cadence_id, versions, status, owner, account_id,
        persona, industry, tier, enrolled_after, enrolled_before, enrollment_ids). A
        migration moves to `to_version` (default: the published one) of the same cadence."""
        body = r.operation_body(action, filter, reason, until, to_version, rate_per_second, spread_per_second)
        if to_cadence_id is not None:
            body["to_cadence_id"] = to_cadence_id
        return await self._send(r.preview_operation(body))

    async def apply_operation(self, operation_id: str) -> models.Operation:
        """Apply a previewed operation (once; it runs on in Cadence's worker)."""
        return await self._send(r.apply_operation(operation_id))

    async def operation(self, operation_id: str) -> models.Operation:
        """An operation with its progress."""
        return await self._send(r.get_operation(operation_id))

    async def operations(
        self, *, cadence: str | None = None, status: str | None = None, limit: int = 50, offset: int = 0
    ) -> list[models.Operation]:
        """Operations, newest first."""
        return await self._send(r.list_operations(cadence, status, limit, offset))

    async def operation_items(
        self, operation_id: str, *, status: str | None = None, outcome: str | None = None, limit: int = 100, offset: int = 0
    ) -> models.OperationItemPage:
        """A page of an operation's items: what the preview said, and what happened."""
        return await self._send(r.operation_items(operation_id, status, outcome, limit, offset))

    async def wait_for_operation(self, operation_id: str, *, poll: float = 1.0, timeout: float | None = None) -> models.Operation:
        """Poll until the operation is no longer applying (TimeoutError after `timeout` s)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            current = await self.operation(operation_id)
            if current.status != "applying":
                return current
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"operation {operation_id} is still applying after {timeout} s")
            await asyncio.sleep(poll)

    async def preview(
        self,
        cadence: str | None = None,
        *,
        contact_id: str | None = None,
        contact: dict[str, Any] | None = None,
        version: int | str = "published",
        definition: str | None = None,
        start_at: dt.datetime | None = None,
        horizon_days: int | None = None,
        replies: list[dict[str, Any]] | None = None,
        pauses: list[dict[str, Any]] | None = None,
    ) -> models.Preview:
        """What a contact (stored: `contact_id`; or described: `contact`, e.g. {"timezone":
        "America/Chicago", "country": "US", "consent": {"sms": True}}) would receive, and
        when, in a cadence version (or an inline `definition`). Writes nothing."""
        body: dict[str, Any] = {"version": version}
        for key, value in (
            ("cadence", cadence),
            ("contact_id", contact_id),
            ("contact", contact),
            ("definition", definition),
            ("start_at", start_at.isoformat() if start_at else None),
            ("horizon_days", horizon_days),
            ("replies", replies),
            ("pauses", pauses),
        ):
            if value is not None:
                body[key] = value
        return await self._send(r.preview(body))

    async def enrollment_preview(self, enrollment_id: str, *, horizon_days: int | None = None) -> models.Preview:
        """What happens next in a running enrollment, from its live state."""
        return await self._send(r.enrollment_preview(enrollment_id, horizon_days))

    async def forecast(self, *, owner: str | None = None, weeks: int | None = None) -> models.Forecast:
        """The rep tasks each owner will get per week (default 12 weeks), from every running
        enrollment, against their weekly allowance."""
        return await self._send(r.forecast(owner, weeks))

    async def variant_report(
        self, cadence: str, *, since: dt.datetime | None = None, until: dt.datetime | None = None, **filters: Unpack[models.ReportFilter]
    ) -> models.VariantReport:
        """The A/B verdicts of a cadence's tested steps, for enrollments started in the range
        (default: the last 90 days), optionally of one version, owner or cohort."""
        return await self._send(r.variant_report(cadence, since, until, **filters))

    async def outcome_report(
        self,
        cadence: str,
        *,
        by: str = "version",
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        **filters: Unpack[models.ReportFilter],
    ) -> models.OutcomeReport:
        """What became of a cadence's enrollments (started in the range; default the last 90
        days) by version, owner or cohort: counts, opens, clicks, replies by intent, rates, and
        times to first touch and reply. The keyword filters narrow the enrollments counted."""
        return await self._send(r.outcome_report(cadence, by, since, until, **filters))

    async def funnel_report(
        self, cadence: str, *, since: dt.datetime | None = None, until: dt.datetime | None = None, **filters: Unpack[models.ReportFilter]
    ) -> models.FunnelReport:
        """A cadence's step funnel: who reached each step, and who ended there and how."""
        return await self._send(r.funnel_report(cadence, since, until, **filters))

    async def touch_report(
        self,
        cadence: str,
        *,
        by: str = "step",
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        **filters: Unpack[models.ReportFilter],
    ) -> models.TouchReport:
        """A cadence's messages by step, channel or variant: delivered, opened, clicked,
        replied, bounced, opted out, and the rates per message delivered."""
        return await self._send(r.touch_report(cadence, by, since, until, **filters))

    async def daily_report(
        self, cadence: str, *, since: dt.datetime | None = None, until: dt.datetime | None = None, **filters: Unpack[models.ReportFilter]
    ) -> models.DailyReport:
        """A cadence's sends, opens, clicks and replies per UTC day."""
        return await self._send(r.daily_report(cadence, since, until, **filters))

    async def compare_report(
        self, a: str, b: str, *, since: dt.datetime | None = None, until: dt.datetime | None = None, **filters: Unpack[models.CohortFilter]
    ) -> models.Comparison:
        """Two cadences, or two versions ("key@3"), side by side with a verdict on their
        response rates."""
        return await self._send(r.compare_report(a, b, since, until, **filters))
