"""Every shipped playbook with anchored steps (renewal, webinars), walked over a year of
anchor dates through the pure machine with the gate deciding every touch: no anchored step
is skipped unless its date was already behind the contact the day it enrolled.

Before issue 11 (8n) a third of renewal dates lost the CSM's renewal discussion: the
invitation planned for the same day was deferred from a weekend to Monday, and the
discussion then counted its own date as passed.
"""

from __future__ import annotations

import datetime as dt

import pytest

from cadence.definition import CadenceDefinition
from starter.catalog import load_file, load_policy, playbook_files
from tests.unit.cadence.anchor_walk import Where, passed_at_enrollment, walk

ENROLLED = dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC)  # a Monday
POLICY = load_policy()
PLACES = [Where("America/Chicago", "US"), Where("Europe/London", "GB")]


def anchored_playbooks() -> dict[str, CadenceDefinition]:
    found = {}
    for path in playbook_files():
        definition = load_file(path).definition
        if any(step.wait.anchor for step in definition.steps):
            found[definition.key] = definition
    return found


ANCHORED = anchored_playbooks()


def test_the_shipped_anchored_playbooks_are_all_walked() -> None:
    assert {"renewal-90-60-30", "webinar-invitation", "webinar-reminder"} <= set(ANCHORED)


@pytest.mark.parametrize("where", PLACES, ids=lambda w: w.timezone)
@pytest.mark.parametrize("key", sorted(ANCHORED))
def test_no_anchored_step_is_skipped_over_a_year_of_anchor_dates_unless_it_had_passed(key: str, where: Where) -> None:
    definition = ANCHORED[key]
    (anchor,) = {step.wait.anchor for step in definition.steps if step.wait.anchor}
    lead = max(-step.wait.offset_days for step in definition.steps if step.wait.anchor)
    wrong: dict[dt.date, list[str]] = {}
    deferred = legit = 0
    # From "today" (every step already behind the contact) to a year past the earliest step.
    for days in range(lead + 366):
        dates = {anchor: (ENROLLED + dt.timedelta(days=days)).date()}
        run = walk(definition, POLICY, where=where, dates=dates, enrolled_at=ENROLLED)
        expected = passed_at_enrollment(definition, dates, ENROLLED, where.timezone)
        got = [step for step, _ in run.skipped]
        if got != expected:
            wrong[dates[anchor]] = got
        deferred += run.deferred
        legit += len(expected)
        ran = [step for step, _ in run.ran]
        assert ran == [s.id for s in definition.steps if s.id not in expected], dates  # each once, in order
    assert wrong == {}, f"{len(wrong)} anchor dates skipped a step whose date had not passed at enrollment"
    assert deferred > 0 and legit > 0  # the walk did meet deferrals, and anchors really in the past
