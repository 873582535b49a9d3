"""The Python client for other services: enroll contacts, send events, pause, resume, stop.

It talks to Temporal and Postgres directly, so a service can use it without the HTTP API:

    import asyncio
    from starter.client import CadenceClient

    async def main() -> None:
        async with await CadenceClient.connect(
            database_url="postgresql+psycopg://postgres@127.0.0.1:5432/cadence",
            temporal_address="127.0.0.1:7233",
        ) as cadence:
            enrollment = await cadence.enroll("inbound", "crm-42", actor="signup-service")
            print(enrollment.id, enrollment.status, enrollment.next_step_at)

    asyncio.run(main())

Enrolling is idempotent: the same contact and cadence while one enrollment is open returns
that enrollment (created=False), never a second workflow. Every operator command goes to
the workflow as an Update, so an illegal transition comes back as `Conflict` with the
workflow's own message and leaves no trace.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy import Engine
from sqlmodel import Session, func, select
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from cadence.policy import PolicyConfig
from cadence.rules import Status
from cadence.schedule import Position, plan
from cadence.triggers import Rules
from cadence.waiting import describe_step
from core.db import make_engine, transaction
from core.temporal import connect
from workflows import visibility
from models.cadences import bundle_of, find_cadence, latest_version
from models.catalog import load_policy, load_rules
from models.contacts import as_uuid, find_contact
from models.enrollments import OPEN, audit_enrolled, create_or_get, no_contact_until, open_enrollment_of, params_for
from models import mirror
from models.payloads import (
    TASK_QUEUE,
    WORKFLOW_TYPE,
    ActorRequest,
    ContactEventSignal,
    EnrollmentInput,
    EnrollmentParams,
    NamedEventSignal,
    PauseRequest,
    ReplySignal,
    StatusView,
    StopRequest,
    TaskCompletedSignal,
)
from models.policy import effective_policy
from models.tables import Account, Cadence, CadenceVersion, Enrollment, Touch
from starter.errors import CadenceError, Conflict, Invalid, NotFound, Unavailable
from starter.timeline import Timeline
from starter.timeline import build as build_timeline

T = TypeVar("T")

EventType = Literal["reply", "meeting_booked", "bounce", "opt_out", "task_completed", "event"]


class EnrollmentInfo(BaseModel):
    """An enrollment as callers see it: ids, status, what is next and when."""

    id: str
    workflow_id: str
    cadence_id: str
    cadence_key: str
    cadence_version: int | None = None
    version_hash: str | None = None
    contact_id: str
    account_id: str | None
    owner_id: str | None
    status: str
    current_step: int | None
    next_step_id: str | None = None
    next_step_at: dt.datetime | None
    waiting_reason: str | None
    outcome_reason: str | None
    touches_sent: int
    enrolled_by: str
    created_at: dt.datetime
    ended_at: dt.datetime | None
    created: bool = False


class TouchInfo(BaseModel):
    """One touch (a send or a skipped send) of an enrollment."""

    id: str
    step_id: str
    channel: str
    variant: str | None
    template: str | None
    template_version: str | None
    status: str
    provider_id: str | None
    scheduled_at: dt.datetime | None
    sent_at: dt.datetime | None
    error_code: str | None
    error: str | None


class EnrollmentDetail(EnrollmentInfo):
    """An enrollment with its live workflow status and its touches."""

    live: StatusView | None = None
    live_error: str | None = None
    touches: list[TouchInfo] = []


class Page(BaseModel):
    """One page of a list, with the total for paging."""

    items: list[EnrollmentInfo]
    total: int
    limit: int
    offset: int


@dataclass
class EventResult:
    """Which enrollments an event reached."""

    contact_id: str
    delivered_to: list[str] = field(default_factory=list)
    not_running: list[str] = field(default_factory=list)


class EventOutcome(BaseModel):
    """What happened to an event: recorded once, then delivered (or kept as unmatched)."""

    event_id: str
    status: str
    duplicate: bool = False
    contact_ids: list[str] = []
    delivered_to: list[str] = []
    not_running: list[str] = []
    enrolled: list[str] = []


@dataclass
class BulkRow:
    """The outcome of one row of a bulk enrollment."""

    row: int
    contact: str
    ok: bool
    enrollment_id: str | None = None
    created: bool = False
    error: str | None = None
    code: str | None = None


class CadenceClient:
    """Drives enrollments through Temporal with Postgres as the system of record."""

    def __init__(
        self,
        temporal: Client,
        engine: Engine,
        *,
        task_queue: str = TASK_QUEUE,
        owns_engine: bool = False,
        policy: PolicyConfig | None = None,
        rules: Rules | None = None,
    ) -> None:
        self.temporal = temporal
        self.engine = engine
        self.task_queue = task_queue
        self._owns_engine = owns_engine
        self.policy = policy or load_policy()
        self.rules = rules if rules is not None else load_rules()

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
    ) -> CadenceClient:
        """Connect to both; close with `await client.close()` or use `async with`."""
        temporal = await connect(temporal_address, namespace)
        return cls(
            temporal, make_engine(database_url), task_queue=task_queue, owns_engine=True,
            policy=load_policy(policy_file), rules=load_rules(rules_file),
        )

    async def __aenter__(self) -> CadenceClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Release the database pool if this client created it."""
        if self._owns_engine:
            self.engine.dispose()

    async def _db(self, fn: Callable[[Session], T]) -> T:
        def run() -> T:
            with transaction(self.engine) as session:
                return fn(session)

        return await asyncio.to_thread(run)

    # --- enrolling -------------------------------------------------------------------------

    async def enroll(
        self,
        cadence: str | None,
        contact: str,
        *,
        start_at: dt.datetime | None = None,
        actor: str = "service",
    ) -> EnrollmentInfo:
        """Enroll a contact (by id or external id) in a cadence (by id or key; None picks
        the default cadence of the contact's segment).

        Returns the new enrollment (created=True) or the open one (created=False). Refused
        with Conflict inside the no-contact period after the contact finished this cadence
        without responding.
        """
        if start_at is not None and start_at.tzinfo is None:
            raise Invalid("start_at must carry a time zone", {"field": "start_at"})

        def prepare(session: Session) -> tuple[Enrollment, bool, Any]:
            person = find_contact(session, contact)
            if person is None:
                raise NotFound(f"contact {contact!r} not found", {"field": "contact_id"})
            account = session.get(Account, person.account_id) if person.account_id else None
            found = find_cadence(session, cadence or self._segment_cadence(person, account))
            if found is None:
                raise NotFound(f"cadence {cadence!r} not found", {"field": "cadence_id"})
            version = latest_version(session, found)
            if version is None:
                raise NotFound(f"cadence {found.key!r} has no version", {"field": "cadence_id"})
            if open_enrollment_of(session, found.id, person.id) is None:
                policy = effective_policy(self.policy, person, account, bundle_of(session, version.id).definition.policy)
                until = no_contact_until(session, found.id, person.id, policy.no_contact_days)
                if until is not None and until > dt.datetime.now(dt.UTC):
                    raise Conflict(
                        f"{person.external_id} finished {found.key} without responding; "
                        f"re-enrollment is possible from {until.date().isoformat()}",
                        {"until": until.isoformat(), "field": "contact_id"},
                    )
            row, created = create_or_get(session, cadence=found, version=version, contact=person, actor=actor, start_at=start_at)
            params = params_for(session, row) if row.status == "pending" else None
            if created:
                audit_enrolled(session, row, cadence=found, version=version, actor=actor)
            return row, created, params

        row, created, params = await self._db(prepare)
        if params is not None:
            # Only a row that never started gets a workflow; USE_EXISTING makes a retry after
            # a crash between the insert and the start attach instead of starting twice.
            handle = await self._start(params, row.workflow_id)
            run_id = handle.result_run_id or handle.first_execution_run_id
            await self._db(lambda session: mirror.started(session, row.id, run_id))
        info = await self.get(str(row.id))
        return info.model_copy(update={"created": created})

    def _segment_cadence(self, person: Any, account: Any) -> str:
        segment = self.policy.segment_for(
            person.persona, person.industry or (account.industry if account else None), person.tier or (account.tier if account else None)
        )
        if segment is None or segment.cadence is None:
            raise Invalid("no cadence given and the contact's segment has no default cadence", {"field": "cadence_id"})
        return segment.cadence

    async def _start(self, params: Any, workflow_id: str) -> WorkflowHandle[Any, Any]:
        try:
            return await self.temporal.start_workflow(
                WORKFLOW_TYPE,
                EnrollmentInput(params=params),
                id=workflow_id,
                task_queue=self.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                search_attributes=visibility.start_attributes(params),
                static_summary=f"{params.cadence_key} enrollment",
            )
        except RPCError as err:
            raise Unavailable(f"Temporal refused to start the enrollment: {err.message}") from err

    async def bulk_enroll(
        self,
        cadence: str,
        contacts: Iterable[str],
        *,
        actor: str = "service",
        start_at: dt.datetime | None = None,
        per_second: float = 20.0,
        on_row: Callable[[BulkRow], None] | None = None,
    ) -> list[BulkRow]:
        """Enroll many contacts, throttled to `per_second` starts so Temporal is not flooded.

        Each row succeeds or fails on its own; the result reports every row.
        """
        interval = 1.0 / per_second
        results: list[BulkRow] = []
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        for index, ref in enumerate(contacts, start=1):
            delay = next_at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            next_at = max(next_at, loop.time()) + interval
            try:
                info = await self.enroll(cadence, ref, actor=actor, start_at=start_at)
                row = BulkRow(row=index, contact=ref, ok=True, enrollment_id=info.id, created=info.created)
            except CadenceError as err:
                row = BulkRow(row=index, contact=ref, ok=False, error=err.message, code=err.code)
            results.append(row)
            if on_row is not None:
                on_row(row)
        return results

    # --- operator commands -----------------------------------------------------------------

    async def _handle(self, enrollment_id: str) -> tuple[Enrollment, WorkflowHandle[Any, Any]]:
        def load(session: Session) -> Enrollment:
            ref = as_uuid(enrollment_id)
            row = session.get(Enrollment, ref) if ref else None
            if row is None:
                raise NotFound(f"enrollment {enrollment_id!r} not found", {"field": "enrollment_id"})
            return row

        row = await self._db(load)
        return row, self.temporal.get_workflow_handle(row.workflow_id)

    async def _update(self, enrollment_id: str, name: str, arg: BaseModel, request_id: str | None) -> StatusView:
        row, handle = await self._handle(enrollment_id)
        if Status(row.status).terminal:
            raise Conflict(f"cannot {name.replace('_', ' ')}: the enrollment has already ended ({row.status})")
        try:
            result: StatusView = await asyncio.wait_for(
                handle.execute_update(name, arg, id=request_id or str(uuid.uuid4()), result_type=StatusView),
                timeout=30,
            )
            return result
        except WorkflowUpdateFailedError as err:
            cause = err.cause
            message = cause.message if isinstance(cause, ApplicationError) else str(cause)
            raise Conflict(message) from None
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise Conflict("the enrollment's workflow is no longer running") from None
            raise Unavailable(f"Temporal did not accept the command: {err.message}") from None
        except TimeoutError:
            raise Unavailable("no worker answered within 30 seconds; is the worker running?") from None

    async def pause(self, enrollment_id: str, *, actor: str, reason: str, until: dt.datetime | None = None, request_id: str | None = None) -> StatusView:
        """Pause (optionally until an instant); the remaining wait is kept for resume."""
        return await self._update(enrollment_id, "pause", PauseRequest(actor=actor, reason=reason, until=until), request_id)

    async def resume(self, enrollment_id: str, *, actor: str, reason: str | None = None, request_id: str | None = None) -> StatusView:
        """Resume a paused enrollment."""
        return await self._update(enrollment_id, "resume", ActorRequest(actor=actor, reason=reason), request_id)

    async def stop(self, enrollment_id: str, *, actor: str, reason: str, request_id: str | None = None) -> StatusView:
        """Stop an enrollment for good."""
        return await self._update(enrollment_id, "stop", StopRequest(actor=actor, reason=reason), request_id)

    async def skip(self, enrollment_id: str, *, actor: str, reason: str | None = None, request_id: str | None = None) -> StatusView:
        """Skip the step the enrollment waits for."""
        return await self._update(enrollment_id, "skip_step", ActorRequest(actor=actor, reason=reason), request_id)

    # --- events ----------------------------------------------------------------------------

    async def send_event(
        self,
        type: EventType,
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
        source: str = "api",
    ) -> EventOutcome:
        """Record an event about a contact (by id or external id), then deliver it to every
        open enrollment of that contact (each applies it once).

        The event is written first, with any suppression it implies (an opt-out, a bounce),
        so it is never lost. An unknown contact is recorded as unmatched, not refused: an
        operator can see it. Sending the same event id again is harmless.
        """
        from starter import inbound

        return await inbound.send_event(
            self, type, contact, event_id=event_id, source=source,
            payload={"intent": intent, "return_date": return_date.isoformat() if return_date else None, "name": name,
                     "task_id": task_id, "outcome": outcome, "channel": channel, "data": data or {}},
        )

    async def signal_contact(
        self,
        type: EventType,
        contact_id: str,
        *,
        event_id: str,
        intent: str | None = None,
        return_date: dt.date | None = None,
        name: str | None = None,
        task_id: str | None = None,
        outcome: str | None = None,
        channel: str | None = None,
    ) -> EventResult:
        """Signal every open enrollment of one contact (by id). Low level: callers normally
        use `send_event`, which records the event first."""
        signal, payload = _signal_for(type, event_id, intent=intent, return_date=return_date, name=name, task_id=task_id, outcome=outcome, channel=channel)

        def open_rows(session: Session) -> list[Enrollment]:
            ref = as_uuid(contact_id)
            return list(session.exec(select(Enrollment).where(Enrollment.contact_id == ref, Enrollment.status.in_(OPEN))).all())  # type: ignore[attr-defined]

        result = EventResult(contact_id=contact_id)
        for row in await self._db(open_rows):
            try:
                await self.temporal.get_workflow_handle(row.workflow_id).signal(signal, payload)
                result.delivered_to.append(str(row.id))
            except RPCError as err:
                if err.status != RPCStatusCode.NOT_FOUND:
                    raise Unavailable(f"Temporal did not accept the event: {err.message}") from None
                result.not_running.append(str(row.id))
        return result

    # --- reading ---------------------------------------------------------------------------

    async def timeline(self, enrollment_id: str) -> Timeline:
        """The enrollment's whole story: audit log, touches, tasks, events and every workflow
        run's history (from Temporal, or the Postgres archive once Temporal has dropped it)."""
        return await build_timeline(lambda: transaction(self.engine), self.temporal, enrollment_id)

    async def contact_timelines(self, contact: str) -> list[Timeline]:
        """Every enrollment of a contact, each with its timeline (the contact's export)."""

        def ids(session: Session) -> list[str]:
            person = find_contact(session, contact)
            if person is None:
                raise NotFound(f"contact {contact!r} not found", {"field": "contact_id"})
            rows = session.exec(select(Enrollment.id).where(Enrollment.contact_id == person.id).order_by(Enrollment.created_at)).all()  # type: ignore[arg-type]
            return [str(r) for r in rows]

        return [await self.timeline(enrollment_id) for enrollment_id in await self._db(ids)]

    async def get(self, enrollment_id: str) -> EnrollmentInfo:
        """The enrollment as recorded in Postgres (no worker needed)."""

        def load(session: Session) -> EnrollmentInfo:
            ref = as_uuid(enrollment_id)
            row = session.get(Enrollment, ref) if ref else None
            if row is None:
                raise NotFound(f"enrollment {enrollment_id!r} not found", {"field": "enrollment_id"})
            return _info(session, row)

        return await self._db(load)

    async def status(self, enrollment_id: str) -> EnrollmentDetail:
        """Live status from the workflow (state, current step, next due time and why it
        waits) plus the touches so far. Falls back to the Postgres mirror if no worker answers."""
        row, handle = await self._handle(enrollment_id)

        def load(session: Session) -> tuple[EnrollmentInfo, list[TouchInfo]]:
            touches = session.exec(select(Touch).where(Touch.enrollment_id == row.id).order_by(Touch.claimed_at)).all()  # type: ignore[arg-type]
            return _info(session, row), [_touch(t) for t in touches]

        info, touches = await self._db(load)
        live: StatusView | None = None
        error: str | None = None
        try:
            live = await asyncio.wait_for(handle.query("status", result_type=StatusView), timeout=10)
        except (RPCError, TimeoutError) as err:
            error = f"live status unavailable: {getattr(err, 'message', None) or type(err).__name__}"
        except Exception as err:  # a query can fail for reasons the caller cannot fix
            error = f"live status unavailable: {err}"
        return EnrollmentDetail(**info.model_dump(), live=live, live_error=error, touches=touches)

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
        if status is not None and status not in {s.value for s in Status}:
            raise Invalid(f"unknown status {status!r}", {"field": "status", "allowed": [s.value for s in Status]})

        def load(session: Session) -> Page:
            conditions: list[Any] = []
            if cadence:
                found = find_cadence(session, cadence)
                if found is None:
                    raise NotFound(f"cadence {cadence!r} not found", {"field": "cadence_id"})
                conditions.append(Enrollment.cadence_id == found.id)
            if contact:
                person = find_contact(session, contact)
                if person is None:
                    raise NotFound(f"contact {contact!r} not found", {"field": "contact_id"})
                conditions.append(Enrollment.contact_id == person.id)
            if account_id:
                ref = as_uuid(account_id)
                if ref is None:
                    raise Invalid("account_id must be a UUID", {"field": "account_id"})
                conditions.append(Enrollment.account_id == ref)
            if status:
                conditions.append(Enrollment.status == status)
            if owner:
                conditions.append(Enrollment.owner_id == owner)
            total = session.exec(select(func.count()).select_from(Enrollment).where(*conditions)).one()
            rows = session.exec(
                select(Enrollment).where(*conditions).order_by(sa.desc(sa.column("created_at")), sa.column("id")).limit(limit).offset(offset)
            ).all()
            return Page(items=[_info(session, r) for r in rows], total=total, limit=limit, offset=offset)

        return await self._db(load)


