"""Reading enrollments: one by id (from the Postgres mirror, no worker needed), its live
status from the workflow, and filtered lists."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, Field
from sqlmodel import Session, func, select
from temporalio.service import RPCError

from cadence.rules import Status
from models.cadences import find_cadence
from models.contacts import as_uuid, find_contact
from models.payloads import StatusView
from models.scores import current_sql
from models.tables import Cadence, CadenceVersion, Contact, Enrollment, Touch
from starter.errors import Invalid, NotFound
from starter.service.backend import Backend


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
    contact_score: float | None = Field(default=None, description="The contact's lead score now (in lists)")
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


def enrollment_row(session: Session, enrollment_id: str) -> Enrollment:
    """The enrollment's row by id; NotFound otherwise."""
    ref = as_uuid(enrollment_id)
    row = session.get(Enrollment, ref) if ref else None
    if row is None:
        raise NotFound(f"enrollment {enrollment_id!r} not found", {"field": "enrollment_id"})
    return row


async def get(backend: Backend, enrollment_id: str) -> EnrollmentInfo:
    """The enrollment as recorded in Postgres (no worker needed)."""
    return await backend.db(lambda session: info(session, enrollment_row(session, enrollment_id)))


async def status(backend: Backend, enrollment_id: str, *, live: bool = True) -> EnrollmentDetail:
    """Live status from the workflow (state, current step, next due time and why it waits)
    plus the touches so far. Falls back to the Postgres mirror if no worker answers;
    `live=False` reads the mirror only (no query: what frequent polling should use)."""

    def load(session: Session) -> tuple[str, EnrollmentInfo, list[TouchInfo]]:
        row = enrollment_row(session, enrollment_id)
        touches = session.exec(select(Touch).where(Touch.enrollment_id == row.id).order_by(Touch.claimed_at)).all()  # type: ignore[arg-type]
        return row.workflow_id, info(session, row), [_touch(t) for t in touches]

    workflow_id, recorded, touches = await backend.db(load)
    view: StatusView | None = None
    error: str | None = None
    if live:
        try:
            view = await backend.workflows.status(workflow_id)
        except (RPCError, TimeoutError) as err:
            error = f"live status unavailable: {getattr(err, 'message', None) or type(err).__name__}"
        except Exception as err:  # a query can fail for reasons the caller cannot fix
            error = f"live status unavailable: {err}"
    return EnrollmentDetail(**recorded.model_dump(), live=view, live_error=error, touches=touches)


EnrollmentSort = Literal["newest", "score"]


async def list_enrollments(
    backend: Backend,
    *,
    cadence: str | None = None,
    contact: str | None = None,
    account_id: str | None = None,
    status: str | None = None,
    owner: str | None = None,
    sort: EnrollmentSort = "newest",
    limit: int = 50,
    offset: int = 0,
) -> Page:
    """Enrollments filtered by cadence, contact, account, status and owner, newest first (or
    with `sort="score"`, the most engaged contacts first: whom a rep should call), each with
    its contact's lead score."""
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
        score = current_sql(backend.scoring)
        newest: sa.UnaryExpression[Any] = sa.desc(sa.literal_column("enrollments.created_at"))
        order = (sa.desc(score), newest) if sort == "score" else (newest,)
        rows = session.exec(
            select(Enrollment, score)
            .join(Contact, Contact.id == Enrollment.contact_id)  # type: ignore[arg-type]
            .where(*conditions)
            .order_by(*order, sa.literal_column("enrollments.id"))
            .limit(limit)
            .offset(offset)
        ).all()
        return Page(
            items=[info(session, r).model_copy(update={"contact_score": round(float(s), 1)}) for r, s in rows],
            total=total,
            limit=limit,
            offset=offset,
        )

    return await backend.db(load)


def info(session: Session, row: Enrollment) -> EnrollmentInfo:
    """The caller's view of an enrollment row."""
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


def _step_id(version: CadenceVersion | None, index: int | None) -> str | None:
    if version is None or index is None:
        return None
    steps = version.definition.get("steps", [])
    return str(steps[index]["id"]) if 0 <= index < len(steps) else None


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
