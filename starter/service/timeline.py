"""The timeline: one readable story of an enrollment, for auditors.

It merges what Postgres recorded (the audit log's decisions, transitions and commands with
their actors and reasons; every touch with its template version, scheduled and sent times
and provider status; rep tasks; inbound events; opens, clicks and carriers' receipts, a
machine's flagged as such) with what Temporal recorded (each run of
the workflow, the version it pinned, every wait and until when). Workflow histories come
from Temporal while it still has them and from the Postgres archive afterwards.
"""

from __future__ import annotations

import asyncio
import base64
import csv
import datetime as dt
import io
import json
import uuid
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel
from sqlmodel import Session, select
from temporalio.service import RPCError

from models.tables import AuditEntry, Contact, Engagement, Enrollment, InboundEvent, Suppression, Task, Touch, WorkflowHistory
from starter.errors import NotFound
from starter.temporal import Workflows

TRANSITION_LABELS = {
    "enrolled": "Enrolled",
    "paused": "Paused",
    "resumed": "Resumed",
    "ended": "Ended",
    "step_skipped": "Step skipped",
    "step_failed": "Step failed",
    "event_recorded": "Event recorded",
    "switched": "Switched cadence",
    "switch_skipped": "Switch not made",
    "task_overdue": "Task overdue",
    "task_completed": "Task completed",
    "task_skipped": "Task skipped",
    "waiting_for_event": "Waiting for an event",
    "event_arrived": "Event arrived",
    "event_wait_timed_out": "Event wait timed out",
    "gate_defer": "Deferred by the gate",
    "gate_skip": "Skipped by the gate",
    "gate_stop": "Stopped by the gate",
    "send_failed": "Send failed",
}


class TimelineEntry(BaseModel):
    """One line of the story."""

    at: dt.datetime
    kind: str
    source: str  # audit, touch, task, inbound, history
    actor: str | None = None
    summary: str
    details: dict[str, Any] = {}


class Timeline(BaseModel):
    """An enrollment's story, oldest first, and where its workflow history came from. With
    `scope` "contact", the contact's own story instead (suppressions, consent, preferences,
    every event about it): `enrollment_id` and `workflow_id` are then empty."""

    enrollment_id: str
    workflow_id: str
    history_source: str  # temporal, archive, temporal+archive, unavailable; "" for a contact
    entries: list[TimelineEntry]
    scope: Literal["enrollment", "contact"] = "enrollment"
    contact_id: str | None = None


def contact_story(session: Session, contact: Contact) -> Timeline:
    """What happened to the contact itself, outside any one enrollment: every suppression
    (STOP, unsubscribe, bounce, complaint) and its lifting, consent and preference changes,
    and every event received about it."""
    entries = [
        _audit(r)
        for r in session.exec(
            select(AuditEntry).where(AuditEntry.contact_id == contact.id, AuditEntry.enrollment_id.is_(None)).order_by(AuditEntry.id)  # type: ignore[arg-type,union-attr]
        ).all()
    ]
    addresses = [a for a in (contact.email, contact.phone) if a]
    suppressions = session.exec(
        select(Suppression).where(sa.or_(Suppression.contact_id == contact.id, Suppression.address.in_(addresses)))  # type: ignore[arg-type,union-attr]
    ).all()
    for row in suppressions:
        entries += _suppression(row)
    inbound = session.exec(select(InboundEvent).where(InboundEvent.contact_id == contact.id)).all()
    entries += [_inbound(e) for e in inbound]
    entries.sort(key=lambda e: (e.at, _ORDER.get(e.source, 9)))
    return Timeline(enrollment_id="", workflow_id="", history_source="", entries=entries, scope="contact", contact_id=str(contact.id))


