"""Enrollment bookkeeping: the audit trail with the status mirror, and switching cadence."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Protocol

from sqlalchemy import Engine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from core import metrics
from core.db import transaction
from models import audit, mirror
from models.payloads import Mirror, SwitchInput, SwitchResult, TransitionBatch
from workflows.calls import INVALID_INPUT


class Enroller(Protocol):
    """Starts (or finds) the contact's enrollment in another cadence: the service layer's
    idempotent enroll, injected by the worker. Refusals come back as a result with a reason."""

    def __call__(self, cadence_key: str, contact_id: str, *, actor: str) -> Awaitable[SwitchResult]: ...


class EnrollmentActivities:
    """record_transition and switch_cadence."""

    def __init__(self, engine: Engine, enroller: Enroller | None = None) -> None:
        self.engine = engine
        self.enroller = enroller

    @activity.defn(name="record_transition")
    def record_transition(self, batch: TransitionBatch) -> None:
        """Append state changes to the audit log and write the status mirror the workflow
        sent, in one transaction. A retry after a lost acknowledgement may append the same
        entries again; the entries carry the workflow's timestamps so duplicates are
        recognisable. Retried for an hour (database errors are transient)."""
        with transaction(self.engine) as session:
            for item in batch.items:
                audit.append(
                    session,
                    actor=item.actor,
                    action=item.action,
                    enrollment_id=item.enrollment_id,
                    contact_id=item.contact_id,
                    reason=item.reason,
                    at=item.at,
                    details={**item.details, "status": item.status.value, "step_index": item.step_index},
                )
            enrollment_id = batch.enrollment_id or (batch.items[-1].enrollment_id if batch.items else None)
            state = batch.mirror or _from_last(batch)
            if enrollment_id is not None and state is not None:
                mirror.write(session, enrollment_id, state, version_id=batch.cadence_version_id)
        for item in batch.items:
            if item.ended:
                metrics.ENROLLMENTS_ENDED.labels(item.status.value).inc()

    @activity.defn(name="switch_cadence")
    async def switch_cadence(self, request: SwitchInput) -> SwitchResult:
        """Enroll the contact in the follow-up cadence after a positive reply.

        Goes through the same idempotent enroll as every other caller, so a retry (or a
        contact already enrolled there) never starts a second workflow.
        """
        if self.enroller is None:
            raise ApplicationError("this worker cannot start enrollments (no Temporal client)", type=INVALID_INPUT, non_retryable=True)
        return await self.enroller(request.cadence_key, request.contact_id, actor=f"switch:{request.from_enrollment_id}")


def _from_last(batch: TransitionBatch) -> Mirror | None:
    """The mirror of a batch scheduled before batches carried it: its last item's state."""
    if not batch.items:
        return None
    last = batch.items[-1]
    return Mirror(
        status=last.status,
        current_step=last.step_index,
        next_step_at=last.next_due_at,
        waiting_reason=last.waiting_reason,
        outcome_reason=last.reason if last.ended else None,
        ended_at=last.at if last.ended else None,
    )
