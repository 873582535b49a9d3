"""Rep tasks and CRM writes created by cadence steps."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.gatekeeping import attempt_time, contact_facts
from cadence.contact_policy import ContactPolicy
from cadence.contact_rules import ContactRules
from cadence.gate import GateDecision, check_contact, local_label, next_slot, reason_code
from cadence.ids import touch_key
from cadence.levelling import level, week_of
from core import metrics
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


@dataclass(frozen=True)
class TaskPlan:
    """When a rep task created now would be due (`moved_reason`: why the call hours moved
    it), or the gate's refusal; `audit`: what the gate entry records besides the code."""

    due_at: dt.datetime | None = None
    requested: dt.datetime | None = None
    moved_reason: str | None = None
    moved_code: str | None = None
    refused: GateDecision | None = None
    audit: dict[str, Any] = field(default_factory=dict)


def plan_task(
    session: Session,
    config: ContactPolicy | None,
    contact: Contact,
    rules: ContactRules | None,
    *,
    kind: str,
    owner_id: str | None,
    due_hours: int,
    now: dt.datetime,
    lock: bool = True,
    also_due: Sequence[dt.datetime] = (),
) -> TaskPlan:
    """Decide a rep task's due time as `create_task` does, reading only: the consent and
    suppressions of a call, the owner's weekly capacity (under the owner lock when `lock`,
    so concurrent enrollments fill weeks exactly), and the hours the contact may be called.
    The preview asks it with `lock=False`, and a forecast adds the tasks it has planned for
    the owner so far (`also_due`) to the weeks' loads."""
    if kind == "call":
        decision = check_contact(contact_facts(session, contact), "call", "sales")
        if decision.action in ("skip", "stop"):
            return TaskPlan(refused=decision)
    requested = now + dt.timedelta(hours=due_hours)
    due = _levelled(session, config, owner_id, requested, lock=lock, also_due=also_due)
    if kind != "call" or config is None:
        return TaskPlan(due_at=due, requested=requested)
    account = session.get(Account, contact.account_id) if contact.account_id else None
    policy = policy_in_force(config, contact, account, rules)
    zone = contact.timezone or policy.timezone
    slot, why = next_slot(policy, "call", due, timezone=zone, country=contact.country, region=contact.region)
    if slot == due:
        return TaskPlan(due_at=due, requested=requested)
    asked = {"requested": due.isoformat()}
    if slot is None:
        refused = GateDecision("skip", "no_slot", f"skipped: no time to call within a year ({why})")
        return TaskPlan(refused=refused, audit=asked)
    moved = f"call due {local_label(slot, zone, due)}: {why}"
    return TaskPlan(due_at=slot, requested=requested, moved_reason=moved, moved_code=reason_code(why), audit=asked)


def _gate_label(plan: TaskPlan) -> tuple[str, str]:
    if plan.refused is not None:
        return plan.refused.action, plan.refused.code
    return ("defer", plan.moved_code or "deferred") if plan.moved_reason else ("allow", "allowed")


def owner_capacity(session: Session, config: ContactPolicy | None, owner_id: str | None) -> int | None:
    """How many rep tasks an owner takes a week before new ones move to a later week (the
    owner's own allowance, else the policy's; None: no limit)."""
    if owner_id is None or config is None:
        return None
    owner = session.get(Owner, owner_id)
    return (owner.weekly_task_capacity if owner else None) or config.owner_weekly_tasks


def _levelled(
    session: Session,
    config: ContactPolicy | None,
    owner_id: str | None,
    due: dt.datetime,
    *,
    lock: bool,
    also_due: Sequence[dt.datetime] = (),
) -> dt.datetime:
    """Move the due time to a week where the owner still has room."""
    capacity = owner_capacity(session, config, owner_id)
    if owner_id is None or capacity is None:
        return due
    if lock:
        locks.hold_named(session, f"owner:{owner_id}")
    start = week_of(due)
    rows = session.exec(
        select(Task.due_at).where(Task.owner_id == owner_id, Task.status.in_(("open", "overdue")), Task.due_at >= start)  # type: ignore[attr-defined,operator]
    ).all()
    loads = Counter(week_of(d) for d in (*rows, *also_due) if d is not None)
    return level(due, loads=loads, capacity=capacity)


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
            enrollment = session.get(Enrollment, uuid.UUID(spec.enrollment_id)) if spec.kind == "call" else None
            rules = bundle_of(session, str(enrollment.cadence_version_id)).definition.policy if enrollment else None
            owner_id = spec.owner_id or contact.owner_id
            plan = plan_task(
                session, self.policy, contact, rules, kind=spec.kind, owner_id=owner_id, due_hours=spec.due_hours, now=attempt_time()
            )
            details: dict[str, Any] = {"step_id": spec.step_id, "channel": "call"}
            if spec.kind == "call":
                metrics.GATE_DECISIONS.labels(*_gate_label(plan)).inc()
            if plan.refused is not None:
                refused = plan.refused
                _gate_entry(session, spec, f"gate_{refused.action}", refused.reason, {**details, "code": refused.code, **plan.audit})
                return TaskResult(
                    status="skipped" if refused.action == "skip" else "stopped", reason_code=refused.code, reason=refused.reason
                )
            assert plan.due_at is not None
            if plan.moved_reason is not None:
                details = {**details, **plan.audit, "code": plan.moved_code or "deferred", "until": plan.due_at.isoformat()}
                _gate_entry(session, spec, "gate_defer", plan.moved_reason, details)
            due = plan.due_at
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
