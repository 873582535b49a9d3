"""Rep tasks and CRM writes created by cadence steps."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from typing import Any

import httpx
from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.gatekeeping import attempt_time, contact_facts
from cadence.contact_policy import ContactPolicy
from cadence.gate import check_contact, local_label, next_slot
from cadence.ids import touch_key
from cadence.levelling import level, week_of
from core.db import transaction
from models import audit, locks, mirror
from models.cadences import bundle_of
from models.contacts import policy_in_force
from models.payloads import CrmInput, CrmResult, TaskInput, TaskOverdueInput, TaskOverdueResult, TaskResult
from models.tables import Account, Contact, Enrollment, Owner, Task
from workflows.calls import INVALID_INPUT

# Standard contact columns a CRM step may set; anything else goes into custom fields.
WRITABLE_COLUMNS = {"title", "persona", "industry", "tier", "owner_id"}


def _gate_entry(session: Session, spec: TaskInput, action: str, reason: str, details: dict[str, Any]) -> None:
    """Audit what the gate decided about a rep task."""
    audit.append(
        session, actor="gate", action=action, enrollment_id=spec.enrollment_id, contact_id=spec.contact_id, reason=reason, details=details
    )


class WorkActivities:
    """create_task, escalate_task and crm_update. Idempotent by step key."""

    def __init__(self, engine: Engine, http: httpx.Client, policy: ContactPolicy | None = None) -> None:
        self.engine = engine
        self.http = http
        self.policy = policy

    @activity.defn(name="create_task")
    def create_task(self, spec: TaskInput) -> TaskResult:
        """Create the rep task for a call, LinkedIn or manual step (once per step key).

        A call task for a contact without call consent, or suppressed, is skipped like a send,
        and it is due only inside the hours the contact may be called (the send window, quiet
        hours for calls, holidays and blackouts, in the contact's own time zone): a due time
        that falls outside them moves to the next allowed moment, with the reason audited.
        """
        key = touch_key(spec.enrollment_id, spec.step_id, spec.occurrence, spec.round)
        contact_id = uuid.UUID(spec.contact_id)
        with transaction(self.engine) as session:
            existing = session.exec(select(Task).where(Task.key == key)).first()
            if existing is not None:
                return TaskResult(status="created", task_id=str(existing.id), due_at=existing.due_at, sla_at=existing.sla_at)
            contact = session.get(Contact, contact_id)
            if contact is None:
                raise ApplicationError(f"contact {contact_id} does not exist", type=INVALID_INPUT, non_retryable=True)
            if spec.kind == "call":
                decision = check_contact(contact_facts(session, contact), "call", "sales")
                if decision.action in ("skip", "stop"):
                    details = {"code": decision.code, "step_id": spec.step_id, "channel": "call"}
                    _gate_entry(session, spec, f"gate_{decision.action}", decision.reason, details)
                    return TaskResult(
                        status="skipped" if decision.action == "skip" else "stopped", reason_code=decision.code, reason=decision.reason
                    )
            now = attempt_time()
            owner_id = spec.owner_id or contact.owner_id
            due = self._levelled(session, owner_id, now + dt.timedelta(hours=spec.due_hours))
            if spec.kind == "call":
                moved = self._callable(session, spec, contact, due)
                if isinstance(moved, TaskResult):
                    return moved
                due = moved
            task = Task(
                key=key,
                enrollment_id=uuid.UUID(spec.enrollment_id),
                contact_id=contact_id,
                owner_id=owner_id,
                step_id=spec.step_id,
                kind=spec.kind,
                title=spec.title,
                instructions=spec.instructions,
                due_at=due,
                # The SLA keeps its distance from the due time when levelling moves the task.
                sla_at=due + dt.timedelta(hours=max(spec.sla_hours - spec.due_hours, 0)) if spec.sla_hours else None,
            )
            session.add(task)
            session.flush()
            if spec.mirror is not None:
                mirror.write_hint(session, spec.enrollment_id, spec.mirror)
            return TaskResult(status="created", task_id=str(task.id), due_at=task.due_at, sla_at=task.sla_at)

    def _callable(self, session: Session, spec: TaskInput, contact: Contact, due: dt.datetime) -> dt.datetime | TaskResult:
        """The first moment at or after `due` the contact may be called, or the skip when
        there is none within a year (both audited)."""
        if self.policy is None:
            return due
        enrollment = session.get(Enrollment, uuid.UUID(spec.enrollment_id))
        account = session.get(Account, contact.account_id) if contact.account_id else None
        rules = bundle_of(session, str(enrollment.cadence_version_id)).definition.policy if enrollment else None
        policy = policy_in_force(self.policy, contact, account, rules)
        zone = contact.timezone or policy.timezone
        slot, why = next_slot(policy, "call", due, timezone=zone, country=contact.country, region=contact.region)
        if slot == due:
            return due
        details = {"step_id": spec.step_id, "channel": "call", "requested": due.isoformat()}
        if slot is None:
            reason = f"skipped: no time to call within a year ({why})"
            _gate_entry(session, spec, "gate_skip", reason, {**details, "code": "no_slot"})
            return TaskResult(status="skipped", reason_code="no_slot", reason=reason)
        reason = f"call due {local_label(slot, zone, due)}: {why}"
        _gate_entry(session, spec, "gate_defer", reason, {**details, "code": "call_hours", "until": slot.isoformat()})
        return slot

    def _levelled(self, session: Session, owner_id: str | None, due: dt.datetime) -> dt.datetime:
        """Move the due time to a week where the owner still has room (under the owner lock,
        so concurrent enrollments fill weeks exactly)."""
        if owner_id is None or self.policy is None:
            return due
        owner = session.get(Owner, owner_id)
        capacity = (owner.weekly_task_capacity if owner else None) or self.policy.owner_weekly_tasks
        if capacity is None:
            return due
        locks.hold_named(session, f"owner:{owner_id}")
        start = week_of(due)
        rows = session.exec(
            select(Task.due_at).where(Task.owner_id == owner_id, Task.status.in_(("open", "overdue")), Task.due_at >= start)  # type: ignore[attr-defined,operator]
        ).all()
        loads = Counter(week_of(d) for d in rows if d is not None)
        return level(due, loads=loads, capacity=capacity)

    @activity.defn(name="escalate_task")
    def escalate_task(self, request: TaskOverdueInput) -> TaskOverdueResult:
        """Mark a task overdue and hand it to the owner's manager (recorded in the audit log)."""
        with transaction(self.engine) as session:
            task = session.get(Task, uuid.UUID(request.task_id))
            if task is None:
                raise ApplicationError(f"task {request.task_id} does not exist", type=INVALID_INPUT, non_retryable=True)
            if task.status != "open":
                return TaskOverdueResult(escalated_to=task.escalated_to)
            owner = session.get(Owner, task.owner_id) if task.owner_id else None
            task.status = "overdue"
            task.escalated_to = owner.manager_id if owner else None
            session.add(task)
            audit.append(
                session,
                actor="system",
                action="task_overdue",
                enrollment_id=task.enrollment_id,
                contact_id=task.contact_id,
                reason=f"task passed its SLA; escalated to {task.escalated_to or 'nobody (no manager on file)'}",
                details={"task_id": str(task.id), "owner_id": task.owner_id, "escalated_to": task.escalated_to},
            )
            return TaskOverdueResult(escalated_to=task.escalated_to)

    @activity.defn(name="crm_update")
    def crm_update(self, spec: CrmInput) -> CrmResult:
        """Write fields on the contact, then POST the change to a webhook if one is set.

        The field write is idempotent (same values again). The webhook gets an
        Idempotency-Key header so the receiver can drop retried deliveries; 5xx and
        connection errors are retried, 4xx is not.
        """
        contact_id = uuid.UUID(spec.contact_id)
        written: list[str] = []
        with transaction(self.engine) as session:
            contact = session.get(Contact, contact_id)
            if contact is None:
                raise ApplicationError(f"contact {contact_id} does not exist", type=INVALID_INPUT, non_retryable=True)
            custom = dict(contact.fields)
            for name, value in spec.set_fields.items():
                if name in WRITABLE_COLUMNS:
                    setattr(contact, name, value)
                else:
                    custom[name] = value
                written.append(name)
            contact.fields = custom
            contact.updated_at = dt.datetime.now(dt.UTC)
            session.add(contact)
            if spec.mirror is not None:
                mirror.write_hint(session, spec.enrollment_id, spec.mirror)
        status: int | None = None
        if spec.webhook_url:
            key = touch_key(spec.enrollment_id, spec.step_id, spec.occurrence, spec.round)
            payload = {
                "enrollment_id": spec.enrollment_id,
                "contact_id": spec.contact_id,
                "step_id": spec.step_id,
                "fields": spec.set_fields,
            }
            try:
                response = self.http.post(spec.webhook_url, json=payload, headers={"Idempotency-Key": key})
            except httpx.HTTPError as exc:
                raise ApplicationError(f"CRM webhook unreachable: {type(exc).__name__}", type="TransientWebhookError") from None
            status = response.status_code
            if status >= 500:
                raise ApplicationError(f"CRM webhook answered {status}", type="TransientWebhookError")
            if status >= 400:
                raise ApplicationError(f"CRM webhook refused the update ({status})", type=INVALID_INPUT, non_retryable=True)
        return CrmResult(fields_written=sorted(written), webhook_status=status)
