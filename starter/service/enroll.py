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
from models.enrollments import (
    audit_enrolled,
    create_or_get,
    no_contact_until,
    open_enrollment_of,
    opening,
    params_for,
    remember,
    remembered,
)
from models.payloads import EnrollmentParams, Mirror
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

    def prepare(session: Session) -> tuple[Enrollment, bool, Starting | None]:
        if request_key is not None:
            earlier = remembered(session, actor, request_key)
            if earlier is not None:
                if earlier.fingerprint != fingerprint:
                    raise Conflict("this Idempotency-Key was already used for a different enrollment request", {"field": "Idempotency-Key"})
                row = session.get(Enrollment, earlier.enrollment_id)
                assert row is not None
                return row, earlier.created, _starting(session, row)
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
        start = _starting(session, row)
        if request_key is not None:
            remember(session, actor=actor, key=request_key, fingerprint=fingerprint, enrollment_id=row.id, created=created)
        if created:
            audit_enrolled(session, row, cadence=found, version=version, actor=actor)
        return row, created, start

    row, created, start = await backend.db(prepare)
    if start is not None:
        # Only a row that never started gets a workflow (a retry attaches to the running one).
        run_id = await backend.workflows.start_enrollment(*start, row.workflow_id)

        def started(session: Session) -> EnrollmentInfo:
            mirror.started(session, row.id, run_id)
            now = session.get(Enrollment, row.id)
            assert now is not None
            return reads.info(session, now)

        info = await backend.db(started)
    else:
        info = await reads.get(backend, str(row.id))
    if created:
        metrics.ENROLLMENTS_STARTED.labels(info.cadence_key).inc()
    return info.model_copy(update={"created": created})


# Rows of a bulk enrollment enrolled at once: enough to keep Postgres and Temporal busy
# (each row is a few round trips to each), few enough to leave the API responsive.
BULK_CONCURRENCY = 16

# What a workflow starts from: its parameters and what its row already says.
Starting = tuple[EnrollmentParams, Mirror]


def _starting(session: Session, row: Enrollment) -> Starting | None:
    """For a row whose workflow has not started yet: its parameters, with the first step
    planned and written on the row in the same transaction."""
    if row.status != "pending":
        return None
    params = params_for(session, row)
    first = opening(params, dt.datetime.now(dt.UTC))
    mirror.planned(session, row.id, first)
    return params, first


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
    concurrency: int = BULK_CONCURRENCY,
) -> list[BulkRow]:
    """Enroll many contacts, up to `concurrency` at once, their starts spaced at least
    1/`per_second` apart so Temporal is not flooded (a blank row waits for nothing).

    Each row succeeds or fails on its own; the result reports every row, in the input's
    order (`on_row` hears of each as it is done, in any order). With a `request_key`, each
    row is idempotent under `<key>:<row>`, so a retried batch repeats nothing.
    """
    rows = list(enumerate(contacts, start=1))
    results: dict[int, BulkRow] = {}
    interval = 1.0 / per_second
    loop = asyncio.get_running_loop()
    next_at = loop.time()
    pending = iter(rows)

    async def paced() -> None:
        # Reserve the next start slot before waiting for it: the lanes share one schedule.
        nonlocal next_at
        now = loop.time()
        slot, next_at = max(next_at, now), max(next_at, now) + interval
        if slot > now:
            await asyncio.sleep(slot - now)

    async def one(index: int, ref: str) -> BulkRow:
        if not ref.strip():
            return BulkRow(row=index, contact=ref, ok=False, error="the row names no contact", code="validation_error")
        await paced()
        try:
            row_key = f"{request_key}:{index}" if request_key is not None else None
            info = await enroll_contact(backend, cadence, ref, actor=actor, start_at=start_at, request_key=row_key)
        except CadenceError as err:
            return BulkRow(row=index, contact=ref, ok=False, error=err.message, code=err.code)
        return BulkRow(row=index, contact=ref, ok=True, enrollment_id=info.id, created=info.created)

    async def lane() -> None:
        for index, ref in pending:  # the lanes share the iterator: each takes the next row
            row = await one(index, ref)
            results[index] = row
            if on_row is not None:
                on_row(row)

    await asyncio.gather(*(lane() for _ in range(max(1, min(concurrency, len(rows))))))
    return [results[index] for index, _ in rows]
