"""due_at for every wait kind, the position machine (`after`) and `plan`, with fixed vectors."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

import pytest
from pydantic import ValidationError

from cadence.parse import DefinitionError
from cadence.schedule import ContactCalendar, Due, Position, after, due_at, ensure_utc, plan
from cadence.steps import Wait
from tests.unit.cadence.support import all_transitions, definition, email, in_fold, occurrences, wall

UTC = dt.UTC
CHICAGO = ContactCalendar(timezone="America/Chicago", country="US")


def local(zone_name: str, *args: int) -> dt.datetime:
    """The UTC instant of a local wall time (fold=0), so arithmetic on it is elapsed time."""
    return dt.datetime(*args, tzinfo=zoneinfo.ZoneInfo(zone_name)).astimezone(UTC)  # type: ignore[arg-type, misc]


def due(wait: dict[str, Any], reference: dt.datetime, calendar: ContactCalendar = CHICAGO, rhythm_start: dt.datetime | None = None) -> Due:
    return due_at(Wait(**wait), reference=reference, rhythm_start=rhythm_start or reference, calendar=calendar)


def due_local(wait: dict[str, Any], reference: dt.datetime, calendar: ContactCalendar = CHICAGO, **kw: Any) -> dt.datetime:
    result = due(wait, reference, calendar, **kw)
    assert result.at is not None, result.skip_reason
    assert result.at.utcoffset() == dt.timedelta(0), "due instants are UTC"
    return result.at.astimezone(zoneinfo.ZoneInfo(calendar.timezone or "UTC"))


# --- immediate, minutes, hours --------------------------------------------------------------------


def test_no_wait_is_due_at_the_reference() -> None:
    ref = dt.datetime(2026, 5, 4, 14, 7, 13, tzinfo=UTC)
    assert due({}, ref) == Due(ref)


@pytest.mark.parametrize(
    ("wait", "elapsed"),
    [
        ({"minutes": 90}, dt.timedelta(minutes=90)),
        ({"hours": 2}, dt.timedelta(hours=2)),
        ({"hours": 1, "minutes": 15}, dt.timedelta(minutes=75)),
        ({"seconds": 45}, dt.timedelta(seconds=45)),
        ({"minutes": 1, "seconds": 30}, dt.timedelta(seconds=90)),
        ({"seconds": 0}, dt.timedelta(0)),
    ],
)
def test_minutes_and_hours_are_elapsed_time(wait: dict[str, Any], elapsed: dt.timedelta) -> None:
    ref = dt.datetime(2026, 5, 4, 14, 7, 13, tzinfo=UTC)
    assert due(wait, ref).at == ref + elapsed


def test_hours_across_spring_forward_are_real_hours() -> None:
    ref = local("America/Chicago", 2026, 3, 8, 1, 30)  # 07:30Z, 30 minutes before the gap
    result = due({"hours": 2}, ref).at
    assert result == ref + dt.timedelta(hours=2)
    assert wall(result, "America/Chicago") == dt.datetime(2026, 3, 8, 4, 30)


def test_minutes_in_the_first_pass_of_a_fold_are_elapsed_time() -> None:
    ref = dt.datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT, first of two 01:30s
    assert due({"minutes": 30}, ref, ContactCalendar(timezone="America/New_York")).at == ref + dt.timedelta(minutes=30)


def test_minutes_and_hours_from_the_second_pass_of_every_fold_are_elapsed_time() -> None:
    wrong: list[str] = []
    for t in all_transitions():
        if t.is_gap:
            continue
        inside = (t.wall_start + t.size / 2).replace(second=0, microsecond=0)
        second_pass = occurrences(inside, t.zone)[1]
        for wait, elapsed in (
            ({"minutes": 30}, dt.timedelta(minutes=30)),
            ({"hours": 1}, dt.timedelta(hours=1)),
            ({"seconds": 90}, dt.timedelta(seconds=90)),
        ):
            got = due(wait, second_pass, ContactCalendar(timezone=t.zone)).at
            if got != second_pass + elapsed:
                wrong.append(f"{t.zone} {inside} {wait}: waited {got - second_pass if got else None}")
    assert not wrong, f"{len(wrong)} wrong, e.g. {wrong[:3]}"


def test_zero_business_days_from_the_second_pass_of_a_fold_is_now() -> None:
    israel = ContactCalendar(timezone="Asia/Jerusalem", country="IL")
    second_pass = dt.datetime(2026, 10, 24, 23, 30, tzinfo=UTC)  # Sunday 2026-10-25 01:30 IST, the second 01:30
    assert wall(second_pass, "Asia/Jerusalem") == dt.datetime(2026, 10, 25, 1, 30)
    assert due({"business_days": 0}, second_pass, israel).at == second_pass


def test_days_from_the_second_pass_of_a_fold_keep_the_wall_time() -> None:
    second_pass = dt.datetime(2026, 11, 1, 6, 30, tzinfo=UTC)  # 01:30 EST, the second 01:30 in New York
    assert in_fold(second_pass, "America/New_York")
    result = due({"days": 1}, second_pass, ContactCalendar(timezone="America/New_York")).at
    assert result == dt.datetime(2026, 11, 2, 6, 30, tzinfo=UTC)  # 01:30 EST the next night
    business = due({"business_days": 1}, second_pass, ContactCalendar(timezone="America/New_York", country="US")).at
    assert business == dt.datetime(2026, 11, 2, 6, 30, tzinfo=UTC)  # Monday


def test_days_from_the_second_pass_of_a_fold_into_a_gap_move_forward() -> None:
    # Casablanca falls back 03:00 -> 02:00 on 2026-02-15 and springs forward 02:00 -> 03:00 on 2026-03-22.
    zone_name = "Africa/Casablanca"
    first, second = occurrences(dt.datetime(2026, 2, 15, 2, 30), zone_name)
    calendar = ContactCalendar(timezone=zone_name)
    from_first = due({"days": 35}, first, calendar).at
    assert from_first is not None and wall(from_first, zone_name) == dt.datetime(2026, 3, 22, 3, 30)
    from_second = due({"days": 35}, second, calendar).at
    assert from_second is not None
    assert wall(from_second, zone_name) == dt.datetime(2026, 3, 22, 3, 30)


# --- days with and without `at` --------------------------------------------------------------------


def test_days_at_keeps_the_local_wall_time_across_dst() -> None:
    ref = local("America/Chicago", 2026, 3, 6, 15, 0)  # Friday, CST
    result = due_local({"days": 2, "at": "09:00"}, ref)
    assert (result.date(), result.time()) == (dt.date(2026, 3, 8), dt.time(9, 0))
    assert result.utcoffset() == dt.timedelta(hours=-5)  # CDT by then


def test_days_with_hours_and_seconds_add_elapsed_time_to_the_wall_day() -> None:
    ref = local("America/Chicago", 2026, 3, 7, 10, 45)
    result = due_local({"days": 1, "hours": 2, "seconds": 30}, ref)
    assert (result.date(), result.time()) == (dt.date(2026, 3, 8), dt.time(12, 45, 30))


def test_days_without_at_keep_the_time_of_day_of_the_reference() -> None:
    ref = local("America/Chicago", 2026, 3, 7, 10, 45)
    result = due_local({"days": 1}, ref)
    assert (result.date(), result.time()) == (dt.date(2026, 3, 8), dt.time(10, 45))
    assert result - ref == dt.timedelta(hours=23)  # a 23-hour day


@pytest.mark.parametrize("wait", [{"days": 0, "at": "09:00"}, {"at": "09:00"}])
def test_same_day_at_is_today_if_still_ahead_otherwise_tomorrow(wait: dict[str, Any]) -> None:
    early = due_local(wait, local("America/Chicago", 2026, 5, 4, 8, 0))
    assert (early.date(), early.time()) == (dt.date(2026, 5, 4), dt.time(9, 0))
    exact = due_local(wait, local("America/Chicago", 2026, 5, 4, 9, 0))
    assert (exact.date(), exact.time()) == (dt.date(2026, 5, 4), dt.time(9, 0))
    late = due_local(wait, local("America/Chicago", 2026, 5, 4, 9, 1))
    assert (late.date(), late.time()) == (dt.date(2026, 5, 5), dt.time(9, 0))


@pytest.mark.parametrize(
    ("zone_name", "reference", "wait", "expected_utc", "expected_wall"),
    [
        ("Asia/Kathmandu", (2026, 7, 1, 12, 0), {"days": 1, "at": "09:00"}, (2026, 7, 2, 3, 15), (2026, 7, 2, 9, 0)),
        ("America/Chicago", (2026, 3, 7, 12, 0), {"days": 1, "at": "02:30"}, (2026, 3, 8, 8, 30), (2026, 3, 8, 3, 30)),
        ("America/Chicago", (2026, 10, 31, 12, 0), {"days": 1, "at": "01:30"}, (2026, 11, 1, 6, 30), (2026, 11, 1, 1, 30)),
        ("America/Havana", (2026, 3, 7, 12, 0), {"days": 1, "at": "00:00"}, (2026, 3, 8, 5, 0), (2026, 3, 8, 1, 0)),
        ("America/Havana", (2026, 10, 31, 12, 0), {"days": 1, "at": "00:30"}, (2026, 11, 1, 4, 30), (2026, 11, 1, 0, 30)),
        ("Australia/Lord_Howe", (2026, 10, 3, 12, 0), {"days": 1, "at": "02:15"}, (2026, 10, 3, 15, 45), (2026, 10, 4, 2, 45)),
        ("Australia/Lord_Howe", (2026, 4, 4, 12, 0), {"days": 1, "at": "01:45"}, (2026, 4, 4, 14, 45), (2026, 4, 5, 1, 45)),
        ("Pacific/Easter", (2026, 4, 3, 12, 0), {"days": 1, "at": "21:30"}, (2026, 4, 5, 2, 30), (2026, 4, 4, 21, 30)),
        ("Pacific/Easter", (2026, 9, 4, 12, 0), {"days": 1, "at": "22:30"}, (2026, 9, 6, 4, 30), (2026, 9, 5, 23, 30)),
        # Nuuk springs forward from 23:00 straight to midnight: 23:30 that Saturday does not exist
        ("America/Nuuk", (2026, 3, 27, 12, 0), {"days": 1, "at": "23:30"}, (2026, 3, 29, 1, 30), (2026, 3, 29, 0, 30)),
    ],
)
def test_days_at_vectors(
    zone_name: str, reference: tuple[int, ...], wait: dict[str, Any], expected_utc: tuple[int, ...], expected_wall: tuple[int, ...]
) -> None:
    result = due(wait, local(zone_name, *reference), ContactCalendar(timezone=zone_name)).at
    assert result == dt.datetime(*expected_utc, tzinfo=UTC)  # type: ignore[arg-type, misc]
    assert wall(result, zone_name) == dt.datetime(*expected_wall)  # type: ignore[arg-type]


def test_contact_without_time_zone_uses_utc() -> None:
    ref = dt.datetime(2026, 5, 4, 20, 0, tzinfo=UTC)
    assert due({"days": 1, "at": "09:00"}, ref, ContactCalendar()).at == dt.datetime(2026, 5, 5, 9, 0, tzinfo=UTC)


# --- business days ------------------------------------------------------------------------------------


def test_business_days_skip_thanksgiving_and_the_weekend() -> None:
    result = due_local({"business_days": 1}, local("America/Chicago", 2026, 11, 25, 10, 0))
    assert (result.date(), result.time()) == (dt.date(2026, 11, 27), dt.time(10, 0))
    result = due_local({"business_days": 3, "at": "09:00"}, local("America/Chicago", 2026, 11, 25, 16, 0))
    assert (result.date(), result.time()) == (dt.date(2026, 12, 1), dt.time(9, 0))


def test_business_days_follow_the_contacts_country_not_the_senders() -> None:
    thursday = local("Asia/Jerusalem", 2026, 1, 8, 11, 0)
    israel = due_local({"business_days": 1, "at": "09:00"}, thursday, ContactCalendar(timezone="Asia/Jerusalem", country="IL"))
    assert (israel.date(), israel.time()) == (dt.date(2026, 1, 11), dt.time(9, 0))  # Sunday
    as_if_us = due_local({"business_days": 1, "at": "09:00"}, thursday, ContactCalendar(timezone="Asia/Jerusalem", country="US"))
    assert as_if_us.date() == dt.date(2026, 1, 9)  # Friday


def test_business_days_in_the_contacts_subdivision() -> None:
    monday = local("America/Los_Angeles", 2026, 3, 30, 12, 0)
    ca = due_local(
        {"business_days": 1, "at": "09:00"}, monday, ContactCalendar(timezone="America/Los_Angeles", country="US", subdivision="CA")
    )
    assert ca.date() == dt.date(2026, 4, 1)  # Cesar Chavez Day on Tuesday 31 March
    ny = due_local(
        {"business_days": 1, "at": "09:00"}, monday, ContactCalendar(timezone="America/Los_Angeles", country="US", subdivision="NY")
    )
    assert ny.date() == dt.date(2026, 3, 31)


def test_zero_business_days_is_today_if_still_possible() -> None:
    ref = local("America/Chicago", 2026, 11, 24, 8, 0)
    today = due_local({"business_days": 0, "at": "09:00"}, ref)
    assert (today.date(), today.time()) == (dt.date(2026, 11, 24), dt.time(9, 0))
    late = due_local({"business_days": 0, "at": "09:00"}, local("America/Chicago", 2026, 11, 25, 10, 0))
    assert (late.date(), late.time()) == (dt.date(2026, 11, 27), dt.time(9, 0))  # not Thanksgiving
    holiday = due_local({"business_days": 0, "at": "09:00"}, local("America/Chicago", 2026, 11, 26, 8, 0))
    assert holiday.date() == dt.date(2026, 11, 27)


def test_zero_business_days_without_at_is_now_on_a_business_day_else_the_next_one() -> None:
    late_tuesday = local("America/Chicago", 2026, 11, 24, 23, 59)
    assert due({"business_days": 0}, late_tuesday).at == late_tuesday
    saturday = local("America/Chicago", 2026, 11, 28, 10, 15)
    monday = due_local({"business_days": 0}, saturday)
    assert (monday.date(), monday.time()) == (dt.date(2026, 11, 30), dt.time(10, 15))
    thanksgiving = due_local({"business_days": 0}, local("America/Chicago", 2026, 11, 26, 8, 0))
    assert (thanksgiving.date(), thanksgiving.time()) == (dt.date(2026, 11, 27), dt.time(8, 0))


# --- anchors ------------------------------------------------------------------------------------------


RENEWAL = ContactCalendar(timezone="America/Chicago", country="US", dates={"renewal_date": dt.date(2026, 12, 31)})


def test_anchor_with_negative_offset_defaults_to_nine_local() -> None:
    result = due_local({"anchor": "renewal_date", "offset_days": -90}, local("America/Chicago", 2026, 6, 1, 12, 0), RENEWAL)
    assert (result.date(), result.time()) == (dt.date(2026, 10, 2), dt.time(9, 0))


def test_anchor_with_at_and_positive_offset() -> None:
    webinar = ContactCalendar(timezone="Australia/Lord_Howe", dates={"webinar_date": dt.date(2026, 10, 1)})
    result = due_local(
        {"anchor": "webinar_date", "offset_days": 3, "at": "02:15"}, local("Australia/Lord_Howe", 2026, 9, 1, 12, 0), webinar
    )
    assert (result.date(), result.time()) == (dt.date(2026, 10, 4), dt.time(2, 45))  # 02:15 is in the 30-minute gap


def test_anchor_on_the_day_itself() -> None:
    result = due_local({"anchor": "renewal_date", "at": "10:30"}, local("America/Chicago", 2026, 12, 1, 12, 0), RENEWAL)
    assert (result.date(), result.time()) == (dt.date(2026, 12, 31), dt.time(10, 30))


def test_passed_anchor_is_skipped_with_a_reason() -> None:
    result = due({"anchor": "renewal_date", "offset_days": -90}, local("America/Chicago", 2026, 11, 20, 12, 0), RENEWAL)
    assert result.at is None
    assert result.skip_reason == "renewal_date -90 days (2026-10-02) has already passed"
    no_offset = due({"anchor": "renewal_date"}, local("America/Chicago", 2027, 1, 2, 12, 0), RENEWAL)
    assert no_offset.skip_reason == "renewal_date (2026-12-31) has already passed"


def test_anchor_later_the_same_day_is_not_skipped_and_not_early() -> None:
    ref = local("America/Chicago", 2026, 12, 31, 14, 0)
    result = due({"anchor": "renewal_date", "at": "09:00"}, ref, RENEWAL)
    assert result.at is not None
    assert result.at >= ref
    assert wall(result.at, "America/Chicago").date() == dt.date(2026, 12, 31)


def test_anchor_the_contact_does_not_have_is_skipped() -> None:
    result = due({"anchor": "webinar_date", "offset_days": -7}, local("America/Chicago", 2026, 6, 1, 12, 0), RENEWAL)
    assert result == Due(None, "the contact has no webinar_date")


# --- RRULE --------------------------------------------------------------------------------------------

QUARTERLY_FIRST_TUESDAY = "FREQ=MONTHLY;BYMONTH=1,4,7,10;BYDAY=+1TU"


def test_first_tuesday_of_each_quarter() -> None:
    start = local("America/Chicago", 2026, 2, 10, 12, 0)
    reference = start
    seen = []
    for _ in range(5):
        result = due_local({"rrule": QUARTERLY_FIRST_TUESDAY, "at": "10:00"}, reference, rhythm_start=start)
        seen.append(result.date())
        assert result.time() == dt.time(10, 0)
        reference = result
    assert seen == [dt.date(2026, 4, 7), dt.date(2026, 7, 7), dt.date(2026, 10, 6), dt.date(2027, 1, 5), dt.date(2027, 4, 6)]


def test_every_two_weeks_from_the_rhythm_start_at_nine_by_default() -> None:
    start = local("America/Chicago", 2026, 1, 5, 8, 0)  # a Monday
    first = due_local({"rrule": "FREQ=WEEKLY;INTERVAL=2"}, start, rhythm_start=start)
    assert (first.date(), first.time()) == (dt.date(2026, 1, 5), dt.time(9, 0))
    later = due_local({"rrule": "FREQ=WEEKLY;INTERVAL=2"}, local("America/Chicago", 2026, 1, 6, 8, 0), rhythm_start=start)
    assert later.date() == dt.date(2026, 1, 19)
    # Exactly at an occurrence (the step just ran): the next one, never the same one again.
    again = due_local({"rrule": "FREQ=WEEKLY;INTERVAL=2"}, later, rhythm_start=start)
    assert again.date() == dt.date(2026, 2, 2)
    # Across the March DST change the wall time stays 09:00.
    march = due_local({"rrule": "FREQ=WEEKLY;INTERVAL=2"}, local("America/Chicago", 2026, 3, 3, 8, 0), rhythm_start=start)
    assert (march.date(), march.time(), march.utcoffset()) == (dt.date(2026, 3, 16), dt.time(9, 0), dt.timedelta(hours=-5))


def test_rrule_with_no_more_occurrences_is_skipped() -> None:
    start = local("America/Chicago", 2026, 1, 5, 8, 0)
    result = due({"rrule": "FREQ=MONTHLY;COUNT=2"}, local("America/Chicago", 2026, 3, 1, 8, 0), rhythm_start=start)
    assert result == Due(None, "the recurring rule has no further occurrences")


def test_rrule_from_the_second_pass_of_a_fold_is_after_the_reference_at_the_rule_time() -> None:
    ref = dt.datetime(2026, 11, 1, 6, 30, tzinfo=UTC)  # 01:30 EST, the second 01:30 in New York
    result = due(
        {"rrule": "FREQ=DAILY", "at": "01:45"},
        ref,
        ContactCalendar(timezone="America/New_York"),
        rhythm_start=dt.datetime(2026, 10, 1, tzinfo=UTC),
    )
    assert result.at is not None
    assert result.at > ref
    assert wall(result.at, "America/New_York").time() == dt.time(1, 45)
    # 01:45 means its first pass (05:45Z), already behind the reference: the next day's 01:45.
    assert result.at == dt.datetime(2026, 11, 2, 6, 45, tzinfo=UTC)


def test_rrule_from_the_first_pass_of_a_fold_is_later_that_night() -> None:
    ref = dt.datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT, the first 01:30
    result = due(
        {"rrule": "FREQ=DAILY", "at": "01:45"},
        ref,
        ContactCalendar(timezone="America/New_York"),
        rhythm_start=dt.datetime(2026, 10, 1, tzinfo=UTC),
    )
    assert result.at == dt.datetime(2026, 11, 1, 5, 45, tzinfo=UTC)


@pytest.mark.parametrize(
    "rule",
    [
        "RRULE:FREQ=WEEKLY;BYDAY=MO\nEXDATE:20260105T090000",
        "RRULE:FREQ=WEEKLY;BYDAY=MO\nRDATE:20260107T090000",
        "RRULE:FREQ=MONTHLY;BYMONTHDAY=1\nRRULE:FREQ=MONTHLY;BYMONTHDAY=15",
    ],
)
def test_a_rule_set_is_rejected_at_load_time(rule: str) -> None:
    with pytest.raises(ValidationError, match="give a single RRULE"):
        Wait(rrule=rule)
    with pytest.raises(DefinitionError) as info:
        definition(email("a", wait={"rrule": rule}))
    assert [(p.step, p.field) for p in info.value.problems] == [(0, "wait.rrule")]


def test_rrule_occurrence_moved_forward_by_a_gap_is_not_lost() -> None:
    start = local("America/Chicago", 2026, 3, 1, 12, 0)
    ref = local("America/Chicago", 2026, 3, 8, 3, 10)  # just after the spring-forward gap (02:00-03:00)
    assert due_local({"days": 0, "at": "02:30"}, ref).time() == dt.time(3, 30)
    result = due_local({"rrule": "FREQ=DAILY", "at": "02:30"}, ref, rhythm_start=start)
    assert (result.date(), result.time()) == (dt.date(2026, 3, 8), dt.time(3, 30))


def test_ensure_utc() -> None:
    aware = local("Asia/Kathmandu", 2026, 7, 1, 9, 0)
    assert ensure_utc(aware) == dt.datetime(2026, 7, 1, 3, 15, tzinfo=UTC)
    assert ensure_utc(aware).utcoffset() == dt.timedelta(0)
    with pytest.raises(ValueError, match="naive"):
        ensure_utc(dt.datetime(2026, 7, 1, 9, 0))


# --- after(): repeats and loops ------------------------------------------------------------------------


def walk(d: Any, start: Position | None = None, limit: int = 30) -> list[tuple[int, int, int]]:
    seen: list[tuple[int, int, int]] = []
    position: Position | None = start or Position()
    while position is not None and len(seen) < limit:
        seen.append((position.step, position.occurrence, position.round))
        position = after(d, position)
    return seen


def test_steps_run_in_order_then_the_cadence_ends() -> None:
    assert walk(definition(email("a"), email("b"), email("c"))) == [(0, 0, 0), (1, 0, 0), (2, 0, 0)]


def test_repeat_count_runs_the_step_that_many_times() -> None:
    d = definition(email("a"), email("b", wait={"days": 14}, repeat={"count": 3}), email("c"))
    assert walk(d) == [(0, 0, 0), (1, 0, 0), (1, 1, 0), (1, 2, 0), (2, 0, 0)]


def test_repeat_without_count_continues_until_ended() -> None:
    d = definition(email("a", wait={"days": 7}, repeat={}), email("b"))
    assert walk(d, limit=5) == [(0, i, 0) for i in range(5)]
    assert after(d, Position(0, 4), end_repeat=True) == Position(1, 0, 0)


def test_loop_times_counts_rounds_including_the_first() -> None:
    d = definition(email("intro"), email("check-in"), email("review"), loop={"from_step": "check-in", "times": 3})
    assert walk(d) == [(0, 0, 0), (1, 0, 0), (2, 0, 0), (1, 0, 1), (2, 0, 1), (1, 0, 2), (2, 0, 2)]


def test_loop_without_times_never_ends_by_itself() -> None:
    d = definition(email("a"), email("b"), loop={"from_step": "a"})
    assert walk(d, limit=10)[-1] == (1, 0, 4)
    assert len(walk(d, limit=10)) == 10


# --- plan() ----------------------------------------------------------------------------------------------


def renewal_cadence() -> Any:
    return definition(*(email(f"r{n}", wait={"anchor": "renewal_date", "offset_days": -n, "at": "10:00"}) for n in (90, 60, 30, 14, 7)))


def test_plan_skips_passed_anchored_steps_with_reasons() -> None:
    ref = local("America/Chicago", 2026, 11, 20, 12, 0)  # 41 days before renewal
    planned = plan(renewal_cadence(), Position(), reference=ref, rhythm_start=ref, calendar=RENEWAL)
    assert planned.position == Position(2, 0, 0)
    assert planned.at == local("America/Chicago", 2026, 12, 1, 10, 0)
    assert planned.skipped == (
        (Position(0, 0, 0), "renewal_date -90 days (2026-10-02) has already passed"),
        (Position(1, 0, 0), "renewal_date -60 days (2026-11-01) has already passed"),
    )


def test_plan_with_nothing_schedulable_ends_the_cadence() -> None:
    ref = local("America/Chicago", 2026, 11, 20, 12, 0)
    planned = plan(renewal_cadence(), Position(), reference=ref, rhythm_start=ref, calendar=CHICAGO)
    assert (planned.position, planned.at) == (None, None)
    assert [reason for _, reason in planned.skipped] == ["the contact has no renewal_date"] * 5


def test_plan_of_no_position_is_the_end() -> None:
    ref = local("America/Chicago", 2026, 11, 20, 12, 0)
    planned = plan(renewal_cadence(), None, reference=ref, rhythm_start=ref, calendar=RENEWAL)
    assert (planned.position, planned.at, planned.skipped) == (None, None, ())


def test_plan_ends_a_loop_whose_every_step_is_skipped() -> None:
    d = definition(email("a", wait={"anchor": "renewal_date"}), email("b", wait={"anchor": "renewal_date"}), loop={"from_step": "a"})
    ref = local("America/Chicago", 2026, 1, 1, 12, 0)
    planned = plan(d, Position(), reference=ref, rhythm_start=ref, calendar=CHICAGO)
    assert planned.position is None
    assert planned.skipped  # the reasons are kept


def test_plan_skips_a_repeating_step_that_cannot_run_even_once() -> None:
    d = definition(
        email("monthly", wait={"rrule": "FREQ=MONTHLY;COUNT=2", "at": "10:00"}, repeat={}), email("final", wait={"days": 1, "at": "10:00"})
    )
    start = local("America/Chicago", 2026, 1, 5, 8, 0)
    ref = local("America/Chicago", 2026, 4, 1, 12, 0)  # both occurrences are behind us
    planned = plan(d, Position(), reference=ref, rhythm_start=start, calendar=CHICAGO)
    assert planned.position == Position(1, 0, 0)
    assert planned.at == local("America/Chicago", 2026, 4, 2, 10, 0)
    assert planned.skipped == ((Position(0, 0, 0), "the recurring rule has no further occurrences"),)


def test_a_repeating_anchored_step_is_refused_at_load_time() -> None:
    with pytest.raises(DefinitionError, match="an anchor happens once"):
        definition(email("renewal", wait={"anchor": "renewal_date", "at": "10:00"}, repeat={"count": 3}))


@pytest.mark.parametrize("wait", [{}, {"anchor": "renewal_date", "at": "10:00"}, {"minutes": 0}, {"business_days": 0}])
def test_a_repeating_step_is_never_due_again_at_the_instant_it_ran(wait: dict[str, Any]) -> None:
    raw = email("again", wait=wait, repeat={"count": 5})
    try:
        d = definition(raw, email("after", wait={"days": 1}))
    except DefinitionError:
        return  # rejected at load time: fine
    ran = local("America/Chicago", 2026, 12, 31, 10, 0)  # a Thursday, the renewal date
    planned = plan(d, Position(0, 1), reference=ran, rhythm_start=ran, calendar=RENEWAL)
    assert planned.at is not None
    assert planned.at > ran or planned.position == Position(1, 0, 0)


def weekly_until() -> Any:
    return definition(
        email("weekly", wait={"rrule": "FREQ=WEEKLY;BYDAY=MO", "at": "09:00"}, repeat={"until": "2026-02-01"}),
        email("wrap-up", wait={"days": 1, "at": "10:00"}),
    )


def test_repeat_until_moves_on_quietly_once_the_rhythm_has_run() -> None:
    ref = local("America/Chicago", 2026, 1, 26, 9, 0)  # the last Monday before the until date
    start = local("America/Chicago", 2026, 1, 5, 9, 0)
    planned = plan(weekly_until(), Position(0, 3), reference=ref, rhythm_start=start, calendar=CHICAGO)
    assert planned.position == Position(1, 0, 0)
    assert planned.at == local("America/Chicago", 2026, 1, 27, 10, 0)
    assert planned.skipped == ()


def test_repeat_until_still_runs_occurrences_before_the_date() -> None:
    ref = local("America/Chicago", 2026, 1, 19, 9, 0)
    start = local("America/Chicago", 2026, 1, 5, 9, 0)
    planned = plan(weekly_until(), Position(0, 2), reference=ref, rhythm_start=start, calendar=CHICAGO)
    assert planned.position == Position(0, 2)
    assert planned.at == local("America/Chicago", 2026, 1, 26, 9, 0)


def test_repeat_whose_first_occurrence_is_already_past_until_is_skipped_with_a_reason() -> None:
    ref = local("America/Chicago", 2026, 2, 3, 12, 0)
    planned = plan(weekly_until(), Position(), reference=ref, rhythm_start=ref, calendar=CHICAGO)
    assert planned.position == Position(1, 0, 0)
    assert planned.skipped == ((Position(0, 0, 0), "the repeat ended on 2026-02-01"),)


def test_plan_moves_past_a_repeating_step_whose_rule_ran_out() -> None:
    d = definition(
        email("monthly", wait={"rrule": "FREQ=MONTHLY;COUNT=3", "at": "10:00"}, repeat={}), email("final", wait={"days": 1, "at": "10:00"})
    )
    start = local("America/Chicago", 2026, 1, 5, 8, 0)
    ref = local("America/Chicago", 2026, 3, 5, 10, 0)  # the third and last occurrence just ran
    planned = plan(d, Position(0, 3), reference=ref, rhythm_start=start, calendar=CHICAGO)
    assert planned.position == Position(1, 0, 0)
    assert planned.at == local("America/Chicago", 2026, 3, 6, 10, 0)
    assert planned.skipped == ()  # the rhythm ran its course; nothing was skipped
