"""Bulk operations over running enrollments: migrate them to another version of their
cadence, or pause, resume or stop every one that matches a filter.

An operation is previewed first: the preview lists every enrollment it would touch and, for
a migration, where each would land and when its next step would be due (the rules of
`cadence.migration`, computed from the status mirror). Applying names the previewed
operation, so what is applied is what was previewed; a workflow works through the list at
the operation's rate (`starter.service.operation_runner`), each enrollment by an update of
its own workflow, which refuses one that changed since the preview (it is then reported as
stale and left as it was). Applying twice is applying once; a preview older than a day, or
a pause whose `until` has passed, must be previewed again.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlmodel import Session, col, func, select

from cadence.definition import CadenceDefinition
from cadence.migration import OUTCOMES, Landing, Standing, land
from cadence.schedule import Position, plan
from cadence.steps import TaskStep, WaitEventStep
from models import audit
from models.cadences import bundle_of, find_cadence, published_version, version_number
from models.contacts import as_uuid, calendar_facts, find_account
from models.schemas import Instant, required_text
from models.tables import Account, Cadence, CadenceVersion, Contact, Enrollment, Operation, OperationItem
from starter.errors import Conflict, Invalid, NotFound
from starter.service.backend import Backend

Action = Literal["migrate", "pause", "resume", "stop"]
ITEM_STATUSES = ("pending", "applied", "stale", "skipped", "failed")
PREVIEW_TTL = dt.timedelta(hours=24)
MAX_ITEMS = 100_000
# Which open enrollments each action can change (a pause leaves the paused ones alone).
_STATUSES: dict[str, tuple[str, ...]] = {
    "migrate": ("pending", "active", "paused"),
    "pause": ("pending", "active"),
    "resume": ("paused",),
    "stop": ("pending", "active", "paused"),
}


class OperationFilter(BaseModel):
    """Which open enrollments: every field given must match (none given: all of them)."""

    model_config = ConfigDict(extra="forbid")
    cadence_id: str | None = Field(default=None, max_length=200, description="Cadence id or key (required to migrate)")
    versions: list[int] | None = Field(default=None, max_length=100, description="Only these version numbers of the cadence")
    status: Literal["active", "paused"] | None = None
    owner: str | None = Field(default=None, max_length=100)
    account_id: str | None = Field(default=None, max_length=200, description="Account id or external id")
    persona: Literal["executive", "practitioner", "procurement"] | None = None
    industry: str | None = Field(default=None, max_length=100)
    tier: Literal["enterprise", "mid_market", "smb", "tech_touch"] | None = None
    enrolled_after: Instant | None = None
    enrolled_before: Instant | None = None
    enrollment_ids: list[uuid.UUID] | None = Field(default=None, max_length=10_000)


class OperationRequest(BaseModel):
    """Preview an operation: what to do, to which enrollments, and why."""

    model_config = ConfigDict(extra="forbid")
    action: Action
    filter: OperationFilter = Field(default_factory=OperationFilter)
    reason: str = required_text(1000)
    until: Instant | None = Field(default=None, description="pause: resume by itself at this instant")
    to_version: int | None = Field(default=None, ge=1, description="migrate: the version to move to (default: the published one)")
    to_cadence_id: str | None = Field(default=None, max_length=200, description="migrate: must be the filter's cadence if given")
    rate_per_second: float = Field(default=20.0, ge=0.1, le=500.0, description="Enrollments changed per second while applying")
    spread_per_second: float = Field(default=10.0, ge=0.1, le=1000.0, description="migrate: steps made due now, per second")

    @model_validator(mode="after")
    def _consistent(self) -> OperationRequest:
        if self.until is not None and self.action != "pause":
            raise ValueError("until: only a pause takes one")
        if self.action != "migrate" and (self.to_version is not None or self.to_cadence_id is not None):
            raise ValueError("to_version: only a migration takes one")
        return self


class ItemOut(BaseModel):
    """One enrollment of an operation: what the preview said, and what happened."""

    enrollment_id: str
    contact: str | None
    from_version: int | None
    outcome: str
    step_id: str | None = None
    due_at: dt.datetime | None = None
    sentence: str
    status: str
    message: str | None
    applied_at: dt.datetime | None


class OperationOut(BaseModel):
    """An operation with its counts: by previewed outcome, and by what happened so far."""

    id: str
    action: Action
    status: Literal["previewed", "applying", "done", "expired"]
    cadence_key: str | None
    to_version: int | None
    filter: dict[str, Any]
    reason: str
    until: dt.datetime | None
    total: int
    outcomes: dict[str, int]
    progress: dict[str, int]
    rate_per_second: float
    created_by: str
    created_at: dt.datetime
    expires_at: dt.datetime
    applied_by: str | None
    applied_at: dt.datetime | None
    finished_at: dt.datetime | None
    items: list[ItemOut] = Field(default_factory=list, description="The first items (all of them: GET .../items)")


class ItemPage(BaseModel):
    """A page of an operation's items."""

    items: list[ItemOut]
    total: int
    limit: int
    offset: int


