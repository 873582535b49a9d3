"""Report rollups: what the reports count, kept per enrollment so a report over a million
touches reads a few narrow tables instead of joining touches, engagements and contacts.

Three tables, each keyed by enrollment: `report_enrollments` (where it stands, who it
concerns, what its touches and engagements add up to), `report_steps` (per step: its
touches, tasks and what became of them) and `report_days` (per UTC day: sends and people's
opens, clicks and replies); and the last two summed per day of enrollment start, version,
owner, cohort and step (`report_step_totals`, `report_day_totals`), which is what the step
and day reports read for whole days. They are refreshed incrementally: an enrollment is recomputed
whole when it, its contact or its engagements changed since its row was computed. The
changes are looked for among what was written since the last refresh less `MARGIN` (so a
transaction that committed late is not missed), and each row keeps what it was computed
from (its enrollment's and contact's `updated_at`, its count of engagements), so only what
really changed is recomputed, however wide the margin. The first refresh builds them
whole. Refreshes are serialized by an advisory lock, and every report runs one before it
reads (in its own transaction), so a report is never stale; a background refresher keeps
that catch-up small (`REPORT_REFRESH_SECONDS`).

What the rollups do not see until the enrollment changes again: a touch whose status moves
without its enrollment or an engagement changing (an unclear send resolved by hand).
`refresh(session, full=True)` (`cadence rollups --full`) recomputes everything.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from dataclasses import dataclass
from typing import Any, Final

import sqlalchemy as sa
from sqlmodel import Session

from models.engagements import SENT
from models.tables import StepCounts

NAME: Final = "rollups"
MARGIN: Final = dt.timedelta(minutes=5)
_LOCK: Final = 0x43414445_4E434531  # "CADENCE1": one refresh at a time, across processes

# Candidates are what was written in the window; of those, only what differs from what its
# rollup row was computed from is recomputed (engagements are only ever added: a different
# count is a new one, whatever order their transactions committed in).
_CHANGED = """
    SELECT e.id FROM enrollments e LEFT JOIN report_enrollments r ON r.enrollment_id = e.id
     WHERE e.updated_at >= :since AND (r.enrollment_id IS NULL OR e.updated_at IS DISTINCT FROM r.source_updated_at)
    UNION
    SELECT e.id FROM contacts c JOIN enrollments e ON e.contact_id = c.id LEFT JOIN report_enrollments r ON r.enrollment_id = e.id
     WHERE c.updated_at >= :since AND (r.enrollment_id IS NULL OR c.updated_at IS DISTINCT FROM r.contact_updated_at)
    UNION
    SELECT w.enrollment_id FROM (SELECT DISTINCT enrollment_id FROM engagements WHERE at >= :since AND enrollment_id IS NOT NULL) w
      LEFT JOIN report_enrollments r ON r.enrollment_id = w.enrollment_id
     WHERE r.enrollment_id IS NULL
        OR r.engagements <> (SELECT count(*) FROM engagements g WHERE g.enrollment_id = w.enrollment_id)
"""
# `{ids:X}` stands for "X is one of the changed enrollments" (`X = ANY(:ids)`: read by index),
# or for every enrollment when everything is rebuilt.
_CLEAR = [
    "DELETE FROM report_enrollments r WHERE {ids:r.enrollment_id}",
    "DELETE FROM report_steps r WHERE {ids:r.enrollment_id}",
    "DELETE FROM report_days r WHERE {ids:r.enrollment_id}",
]
_ENROLLMENTS = """
    INSERT INTO report_enrollments
    SELECT e.id, e.cadence_id, e.cadence_version_id, e.created_at, e.ended_at, e.status, e.current_step, e.owner_id,
           c.persona, c.industry, c.tier,
           t.first_touch, coalesce(t.sent, 0), coalesce(t.emailed, false),
           coalesce(g.opened, false), coalesce(g.clicked, false), coalesce(g.complained, false), g.first_reply, g.intent,
           e.updated_at, c.updated_at, coalesce(g.total, 0)
      FROM enrollments e
      JOIN contacts c ON c.id = e.contact_id
      LEFT JOIN LATERAL (
        SELECT min(coalesce(t.sent_at, t.claimed_at)) AS first_touch, count(*) AS sent, bool_or(t.channel = 'email') AS emailed
          FROM touches t WHERE t.enrollment_id = e.id AND t.status = ANY(:sent)
      ) t ON true
      LEFT JOIN LATERAL (
        SELECT bool_or(g.kind = 'opened' AND NOT g.machine) AS opened,
               bool_or(g.kind = 'clicked' AND NOT g.machine) AS clicked,
               bool_or(g.kind = 'complained') AS complained,
               min(g.at) FILTER (WHERE g.kind = 'replied' AND g.detail->>'intent' <> 'out_of_office') AS first_reply,
               (array_agg(g.detail->>'intent' ORDER BY g.at)
                    FILTER (WHERE g.kind = 'replied' AND g.detail->>'intent' <> 'out_of_office'))[1] AS intent,
               count(*) AS total
          FROM engagements g WHERE g.enrollment_id = e.id
      ) g ON true
     WHERE {ids:e.id}
