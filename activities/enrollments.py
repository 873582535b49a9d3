"""Enrollment bookkeeping: the status mirror, the audit trail, and switching cadence."""

from __future__ import annotations

import uuid

from sqlalchemy import Engine
from temporalio import activity

from core.db import transaction
from models import audit
from models.cadences import find_cadence, latest_version
from models.enrollments import create_or_get, params_for, update_mirror
from models.payloads import SwitchInput, SwitchResult, TransitionBatch
from models.tables import Contact


class EnrollmentActivities:
    """record_transition and prepare_switch."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

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

    @activity.defn(name="prepare_switch")
    def prepare_switch(self, request: SwitchInput) -> SwitchResult:
        """Create the enrollment in the follow-up cadence after a positive reply.

        Returns the parameters for the new workflow, or why none is started (unknown
        cadence, or the contact is already enrolled in it).
        """
        with transaction(self.engine) as session:
            cadence = find_cadence(session, request.cadence_key)
            version = latest_version(session, cadence) if cadence else None
            if cadence is None or version is None:
                return SwitchResult(reason=f"cadence {request.cadence_key!r} is not loaded")
            contact = session.get(Contact, uuid.UUID(request.contact_id))
            if contact is None:
                return SwitchResult(reason="the contact no longer exists")
            enrollment, created = create_or_get(
                session, cadence=cadence, version=version, contact=contact, actor=f"switch:{request.from_enrollment_id}"
            )
            if not created:
                return SwitchResult(reason=f"already enrolled in {cadence.key}")
            update_mirror(session, enrollment.id, status="active")
            return SwitchResult(params=params_for(session, enrollment), workflow_id=enrollment.workflow_id)
