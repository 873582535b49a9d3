"""Capacity forecast: the rep tasks (calls, LinkedIn touches, QBRs and other manual steps)
each owner will get per week over the coming weeks, from every running enrollment.

Seed 002: "if every strategic account gets bi-weekly calls and you have 25 accounts, that's
50 calls per month: can one CSM handle that?" Worked out like a preview (`starter.service.
previews`): every open enrollment's live state, read from its workflow, is stepped through
time by the engine's own state machine, each touch put to the real gate and each rep task to
the real planner with the levelling policy, the tasks planned so far counting against their
owner's weeks, all enrollments in one time order. Nothing is written.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections import Counter, defaultdict

from pydantic import BaseModel, Field
from sqlmodel import Session, col, select

from activities.work import owner_capacity
from cadence.levelling import week_of
from cadence.preview import Ledger, Walker, run
from models.tables import Account, Contact, Enrollment, Task
from starter.errors import Invalid
from starter.service.backend import Backend
from starter.service.previews import GateReader, live_states, party_of, task_due_of, walker_of

DEFAULT_WEEKS = 12
# More open enrollments than this in one forecast: narrow it to an owner (or a few).
MAX_ENROLLMENTS = 20_000


class WeekLoad(BaseModel):
    """One owner's week (starting Monday, UTC): tasks already open and due that week, tasks
    the running enrollments will create for it (after levelling), and what was asked for the
    week before levelling moved some on."""

    week: dt.date
    open: int = Field(description="Open tasks already due this week")
    forecast: int = Field(description="Tasks the running enrollments will create, due this week")
    by_kind: dict[str, int] = Field(description="forecast by kind: call, linkedin, task")
    asked: int = Field(description="Tasks asked for this week before levelling (open + new)")
    total: int = Field(description="open + forecast")
    over: bool = Field(description="More asked for than the owner's weekly allowance")


class OwnerForecast(BaseModel):
    """An owner's coming weeks against their weekly allowance (None: no limit)."""

    owner_id: str | None
    capacity: int | None
    enrollments: int
    weeks: list[WeekLoad]
    over_weeks: int
    peak: int


class ForecastOut(BaseModel):
    """Every owner's forecast, owners over their allowance first."""

    start: dt.date
    weeks: int
    owners: list[OwnerForecast]
    enrollments: int
    unreadable: int = Field(description="Open enrollments whose workflow did not answer (left out)")
    computed_ms: float


async def forecast(
    backend: Backend, *, owner: str | None = None, weeks: int = DEFAULT_WEEKS, now: dt.datetime | None = None
) -> ForecastOut:
    """Tasks per owner per week for the next `weeks` weeks (1-26), from every running
    enrollment (of one owner's contacts when `owner` is given)."""
    if not 1 <= weeks <= 26:
        raise Invalid("weeks: between 1 and 26", {"field": "weeks"})
    began = time.perf_counter()
    now = now or dt.datetime.now(dt.UTC)
    first_week = week_of(now)
    until = dt.datetime.combine(first_week + dt.timedelta(weeks=weeks), dt.time(0), dt.UTC)

    def load(session: Session) -> list[Enrollment]:
        query = select(Enrollment).where(col(Enrollment.status).in_(("active", "paused")))
        if owner is not None:
            query = query.where(Enrollment.owner_id == owner)
        rows = list(session.exec(query.limit(MAX_ENROLLMENTS + 1)).all())
        if len(rows) > MAX_ENROLLMENTS:
            raise Invalid(f"more than {MAX_ENROLLMENTS} open enrollments: forecast one owner at a time", {"field": "owner"})
        return rows

    rows = await backend.db(load)
    snapshots, missing = await live_states(backend, rows)

    def work(session: Session) -> ForecastOut:
        reader = GateReader(session, backend.policy, now)
        contact_ids = {uuid.UUID(s.params.contact_id) for s in snapshots}
        contacts = {c.id: c for c in session.exec(select(Contact).where(col(Contact.id).in_(contact_ids))).all()} if contact_ids else {}
        account_ids = {c.account_id for c in contacts.values() if c.account_id}
        accounts = {a.id: a for a in session.exec(select(Account).where(col(Account.id).in_(account_ids))).all()} if account_ids else {}
        ledgers: dict[uuid.UUID, Ledger] = defaultdict(Ledger)
        walkers: list[tuple[Walker, Ledger]] = []
        owners_of: Counter[str | None] = Counter()
        for snapshot in snapshots:
            person = contacts.get(uuid.UUID(snapshot.params.contact_id))
            if person is None:
                continue
            account = accounts.get(person.account_id) if person.account_id else None
            enrollment_id = snapshot.params.enrollment_id
            reader.add(enrollment_id, party_of(snapshot, person, account))
            walkers.append((walker_of(enrollment_id, snapshot, now, task_due_of(session, snapshot)), ledgers[person.id]))
            owners_of[snapshot.params.owner_id or person.owner_id] += 1
        run(walkers, reader, until=until)
        open_query = select(Task.owner_id, Task.due_at).where(
            col(Task.status).in_(("open", "overdue")), col(Task.due_at) >= dt.datetime.combine(first_week, dt.time(0), dt.UTC)
        )
        if owner is not None:
            open_query = open_query.where(Task.owner_id == owner)
        existing: list[tuple[str | None, dt.datetime | None]] = [(o, d) for o, d in session.exec(open_query).all()]
        return _report(session, backend, reader, existing, owners_of, first_week, weeks, until, missing, began)

    return await backend.background(work)