# --- preview -----------------------------------------------------------------------------------


async def preview(backend: Backend, request: OperationRequest, *, actor: str) -> OperationOut:
    """Work out what the operation would do to every matching enrollment and keep it, to be
    applied by `apply`. Nothing changes yet."""

    def plan(session: Session) -> OperationOut:
        cadence = _filter_cadence(session, request)
        target = _target(session, request, cadence)
        rows = _matching(session, request, cadence, target)
        if not rows:
            raise Conflict("filter: no open enrollment matches it (nothing to do)", {"field": "filter"})
        if len(rows) > MAX_ITEMS:
            raise Invalid(f"filter: matches {len(rows)} enrollments, more than {MAX_ITEMS}; narrow it", {"field": "filter"})
        now = dt.datetime.now(dt.UTC)
        operation = Operation(
            action=request.action,
            cadence_id=cadence.id if cadence else None,
            to_version_id=target.id if target else None,
            filter=request.filter.model_dump(mode="json", exclude_none=True),
            reason=request.reason,
            until=request.until,
            rate_per_second=request.rate_per_second,
            spread_per_second=request.spread_per_second,
            created_by=actor,
            created_at=now,
            expires_at=now + PREVIEW_TTL,
        )
        items = _items(session, request, rows, target, now)
        operation.total = len(items)
        operation.outcomes = _count(item["outcome"] for item in items)
        session.add(operation)
        session.flush()
        for item in items:
            item["operation_id"] = operation.id
        session.execute(sa.insert(OperationItem), items)
        audit.append(
            session,
            actor=actor,
            action="operation_previewed",
            reason=f"{request.action} of {len(items)} enrollments: {request.reason}",
            details={"operation_id": str(operation.id), "action": request.action, "total": len(items)},
        )
        return _out(session, operation, first=50)

    return await backend.db(plan)


def _filter_cadence(session: Session, request: OperationRequest) -> Cadence | None:
    ref = request.filter.cadence_id
    if ref is None:
        if request.action == "migrate":
            raise Invalid("filter.cadence_id: a migration moves the enrollments of one cadence; name it", {"field": "filter.cadence_id"})
        if request.filter.versions:
            raise Invalid("filter.versions: versions are numbered per cadence; name the cadence", {"field": "filter.versions"})
        return None
    cadence = find_cadence(session, ref)
    if cadence is None:
        raise NotFound(f"cadence {ref!r} not found", {"field": "filter.cadence_id"})
    for number in request.filter.versions or []:
        if version_number(session, cadence, number) is None:
            raise NotFound(f"cadence {cadence.key!r} has no version {number}", {"field": "filter.versions"})
    return cadence


def _target(session: Session, request: OperationRequest, cadence: Cadence | None) -> CadenceVersion | None:
    if request.action != "migrate":
        return None
    assert cadence is not None
    if request.to_cadence_id is not None:
        other = find_cadence(session, request.to_cadence_id)
        if other is None:
            raise NotFound(f"cadence {request.to_cadence_id!r} not found", {"field": "to_cadence_id"})
        if other.id != cadence.id:
            raise Invalid(
                f"to_cadence_id: a migration moves enrollments between versions of one cadence ({cadence.key}); "
                f"to move them to {other.key}, stop them and enroll the contacts there",
                {"field": "to_cadence_id"},
            )
    if request.to_version is None:
        target = published_version(session, cadence)
        if target is None:
            raise Conflict(f"cadence {cadence.key!r} has no published version to migrate to", {"field": "to_version"})
        return target
    found = version_number(session, cadence, request.to_version)
    if found is None:
        raise NotFound(f"cadence {cadence.key!r} has no version {request.to_version}", {"field": "to_version"})
    return found