def _first_step(params: EnrollmentParams) -> dict[str, Any]:
    """The mirror columns for a fresh enrollment: its first step, when, and why it waits."""
    now = dt.datetime.now(dt.UTC)
    start = max(params.start_at or now, now)
    planned = plan(params.definition, Position(), reference=start, rhythm_start=start, calendar=params.calendar.calendar())
    if planned.position is None:
        return {"waiting_reason": "no step can run for this contact"}
    step = params.definition.steps[planned.position.step]
    return {"current_step": planned.position.step, "next_step_at": planned.at, "waiting_reason": describe_step(step, planned.position)}


def _signal_for(type: EventType, event_id: str, **kw: Any) -> tuple[str, BaseModel]:
    try:
        if type == "reply":
            return "reply", ReplySignal(event_id=event_id, intent=kw["intent"] or "neutral", return_date=kw["return_date"], channel=kw["channel"])
        if type in ("meeting_booked", "bounce", "opt_out"):
            return type, ContactEventSignal(event_id=event_id, channel=kw["channel"])
        if type == "event":
            if not kw["name"]:
                raise Invalid("a named event needs 'name'", {"field": "name"})
            return "event", NamedEventSignal(event_id=event_id, name=kw["name"])
        if type == "task_completed":
            if not kw["task_id"]:
                raise Invalid("task_completed needs 'task_id'", {"field": "task_id"})
            return "task_completed", TaskCompletedSignal(event_id=event_id, task_id=kw["task_id"], outcome=kw["outcome"] or "completed")
    except ValueError as err:
        raise Invalid(str(err)) from None
    raise Invalid(f"unknown event type {type!r}", {"field": "type"})