"""
# Per step: its touches with what each led to (people's opens and clicks; machines' apart),
# and its tasks. A step's channel and variant are those of its latest touch.
_STEPS = """
    WITH g AS (
        SELECT g.touch_id,
               bool_or(g.kind = 'opened' AND NOT g.machine) AS opened,
               bool_or(g.kind = 'opened' AND g.machine) AS machine_opened,
               bool_or(g.kind = 'clicked' AND NOT g.machine) AS clicked,
               bool_or(g.kind = 'clicked' AND g.machine) AS machine_clicked,
               bool_or(g.kind = 'replied') AS replied,
               bool_or(g.kind = 'bounced') AS bounced,
               bool_or(g.kind = 'opted_out') AS opted_out,
               bool_or(g.kind = 'complained') AS complained
          FROM engagements g
         WHERE g.touch_id IS NOT NULL AND {ids:g.enrollment_id}
      GROUP BY g.touch_id
    ), t AS (
        SELECT t.enrollment_id, t.step_id,
               (array_agg(t.channel ORDER BY t.claimed_at DESC))[1] AS channel,
               (array_agg(t.variant ORDER BY t.claimed_at DESC))[1] AS variant,
               count(*) AS touches,
               count(*) FILTER (WHERE t.status = ANY(:sent)) AS sent,
               count(*) FILTER (WHERE (t.channel = 'email' AND t.status = ANY(:sent) AND NOT coalesce(g.bounced, false))
                                   OR (t.channel = 'sms' AND t.status IN ('delivered', 'read'))) AS delivered,
               count(*) FILTER (WHERE t.status = 'skipped') AS skipped,
               count(*) FILTER (WHERE t.status = 'failed') AS failed,
               count(*) FILTER (WHERE g.opened) AS opened,
               count(*) FILTER (WHERE g.machine_opened AND NOT g.opened) AS machine_opened,
               count(*) FILTER (WHERE g.clicked) AS clicked,
               count(*) FILTER (WHERE g.machine_clicked AND NOT g.clicked) AS machine_clicked,
               count(*) FILTER (WHERE g.replied) AS replied,
               count(*) FILTER (WHERE g.bounced) AS bounced,
               count(*) FILTER (WHERE g.opted_out) AS opted_out,
               count(*) FILTER (WHERE g.complained) AS complained
          FROM touches t LEFT JOIN g ON g.touch_id = t.id
         WHERE {ids:t.enrollment_id}
      GROUP BY t.enrollment_id, t.step_id
    ), k AS (
        SELECT k.enrollment_id, k.step_id, count(*) AS tasks FROM tasks k WHERE {ids:k.enrollment_id}
      GROUP BY k.enrollment_id, k.step_id
    )
    INSERT INTO report_steps
    SELECT r.enrollment_id, coalesce(t.step_id, k.step_id), t.channel, t.variant, r.cadence_id, r.version_id, r.created_at, r.status,
           r.owner_id, r.persona, r.industry, r.tier, coalesce(k.tasks, 0), coalesce(t.touches, 0), coalesce(t.sent, 0),
           coalesce(t.delivered, 0), coalesce(t.skipped, 0), coalesce(t.failed, 0), coalesce(t.opened, 0), coalesce(t.machine_opened, 0),
           coalesce(t.clicked, 0), coalesce(t.machine_clicked, 0), coalesce(t.replied, 0), coalesce(t.bounced, 0),
           coalesce(t.opted_out, 0), coalesce(t.complained, 0)
      FROM t FULL JOIN k ON k.enrollment_id = t.enrollment_id AND k.step_id = t.step_id
      JOIN report_enrollments r ON r.enrollment_id = coalesce(t.enrollment_id, k.enrollment_id)