_Row = tuple[Enrollment, Contact, Account | None, int]


def _matching(session: Session, request: OperationRequest, cadence: Cadence | None, target: CadenceVersion | None) -> list[_Row]:
    """The open enrollments the operation applies to, oldest first."""
    f = request.filter
    query = (
        select(Enrollment, Contact, Account, CadenceVersion.version)
        .join(Contact, col(Contact.id) == col(Enrollment.contact_id))
        .join(CadenceVersion, col(CadenceVersion.id) == col(Enrollment.cadence_version_id))
        .outerjoin(Account, col(Account.id) == col(Contact.account_id))
        .where(col(Enrollment.status).in_(_STATUSES[request.action]))
    )
    if cadence is not None:
        query = query.where(Enrollment.cadence_id == cadence.id)
    if target is not None:
        query = query.where(Enrollment.cadence_version_id != target.id)
    if f.versions:
        query = query.where(col(CadenceVersion.version).in_(f.versions))
    if f.status is not None:
        query = query.where(Enrollment.status == f.status)
    if f.owner is not None:
        query = query.where(Enrollment.owner_id == f.owner)
    if f.account_id is not None:
        account = find_account(session, f.account_id)
        if account is None:
            raise NotFound(f"account {f.account_id!r} not found", {"field": "filter.account_id"})
        query = query.where(Enrollment.account_id == account.id)
    for field, value in (("persona", f.persona), ("industry", f.industry), ("tier", f.tier)):
        if value is not None:
            query = query.where(getattr(Contact, field) == value)
    if f.enrolled_after is not None:
        query = query.where(col(Enrollment.created_at) >= f.enrolled_after)
    if f.enrolled_before is not None:
        query = query.where(col(Enrollment.created_at) < f.enrolled_before)
    if f.enrollment_ids:
        query = query.where(col(Enrollment.id).in_(f.enrollment_ids))
    query = query.order_by(col(Enrollment.created_at), col(Enrollment.id)).limit(MAX_ITEMS + 1)
    return [(e, c, a, v) for e, c, a, v in session.exec(query).all()]


