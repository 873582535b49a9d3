"""Cadence in your own process: every operation of the service layer as methods, talking to
Temporal and Postgres directly (no HTTP). For code that runs beside the worker (jobs,
notebooks, the test suite); other services use the HTTP client `cadence_client`.

    import asyncio
    from starter.local import LocalCadence

    async def main() -> None:
        async with await LocalCadence.connect(
            database_url="postgresql+psycopg://postgres@127.0.0.1:5432/cadence",
            temporal_address="127.0.0.1:7233",
        ) as cadence:
            enrollment = await cadence.enroll("inbound", "crm-42", actor="signup-service")
            print(enrollment.id, enrollment.status, enrollment.next_step_at)

    asyncio.run(main())

Errors are `NotFound`, `Conflict`, `Invalid` and `Unavailable` from `starter.errors`.
"""

from __future__ import annotations

import builtins
import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import Engine
from temporalio.client import Client

from cadence.contact_policy import ContactPolicy
from cadence.triggers import Rules
from models.payloads import TASK_QUEUE, StatusView
from models.schemas import AccountIn, ContactIn, ContactOut
from starter.service import audit, cadences, commands, contacts, enroll, events, forecast, operations, previews, publishing, reads, tasks
from starter.service.backend import Backend
from starter.service.cadences import CadenceOut
from starter.service.commands import AccountCommandResult
from starter.service.contacts import AccountOut, ContactSaved, ImportResult
from starter.service.enroll import BulkRow
from starter.service.events import EventOutcome
from starter.service.forecast import ForecastOut
from starter.service.operations import ItemPage, OperationOut, OperationRequest
from starter.service.previews import PreviewOut, PreviewRequest, WhatIfs
from starter.service.publishing import DiffOut, DraftOut, PublishOut, Side
from starter.service.reads import EnrollmentDetail, EnrollmentInfo, Page
from starter.service.tasks import TaskOut, TaskPage
from starter.service.timeline import Timeline


