"""Enrollment pages: the filtered list, and one enrollment's status, what happens next and
why, its touches and its audit timeline, with the operator commands (pause, resume, stop,
skip) for roles that may act."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Annotated
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import Query, Request, Response

from cadence.rules import Status
from cadence.scoring import level
from models import scores
from models.contacts import as_uuid
from models.payloads import StatusView
from starter.console.pages import ConsoleError, backend_of, console_router, redirect, render
from starter.console.session import Action, Posted, Viewer
from starter.errors import CadenceError, NotFound
from starter.service import audit, commands, overviews, previews, reads
from starter.service.backend import Backend
from starter.service.overviews import Labels
from starter.service.previews import PreviewItem, WhatIfs
from starter.service.reads import EnrollmentSort, Page

router = console_router()
PAGE_SIZE = 25
DONE = {
    "paused": "Paused. The timeline below records who paused it and why.",
    "resumed": "Resumed; the remaining wait is kept.",
    "stopped": "Stopped for good.",
    "skipped": "Skipped the step it was waiting for.",
}


@router.get("/enrollments")
async def enrollments(
    request: Request,
    user: Viewer,
    cadence: Annotated[str | None, Query(max_length=200)] = None,
    status: Annotated[str | None, Query(max_length=30)] = None,
    owner: Annotated[str | None, Query(max_length=100)] = None,
    account: Annotated[str | None, Query(max_length=200)] = None,
    sort: Annotated[EnrollmentSort, Query()] = "newest",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    """Every enrollment, newest first or by lead score (reps call the most engaged first),
    filtered by cadence, status, owner and account."""
    backend = backend_of(request)
    filters = {"cadence": cadence or "", "status": status or "", "owner": owner or "", "account": account or "", "sort": sort}
    cadences = await overviews.cadence_keys(backend)
    error: str | None = None
    code = 200
    result = Page(items=[], total=0, limit=PAGE_SIZE, offset=0)
    labels = Labels()
    try:
        account_id = await overviews.account_id(backend, account) if account else None
        result = await reads.list_enrollments(
            backend,
            cadence=cadence or None,
            status=status or None,
            owner=owner or None,
            account_id=account_id,
            sort=sort,
            limit=PAGE_SIZE,
            offset=(page - 1) * PAGE_SIZE,
        )
        labels = await overviews.labels(backend, [i.contact_id for i in result.items], [i.account_id for i in result.items if i.account_id])
    except CadenceError as err:
        error, code = err.message, err.status
    pages = max(1, -(-result.total // PAGE_SIZE))
    query = {k: v for k, v in filters.items() if v and (k, v) != ("sort", "newest")}
    return render(
        request,
        "enrollments.html",
        status=code,
        section="enrollments",
        error=error,
        result=result,
        labels=labels,
        filters=filters,
        cadences=cadences,
        statuses=[s.value for s in Status],
        page=page,
        pages=pages,
        prev_url=f"?{urlencode({**query, 'page': page - 1})}" if page > 1 else None,
        next_url=f"?{urlencode({**query, 'page': page + 1})}" if page < pages else None,
    )


async def enrollment_page(
    request: Request, enrollment_id: str, *, status: int = 200, error: str | None = None, notice: str | None = None
) -> Response:
    """Render one enrollment (an unknown id raises NotFound: the 404 page)."""
    backend = backend_of(request)
    detail = await reads.status(backend, enrollment_id)
    timeline = await audit.timeline(backend, enrollment_id)
    people = await overviews.people(backend, detail.contact_id, detail.account_id)
    live: StatusView | None = detail.live
    state = live.status.value if live else detail.status
    zone = people.contact.timezone if people.contact else None
    coming = await _coming(backend, enrollment_id) if live is not None and not live.status.terminal else []
    score = scores.current(people.contact, backend.scoring) if people.contact else None
    return render(
        request,
        "enrollment.html",
        status=status,
        section="enrollments",
        error=error,
        notice=notice,
        detail=detail,
        live=live,
        state=state,
        open=state in ("pending", "active", "paused"),
        timeline=timeline,
        zone=zone,
        coming=coming,
        next_due=live.next_due_at if live else detail.next_step_at,
        waiting=live.waiting_reason if live else detail.waiting_reason,
        contact=people.contact,
        contact_label=people.label,
        score=score,
        score_level=level(backend.scoring, score) if score is not None else None,
        account=people.account,
    )


# Upcoming lines shown on the enrollment page itself (the preview page has them all).
COMING = 5


async def _coming(backend: Backend, enrollment_id: str) -> list[PreviewItem]:
    """The next few things the enrollment will do, from its live state (none when the
    workflow cannot be asked: the page still shows everything else)."""
    try:
        out = await previews.preview_enrollment(backend, enrollment_id, WhatIfs(horizon_days=60))
    except CadenceError:
        return []
    return [item for item in out.items if item.kind != "open"][:COMING]


@router.get("/enrollments/{enrollment_id}")
async def enrollment(
    request: Request, user: Viewer, enrollment_id: str, done: Annotated[str | None, Query(max_length=20)] = None
) -> Response:
    """One enrollment: what it is doing, what happens next and why, and its whole story."""
    return await enrollment_page(request, enrollment_id, notice=DONE.get(done or ""))


def parse_until(value: str | None, zone_name: str | None) -> dt.datetime | None:
    """A datetime-local value read in the chosen time zone (UTC unless another is given)."""
    if not value:
        return None
    try:
        zone = ZoneInfo(zone_name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise ConsoleError(422, f"Unknown time zone {zone_name!r}.") from None
    try:
        naive = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ConsoleError(422, "'Until' must be a date and time, like 2030-01-31T09:00.") from None
    until = naive.replace(tzinfo=zone) if naive.tzinfo is None else naive
    if until <= dt.datetime.now(dt.UTC):
        raise ConsoleError(422, "'Until' must be in the future.")
    return until.astimezone(dt.UTC)


async def until_recorded(count: Callable[[], Awaitable[int]], expected: int, timeout: float = 5.0) -> None:
    """Wait (briefly) until the workflow has written the command to the audit log, so the
    page we redirect to already shows it in the timeline. The workflow records transitions
    in an activity just after the update returns."""
    for _ in range(int(timeout / 0.1)):
        if await count() >= expected:
            return
        await asyncio.sleep(0.1)


async def _command(
    request: Request, enrollment_id: str, form: Posted, action: str, done: str, call: Callable[[], Awaitable[object]]
) -> Response:
    """Run one operator command; a bad value (422) or an illegal transition (409) re-renders the page with a banner."""
    ref = as_uuid(enrollment_id)
    if ref is None:
        raise NotFound(f"No enrollment {enrollment_id!r}.")
    backend = backend_of(request)

    async def recorded() -> int:
        return await overviews.audit_count(backend, action=action, actor=form.user.actor, enrollment_id=str(ref))

    before = await recorded()
    try:
        await call()
    except (ConsoleError, CadenceError) as err:
        if isinstance(err, NotFound):
            raise
        return await enrollment_page(request, enrollment_id, status=err.status, error=err.message)
    await until_recorded(recorded, before + 1)
    return redirect(f"/console/enrollments/{ref}?done={done}")


@router.post("/enrollments/{enrollment_id}/pause")
async def pause(request: Request, enrollment_id: str, form: Action) -> Response:
    """Pause with a reason, optionally until a moment (it then resumes by itself)."""

    async def run() -> object:
        reason = form.text("reason", label="A reason", required=True)
        until = parse_until(form.text("until", label="Until", max_length=40), form.text("until_zone", label="Time zone", max_length=64))
        assert reason is not None
        return await commands.pause(backend_of(request), enrollment_id, actor=form.user.actor, reason=reason, until=until)

    return await _command(request, enrollment_id, form, "paused", "paused", run)


@router.post("/enrollments/{enrollment_id}/resume")
async def resume(request: Request, enrollment_id: str, form: Action) -> Response:
    """Resume a paused enrollment; the wait that was left is kept."""

    async def run() -> object:
        note = form.text("reason", label="A note")
        return await commands.resume(backend_of(request), enrollment_id, actor=form.user.actor, reason=note)

    return await _command(request, enrollment_id, form, "resumed", "resumed", run)


@router.post("/enrollments/{enrollment_id}/stop")
async def stop(request: Request, enrollment_id: str, form: Action) -> Response:
    """Stop for good, with a reason."""

    async def run() -> object:
        reason = form.text("reason", label="A reason", required=True)
        assert reason is not None
        return await commands.stop(backend_of(request), enrollment_id, actor=form.user.actor, reason=reason)

    return await _command(request, enrollment_id, form, "ended", "stopped", run)


@router.post("/enrollments/{enrollment_id}/skip")
async def skip(request: Request, enrollment_id: str, form: Action) -> Response:
    """Skip the step the enrollment is waiting for; the next one is scheduled from now."""

    async def run() -> object:
        note = form.text("reason", label="A note")
        return await commands.skip(backend_of(request), enrollment_id, actor=form.user.actor, reason=note)

    return await _command(request, enrollment_id, form, "step_skipped", "skipped", run)