def _items(
    session: Session, request: OperationRequest, rows: list[_Row], target: CadenceVersion | None, now: dt.datetime
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    due_now = 0
    new = bundle_of(session, target.id).definition if target is not None else None
    for seq, (row, contact, account, number) in enumerate(rows):
        base = {"enrollment_id": row.id, "seq": seq, "status": "pending", "applied_at": None, "message": None}
        shown = {"contact": contact.external_id, "from_version": number, "from_version_id": str(row.cadence_version_id)}
        if new is None:
            step = _step_id(session, row)
            sentence = f"{request.action} ({row.status}{f', at step {step!r}' if step else ''})"
            items.append({**base, "outcome": request.action, "preview": {**shown, "step_id": step, "sentence": sentence}})
            continue
        landing, planned_from = _landing(session, row, contact, account, new, now)
        extra: dict[str, Any] = {"planned_from": planned_from.isoformat() if planned_from else None}
        if landing.outcome == "due_now":
            extra["due_now_index"] = due_now
            due_now += 1
        preview = {**shown, **extra, "landing": landing.model_dump(mode="json"), "step_id": landing.step_id, "sentence": landing.sentence}
        preview["due_at"] = landing.due_at.isoformat() if landing.due_at else None
        items.append({**base, "outcome": landing.outcome, "preview": preview})
    return items


def _landing(
    session: Session, row: Enrollment, contact: Contact, account: Account | None, new: CadenceDefinition, now: dt.datetime
) -> tuple[Landing, dt.datetime | None]:
    """Where the enrollment would land, from its mirror row (the workflow checks it again)."""
    old = bundle_of(session, row.cadence_version_id).definition
    calendar = calendar_facts(contact, account).calendar()
    started = max(row.started_at or row.created_at, row.created_at)
    due_at: dt.datetime | None
    if row.current_step is None and row.waiting_on is None:
        # Enrolled a moment ago: its workflow has not written its first plan yet. Plan it
        # as the workflow's start does (from the requested start, or now).
        first = plan(old, Position(), reference=started, rhythm_start=started, calendar=calendar)
        if first.position is None or first.at is None:
            return Landing(outcome="completed", sentence="it has no step to run: completes"), None
        index, occurrence, round_, due_at, planned_from = first.position.step, 0, 0, first.at, started
    else:
        index, occurrence, round_, due_at = row.current_step or 0, row.step_occurrence, row.step_round, row.next_step_at
        planned_from = row.planned_from or started
    if index >= len(old.steps):
        return Landing(outcome="completed", sentence="it has no step left: completes"), None
    step = old.steps[index]
    standing = Standing(
        step_id=step.id,
        occurrence=occurrence,
        round=round_,
        paused=row.status == "paused",
        waiting_on=_waiting_on(row, step),
        due_at=due_at,
        planned_from=planned_from,
    )
    return land(old, new, standing, calendar=calendar, rhythm_start=started, now=now), planned_from


def _waiting_on(row: Enrollment, step: object) -> str:
    if row.waiting_on is not None:
        return row.waiting_on
    # Rows written before the mirror said so: what the step and the reason tell.
    reason = row.waiting_reason or ""
    if isinstance(step, TaskStep) and step.task.wait_for_completion and "task" in reason:
        return "task"
    if isinstance(step, WaitEventStep) and reason.startswith(f"waiting for the {step.event} event"):
        return "event"
    return "time"


def _step_id(session: Session, row: Enrollment) -> str | None:
    definition = bundle_of(session, row.cadence_version_id).definition
    index = row.current_step
    return definition.steps[index].id if index is not None and index < len(definition.steps) else None


def _count(values: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


# --- apply -------------------------------------------------------------------------------------


async def apply(backend: Backend, operation_id: str, *, actor: str) -> OperationOut:
    """Apply a previewed operation (once: applying it again returns its progress)."""

    def start(session: Session) -> tuple[OperationOut, bool]:
        operation = _row(session, operation_id, lock=True)
        if operation.status in ("applying", "done", "expired"):
            return _out(session, operation), operation.status == "applying"
        now = dt.datetime.now(dt.UTC)
        if operation.expires_at <= now:
            operation.status = "expired"  # kept: the refusal below comes after the commit
            session.add(operation)
            return _out(session, operation), False
        if operation.until is not None and operation.until <= now:
            raise Conflict("the pause's until has passed since the preview; preview again", {"field": "until"})
        operation.status = "applying"
        operation.applied_by = actor
        operation.applied_at = now
        session.add(operation)
        session.flush()
        audit.append(
            session,
            actor=actor,
            action="operation_applied",
            reason=f"{operation.action} of {operation.total} enrollments: {operation.reason}",
            details={"operation_id": str(operation.id), "action": operation.action, "total": operation.total},
        )
        return _out(session, operation), True

    out, run = await backend.db(start)
    if out.status == "expired":
        raise Conflict(f"the preview of {out.created_at:%Y-%m-%d %H:%M} UTC is too old to apply; preview again", {"field": "operation_id"})
    if run:
        await backend.workflows.start_operation(out.id, f"{out.action} of {out.total} enrollments")
    return out


async def follow_published(backend: Backend, cadence_key: str, *, actor: str) -> str | None:
    """A cadence that follows its published versions: move every open enrollment on another
    version to the one just published (previewed and applied at once, with the usual rules)."""
    request = OperationRequest(
        action="migrate", filter=OperationFilter(cadence_id=cadence_key), reason="the cadence follows its published version"
    )
    try:
        previewed = await preview(backend, request, actor=f"follow:{actor}")
    except Conflict:
        return None  # no open enrollment on another version
    await apply(backend, previewed.id, actor=f"follow:{actor}")
    return previewed.id


# --- reading -----------------------------------------------------------------------------------


def _row(session: Session, operation_id: str, *, lock: bool = False) -> Operation:
    ref = as_uuid(operation_id)
    query = select(Operation).where(Operation.id == ref)
    found = session.exec(query.with_for_update() if lock else query).first() if ref else None
    if found is None:
        raise NotFound(f"operation {operation_id!r} not found", {"field": "operation_id"})
    return found


def _progress(session: Session, operation: Operation) -> dict[str, int]:
    rows = session.exec(
        select(OperationItem.status, func.count()).where(OperationItem.operation_id == operation.id).group_by(col(OperationItem.status))
    ).all()
    found = dict(rows)
    return {status: found.get(status, 0) for status in ITEM_STATUSES}


def _out(session: Session, operation: Operation, *, first: int = 0) -> OperationOut:
    cadence = session.get(Cadence, operation.cadence_id) if operation.cadence_id else None
    target = session.get(CadenceVersion, operation.to_version_id) if operation.to_version_id else None
    outcomes = {key: operation.outcomes.get(key, 0) for key in (OUTCOMES if operation.action == "migrate" else (operation.action,))}
    return OperationOut(
        id=str(operation.id),
        action=operation.action,
        status=operation.status,
        cadence_key=cadence.key if cadence else None,
        to_version=target.version if target else None,
        filter=operation.filter,
        reason=operation.reason,
        until=operation.until,
        total=operation.total,
        outcomes=outcomes,
        progress=_progress(session, operation),
        rate_per_second=operation.rate_per_second,
        created_by=operation.created_by,
        created_at=operation.created_at,
        expires_at=operation.expires_at,
        applied_by=operation.applied_by,
        applied_at=operation.applied_at,
        finished_at=operation.finished_at,
        items=_item_rows(session, operation, limit=first) if first else [],
    )


def _item_rows(
    session: Session, operation: Operation, *, status: str | None = None, outcome: str | None = None, limit: int = 100, offset: int = 0
) -> list[ItemOut]:
    query = select(OperationItem).where(OperationItem.operation_id == operation.id)
    if status is not None:
        query = query.where(OperationItem.status == status)
    if outcome is not None:
        query = query.where(OperationItem.outcome == outcome)
    rows = session.exec(query.order_by(col(OperationItem.seq)).offset(offset).limit(limit)).all()
    return [_item_out(item) for item in rows]


def _item_out(item: OperationItem) -> ItemOut:
    p = item.preview
    due = p.get("due_at")
    return ItemOut(
        enrollment_id=str(item.enrollment_id),
        contact=p.get("contact"),
        from_version=p.get("from_version"),
        outcome=item.outcome,
        step_id=p.get("step_id"),
        due_at=dt.datetime.fromisoformat(due) if due else None,
        sentence=p.get("sentence", ""),
        status=item.status,
        message=item.message,
        applied_at=item.applied_at,
    )


async def get_operation(backend: Backend, operation_id: str) -> OperationOut:
    """An operation with its counts."""
    return await backend.db(lambda session: _out(session, _row(session, operation_id)))


async def list_items(
    backend: Backend, operation_id: str, *, status: str | None = None, outcome: str | None = None, limit: int = 100, offset: int = 0
) -> ItemPage:
    """A page of an operation's items, in the order they are applied."""

    def load(session: Session) -> ItemPage:
        operation = _row(session, operation_id)
        query = select(func.count()).select_from(OperationItem).where(OperationItem.operation_id == operation.id)
        if status is not None:
            query = query.where(OperationItem.status == status)
        if outcome is not None:
            query = query.where(OperationItem.outcome == outcome)
        total = session.exec(query).one()
        items = _item_rows(session, operation, status=status, outcome=outcome, limit=limit, offset=offset)
        return ItemPage(items=items, total=total, limit=limit, offset=offset)

    return await backend.db(load)


async def list_operations(
    backend: Backend, *, cadence: str | None = None, status: str | None = None, limit: int = 50, offset: int = 0
) -> list[OperationOut]:
    """Operations, newest first."""

    def load(session: Session) -> list[OperationOut]:
        query = select(Operation)
        if cadence is not None:
            found = find_cadence(session, cadence)
            if found is None:
                raise NotFound(f"cadence {cadence!r} not found", {"field": "cadence_id"})
            query = query.where(Operation.cadence_id == found.id)
        if status is not None:
            query = query.where(Operation.status == status)
        rows = session.exec(query.order_by(col(Operation.created_at).desc()).offset(offset).limit(limit)).all()
        return [_out(session, row) for row in rows]

    return await backend.db(load)