class LocalCadence:
    """The in-process library: one object, every business operation."""

    def __init__(
        self,
        temporal: Client,
        engine: Engine,
        *,
        task_queue: str = TASK_QUEUE,
        owns_engine: bool = False,
        policy: ContactPolicy | None = None,
        rules: Rules | None = None,
    ) -> None:
        self.backend = Backend(engine, temporal, task_queue=task_queue, policy=policy, rules=rules, owns_engine=owns_engine)

    @classmethod
    async def connect(
        cls,
        *,
        database_url: str,
        temporal_address: str,
        namespace: str = "default",
        task_queue: str = TASK_QUEUE,
        policy_file: str | None = None,
        rules_file: str | None = None,
    ) -> LocalCadence:
        """Connect to both; close with `await cadence.close()` or use `async with`."""
        backend = await Backend.connect(
            database_url=database_url,
            temporal_address=temporal_address,
            namespace=namespace,
            task_queue=task_queue,
            policy_file=policy_file,
            rules_file=rules_file,
        )
        return cls.of(backend)

    @classmethod
    def of(cls, backend: Backend) -> LocalCadence:
        """The library over an existing backend."""
        library = cls.__new__(cls)
        library.backend = backend
        return library

    async def __aenter__(self) -> LocalCadence:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Release the database pool if this library created it."""
        await self.backend.close()

    @property
    def policy(self) -> ContactPolicy:
        """The contact policy the gate and the segment defaults follow."""
        return self.backend.policy

    @policy.setter
    def policy(self, value: ContactPolicy) -> None:
        self.backend.policy = value

    @property
    def rules(self) -> Rules:
        """The event rules that enroll contacts."""
        return self.backend.rules

    @rules.setter
    def rules(self, value: Rules) -> None:
        self.backend.rules = value

    # --- enrollments -----------------------------------------------------------------------

    async def enroll(
        self, cadence: str | None, contact: str, *, start_at: dt.datetime | None = None, actor: str = "service"
    ) -> EnrollmentInfo:
        """Enroll a contact (idempotent: the open enrollment comes back with created=False)."""
        return await enroll.enroll_contact(self.backend, cadence, contact, start_at=start_at, actor=actor)

    async def bulk_enroll(
        self,
        cadence: str,
        contacts: Iterable[str],
        *,
        actor: str = "service",
        start_at: dt.datetime | None = None,
        per_second: float = 20.0,
        on_row: Callable[[BulkRow], Any] | None = None,
    ) -> list[BulkRow]:
        """Enroll many contacts, throttled; every row reports its own outcome."""
        return await enroll.bulk_enroll(
            self.backend, cadence, contacts, actor=actor, start_at=start_at, per_second=per_second, on_row=on_row
        )

    async def get(self, enrollment_id: str) -> EnrollmentInfo:
        """The enrollment as the Postgres mirror has it."""
        return await reads.get(self.backend, enrollment_id)

    async def status(self, enrollment_id: str, *, live: bool = True) -> EnrollmentDetail:
        """The live status from the workflow (`live=False`: the mirror only), and the touches so far."""
        return await reads.status(self.backend, enrollment_id, live=live)

    async def list(
        self,
        *,
        cadence: str | None = None,
        contact: str | None = None,
        account_id: str | None = None,
        status: str | None = None,
        owner: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Page:
        """Enrollments filtered by cadence, contact, account, status and owner, newest first."""
        return await reads.list_enrollments(
            self.backend, cadence=cadence, contact=contact, account_id=account_id, status=status, owner=owner, limit=limit, offset=offset
        )

    async def pause(
        self, enrollment_id: str, *, actor: str, reason: str, until: dt.datetime | None = None, request_id: str | None = None
    ) -> StatusView:
        """Pause (optionally until an instant)."""
        return await commands.pause(self.backend, enrollment_id, actor=actor, reason=reason, until=until, request_id=request_id)

    async def resume(self, enrollment_id: str, *, actor: str, reason: str | None = None, request_id: str | None = None) -> StatusView:
        """Resume a paused enrollment."""
        return await commands.resume(self.backend, enrollment_id, actor=actor, reason=reason, request_id=request_id)

    async def stop(self, enrollment_id: str, *, actor: str, reason: str, request_id: str | None = None) -> StatusView:
        """Stop for good."""
        return await commands.stop(self.backend, enrollment_id, actor=actor, reason=reason, request_id=request_id)

    async def skip(self, enrollment_id: str, *, actor: str, reason: str | None = None, request_id: str | None = None) -> StatusView:
        """Skip the step the enrollment waits for."""
        return await commands.skip(self.backend, enrollment_id, actor=actor, reason=reason, request_id=request_id)

    async def timeline(self, enrollment_id: str) -> Timeline:
        """The enrollment's whole story, oldest first."""
        return await audit.timeline(self.backend, enrollment_id)

    async def contact_timelines(self, contact: str) -> builtins.list[Timeline]:
        """Every enrollment of a contact, each with its timeline."""
        return await audit.contact_timelines(self.backend, contact)

    # --- events ----------------------------------------------------------------------------

    async def send_event(
        self,
        type: str,
        contact: str,
        *,
        event_id: str,
        intent: str | None = None,
        return_date: dt.date | None = None,
        name: str | None = None,
        task_id: str | None = None,
        outcome: str | None = None,
        channel: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> EventOutcome:
        """Record an event about a contact (written first, with any suppression it implies),
        then deliver it to every open enrollment of the contact; repeats apply once."""
        return await events.send_event(
            self.backend,
            type,
            contact,
            event_id=event_id,
            intent=intent,
            return_date=return_date,
            name=name,
            task_id=task_id,
            outcome=outcome,
            channel=channel,
            data=data,
        )

    # --- contacts, accounts, tasks ---------------------------------------------------------

    async def save_contact(self, contact: ContactIn) -> ContactSaved:
        """Create or update a contact by external id (a new date field fires date rules;
        changed dates move the contact's running enrollments)."""
        saved, _ = await contacts.save_contact(self.backend, contact)
        return saved

    async def get_contact(self, contact: str) -> ContactOut:
        """A contact by id or external id."""
        return await contacts.get_contact(self.backend, contact)

    async def import_contacts(self, csv_text: str) -> ImportResult:
        """Import contacts from CSV text; bad rows are reported, good ones imported (their
        dates fire date rules and move running enrollments, as a single save does)."""
        return await contacts.import_contacts(self.backend, csv_text)

    async def save_account(self, account: AccountIn) -> AccountOut:
        """Create or update an account by external id (a new date field fires date rules for
        its contacts; changed dates move their running enrollments)."""
        saved, _ = await contacts.save_account(self.backend, account)
        return saved

    async def get_account(self, account: str) -> AccountOut:
        """An account by id or external id."""
        return await contacts.get_account(self.backend, account)

    async def pause_account(self, account: str, *, actor: str, reason: str, until: dt.datetime | None = None) -> AccountCommandResult:
        """Pause every active enrollment of the customer's contacts."""
        return await commands.pause_account(self.backend, account, actor=actor, reason=reason, until=until)

    async def resume_account(self, account: str, *, actor: str, reason: str | None = None) -> AccountCommandResult:
        """Resume every paused enrollment of the customer's contacts."""
        return await commands.resume_account(self.backend, account, actor=actor, reason=reason)

    async def tasks(self, *, owner: str | None = None, status: str | None = None, limit: int = 100, offset: int = 0) -> TaskPage:
        """The rep task queue (open and overdue by default)."""
        return await tasks.list_tasks(self.backend, owner=owner, status=status, limit=limit, offset=offset)

    async def complete_task(self, task_id: str, *, actor: str, outcome: str = "completed") -> TaskOut:
        """Mark a task done; the enrollment waiting for it moves on."""
        return await tasks.close_task(self.backend, task_id, actor=actor, outcome=outcome, skipped=False)

    async def skip_task(self, task_id: str, *, actor: str, reason: str = "skipped") -> TaskOut:
        """Skip a task; the enrollment waiting for it moves on."""
        return await tasks.close_task(self.backend, task_id, actor=actor, outcome=reason, skipped=True)

    # --- editing cadences and bulk operations ----------------------------------------------

    async def publish_cadence(self, text: str, *, actor: str) -> CadenceOut:
        """Store a definition (YAML or JSON) as a version and publish it."""
        return await cadences.publish(self.backend, text, actor=actor)

    async def save_draft(self, cadence: str, text: str, *, actor: str) -> DraftOut:
        """Validate a definition and keep it as the cadence's draft (nothing runs from it)."""
        return await publishing.save_draft(self.backend, cadence, text, actor=actor)

    async def publish(self, cadence: str, *, actor: str, version: int | None = None, reason: str | None = None) -> PublishOut:
        """Publish the draft, or an earlier version again (a rollback)."""
        return await publishing.publish(self.backend, cadence, actor=actor, version=version, reason=reason)

    async def diff(self, cadence: str, before: Side = "published", after: Side = "draft") -> DiffOut:
        """What changed between two versions (numbers, "draft" or "published")."""
        return await publishing.compare(self.backend, cadence, before, after)

    async def follow_published(self, cadence: str, follow: bool, *, actor: str) -> bool:
        """Whether running enrollments move to each newly published version."""
        return await publishing.set_follow(self.backend, cadence, follow, actor=actor)

    async def preview_operation(self, request: OperationRequest, *, actor: str) -> OperationOut:
        """Preview a migration, pause, resume or stop of every matching open enrollment."""
        return await operations.preview(self.backend, request, actor=actor)

    async def apply_operation(self, operation_id: str, *, actor: str) -> OperationOut:
        """Apply a previewed operation (once); it runs on in the worker."""
        return await operations.apply(self.backend, operation_id, actor=actor)

    async def operation(self, operation_id: str) -> OperationOut:
        """An operation with its progress."""
        return await operations.get_operation(self.backend, operation_id)

    async def operation_items(
        self, operation_id: str, *, status: str | None = None, outcome: str | None = None, limit: int = 100, offset: int = 0
    ) -> ItemPage:
        """A page of an operation's items: what the preview said, and what happened."""
        return await operations.list_items(self.backend, operation_id, status=status, outcome=outcome, limit=limit, offset=offset)

    async def preview(self, request: PreviewRequest, *, now: dt.datetime | None = None) -> PreviewOut:
        """What a contact would receive, and when, in a cadence version (writes nothing)."""
        return await previews.preview(self.backend, request, now=now)

    async def enrollment_preview(
        self, enrollment_id: str, what_ifs: WhatIfs | None = None, *, now: dt.datetime | None = None
    ) -> PreviewOut:
        """What happens next in a running enrollment, from its live state (`now`: Temporal's
        clock where it is not the wall clock)."""
        return await previews.preview_enrollment(self.backend, enrollment_id, what_ifs, now=now)

    async def forecast(self, *, owner: str | None = None, weeks: int = 12, now: dt.datetime | None = None) -> ForecastOut:
        """The rep tasks each owner will get per week, from every running enrollment."""
        return await forecast.forecast(self.backend, owner=owner, weeks=weeks, now=now)
