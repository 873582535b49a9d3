"""Walking an enrollment through the pure machine as the workflow would, with the gate's
time rules (send window, weekends, holidays, blackouts, caps) deciding every touch.

No Temporal and no Postgres: every touch the gate allows is sent at once, every rep task
is created (and completed at once when the step waits for it), so a year of anchor dates
runs in a second or two.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from cadence.calendar import to_local, zone
from cadence.contact_policy import ContactPolicy, resolve
from cadence.definition import CadenceDefinition
from cadence.gate import Consent, ContactFacts, Recent, decide
from cadence.machine import EnrollmentMachine
from cadence.schedule import ContactCalendar
from cadence.steps import EmailStep, SmsStep, TaskStep

# A customer who may be reached on every channel: only the time rules can hold a touch back.
REACHABLE = ContactFacts(
    has_address={"email": True, "sms": True, "call": True, "linkedin": True},
    consent={"email": Consent(True), "sms": Consent(True), "call": Consent(True)},
)


@dataclass(frozen=True)
class Where:
    """Where the contact lives (the facts the time rules depend on)."""

    timezone: str
    country: str
    region: str | None = None


@dataclass
class Walk:
    """What one enrollment did: the steps that ran (and when), the steps skipped (and why)."""

    ran: list[tuple[str, dt.datetime]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    deferred: int = 0


def walk(
    definition: CadenceDefinition,
    policy: ContactPolicy,
    *,
    where: Where,
    dates: dict[str, dt.date],
    enrolled_at: dt.datetime,
    machine: EnrollmentMachine | None = None,
) -> Walk:
    """Run the enrollment from `enrolled_at` to its end; the machine may be given (started)."""
    rules = resolve(
        policy, cadence=definition.policy, persona=None, industry=None, tier="mid_market", country=where.country, region=where.region
    )
    m = machine or EnrollmentMachine(definition, ContactCalendar(where.timezone, where.country, where.region, dict(dates)))
    now = enrolled_at
    if machine is None:
        m.start(now, None)
    claimed: list[dt.datetime] = []
    out = Walk()
    for turn in range(500):
        s = m.state
        if s.status.terminal:
            break
        if s.task is not None:
            m.task_completed(f"done-{turn}", s.task.task_id, "done", False, now)
            continue
        if s.position is None:
            m.no_steps_left(now)
            break
        assert s.due_at is not None
        now = max(now, s.due_at)
        step = m.begin_step()
        hint = m.next_mirror(now)
        if isinstance(step, EmailStep | SmsStep):
            decision = decide(
                REACHABLE,
                step.type,
                step.topic,
                requested=now,
                policy=rules,
                recent=Recent(contact=tuple(claimed)),
                timezone=where.timezone,
                country=where.country,
                region=where.region,
                spread_key=f"{definition.key}:{step.id}",
            )
            if decision.action == "defer":
                assert decision.until is not None
                out.deferred += 1
                m.touch_deferred(decision.until, decision.reason)
                continue
            assert decision.action == "allow", decision
            claimed.append(now)
            out.ran.append((step.id, now))
            m.touch_sent(now)
        else:
            assert isinstance(step, TaskStep), step
            out.ran.append((step.id, now))
            m.task_created(step, f"task-{turn}", None, now)
        if m.state.task is None:
            # The hint the step's activity writes is the plan the machine then made.
            assert (hint.next_step_index, hint.next_due_at) == (m.mirror().current_step, m.state.due_at)
    else:
        raise AssertionError("the enrollment never ended")
    out.skipped = [(str(r.details["step_id"]), r.reason or "") for r in m.take_records() if r.action == "step_skipped"]
    return out


def passed_at_enrollment(definition: CadenceDefinition, dates: dict[str, dt.date], enrolled_at: dt.datetime, timezone: str) -> list[str]:
    """The anchored steps whose date was already behind the contact on the day it enrolled."""
    today = to_local(enrolled_at, zone(timezone)).date()
    out = []
    for step in definition.steps:
        anchor = step.wait.anchor
        if anchor is not None and (anchor not in dates or dates[anchor] + dt.timedelta(days=step.wait.offset_days) < today):
            out.append(step.id)
    return out