"""
_DAYS = """
    INSERT INTO report_days
    SELECT a.enrollment_id, a.day, r.cadence_id, r.version_id, r.created_at, r.owner_id, r.persona, r.industry, r.tier,
           sum(a.sent), sum(a.opened), sum(a.clicked), sum(a.replied)
      FROM (
        SELECT t.enrollment_id, (coalesce(t.sent_at, t.claimed_at) AT TIME ZONE 'UTC')::date AS day, 1 AS sent, 0 AS opened,
               0 AS clicked, 0 AS replied
          FROM touches t
         WHERE t.status = ANY(:sent) AND {ids:t.enrollment_id}
        UNION ALL
        SELECT g.enrollment_id, (g.at AT TIME ZONE 'UTC')::date, 0, (g.kind = 'opened')::int, (g.kind = 'clicked')::int,
               (g.kind = 'replied')::int
          FROM engagements g
         WHERE g.kind IN ('opened', 'clicked', 'replied') AND NOT g.machine AND {ids:g.enrollment_id}
      ) a
      JOIN report_enrollments r ON r.enrollment_id = a.enrollment_id
  GROUP BY a.enrollment_id, a.day, r.cadence_id, r.version_id, r.created_at, r.owner_id, r.persona, r.industry, r.tier
"""


# --- totals: the step and day rollups summed per day of enrollment start -----------------
#
# Each refresh takes the changed enrollments' old rows out of the totals before replacing
# them, and adds their new rows after, so the totals always equal the sum of the rows.

_DIMENSIONS: Final = {
    "cadence_id": "r.cadence_id",
    "version_id": "r.version_id",
    "created_day": "(r.created_at AT TIME ZONE 'UTC')::date",
    "owner_id": "coalesce(r.owner_id, '')",
    "persona": "coalesce(r.persona, '')",
    "industry": "coalesce(r.industry, '')",
    "tier": "coalesce(r.tier, '')",
}
RESPONDED: Final = ("replied", "meeting_booked", "switched")
STEP_KEYS: Final = {**_DIMENSIONS, "step_id": "r.step_id", "channel": "coalesce(r.channel, '')", "variant": "coalesce(r.variant, '')"}
STEP_COUNTS: Final = tuple(StepCounts.model_fields)
"""The message counts of a step, in `report_steps` and summed in `report_step_totals`."""
STEP_ROW: Final = {
    "enrollments": "1",
    "with_sent": "(r.sent > 0)::int",
    "with_skipped": "(r.skipped > 0)::int",
    "with_failed": "(r.failed > 0)::int",
    "responded": f"(r.sent > 0 AND r.status IN {RESPONDED!r})::int".replace(",)", ")"),
    **{name: f"r.{name}" for name in STEP_COUNTS},
}
"""What one `report_steps` row adds to each column of `report_step_totals`."""
DAY_KEYS: Final = {**_DIMENSIONS, "day": "r.day"}
DAY_ROW: Final = {name: f"r.{name}" for name in ("sent", "opened", "clicked", "replied")}


def _sum_changed(source: str, keys: dict[str, str], row: dict[str, str]) -> str:
    """The changed enrollments' rows of `source`, summed per key of its totals."""
    return (
        f"SELECT {', '.join(f'{expr} AS {name}' for name, expr in keys.items())}, "
        f"{', '.join(f'sum({expr}) AS {name}' for name, expr in row.items())} "
        f"FROM {source} r WHERE {{ids:r.enrollment_id}} GROUP BY {', '.join(str(i + 1) for i in range(len(keys)))}"
    )


def _take_out(totals: str, source: str, keys: dict[str, str], row: dict[str, str]) -> list[str]:
    match = " AND ".join(f"t.{name} = o.{name}" for name in keys)
    empty = " AND ".join(f"t.{name} = 0" for name in row)
    return [
        f"UPDATE {totals} t SET {', '.join(f'{name} = t.{name} - o.{name}' for name in row)} "
        f"FROM ({_sum_changed(source, keys, row)}) o WHERE {match}",
        # Only the totals just lowered can have come to nothing.
        f"DELETE FROM {totals} t USING ({_sum_changed(source, keys, row)}) o WHERE {match} AND {empty}",
    ]


