"""Operator commands: pause, resume, stop and skip one enrollment, or pause and resume every
enrollment of a customer (a CS lead during a renewal negotiation, say).

Each command goes to the workflow as an Update, so an illegal transition comes back as
`Conflict` with the workflow's own reason and leaves no trace. `request_id` (the API's
Idempotency-Key) makes a retried command apply once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable

from pydantic import BaseModel
from sqlmodel import Session, select

from cadence.rules import Status
from models.payloads import ActorRequest, PauseRequest, StatusView, StopRequest
from models.tables import Enrollment
from starter.errors import CadenceError, Conflict, Invalid
from starter.service.backend import Backend
from starter.service.contacts import account_row
from starter.service.reads import enrollment_row

ACCOUNT_PAUSE_PREFIX = "account paused: "


async def _open_workflow(backend: Backend, enrollment_id: str, verb: str) -> str:
    row = await backend.db(lambda session: enrollment_row(session, enrollment_id))
    if Status(row.status).terminal:
        raise Conflict(f"cannot {verb}: the enrollment has already ended ({row.status})")
    return row.workflow_id


async def pause(
    backend: Backend, enrollment_id: str, *, actor: str, reason: str, until: dt.datetime | None = None, request_id: str | None = None
) -> StatusView:
    """Pause (optionally until an instant); the remaining wait is kept for resume."""
    check_until(until)
    workflow_id = await _open_workflow(backend, enrollment_id, "pause")
    return await backend.workflows.pause(workflow_id, PauseRequest(actor=actor, reason=reason, until=until), request_id)


def check_until(until: dt.datetime | None) -> None:
    """A pause's end must be a future instant with a time zone (422 naming `until`)."""
    if until is None:
        return
    if until.tzinfo is None:
        raise Invalid("until must carry a time zone, e.g. 2026-12-01T09:00:00Z", {"field": "until"})
    if until <= dt.datetime.now(dt.UTC):
        raise Invalid("until is in the past", {"field": "until"})


async def resume(
    backend: Backend, enrollment_id: str, *, actor: str, reason: str | None = None, request_id: str | None = None
) -> StatusView:
    """Resume a paused enrollment."""
    workflow_id = await _open_workflow(backend, enrollment_id, "resume")
    return await backend.workflows.resume(workflow_id, ActorRequest(actor=actor, reason=reason), request_id)


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
    """Every open enrollment of the account's contacts, and what the command did to it."""

    account_id: str
    changed: int
    unchanged: int
    enrollments: list[EnrollmentOutcome]


async def pause_account(
    backend: Backend, account: str, *, actor: str, reason: str, until: dt.datetime | None = None
) -> AccountCommandResult:
    """Pause every active enrollment of the account's contacts (by account id or external id)."""
    check_until(until)
    text = ACCOUNT_PAUSE_PREFIX + reason
    return await _for_each(backend, account, "active", lambda eid: pause(backend, eid, actor=actor, reason=text, until=until))


async def resume_account(backend: Backend, account: str, *, actor: str, reason: str | None = None) -> AccountCommandResult:
    """Resume every paused enrollment of the account's contacts."""
    note = reason or "account resumed"
    return await _for_each(backend, account, "paused", lambda eid: resume(backend, eid, actor=actor, reason=note))


async def _for_each(backend: Backend, account: str, status: str, command: Callable[[str], Awaitable[StatusView]]) -> AccountCommandResult:
    def load(session: Session) -> tuple[str, list[str]]:
        row = account_row(session, account)
        ids = session.exec(
            select(Enrollment.id).where(Enrollment.account_id == row.id, Enrollment.status == status).order_by(Enrollment.created_at)  # type: ignore[arg-type]
        ).all()
        return str(row.id), [str(i) for i in ids]

    resolved, ids = await backend.db(load)
    outcomes = []
    for enrollment_id in ids:
        try:
            view = await command(enrollment_id)
            outcomes.append(EnrollmentOutcome(enrollment_id=enrollment_id, ok=True, status=view.status.value))
        except CadenceError as err:
            outcomes.append(EnrollmentOutcome(enrollment_id=enrollment_id, ok=False, error=err.message))
    changed = sum(o.ok for o in outcomes)
    return AccountCommandResult(account_id=resolved, changed=changed, unchanged=len(outcomes) - changed, enrollments=outcomes)