def _report(
    session: Session,
    backend: Backend,
    reader: GateReader,
    existing: list[tuple[str | None, dt.datetime | None]],
    owners_of: Counter[str | None],
    first_week: dt.date,
    weeks: int,
    until: dt.datetime,
    missing: int,
    began: float,
) -> ForecastOut:
    week_list = [first_week + dt.timedelta(weeks=i) for i in range(weeks)]
    opened: Counter[tuple[str | None, dt.date]] = Counter()
    for owner_id, due in existing:
        if due is not None and due < until:
            opened[(owner_id, week_of(due))] += 1
    made: Counter[tuple[str | None, dt.date]] = Counter()
    asked: Counter[tuple[str | None, dt.date]] = Counter()
    kinds: dict[tuple[str | None, dt.date], Counter[str]] = defaultdict(Counter)
    for task in reader.planned:
        if task.due_at < until:
            made[(task.owner_id, week_of(task.due_at))] += 1
            kinds[(task.owner_id, week_of(task.due_at))][task.kind] += 1
        if task.requested < until:
            asked[(task.owner_id, week_of(task.requested))] += 1
    owners = set(owners_of) | {o for o, _ in opened} | {t.owner_id for t in reader.planned}
    out = []
    for owner_id in owners:
        capacity = owner_capacity(session, backend.policy, owner_id)
        loads = []
        for week in week_list:
            key = (owner_id, week)
            wanted = opened[key] + asked[key]
            loads.append(
                WeekLoad(
                    week=week,
                    open=opened[key],
                    forecast=made[key],
                    by_kind=dict(kinds[key]),
                    asked=wanted,
                    total=opened[key] + made[key],
                    over=capacity is not None and wanted > capacity,
                )
            )
        if not any(w.total or w.asked for w in loads) and not owners_of[owner_id]:
            continue
        out.append(
            OwnerForecast(
                owner_id=owner_id,
                capacity=capacity,
                enrollments=owners_of[owner_id],
                weeks=loads,
                over_weeks=sum(w.over for w in loads),
                peak=max((w.asked for w in loads), default=0),
            )
        )
    out.sort(key=lambda o: (-o.over_weeks, -o.peak, o.owner_id or ""))
    return ForecastOut(
        start=first_week,
        weeks=weeks,
        owners=out,
        enrollments=sum(owners_of.values()),
        unreadable=missing,
        computed_ms=round((time.perf_counter() - began) * 1000, 1),
    )