def _info(session: Session, row: Enrollment) -> EnrollmentInfo:
    cadence = session.get(Cadence, row.cadence_id)
    version = session.get(CadenceVersion, row.cadence_version_id)
    assert cadence is not None
    return EnrollmentInfo(
        id=str(row.id),
        workflow_id=row.workflow_id,
        cadence_id=str(row.cadence_id),
        cadence_key=cadence.key,
        cadence_version=version.version if version else None,
        version_hash=version.content_hash if version else None,
        contact_id=str(row.contact_id),
        account_id=str(row.account_id) if row.account_id else None,
        owner_id=row.owner_id,
        status=row.status,
        current_step=row.current_step,
        next_step_id=_step_id(version, row.current_step),
        next_step_at=row.next_step_at,
        waiting_reason=row.waiting_reason,
        outcome_reason=row.outcome_reason,
        touches_sent=row.touches_sent,
        enrolled_by=row.enrolled_by,
        created_at=row.created_at,
        ended_at=row.ended_at,
    )


def _step_id(version: Any, index: int | None) -> str | None:
    if version is None or index is None:
        return None
    steps = version.definition.get("steps", [])
    return steps[index]["id"] if 0 <= index < len(steps) else None


def _touch(row: Touch) -> TouchInfo:
    return TouchInfo(
        id=str(row.id),
        step_id=row.step_id,
        channel=row.channel,
        variant=row.variant,
        template=row.template,
        template_version=row.template_version,
        status=row.status,
        provider_id=row.provider_id,
        scheduled_at=row.scheduled_at,
        sent_at=row.sent_at,
        error_code=row.error_code,
        error=row.error,
    )


__all__ = ["BulkRow", "CadenceClient", "EnrollmentDetail", "EnrollmentInfo", "EventResult", "Page", "TouchInfo"]