def _suppression(row: Suppression) -> list[TimelineEntry]:
    channel = "every channel" if row.channel == "all" else row.channel
    source = f" (from {row.source})" if row.source else ""
    details = {"channel": row.channel, "reason": row.reason, "address": row.address, "source": row.source}
    entries = [
        TimelineEntry(
            at=row.created_at,
            kind="suppressed",
            source="suppression",
            summary=f"Suppressed on {channel}: {row.reason}{source}",
            details={k: v for k, v in details.items() if v is not None},
        )
    ]
    if row.lifted_at is not None:
        entries.append(
            TimelineEntry(at=row.lifted_at, kind="suppression_lifted", source="suppression", summary=f"Suppression on {channel} lifted")
        )
    return entries


def _payload(raw: dict[str, Any] | None) -> Any:
    """Decode one JSON payload of a history (pydantic/JSON converter; no codec in use)."""
    if not raw or "data" not in raw:
        return None
    encoding = base64.b64decode(raw.get("metadata", {}).get("encoding", "")).decode(errors="replace")
    if encoding not in ("json/plain", "json/protobuf"):
        return None
    try:
        return json.loads(base64.b64decode(raw["data"]))
    except (ValueError, TypeError):
        return None


def _when(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def _seconds(value: str | None) -> float:
    return float(value.rstrip("s")) if value else 0.0


def history_entries(history: dict[str, Any], run_id: str) -> list[TimelineEntry]:
    """What one workflow run says: its start (and pinned version), its waits, its end."""
    out: list[TimelineEntry] = []
    for event in history.get("events", []):
        at = _when(event["eventTime"])
        kind = event.get("eventType", "")
        if kind == "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED":
            attrs = event.get("workflowExecutionStartedEventAttributes", {})
            payload = _payload((attrs.get("input") or {}).get("payloads", [None])[0])
            params = (payload or {}).get("params", {}) if isinstance(payload, dict) else {}
            continued = bool(attrs.get("continuedExecutionRunId"))
            version = str(params.get("version_hash", ""))[:12]
            summary = (
                f"Workflow run continued (history kept short), still on version {version}"
                if continued
                else f"Workflow started on cadence {params.get('cadence_key')} version {version}"
            )
            out.append(
                TimelineEntry(
                    at=at,
                    kind="run_continued" if continued else "run_started",
                    source="history",
                    summary=summary,
                    details={"run_id": run_id, "version_hash": params.get("version_hash")},
                )
            )
        elif kind == "EVENT_TYPE_TIMER_STARTED":
            attrs = event.get("timerStartedEventAttributes", {})
            until = at + dt.timedelta(seconds=_seconds(attrs.get("startToFireTimeout")))
            label = _payload((event.get("userMetadata") or {}).get("summary")) or "next step"
            out.append(
                TimelineEntry(
                    at=at,
                    kind="wait",
                    source="history",
                    summary=f"Waiting until {until:%Y-%m-%d %H:%M} UTC for {label}",
                    details={"until": until.isoformat(), "for": label, "run_id": run_id},
                )
            )
        elif kind == "EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED":
            attrs = event.get("workflowExecutionSignaledEventAttributes", {})
            payload = _payload((attrs.get("input") or {}).get("payloads", [None])[0])
            detail = payload if isinstance(payload, dict) else {}
            out.append(
                TimelineEntry(
                    at=at,
                    kind="signal",
                    source="history",
                    summary=f"Signal received: {attrs.get('signalName')}",
                    details={k: v for k, v in detail.items() if k in ("event_id", "intent", "name", "return_date", "task_id")},
                )
            )
        elif kind == "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED":
            out.append(
                TimelineEntry(at=at, kind="run_completed", source="history", summary="Workflow completed", details={"run_id": run_id})
            )
    return out


def _audit(row: AuditEntry) -> TimelineEntry:
    label = TRANSITION_LABELS.get(row.action, row.action.replace("_", " ").capitalize())
    reason = f": {row.reason}" if row.reason else ""
    return TimelineEntry(
        at=row.at,
        kind=row.action,
        source="audit",
        actor=row.actor,
        summary=f"{label}{reason}",
        details={k: v for k, v in row.details.items() if v is not None},
    )


def _touch(row: Touch) -> list[TimelineEntry]:
    what = f"{row.channel} {row.step_id}" + (f" (variant {row.variant})" if row.variant else "")
    template = f"{row.template}@{row.template_version}" if row.template_version else row.template
    details = {
        "step_id": row.step_id,
        "channel": row.channel,
        "template": template,
        "status": row.status,
        "scheduled_at": row.scheduled_at.isoformat() if row.scheduled_at else None,
        "provider_id": row.provider_id,
        "attempts": row.attempts,
    }
    if row.status in ("skipped", "stopped"):
        return [
            TimelineEntry(
                at=row.status_at or row.claimed_at,
                kind=f"touch_{row.status}",
                source="touch",
                summary=f"{what} not sent: {row.error}",
                details=details,
            )
        ]
    if row.status == "unclear":
        return [
            TimelineEntry(
                at=row.status_at or row.claimed_at,
                kind="touch_unclear",
                source="touch",
                summary=f"{what} unclear, held for an operator: {row.error}",
                details=details,
            )
        ]
    if row.status in ("claimed", "retrying") and row.sent_at is None:
        state = "being sent" if row.status == "claimed" else "refused for now, to be retried"
        return [
            TimelineEntry(
                at=row.claimed_at,
                kind=f"touch_{row.status}",
                source="touch",
                summary=f"{what} {state}" + (f": {row.error}" if row.error else ""),
                details=details,
            )
        ]
    entries = []
    if row.sent_at is not None:
        late = (row.sent_at - row.scheduled_at).total_seconds() if row.scheduled_at else None
        entries.append(
            TimelineEntry(
                at=row.sent_at,
                kind="touch_sent",
                source="touch",
                summary=f"Sent {what} from template {template}" + (f", {late:.0f} s after it was due" if late and late >= 1 else ""),
                details={**details, "lateness_seconds": late},
            )
        )
    if row.status in ("delivered", "undelivered", "failed", "read") and row.status_at is not None:
        entries.append(
            TimelineEntry(
                at=row.status_at,
                kind=f"touch_{row.status}",
                source="touch",
                summary=f"{what} {row.status}" + (f" ({row.error_code})" if row.error_code else ""),
                details=details,
            )
        )
    return entries


def _task(row: Task) -> list[TimelineEntry]:
    entries = [
        TimelineEntry(
            at=row.created_at,
            kind="task_created",
            source="task",
            actor=row.owner_id,
            summary=f"Task for {row.owner_id or 'no owner'}: {row.title}"
            + (f", due {row.due_at:%Y-%m-%d %H:%M} UTC" if row.due_at else ""),
            details={"task_id": str(row.id), "kind": row.kind, "step_id": row.step_id},
        )
    ]
    return entries


def _inbound(row: InboundEvent) -> TimelineEntry:
    summary = {k: row.payload.get(k) for k in ("channel", "intent", "name", "keyword", "kind") if row.payload.get(k)}
    text = ", ".join(f"{k} {v}" for k, v in summary.items())
    return TimelineEntry(
        at=row.received_at,
        kind="event_received",
        source="inbound",
        actor=row.source,
        summary=f"{row.type.replace('_', ' ').capitalize()} received from {row.source}" + (f" ({text})" if text else ""),
        details={"event_id": row.event_id, **summary},
    )


def _engagement(row: Engagement, step_id: str | None) -> TimelineEntry:
    """An open, a click or a carrier's delivery receipt (replies, bounces and opt-outs show
    as the events they came in)."""
    what = f"the {step_id} message" if step_id else "a message"
    machine = row.detail.get("machine_reason")
    if row.kind == "delivered":
        summary = f"Delivered: {what} (carrier's receipt)"
    elif row.kind == "opened":
        summary = f"Opened {what}" + (" (implied by a click)" if row.detail.get("implied_by") else "")
    else:
        summary = f"Clicked {row.detail.get('url', 'a link')} in {what}"
    if row.machine:
        summary += f", by a machine: {machine}; not counted as the contact's"
    details = {"step_id": step_id, "machine": row.machine, "machine_reason": machine, "url": row.detail.get("url")}
    return TimelineEntry(
        at=row.at, kind=row.kind, source="engagement", summary=summary, details={k: v for k, v in details.items() if v not in (None, False)}
    )


async def build(session_factory: Any, workflows: Workflows | None, enrollment_id: str) -> Timeline:
    """The timeline of one enrollment (its Postgres records plus every run's history)."""

    def load() -> tuple[Enrollment | None, list[TimelineEntry], dict[str, dict[str, Any]]]:
        with session_factory() as session:
            return _load(session, enrollment_id)

    enrollment, entries, archived = await asyncio.to_thread(load)
    if enrollment is None:
        raise NotFound(f"enrollment {enrollment_id!r} not found", {"field": "enrollment_id"})
    live: dict[str, dict[str, Any]] = {}
    if workflows is not None:
        try:
            live = await workflows.histories(str(enrollment.id), skip=set(archived))
        except RPCError:
            live = {}
    runs = {**archived, **live}
    for run_id, run_history in runs.items():
        entries += history_entries(run_history, run_id)
    source = "+".join(s for s, present in (("temporal", bool(live)), ("archive", bool(archived))) if present) or "unavailable"
    entries.sort(key=lambda e: (e.at, _ORDER.get(e.source, 9)))
    return Timeline(enrollment_id=str(enrollment.id), workflow_id=enrollment.workflow_id, history_source=source, entries=entries)


# When two entries share an instant, tell the story in this order.
_ORDER = {"history": 0, "inbound": 1, "suppression": 2, "audit": 3, "task": 4, "touch": 5, "engagement": 6}


def _load(session: Session, enrollment_id: str) -> tuple[Enrollment | None, list[TimelineEntry], dict[str, dict[str, Any]]]:
    try:
        ref = uuid.UUID(enrollment_id)
    except ValueError:
        return None, [], {}
    enrollment = session.get(Enrollment, ref)
    if enrollment is None:
        return None, [], {}
    entries = [_audit(r) for r in session.exec(select(AuditEntry).where(AuditEntry.enrollment_id == ref).order_by(AuditEntry.id)).all()]  # type: ignore[arg-type]
    touches = session.exec(select(Touch).where(Touch.enrollment_id == ref)).all()
    for touch in touches:
        entries += _touch(touch)
    for task in session.exec(select(Task).where(Task.enrollment_id == ref)).all():
        entries += _task(task)
    inbound = session.exec(
        select(InboundEvent).where(InboundEvent.contact_id == enrollment.contact_id, InboundEvent.received_at >= enrollment.created_at)
    ).all()
    entries += [_inbound(e) for e in inbound if enrollment_id in (e.result or {}).get("delivered_to", [])]
    steps = {t.id: t.step_id for t in touches}
    shown = session.exec(
        select(Engagement).where(Engagement.enrollment_id == ref, Engagement.kind.in_(("opened", "clicked", "delivered")))  # type: ignore[attr-defined]
    ).all()
    entries += [_engagement(e, steps.get(e.touch_id) if e.touch_id else None) for e in shown]
    archived = {r.run_id: r.history for r in session.exec(select(WorkflowHistory).where(WorkflowHistory.enrollment_id == ref)).all()}
    return enrollment, entries, archived


def to_csv(timelines: list[Timeline]) -> str:
    """Timelines as CSV (one row per entry), for spreadsheets and evidence files."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["enrollment_id", "at", "kind", "source", "actor", "summary", "details"])
    for timeline in timelines:
        for entry in timeline.entries:
            writer.writerow(
                [
                    timeline.enrollment_id,
                    entry.at.isoformat(),
                    entry.kind,
                    entry.source,
                    entry.actor or "",
                    entry.summary,
                    json.dumps(entry.details, default=str, sort_keys=True),
                ]
            )
    return buffer.getvalue()
