"""The enrollment status mirror: the one module that writes what an `enrollments` row says
about its workflow (status, current step, next step time, why it waits, how it ended).

Every value written here comes from the workflow: a transition batch carries the mirror as
the workflow's state machine has it, and a step's activity carries the workflow's hint of
where the enrollment goes once the step is done, written in the step's own transaction (no
extra round trip per step). The starter only records that the workflow started.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlmodel import Session

from cadence.state import Mirror, MirrorHint
from models.tables import Enrollment

# A send marked sent and counted in one statement (one round trip per send), with the
# mirror moved to the next step when the workflow gave a hint. Only an unsettled claim
# moves, so a mark repeated after a lost acknowledgement counts the send once.
_SENT_SQL = """
    WITH sent AS (
        UPDATE touches SET status = 'sent', provider_id = :provider, sent_at = :now, status_at = :now, error_code = NULL, error = NULL
        WHERE id = :touch AND status IN ('claimed', 'retrying', 'unclear') RETURNING enrollment_id
    )
    UPDATE enrollments SET touches_sent = touches_sent + 1, updated_at = :now{mirror}
    WHERE id IN (SELECT enrollment_id FROM sent)
"""
_SENT_WITH_HINT = sa.text(
    _SENT_SQL.format(
        mirror=", current_step = :step, next_step_at = :due, waiting_reason = COALESCE(:reason, waiting_reason),"
        " step_occurrence = COALESCE(:occurrence, step_occurrence), step_round = COALESCE(:round, step_round),"
        " planned_from = COALESCE(:planned_from, planned_from), waiting_on = COALESCE(:waiting_on, waiting_on)"
    )
)
_SENT = sa.text(_SENT_SQL.format(mirror=""))


def _update(session: Session, enrollment_id: uuid.UUID | str, values: dict[str, Any]) -> None:
    values["updated_at"] = dt.datetime.now(dt.UTC)
    session.exec(sa.update(Enrollment).where(Enrollment.id == uuid.UUID(str(enrollment_id))).values(**values))  # type: ignore[arg-type]


def write(session: Session, enrollment_id: uuid.UUID | str, mirror: Mirror, *, version_id: str | None = None) -> None:
    """The whole mirror as the workflow has it (after a transition); `version_id`: the
    cadence version it runs now (after a migration)."""
    values = mirror.columns()
    if version_id is not None:
        values["cadence_version_id"] = uuid.UUID(version_id)
    _update(session, enrollment_id, values)


def planned(session: Session, enrollment_id: uuid.UUID | str, opening: Mirror) -> None:
    """The first step as planned at enrollment (`models.enrollments.opening`); the status
    stays pending until the workflow has started."""
    values = opening.columns()
    del values["status"]
    _update(session, enrollment_id, values)


def write_hint(session: Session, enrollment_id: uuid.UUID | str, hint: MirrorHint) -> None:
    """Where the enrollment goes now that this step is done (in the step's transaction)."""
    _update(session, enrollment_id, hint.columns())


def write_deferral(session: Session, enrollment_id: uuid.UUID | str, until: dt.datetime | None, reason: str) -> None:
    """The gate deferred the step: the same step, at `until`, for this reason (the workflow
    records the same deferral when the activity returns)."""
    _update(session, enrollment_id, {"next_step_at": until, "waiting_reason": reason})


def mark_sent(conn: Connection, touch_id: uuid.UUID, provider_id: str, hint: MirrorHint | None) -> None:
    """Mark a claimed touch sent, count it on its enrollment and apply the step's hint."""
    now = dt.datetime.now(dt.UTC)
    conn.execute(
        _SENT_WITH_HINT if hint is not None else _SENT,
        {
            "touch": touch_id,
            "provider": provider_id,
            "now": now,
            "step": hint.next_step_index if hint else None,
            "due": hint.next_due_at if hint else None,
            "reason": hint.waiting_reason if hint else None,
            "occurrence": hint.occurrence if hint else None,
            "round": hint.round if hint else None,
            "planned_from": hint.planned_from if hint else None,
            "waiting_on": hint.waiting_on if hint else None,
        },
    )


def started(session: Session, enrollment_id: uuid.UUID | str, run_id: str | None) -> None:
    """The enrollment's workflow has started: pending becomes active, and the first run id
    is kept (a workflow that already wrote its own status keeps it)."""
    session.exec(
        sa.update(Enrollment)
        .where(Enrollment.id == uuid.UUID(str(enrollment_id)))  # type: ignore[arg-type]
        .values(
            status=sa.case((Enrollment.status == "pending", "active"), else_=Enrollment.status),  # type: ignore[arg-type]
            run_id=sa.func.coalesce(Enrollment.run_id, run_id),
            updated_at=dt.datetime.now(dt.UTC),
        )
    )
