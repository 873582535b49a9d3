"""Enrollment bookkeeping: the status mirror, the audit trail, and switching cadence."""

from __future__ import annotations

from sqlalchemy import Engine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from core.db import transaction
from models import audit
from models.enrollments import update_mirror
from models.payloads import SwitchInput, SwitchResult, TransitionBatch
from starter.client import CadenceClient
from starter.errors import Conflict, NotFound
from workflows.policies import INVALID_INPUT


class EnrollmentActivities:
    """record_transition and switch_cadence."""

    def __init__(self, engine: Engine, starter: CadenceClient | None = None) -> None:
        self.engine = engine
        self.starter = starter

    @activity.defn(name="record_transition")
    def record_transition(self, batch: TransitionBatch) -> None:
        """Mirror state changes into the enrollments table and append them to the audit log,
        in one transaction. A retry after a lost acknowledgement may append the same entries
        again; the entries carry the workflow's timestamps so duplicates are recognisable."""
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
            last = batch.items[-1]
            values: dict[str, object] = {
                "status": last.status.value,
                "current_step": last.step_index,
                "next_step_at": last.next_due_at,
                "waiting_reason": last.waiting_reason,
            }
            if last.ended:
                values.update(outcome_reason=last.reason, ended_at=last.at)
            update_mirror(session, last.enrollment_id, **values)

    @activity.defn(name="switch_cadence")
    async def switch_cadence(self, request: SwitchInput) -> SwitchResult:
        """Enroll the contact in the follow-up cadence after a positive reply.

        Goes through the same idempotent enroll as every other caller, so a retry (or a
        contact already enrolled there) never starts a second workflow.
        """
        if self.starter is None:
            raise ApplicationError("this worker cannot start enrollments (no Temporal client)", type=INVALID_INPUT, non_retryable=True)
        try:
            info = await self.starter.enroll(request.cadence_key, request.contact_id, actor=f"switch:{request.from_enrollment_id}")
        except NotFound as err:
            return SwitchResult(reason=err.message)
        except Conflict as err:
            return SwitchResult(reason=err.message)
        return SwitchResult(enrollment_id=info.id, workflow_id=info.workflow_id, created=info.created)
