"""Operator commands: pause, resume, stop and skip one enrollment, or pause and resume every
enrollment of a customer (a CS lead during a renewal negotiation, say).

Each command goes to the workflow as an Update, so an illegal transition comes back as
`Conflict` with the workflow's own reason and leaves no trace. `request_id` (the API's
Idempotency-Key) makes a retried command apply once.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable

from pydantic import BaseModel
from sqlmodel import Session, select

from cadence.rules import OPEN_STATUSES, Status
from cadence.state import ACCOUNT_PAUSE_PREFIX, PauseCause
from models import audit
from models.payloads import ActorRequest, PauseRequest, StatusView, StopRequest
from models.tables import Enrollment
from starter.errors import CadenceError, Conflict, Invalid
from starter.service.backend import Backend
from starter.service.contacts import account_row
from starter.service.reads import enrollment_row


async def _open_workflow(backend: Backend, enrollment_id: str, verb: str) -> str:
    row = await backend.db(lambda session: enrollment_row(session, enrollment_id))
    if Status(row.status).terminal:
        raise Conflict(f"cannot {verb}: the enrollment has already ended ({row.status})")
    return row.workflow_id


async def pause(
    backend: Backend,
    enrollment_id: str,
    *,
    actor: str,
    reason: str,
    until: dt.datetime | None = None,
    request_id: str | None = None,
    cause: PauseCause = "manual",
) -> StatusView:
    """Pause (optionally until an instant); the remaining wait is kept for resume."""
    check_until(until)
    workflow_id = await _open_workflow(backend, enrollment_id, "pause")
    return await backend.workflows.pause(workflow_id, PauseRequest(actor=actor, reason=reason, until=until, cause=cause), request_id)


def check_until(until: dt.datetime | None) -> None:
    """A pause's end must be a future instant with a time zone (422 naming `until`)."""
    if until is None:
        return
    if until.tzinfo is None:
        raise Invalid("until must carry a time zone, e.g. 2026-12-01T09:00:00Z", {"field": "until"})
    if until <= dt.datetime.now(dt.UTC):
        raise Invalid("until is in the past", {"field": "until"})


async def resume(
    backend: Backend,
    enrollment_id: str,
    *,
    actor: str,
    reason: str | None = None,
    request_id: str | None = None,
    only_cause: PauseCause | None = None,
) -> StatusView:
    """Resume a paused enrollment (with `only_cause`, only a pause with that cause)."""
    workflow_id = await _open_workflow(backend, enrollment_id, "resume")
    return await backend.workflows.resume(workflow_id, ActorRequest(actor=actor, reason=reason, only_cause=only_cause), request_id)


async def stop(backend: Backend, enrollment_id: str, *, actor: str, reason: str, request_id: str | None = None) -> StatusView:
    """Stop an enrollment for good."""
    workflow_id = await _open_workflow(backend, enrollment_id, "stop")
    return await backend.workflows.stop(workflow_id, StopRequest(actor=actor, reason=reason), request_id)


async def skip(backend: Backend, enrollment_id: str, *, actor: str, reason: str | None = None, request_id: str | None = None) -> StatusView:
    """Skip the step the enrollment waits for."""
    workflow_id = await _open_workflow(backend, enrollment_id, "skip step")
    return await backend.workflows.skip(workflow_id, ActorRequest(actor=actor, reason=reason), request_id)


class EnrollmentOutcome(BaseModel):
    """What happened to one enrollment of the account."""

    enrollment_id: str
    ok: bool
    status: str | None = None
    error: str | None = None


class AccountCommandResult(BaseModel):
    """What an account pause or resume did: the enrollments it changed, and the ones it left
    as they were (already paused; paused for another reason), with why."""

    account_id: str
    changed: int
    unchanged: int
    enrollments: list[EnrollmentOutcome]


async def pause_account(
    backend: Backend, account: str, *, actor: str, reason: str, until: dt.datetime | None = None
) -> AccountCommandResult:
    """Pause the account (by id or external id): it records who, why and until when (new
    enrollments of its contacts start paused meanwhile), and pauses every open enrollment of
    its contacts. One already paused for another reason keeps that pause."""
    check_until(until)

    def mark(session: Session) -> tuple[str, list[str]]:
        row = account_row(session, account)
        row.paused_at, row.paused_by, row.pause_reason, row.paused_until = dt.datetime.now(dt.UTC), actor, reason, until
        session.add(row)
        audit.append(
            session,
            actor=actor,
            action="account_paused",
            reason=reason,
            details={"account_id": str(row.id), "until": until.isoformat() if until else None},
        )
        return str(row.id), _open_enrollments(session, row.id)

    resolved, ids = await backend.db(mark)
    text = ACCOUNT_PAUSE_PREFIX + reason
    return await _for_each(resolved, ids, lambda eid: pause(backend, eid, actor=actor, reason=text, until=until, cause="account"), skip=())


async def resume_account(backend: Backend, account: str, *, actor: str, reason: str | None = None) -> AccountCommandResult:
    """Lift the account's pause and resume the enrollments it paused; an enrollment a CS lead
    paused for another reason ("legal hold") stays paused and is reported as unchanged."""
    note = reason or "account resumed"

    def clear(session: Session) -> tuple[str, list[str]]:
        row = account_row(session, account)
        was_paused = row.paused_at is not None
        row.paused_at = row.paused_by = row.pause_reason = row.paused_until = None
        session.add(row)
        if was_paused:
            audit.append(session, actor=actor, action="account_resumed", reason=note, details={"account_id": str(row.id)})
        return str(row.id), _open_enrollments(session, row.id)

    resolved, ids = await backend.db(clear)
    # Every open enrollment is asked, not only those the status mirror already shows as
    # paused: the mirror may lag a pause made a moment ago. The ones never paused say so.
    return await _for_each(
        resolved, ids, lambda eid: resume(backend, eid, actor=actor, reason=note, only_cause="account"), skip=("not_paused",)
    )


def _open_enrollments(session: Session, account_id: uuid.UUID) -> list[str]:
    ids = session.exec(
        select(Enrollment.id)
        .where(Enrollment.account_id == account_id, Enrollment.status.in_([s.value for s in OPEN_STATUSES]))  # type: ignore[attr-defined]
        .order_by(Enrollment.created_at)  # type: ignore[arg-type]
    ).all()
    return [str(i) for i in ids]


async def _for_each(
    account_id: str, ids: list[str], command: Callable[[str], Awaitable[StatusView]], *, skip: tuple[str, ...]
) -> AccountCommandResult:
    """Run the command on each enrollment; refusals whose code is in `skip` are not news."""
    outcomes = []
    for enrollment_id in ids:
        try:
            view = await command(enrollment_id)
            outcomes.append(EnrollmentOutcome(enrollment_id=enrollment_id, ok=True, status=view.status.value))
        except CadenceError as err:
            code = err.details.get("code") if isinstance(err.details, dict) else None
            if code not in skip:
                outcomes.append(EnrollmentOutcome(enrollment_id=enrollment_id, ok=False, error=err.message))
    changed = sum(o.ok for o in outcomes)
    return AccountCommandResult(account_id=account_id, changed=changed, unchanged=len(outcomes) - changed, enrollments=outcomes)
