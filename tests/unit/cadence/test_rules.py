"""decide(): what each inbound event does to an enrollment, and out-of-office pauses."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from cadence.definition import ReplyIntent
from cadence.rules import OPEN_STATUSES, Decision, Status, decide, out_of_office_until
from cadence.schedule import ContactCalendar
from tests.unit.cadence.support import definition, email

UTC = dt.UTC
CHICAGO = ContactCalendar(timezone="America/Chicago", country="US")
ISRAEL = ContactCalendar(timezone="Asia/Jerusalem", country="IL")
NOW = dt.datetime(2026, 11, 16, 15, 0, tzinfo=UTC)  # Monday 09:00 in Chicago


def chicago(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=zoneinfo.ZoneInfo("America/Chicago")).astimezone(UTC)  # type: ignore[arg-type, misc]


# --- statuses -----------------------------------------------------------------------------------


def test_only_pending_active_and_paused_are_open() -> None:
    assert {s for s in Status if not s.terminal} == set(OPEN_STATUSES) == {Status.pending, Status.active, Status.paused}


# --- exits ------------------------------------------------------------------------------------


def test_opt_out_always_exits() -> None:
    for d in (definition(), definition(exit_on=["meeting_booked"])):
        decision = decide(d, "opt_out", now=NOW, calendar=CHICAGO)
        assert (decision.action, decision.outcome) == ("exit", Status.opted_out)
        assert decision.reason == "the contact opted out"


@pytest.mark.parametrize(("kind", "outcome"), [("bounce", Status.bounced), ("meeting_booked", Status.meeting_booked)])
def test_bounce_and_meeting_exit_by_default(kind: str, outcome: Status) -> None:
    decision = decide(definition(), kind, now=NOW, calendar=CHICAGO)  # type: ignore[arg-type]
    assert (decision.action, decision.outcome) == ("exit", outcome)


@pytest.mark.parametrize("kind", ["bounce", "meeting_booked"])
def test_bounce_and_meeting_are_recorded_when_not_exits(kind: str) -> None:
    decision = decide(definition(exit_on=["reply"]), kind, now=NOW, calendar=CHICAGO)  # type: ignore[arg-type]
    assert decision.action == "continue"
    assert decision.outcome is None
    assert "does not exit" in decision.reason


def test_custom_event_exits_only_when_listed() -> None:
    d = definition(exit_on=["reply", "event:renewal_signed"])
    signed = decide(d, "event", name="renewal_signed", now=NOW, calendar=CHICAGO)
    assert (signed.action, signed.outcome) == ("exit", Status.exited)
    assert "'renewal_signed'" in signed.reason
    other = decide(d, "event", name="webinar_attended", now=NOW, calendar=CHICAGO)
    assert (other.action, other.outcome) == ("continue", None)
    assert "'webinar_attended'" in other.reason


# --- replies ------------------------------------------------------------------------------------


@pytest.mark.parametrize("intent", [ReplyIntent.positive, ReplyIntent.negative, ReplyIntent.neutral, None])
def test_replies_exit_by_default(intent: ReplyIntent | None) -> None:
    decision = decide(definition(), "reply", intent=intent, now=NOW, calendar=CHICAGO)
    assert (decision.action, decision.outcome) == ("exit", Status.replied)
    assert (intent or ReplyIntent.neutral).value in decision.reason


def test_positive_reply_switches_cadence() -> None:
    d = definition(on_reply={"positive": {"action": "switch", "switch_to": "meeting-follow-up"}})
    decision = decide(d, "reply", intent=ReplyIntent.positive, now=NOW, calendar=CHICAGO)
    assert decision == Decision("switch", "positive reply: switching to meeting-follow-up", Status.switched, "meeting-follow-up")
    negative = decide(d, "reply", intent=ReplyIntent.negative, now=NOW, calendar=CHICAGO)
    assert negative.action == "exit"


def test_reply_configured_to_continue_changes_nothing() -> None:
    d = definition(on_reply={"neutral": {"action": "continue"}})
    decision = decide(d, "reply", intent=ReplyIntent.neutral, now=NOW, calendar=CHICAGO)
    assert (decision.action, decision.outcome, decision.pause_until) == ("continue", None, None)


def test_replies_do_not_end_a_cadence_that_does_not_exit_on_replies() -> None:
    d = definition(exit_on=["meeting_booked", "bounce"])
    for intent in (ReplyIntent.positive, ReplyIntent.negative, ReplyIntent.neutral):
        decision = decide(d, "reply", intent=intent, now=NOW, calendar=CHICAGO)
        assert decision.action == "continue"
        assert decision.outcome is None


def test_reply_configured_to_pause_waits_until_someone_resumes_it() -> None:
    d = definition(on_reply={"neutral": {"action": "pause"}})
    decision = decide(d, "reply", intent=ReplyIntent.neutral, now=NOW, calendar=CHICAGO)
    assert decision == Decision("pause", "neutral reply: paused until someone resumes it")
    assert decision.pause_until is None
    assert "out of office" not in decision.reason


def test_reply_paused_for_some_business_days_resumes_at_nine_local() -> None:
    d = definition(on_reply={"neutral": {"action": "pause", "pause_days": 5}, "negative": {"action": "pause", "pause_days": 1}})
    decision = decide(d, "reply", intent=ReplyIntent.neutral, now=NOW, calendar=CHICAGO)
    assert decision == Decision("pause", "neutral reply: paused until 2026-11-23", pause_until=chicago(2026, 11, 23, 9, 0))
    negative = decide(d, "reply", intent=ReplyIntent.negative, now=NOW, calendar=CHICAGO)
    assert negative == Decision("pause", "negative reply: paused until 2026-11-17", pause_until=chicago(2026, 11, 17, 9, 0))


def test_pause_days_skip_weekends_and_holidays_of_the_contacts_calendar() -> None:
    d = definition(on_reply={"positive": {"action": "pause", "pause_days": 8}})
    # Mon 16 + 8 business days: 17, 18, 19, 20, 23, 24, 25, (Thanksgiving 26) 27
    decision = decide(d, "reply", intent=ReplyIntent.positive, now=NOW, calendar=CHICAGO)
    assert decision.pause_until == chicago(2026, 11, 27, 9, 0)
    assert decision.reason == "positive reply: paused until 2026-11-27"
    # Thursday evening in Israel: the next business day is Sunday.
    thursday_evening = dt.datetime(2026, 1, 8, 18, 0, tzinfo=UTC)
    one_day = definition(on_reply={"positive": {"action": "pause", "pause_days": 1}})
    israel = decide(one_day, "reply", intent=ReplyIntent.positive, now=thursday_evening, calendar=ISRAEL)
    assert israel.pause_until == dt.datetime(2026, 1, 11, 7, 0, tzinfo=UTC)  # Sunday 09:00 IST


def test_pause_days_counts_from_the_contacts_local_date() -> None:
    # 03:00Z on Tuesday is still Monday evening in Chicago: one business day later is Tuesday 09:00.
    d = definition(on_reply={"neutral": {"action": "pause", "pause_days": 1}})
    late_monday = dt.datetime(2026, 11, 17, 3, 0, tzinfo=UTC)
    decision = decide(d, "reply", intent=ReplyIntent.neutral, now=late_monday, calendar=CHICAGO)
    assert decision.pause_until == chicago(2026, 11, 17, 9, 0)
    assert decision.pause_until > late_monday


@pytest.mark.parametrize(
    ("branch", "expected"),
    [
        (
            {"action": "switch", "switch_to": "nurture"},
            Decision("switch", "positive reply: switching to nurture", Status.switched, "nurture"),
        ),
        ({"action": "exit"}, Decision("exit", "the contact replied (positive)", Status.replied)),
        ({"action": "pause"}, Decision("pause", "positive reply: paused until someone resumes it")),
        ({"action": "continue"}, Decision("continue", "positive reply recorded; the cadence continues")),
    ],
)
def test_explicit_branches_apply_even_when_replies_are_not_exits(branch: dict[str, str], expected: Decision) -> None:
    d = definition(exit_on=["meeting_booked"], on_reply={"positive": branch})
    assert not d.exits_on("reply")
    assert decide(d, "reply", intent=ReplyIntent.positive, now=NOW, calendar=CHICAGO) == expected
    # Intents without a branch still follow exit_on.
    assert decide(d, "reply", intent=ReplyIntent.negative, now=NOW, calendar=CHICAGO).action == "continue"


def test_out_of_office_pauses_even_when_replies_are_not_exits() -> None:
    d = definition(exit_on=["meeting_booked"])
    decision = decide(d, "reply", intent=ReplyIntent.out_of_office, return_date=dt.date(2026, 11, 20), now=NOW, calendar=CHICAGO)
    assert decision == Decision("pause", "out of office until 2026-11-23", pause_until=chicago(2026, 11, 23, 9, 0))


def test_a_reply_without_intent_is_neutral() -> None:
    d = definition(on_reply={"neutral": {"action": "switch", "switch_to": "nurture"}})
    assert decide(d, "reply", now=NOW, calendar=CHICAGO).switch_to == "nurture"


# --- out of office -------------------------------------------------------------------------------


def test_out_of_office_pauses_until_the_business_day_after_the_return_date_at_nine() -> None:
    decision = decide(definition(), "reply", intent=ReplyIntent.out_of_office, return_date=dt.date(2026, 11, 20), now=NOW, calendar=CHICAGO)
    assert decision.action == "pause"
    assert decision.outcome is None
    assert decision.pause_until == chicago(2026, 11, 23, 9, 0)  # back Friday, first touch Monday 09:00
    assert decision.reason == "out of office until 2026-11-23"


def test_out_of_office_resume_skips_thanksgiving() -> None:
    until = out_of_office_until(dt.date(2026, 11, 25), now=NOW, calendar=CHICAGO)
    assert until == chicago(2026, 11, 27, 9, 0)


def test_out_of_office_without_a_date_waits_five_business_days() -> None:
    assert out_of_office_until(None, now=NOW, calendar=CHICAGO) == chicago(2026, 11, 23, 9, 0)
    friday = chicago(2026, 11, 20, 16, 0)
    # Mon 23, Tue 24, Wed 25, (Thanksgiving) Fri 27, Mon 30
    assert out_of_office_until(None, now=friday, calendar=CHICAGO) == chicago(2026, 11, 30, 9, 0)


def test_out_of_office_with_a_past_return_date_uses_the_default() -> None:
    assert out_of_office_until(dt.date(2026, 11, 1), now=NOW, calendar=CHICAGO) == chicago(2026, 11, 23, 9, 0)


def test_out_of_office_returning_today_resumes_next_business_day() -> None:
    assert out_of_office_until(dt.date(2026, 11, 16), now=NOW, calendar=CHICAGO) == chicago(2026, 11, 17, 9, 0)


def test_out_of_office_uses_the_contacts_calendar() -> None:
    now = dt.datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
    until = out_of_office_until(dt.date(2026, 1, 8), now=now, calendar=ISRAEL)  # back on a Thursday
    local = until.astimezone(zoneinfo.ZoneInfo("Asia/Jerusalem"))
    assert (local.date(), local.time()) == (dt.date(2026, 1, 11), dt.time(9, 0))  # Sunday 09:00
    assert until == dt.datetime(2026, 1, 11, 7, 0, tzinfo=UTC)


def test_out_of_office_local_date_not_utc_date_decides_today() -> None:
    # 03:00Z on Tuesday is still Monday evening in Chicago: five business days from Monday.
    late_monday = dt.datetime(2026, 11, 17, 3, 0, tzinfo=UTC)
    assert out_of_office_until(None, now=late_monday, calendar=CHICAGO) == chicago(2026, 11, 23, 9, 0)


def test_out_of_office_configured_to_continue_is_recorded_only() -> None:
    d = definition(email("a"), on_reply={"out_of_office": {"action": "continue"}})
    decision = decide(d, "reply", intent=ReplyIntent.out_of_office, now=NOW, calendar=CHICAGO)
    assert (decision.action, decision.pause_until) == ("continue", None)


def test_out_of_office_configured_to_exit_or_switch() -> None:
    d = definition(on_reply={"out_of_office": {"action": "exit"}})
    assert decide(d, "reply", intent=ReplyIntent.out_of_office, now=NOW, calendar=CHICAGO) == Decision(
        "exit", "the contact replied (out_of_office)", Status.replied
    )
    d = definition(on_reply={"out_of_office": {"action": "switch", "switch_to": "later"}})
    assert decide(d, "reply", intent=ReplyIntent.out_of_office, now=NOW, calendar=CHICAGO).action == "switch"


def test_out_of_office_pause_is_never_before_now() -> None:
    paused = definition(on_reply={"neutral": {"action": "pause", "pause_days": 1}})
    for days in range(10):
        for hours in (0, 7, 14, 20):
            now = NOW + dt.timedelta(days=days, hours=hours)
            decision = decide(definition(), "reply", intent=ReplyIntent.out_of_office, now=now, calendar=CHICAGO)
            assert decision.pause_until is not None and decision.pause_until > now
            decision = decide(paused, "reply", intent=ReplyIntent.neutral, now=now, calendar=CHICAGO)
            assert decision.pause_until is not None and decision.pause_until > now
