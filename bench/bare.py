"""The bare-Temporal baseline of the engine benchmark: same timers, same activity count.

`BareEnrollment` replays the *command shape* of one real enrollment history (recorded by
`bench/engine.py` from a probe enrollment): a list of ops, one per command the real
workflow issued, in order:

    "u"  upsert search attributes (StepIndex + NextStepAt, like the real workflow)
    "t"  a durable timer until the step is due: the first one until `first_due`, the next
         ones `wait_seconds` after the previous step's activity returned (the real workflow
         plans the next step from `workflow.now()` right after the send returns)
    "a"  a no-op activity; right after a timer it is a *step* (it reports its start and
         finish time, so lateness = start - due), otherwise bookkeeping (record_transition)

No Postgres, no SMTP, no domain code: what is left is the cost of Temporal itself (dev
server, SDK, sandbox, data converter) for the same number of timers, activities and upserts.
The module is imported inside the workflow sandbox, so it imports nothing heavy.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy, SearchAttributeKey

BARE_WORKFLOW = "BareEnrollment"
NOOP_STEP = "bench_noop_step"
NOOP_BOOKKEEPING = "bench_noop_bookkeeping"

STEP_INDEX = SearchAttributeKey.for_int("StepIndex")
NEXT_STEP_AT = SearchAttributeKey.for_datetime("NextStepAt")

# Same shape as workflows.calls.EMAIL / DATABASE (one attempt timeout, bounded retries).
_STEP_RETRY = RetryPolicy(initial_interval=timedelta(seconds=10), backoff_coefficient=2.0, maximum_interval=timedelta(minutes=10))
_BOOKKEEPING_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0, maximum_interval=timedelta(minutes=1))


@dataclass
class BareInput:
    """What one bare enrollment does (`ops` comes from a real history)."""

    enrollment: str
    first_due: datetime
    wait_seconds: float
    ops: list[str] = field(default_factory=list)


@dataclass
class StepCall:
    """A step's no-op activity input: when the step was due (epoch seconds)."""

    enrollment: str
    step: int
    due: float


@dataclass
class StepTiming:
    """What a step's no-op activity saw (epoch seconds, worker clock)."""

    step: int
    due: float
    started: float
    finished: float


@activity.defn(name=NOOP_STEP)
def noop_step(call: StepCall) -> StepTiming:
    """Stands in for send_email: does nothing but note when it ran."""
    started = time.time()
    return StepTiming(step=call.step, due=call.due, started=started, finished=time.time())


@activity.defn(name=NOOP_BOOKKEEPING)
def noop_bookkeeping(enrollment: str) -> None:
    """Stands in for record_transition."""


@workflow.defn(name=BARE_WORKFLOW)
class BareEnrollment:
    """Timers, no-op activities and upserts in the order a real enrollment issues them."""

    @workflow.run
    async def run(self, input: BareInput) -> list[StepTiming]:
        timings: list[StepTiming] = []
        timers = 0
        upserts = 0
        due: datetime | None = None
        for op in input.ops:
            if op == "u":
                upserts += 1
                workflow.upsert_search_attributes(
                    [STEP_INDEX.value_set(upserts), NEXT_STEP_AT.value_set(workflow.now() + timedelta(seconds=input.wait_seconds))]
                )
            elif op == "t":
                now = workflow.now()
                due = input.first_due if timers == 0 else now + timedelta(seconds=input.wait_seconds)
                timers += 1
                delay = due - now
                if delay > timedelta(0):
                    await workflow.sleep(delay)
            elif op == "a":
                if due is not None:
                    timing: StepTiming = await workflow.execute_activity(
                        NOOP_STEP,
                        StepCall(enrollment=input.enrollment, step=len(timings), due=due.timestamp()),
                        result_type=StepTiming,
                        start_to_close_timeout=timedelta(seconds=60),
                        schedule_to_close_timeout=timedelta(hours=6),
                        retry_policy=_STEP_RETRY,
                    )
                    timings.append(timing)
                    due = None
                else:
                    await workflow.execute_activity(
                        NOOP_BOOKKEEPING,
                        input.enrollment,
                        start_to_close_timeout=timedelta(seconds=30),
                        schedule_to_close_timeout=timedelta(hours=1),
                        retry_policy=_BOOKKEEPING_RETRY,
                    )
            else:
                raise ValueError(f"unknown op {op!r}")
        return timings


BARE_MIGRATABLE = "BareMigratable"


@workflow.defn(name=BARE_MIGRATABLE)
class BareMigratable:
    """For bench/live_edits.py: a workflow that waits, and an update that changes what it
    would do next. The least a migration of one enrollment can cost in Temporal."""

    def __init__(self) -> None:
        self.version = 1
        self.done = False

    @workflow.run
    async def run(self) -> int:
        await workflow.wait_condition(lambda: self.done, timeout=timedelta(days=1))
        return self.version

    @workflow.update
    def migrate(self, version: int) -> int:
        self.version = version
        return version

    @workflow.signal
    def finish(self) -> None:
        self.done = True


BARE_REPLIED = "BareReplied"


@workflow.defn(name=BARE_REPLIED)
class BareReplied:
    """For bench/inbound.py: a workflow that waits for a reply signal and ends. The least a
    reply halting one enrollment can cost in Temporal (signal -> workflow completed)."""

    def __init__(self) -> None:
        self.replied = False

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: self.replied)

    @workflow.signal
    def reply(self) -> None:
        self.replied = True
