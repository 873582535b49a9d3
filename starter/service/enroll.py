"""Enrolling contacts: one at a time (idempotent) or many (throttled, reported row by row).

Enrolling is idempotent: the same contact and cadence while one enrollment is open returns
that enrollment (created=False), never a second workflow. The row is written first (a
partial unique index admits one open enrollment per contact and cadence, whoever races),
then the workflow starts; a retry after a crash in between attaches to it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterable
from typing import Any

from pydantic import BaseModel
from sqlmodel import Session

from core import metrics
from models import mirror
from models.cadences import bundle_of, find_cadence, published_version
from models.contacts import find_contact, policy_in_force
from models.enrollments import audit_enrolled, create_or_get, no_contact_until, open_enrollment_of, params_for, remember, remembered
from models.payloads import EnrollmentParams
from models.tables import Account, Contact, Enrollment
from starter.errors import CadenceError, Conflict, Invalid, NotFound
from starter.service import reads
from starter.service.backend import Backend
from starter.service.reads import EnrollmentInfo


class BulkRow(BaseModel):
    """The outcome of one row of a bulk enrollment."""

    row: int
    contact: str
    ok: bool
    enrollment_id: str | None = None
    created: bool = False
    error: str | None = None
    code: str | None = None


class BulkResult(BaseModel):
    """Every row's outcome with totals."""

    enrolled: int
    already_enrolled: int
    failed: int
    rows: list[BulkRow]

    @classmethod
    def of(cls, rows: list[BulkRow]) -> BulkResult:
        """Totals over the rows."""
        return cls(
            enrolled=sum(1 for r in rows if r.ok and r.created),
            already_enrolled=sum(1 for r in rows if r.ok and not r.created),
            failed=sum(1 for r in rows if not r.ok),
            rows=rows,
        )


async def enroll_contact(
    backend: Backend,
    cadence: str | None,
    contact: str,
    *,
    start_at: dt.datetime | None = None,
    actor: str = "service",
    request_key: str | None = None,
) -> EnrollmentInfo:
    """Enroll a contact (by id or external id) in a cadence (by id or key; None picks the
    default cadence of the contact's segment).

    Returns the new enrollment (created=True) or the open one (created=False). Refused with
    Conflict inside the no-contact period after the contact finished this cadence without
    responding. A `request_key` (the caller's Idempotency-Key) makes a retry return what the
    first request got, even after that enrollment has ended; the same key with another
    request is a Conflict.
    """
    if start_at is not None and start_at.tzinfo is None:
        raise Invalid("start_at must carry a time zone", {"field": "start_at"})
    fingerprint = hashlib.sha256(json.dumps([cadence, contact, start_at.isoformat() if start_at else None]).encode()).hexdigest()

    def prepare(session: Session) -> tuple[Enrollment, bool, EnrollmentParams | None]:
        if request_key is not None:
            earlier = remembered(session, actor, request_key)
            if earlier is not None:
                if earlier.fingerprint != fingerprint:
                    raise Conflict("this Idempotency-Key was already used for a different enrollment request", {"field": "Idempotency-Key"})
                row = session.get(Enrollment, earlier.enrollment_id)
                assert row is not None
                return row, earlier.created, params_for(session, row) if row.status == "pending" else None
        person = find_contact(session, contact)
        if person is None:
            raise NotFound(f"contact {contact!r} not found", {"field": "contact_id"})
        account = session.get(Account, person.account_id) if person.account_id else None
        found = find_cadence(session, cadence or _segment_cadence(backend, person, account))
        if found is None:
            raise NotFound(f"cadence {cadence!r} not found", {"field": "cadence_id"})
        version = published_version(session, found)
        if version is None:
            raise Conflict(f"cadence {found.key!r} has no published version yet (only a draft)", {"field": "cadence_id"})
        if open_enrollment_of(session, found.id, person.id) is None:
            policy = policy_in_force(backend.policy, person, account, bundle_of(session, version.id).definition.policy)
            until = no_contact_until(session, found.id, person.id, policy.no_contact_days)
            if until is not None and until > dt.datetime.now(dt.UTC):
                raise Conflict(
                    f"{person.external_id} finished {found.key} without responding; re-enrollment is possible from {until.date().isoformat()}",
                    {"until": until.isoformat(), "field": "contact_id"},
                )
        row, created = create_or_get(session, cadence=found, version=version, contact=person, actor=actor, start_at=start_at)
        params = params_for(session, row) if row.status == "pending" else None
        if request_key is not None:
            remember(session, actor=actor, key=request_key, fingerprint=fingerprint, enrollment_id=row.id, created=created)
        if created:
            audit_enrolled(session, row, cadence=found, version=version, actor=actor)
        return row, created, params

    row, created, params = await backend.db(prepare)
    if params is not None:
        # Only a row that never started gets a workflow (a retry attaches to the running one).
        run_id = await backend.workflows.start_enrollment(params, row.workflow_id)
        await backend.db(lambda session: mirror.started(session, row.id, run_id))
    info = await reads.get(backend, str(row.id))
    if created:
        metrics.ENROLLMENTS_STARTED.labels(info.cadence_key).inc()
    return info.model_copy(update={"created": created})


def _segment_cadence(backend: Backend, person: Contact, account: Account | None) -> str:
    segment = backend.policy.segment_for(
        person.persona, person.industry or (account.industry if account else None), person.tier or (account.tier if account else None)
    )
    if segment is None or segment.cadence is None:
        raise Invalid("no cadence given and the contact's segment has no default cadence", {"field": "cadence_id"})
    return segment.cadence


async def bulk_enroll(
    backend: Backend,
    cadence: str,
    contacts: Iterable[str],
    *,
    actor: str = "service",
    start_at: dt.datetime | None = None,
    per_second: float = 20.0,
    on_row: Callable[[BulkRow], Any] | None = None,
    request_key: str | None = None,
) -> list[BulkRow]:
    """Enroll many contacts, throttled to `per_second` workflow starts so Temporal is not
    flooded (a row that starts nothing, refused or already enrolled, does not wait).

    Each row succeeds or fails on its own; the result reports every row. With a
    `request_key`, each row is idempotent under `<key>:<row>`, so a retried batch repeats
    nothing.
    """
    interval = 1.0 / per_second
    results: list[BulkRow] = []
    loop = asyncio.get_running_loop()
    next_at = loop.time()
    for index, ref in enumerate(contacts, start=1):
        if not ref.strip():
            row = BulkRow(row=index, contact=ref, ok=False, error="the row names no contact", code="validation_error")
        else:
            delay = next_at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                row_key = f"{request_key}:{index}" if request_key is not None else None
                info = await enroll_contact(backend, cadence, ref, actor=actor, start_at=start_at, request_key=row_key)
                row = BulkRow(row=index, contact=ref, ok=True, enrollment_id=info.id, created=info.created)
                if info.created:
                    next_at = loop.time() + interval
            except CadenceError as err:
                row = BulkRow(row=index, contact=ref, ok=False, error=err.message, code=err.code)
        results.append(row)
        if on_row is not None:
            on_row(row)
    return results