def _put_in(totals: str, source: str, keys: dict[str, str], row: dict[str, str]) -> str:
    return (
        f"INSERT INTO {totals} ({', '.join([*keys, *row])}) {_sum_changed(source, keys, row)} "
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {', '.join(f'{name} = {totals}.{name} + excluded.{name}' for name in row)}"
    )


_TAKE_OUT: Final = [
    *_take_out("report_step_totals", "report_steps", STEP_KEYS, STEP_ROW),
    *_take_out("report_day_totals", "report_days", DAY_KEYS, DAY_ROW),
]
_PUT_IN: Final = [
    _put_in("report_step_totals", "report_steps", STEP_KEYS, STEP_ROW),
    _put_in("report_day_totals", "report_days", DAY_KEYS, DAY_ROW),
]


def totals_query(
    totals: str, source: str, keys: dict[str, str], row: dict[str, str], *, group: str, columns: list[str], having: str = ""
) -> str:
    """A report over whole days from `totals` and over the partial days at either end of the
    range from `source`'s rows, grouped by `group` (an expression over `r`'s key columns).
    The caller's conditions go in as `{cube}` (on the totals) and `{edge}` (on the rows)."""
    raw_keys = ", ".join(f"{expr} AS {name}" for name, expr in keys.items())
    return (
        f"SELECT {group} AS grp, {', '.join(f'sum(r.{c}) AS {c}' for c in columns)} FROM ("
        f"SELECT {', '.join(keys)}, {', '.join(columns)} FROM {totals} r WHERE {{cube}} "
        f"UNION ALL SELECT {raw_keys}, {', '.join(f'{row[c]} AS {c}' for c in columns)} FROM {source} r WHERE {{edge}}"
        f") r GROUP BY 1 {having}"
    )


def _only(statement: str, full: bool) -> str:
    """The statement for the changed enrollments (by index), or for all of them."""
    return re.sub(r"\{ids:([\w.]+)\}", "true" if full else r"\1 = ANY(:ids)", statement)


@dataclass(frozen=True)
class Refreshed:
    """What a refresh did: the enrollments it recomputed, whether it rebuilt everything, how
    long it took, and the moment the rollups now stand at."""

    enrollments: int
    full: bool
    seconds: float
    as_of: dt.datetime


def refresh(session: Session, *, full: bool = False) -> Refreshed:
    """Bring the rollups up to now in the caller's transaction (waiting for a refresh under
    way elsewhere): the enrollments changed since the last refresh, or everything with
    `full` or the first time."""
    started = time.perf_counter()
    session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK})
    now = session.execute(sa.text("SELECT now()")).scalar_one()
    mark = session.execute(sa.text("SELECT refreshed_to FROM report_marks WHERE name = :name"), {"name": NAME}).scalar()
    full = full or mark is None
    ids: list[Any] = []
    if full or mark is None:
        count = session.execute(sa.text("SELECT count(*) FROM enrollments")).scalar_one()
    else:
        ids = list(session.execute(sa.text(_CHANGED), {"since": mark - MARGIN}).scalars())
        count = len(ids)
    if count:
        # Planner costs tuned for a few rows read by index; no JIT for statements this short.
        session.execute(sa.text("SET LOCAL jit = off"))
        if full:
            session.execute(sa.text("DELETE FROM report_step_totals"))
            session.execute(sa.text("DELETE FROM report_day_totals"))
        else:
            for statement in _TAKE_OUT:
                session.execute(sa.text(_only(statement, full)), {"ids": ids})
        for statement in (*_CLEAR, _ENROLLMENTS, _STEPS, _DAYS, *_PUT_IN):
            session.execute(sa.text(_only(statement, full)), {"ids": ids, "sent": list(SENT)})
        if full:
            for table in ("report_enrollments", "report_steps", "report_days", "report_step_totals", "report_day_totals"):
                session.execute(sa.text(f"ANALYZE {table}"))
    session.execute(
        sa.text("""
            INSERT INTO report_marks (name, refreshed_to, enrollments) VALUES (:name, :now, :count)
            ON CONFLICT (name) DO UPDATE SET refreshed_to = excluded.refreshed_to, enrollments = excluded.enrollments
        """),
        {"name": NAME, "now": now, "count": count},
    )
    return Refreshed(int(count), full, time.perf_counter() - started, now)
