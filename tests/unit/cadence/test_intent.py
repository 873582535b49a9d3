"""Reply intent: each branch, out-of-office by header and by text, return dates, quoted text and unsubscribe requests."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cadence.definition import ReplyIntent
from cadence.intent import Reply, classify_reply, strip_quoted
from cadence.keywords import classify_sms
from cadence.return_dates import parse_return_date

PROPERTY = settings(max_examples=100, deadline=None)
MONDAY = dt.date(2026, 11, 30)  # a Monday
LATE_DECEMBER = dt.date(2026, 12, 22)  # a Tuesday


def intent(text: str, **kwargs: object) -> str:
    return classify_reply(text=text, today=MONDAY, **kwargs).intent  # type: ignore[arg-type]


# --- the four branches -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Interested!",
        "I'm interested, tell me more",
        "Very interested in this",
        "Let's talk",
        "lets chat next week",
        "Let\u2019s connect on Thursday",
        "Can we book a demo?",
        "Happy to book a call",
        "Please schedule a meeting with my team",
        "Let's set up a call",
        "Sounds good",
        "Sounds great, go ahead",
        "Yes, send it over",
        "yes please",
        "Yes",
        "Sure",
        "Yep!",
        "Tell me more",
        "Send me the pricing",
        "What times work for you?",
        "What time works Thursday?",
        "When are you free?",
        "Happy to chat",
        "Would like to learn more",
        "I'd love to see a demo",
        "Can we talk Tuesday?",
        "Count me in",
        "Tuesday at 2pm works for me",
        "How about Thursday?",
        "Here's my calendly: calendly.com/jane",
        "Please call me",
        "Call me tomorrow at 10",
        "Give me a call",
        "👍",
        "👍🏽",
        "No problem, let's talk Tuesday",
        "I'm not sure, but I'm interested",
        "Sounds good! I'm on vacation until Monday, let's chat then",
    ],
)
def test_positive(text: str) -> None:
    assert intent(text) == "positive"


@pytest.mark.parametrize(
    "text",
    [
        "Not interested",
        "not interested, thanks",
        "NOT INTERESTED.",
        "We are not interested at this time",
        "I'm not really interested",
        "We wouldn't be interested",
        "No longer interested",
        "Not sure if we'd be interested",
        "Uninterested.",
        "No interest right now",
        "no interest",
        "No thanks",
        "No, thank you",
        "Thanks but no thanks",
        "No",
        "Nope",
        "nah",
        "Absolutely not",
        "No, but thanks",
        "We went with another vendor",
        "We've gone with a competitor, sorry",
        "We decided to go with another provider",
        "We already have a solution for this",
        "Not a fit for us",
        "Not a good fit right now",
        "I don't think we're a fit",
        "Not for us",
        "We don't need this",
        "Don't want to schedule a call",
        "Not looking for anything like this",
        "Wrong person",
        "You have the wrong person, try Jane",
        "I'm not the right person for this",
        "I no longer work at Acme",
        "I'll pass, thanks",
        "We'll pass on this",
        # negation wins over any positive phrase
        "Sounds good, but we went with another vendor",
        "Not interested, but thanks for the info, happy to chat if that changes",
        "Let's not schedule a call, not interested",
    ],
)
def test_negative(text: str) -> None:
    reply = classify_reply(text=text, today=MONDAY)
    assert reply == Reply(intent="negative")


@pytest.mark.parametrize(
    "text",
    [
        "Who is this?",
        "who is this",
        "How did you get my email?",
        "What does it cost?",
        "Forwarded to my colleague Jane, she handles this.",
        "I've cc'd Bob who owns procurement",
        "I'll pass this along to Bob",
        "Thanks",
        "Ok",
        "Got it",
        "Call me crazy, but who is this?",
        "",
        "   \n  ",
        # a yes that defers is not a yes now
        "I'd be interested but not this quarter",
        "Interested, but can you reach out next quarter?",
        "Let's talk next year",
        # a bare deferral is for a rep to read
        "Not right now",
        "Maybe later",
        "Reach out again in a few months",
        # a stop word in another sense
        "I can't stop thinking about the demo",
        "Let's not cancel the meeting",
    ],
)
def test_neutral(text: str) -> None:
    assert classify_reply(text=text, today=MONDAY) == Reply(intent="neutral")


def test_intents_are_the_cadence_reply_branches() -> None:
    for text in ("Interested", "Not interested", "Who is this?", "I am out of the office"):
        assert ReplyIntent(intent(text)) in set(ReplyIntent)


def test_reply_is_frozen() -> None:
    reply = Reply(intent="neutral")
    with pytest.raises(dataclasses.FrozenInstanceError):
        reply.intent = "positive"  # type: ignore[misc]


# --- unsubscribe -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "unsubscribe",
        "Unsubscribe.",
        "UNSUBSCRIBE ME",
        "Please unsubscribe me from this list",
        "Please remove me",
        "please remove me from your list",
        "Remove my email from your database",
        "Take me off your mailing list",
        "Stop emailing me",
        "stop e-mailing me!",
        "Stop contacting me",
        "Please stop sending me these",
        "Don't email me again",
        "Do not contact us again",
        "Never email me again",
        "Don't send me any more emails",
        "No more emails please",
        "Opt me out",
        "How do I unsubscribe?",
        "I'm interested in unsubscribing",
        "opt-out",
        "Leave me alone",
        "I would like to be removed",
        "Please delete my data",
        "STOP",
        "stop please",
        "Not interested. Remove me.",
        "Sounds good but please unsubscribe me",
        "Wrong number",
    ],
)
def test_unsubscribe_requests_are_negative_opt_outs(text: str) -> None:
    assert classify_reply(text=text, today=MONDAY) == Reply(intent="negative", unsubscribe=True)


def test_a_fresh_subject_can_carry_the_request() -> None:
    assert classify_reply(text="", subject="Unsubscribe", today=MONDAY).unsubscribe
    assert classify_reply(text="", subject="Remove me", today=MONDAY).unsubscribe
    assert classify_reply(text="", subject="Interested in Acme", today=MONDAY).intent == "positive"


def test_a_reply_subject_is_our_own_words_and_is_ignored() -> None:
    assert classify_reply(text="Who is this?", subject="Re: Interested in a demo?", today=MONDAY).intent == "neutral"
    assert not classify_reply(text="Who is this?", subject="RE: unsubscribe anytime", today=MONDAY).unsubscribe


def test_quoted_unsubscribe_footer_is_not_a_request() -> None:
    text = "Sounds good, Tuesday works.\n\nOn Mon, Nov 30, 2026 at 9:00 AM Sam <sam@vendor.com> wrote:\n> Want a demo?\n> Unsubscribe: reply STOP\n"
    assert classify_reply(text=text, today=MONDAY) == Reply(intent="positive")


# --- out of office by header -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"Auto-Submitted": "auto-replied"},
        {"auto-submitted": "Auto-Replied"},
        {"AUTO-SUBMITTED": "auto-replied; owner-email=jane@acme.com"},
        {"X-Autoreply": "yes"},
        {"X-Autoreply": ""},
        {"X-Autorespond": "Out of office"},
        {"Precedence": "auto_reply"},
    ],
)
def test_auto_reply_headers_mean_out_of_office(headers: dict[str, str]) -> None:
    reply = classify_reply(text="Thanks for your email.", headers=headers, today=MONDAY)
    assert reply == Reply(intent="out_of_office", auto=True)


@pytest.mark.parametrize(
    "headers",
    [{"Auto-Submitted": "auto-generated"}, {"Precedence": "bulk"}, {"Precedence": "list"}, {"Precedence": "junk"}, {"Return-Path": "<>"}],
)
def test_other_machine_mail_is_neutral_and_never_an_opt_out(headers: dict[str, str]) -> None:
    reply = classify_reply(text="Your ticket #123 was received. To unsubscribe click here. Interested?", headers=headers, today=MONDAY)
    assert reply == Reply(intent="neutral", auto=True)


def test_machine_mail_that_reads_as_out_of_office_is_out_of_office() -> None:
    # Exchange marks its out-of-office notices auto-generated, not auto-replied.
    reply = classify_reply(text="I am out of the office until December 7.", headers={"Auto-Submitted": "auto-generated"}, today=MONDAY)
    assert reply == Reply(intent="out_of_office", return_date=dt.date(2026, 12, 7), auto=True)


@pytest.mark.parametrize(
    "headers",
    [
        {"Auto-Submitted": "no"},
        {"Auto-Submitted": "No"},
        {"X-Autoreply": "no"},
        {"X-Auto-Response-Suppress": "All"},  # a request not to auto-reply, not an auto-reply
        {"Precedence": "first-class"},
        {"Return-Path": "<jane@acme.com>"},
        {},
    ],
)
def test_human_mail_headers_are_not_machine_markers(headers: dict[str, str]) -> None:
    assert classify_reply(text="Interested, let's talk", headers=headers, today=MONDAY) == Reply(intent="positive")


# --- out of office by subject and text ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "subject",
    [
        "Automatic reply: Quick question",
        "Auto-Reply: Quick question",
        "AutoReply",
        "[Auto-Reply] Re: hi",
        "Out of Office: Re: hi",
        "OOO until Monday",
    ],
)
def test_auto_reply_subjects_mean_out_of_office(subject: str) -> None:
    reply = classify_reply(text="Thank you for your message.", subject=subject, today=MONDAY)
    assert reply.intent == "out_of_office"
    assert reply.auto


@pytest.mark.parametrize(
    "text",
    [
        "I am out of the office with limited access to email.",
        "I'm currently out of office.",
        "Out of office",
        "I am away from the office this week.",
        "I am on vacation and will respond when I return.",
        "I'm on parental leave.",
        "I am on leave, please contact hr@acme.com",
        "Away until further notice.",
        "I am currently travelling with limited access to e-mail.",
        "Automatic reply: thanks for your email",
    ],
)
def test_out_of_office_text(text: str) -> None:
    reply = classify_reply(text=text, today=MONDAY)
    assert reply.intent == "out_of_office"
    assert not reply.auto  # only the text says so
    assert not reply.unsubscribe


def test_return_date_comes_with_out_of_office() -> None:
    text = "Thank you for your email. I am out of the office until Monday, 7 December and will reply on my return."
    assert classify_reply(text=text, today=MONDAY) == Reply(intent="out_of_office", return_date=dt.date(2026, 12, 7))


def test_return_date_can_be_in_the_subject() -> None:
    reply = classify_reply(text="Thanks for your note.", subject="Out of office until Dec 14", today=MONDAY)
    assert reply == Reply(intent="out_of_office", return_date=dt.date(2026, 12, 14), auto=True)


def test_dates_outside_out_of_office_are_not_return_dates() -> None:
    assert classify_reply(text="Let's talk on December 3", today=MONDAY).return_date is None


# --- return dates ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "today", "expected"),
    [
        ("I will be back on December 3.", MONDAY, dt.date(2026, 12, 3)),
        ("I'll return on Dec 3rd, 2026.", MONDAY, dt.date(2026, 12, 3)),
        ("back on Dec. 3", MONDAY, dt.date(2026, 12, 3)),
        ("Away until Monday, 7 December.", MONDAY, dt.date(2026, 12, 7)),
        ("Away until Monday 7th December 2026.", MONDAY, dt.date(2026, 12, 7)),
        ("Back on the 3rd of December", MONDAY, dt.date(2026, 12, 3)),
        ("returning 12/03", MONDAY, dt.date(2026, 12, 3)),
        ("returning 12/03/2026", MONDAY, dt.date(2026, 12, 3)),
        ("returning 12/3/26", MONDAY, dt.date(2026, 12, 3)),
        ("returning 13/03", MONDAY, dt.date(2027, 3, 13)),  # day > 12: day first
        ("returning 25/12/2026", MONDAY, dt.date(2026, 12, 25)),
        ("back 03.12.2026", MONDAY, dt.date(2026, 12, 3)),  # dotted dates are day first
        ("Back 2026-12-15.", MONDAY, dt.date(2026, 12, 15)),
        ("back next Monday", MONDAY, dt.date(2026, 12, 7)),
        ("back Monday", MONDAY, dt.date(2026, 12, 7)),  # out today, so not today
        ("back on Thursday", MONDAY, dt.date(2026, 12, 3)),
        ("back this Friday", MONDAY, dt.date(2026, 12, 4)),
        ("back on Monday at 9am", MONDAY, dt.date(2026, 12, 7)),
        ("back tomorrow", MONDAY, dt.date(2026, 12, 1)),
        ("back next week", MONDAY, dt.date(2026, 12, 7)),
        ("back in 2 weeks", MONDAY, dt.date(2026, 12, 14)),
        ("back in three days", MONDAY, dt.date(2026, 12, 3)),
        ("back on the 3rd", MONDAY, dt.date(2026, 12, 3)),
        ("back on the 15th", dt.date(2026, 12, 20), dt.date(2027, 1, 15)),
        # the date after a return cue wins over the start of the absence
        ("Out of the office from December 1 until December 5.", MONDAY, dt.date(2026, 12, 5)),
        ("Out from Dec 1 to Dec 5.", MONDAY, dt.date(2026, 12, 5)),
        ("On leave Dec 1 - Dec 5", MONDAY, dt.date(2026, 12, 5)),
        # without a cue, the first plausible date
        ("Out of office. December 9.", MONDAY, dt.date(2026, 12, 9)),
        # year rollover in late December
        ("back on January 5", LATE_DECEMBER, dt.date(2027, 1, 5)),
        ("back on 4 Jan", LATE_DECEMBER, dt.date(2027, 1, 4)),
        ("returning 01/04", LATE_DECEMBER, dt.date(2027, 1, 4)),
        ("back on December 29", LATE_DECEMBER, dt.date(2026, 12, 29)),
        ("back next Monday", LATE_DECEMBER, dt.date(2026, 12, 28)),
        ("back in 2 weeks", LATE_DECEMBER, dt.date(2027, 1, 5)),
        ("back on December 3", LATE_DECEMBER, dt.date(2027, 12, 3)),  # past this year: next year
        ("back on December 22", LATE_DECEMBER, dt.date(2026, 12, 22)),  # today counts
        ("back on Jan 4, 2027", LATE_DECEMBER, dt.date(2027, 1, 4)),
        # full-width digits
        ("back on December ３", MONDAY, dt.date(2026, 12, 3)),
    ],
)
def test_return_dates(text: str, today: dt.date, expected: dt.date) -> None:
    assert parse_return_date(text, today) == expected


@pytest.mark.parametrize(
    "text",
    [
        "I am out of the office.",
        "Back soon",
        "For 24/7 support call 555-0100",  # not a date: no return cue
        "Call 1/2 of the team",
        "back on December 3, 2025",  # an explicit year in the past
        "back on 2025-12-01",
        "back on 2031-01-01",  # too far ahead to be plausible
        "back on February 30",
        "back on 31/31",
        "back 99.99.2026",
        "version 2.5 ships in May",
        "",
    ],
)
def test_no_plausible_return_date(text: str) -> None:
    assert parse_return_date(text, MONDAY) is None


def test_a_datetime_today_is_accepted() -> None:
    reply = classify_reply(text="I am out of the office until December 3", today=dt.datetime(2026, 11, 30, 23, 59))
    assert reply.return_date == dt.date(2026, 12, 3)


# --- quoted text -------------------------------------------------------------------------------------------------------

GMAIL = "Not interested, thanks.\n\nOn Mon, Nov 30, 2026 at 9:00 AM Sam Seller <sam@vendor.com> wrote:\n> Interested in a demo? Let's talk!\n> Book a call: calendly.com/sam\n"
GMAIL_WRAPPED = "Sure, let's talk.\n\nOn Mon, Nov 30, 2026 at 9:00 AM Sam Seller <sam@vendor.com>\nwrote:\n> Not interested? Reply STOP.\n"
OUTLOOK = (
    "Not a fit for us.\n\n-----Original Message-----\nFrom: Sam Seller\nSent: Monday\nSubject: Demo?\n\nWant to book a demo? Sounds good?"
)
OUTLOOK_HEADERS = "Let's set up a call.\n\n________________________________\nFrom: Sam Seller <sam@vendor.com>\nSent: Monday, November 30, 2026 9:00 AM\nTo: Jane\nSubject: Not interested?\n\nIf you're not interested, unsubscribe here."
FROM_BLOCK = "Who is this?\n\nFrom: Sam Seller <sam@vendor.com>\nDate: Monday, November 30, 2026\nSubject: quick question\n\nInterested in a demo? Reply STOP to opt out."
BOTTOM_POSTED = (
    "On Mon, Nov 30, 2026 at 9:00 AM Sam <sam@vendor.com> wrote:\n> Want a demo?\n> Reply STOP to opt out.\n\nYes please, Tuesday works"
)
INLINE = "> Would Tuesday work?\nYes, let's talk then.\n> Or not interested?\n"
FORWARDED = "Adding Jane who handles this.\n\n---------- Forwarded message ---------\nFrom: Sam\nNot interested? Unsubscribe here."
SIGNATURE = "Tell me more.\n-- \nJane Doe | Head of Ops\nTo unsubscribe from our newsletter click here"
IPHONE = "Sounds good\n\nSent from my iPhone\n\nOn Nov 30, 2026, at 9:00 AM, Sam wrote:\n\n> stop by our booth? unsubscribe"


@pytest.mark.parametrize(
    ("text", "new_text", "expected"),
    [
        (GMAIL, "Not interested, thanks.", Reply(intent="negative")),
        (GMAIL_WRAPPED, "Sure, let's talk.", Reply(intent="positive")),
        (OUTLOOK, "Not a fit for us.", Reply(intent="negative")),
        (OUTLOOK_HEADERS, "Let's set up a call.", Reply(intent="positive")),
        (FROM_BLOCK, "Who is this?", Reply(intent="neutral")),
        (BOTTOM_POSTED, "Yes please, Tuesday works", Reply(intent="positive")),
        (INLINE, "Yes, let's talk then.", Reply(intent="positive")),
        (FORWARDED, "Adding Jane who handles this.", Reply(intent="neutral")),
        (SIGNATURE, "Tell me more.", Reply(intent="positive")),
        (IPHONE, "Sounds good", Reply(intent="positive")),
    ],
)
def test_quoted_text_is_ignored(text: str, new_text: str, expected: Reply) -> None:
    assert strip_quoted(text) == new_text
    assert classify_reply(text=text, today=MONDAY) == expected


def test_text_that_only_starts_with_on_is_kept() -> None:
    text = "On it! Let's talk Tuesday.\nOn Mon, Nov 30, 2026 at 9:00 AM Sam <sam@vendor.com> wrote:\n> hi"
    assert strip_quoted(text) == "On it! Let's talk Tuesday."


def test_long_and_hostile_bodies_are_fast() -> None:
    started = time.perf_counter()
    for text in (
        "lorem ipsum dolor sit amet. " * 40_000,
        "On " + "x " * 200_000,
        "On it\n" * 20_000,
        "> quoted\n" * 100_000,
        "I am out of the office. " + "back monday, 12/03, december 3, 2026-12-05 " * 3_000,
        "From: a\n" * 20_000,
    ):
        classify_reply(text=text, today=MONDAY)
    assert time.perf_counter() - started < 2.0


# --- properties --------------------------------------------------------------------------------------------------------

header_names = st.sampled_from(["Auto-Submitted", "X-Autoreply", "X-Autorespond", "Precedence", "Return-Path", "Subject", "X-Other"])
headers = st.dictionaries(header_names, st.text(max_size=20), max_size=4)
dates = st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2090, 12, 31))


@PROPERTY
@given(st.text(max_size=300), st.one_of(st.none(), st.text(max_size=60)), st.one_of(st.none(), headers), dates)
def test_never_raises_and_is_consistent(text: str, subject: str | None, hdrs: dict[str, str] | None, today: dt.date) -> None:
    reply = classify_reply(text=text, subject=subject, headers=hdrs, today=today)
    assert reply.intent in {"positive", "negative", "neutral", "out_of_office"}
    if reply.unsubscribe:
        assert reply.intent == "negative" and not reply.auto
    if reply.auto:
        assert reply.intent in {"out_of_office", "neutral"}
    if reply.return_date is not None:
        assert reply.intent == "out_of_office"
        assert today <= reply.return_date


_PHRASES = [
    "back on",
    "until",
    "returning",
    "December",
    "Dec 3rd",
    "12/03",
    "13/03",
    "2026-12-03",
    "Monday",
    "next",
    "the 3rd",
    "31",
    "2",
    ",",
]


@PROPERTY
@given(st.lists(st.sampled_from(_PHRASES), max_size=8), dates)
def test_return_dates_are_on_or_after_today_and_plausible(words: list[str], today: dt.date) -> None:
    found = parse_return_date(" ".join(words), today)
    assert found is None or today <= found <= today.replace(year=today.year + 2, day=min(today.day, 28))


@PROPERTY
@given(st.text(alphabet=st.characters(codec="ascii"), max_size=80))
def test_every_sms_stop_is_an_unsubscribe(text: str) -> None:
    if classify_sms(text) == "stop":
        assert classify_reply(text=text, today=MONDAY).unsubscribe


@PROPERTY
@given(st.sampled_from(["STOP", "stop please", "Unsubscribe", "remove me", "opt out", "stop emailing me"]), st.text(max_size=200))
def test_an_opt_out_above_any_quoted_thread_is_honoured(opt_out: str, quoted: str) -> None:
    text = f"{opt_out}\n\nOn Mon, Nov 30, 2026 at 9:00 AM Sam <sam@vendor.com> wrote:\n" + "\n".join(
        f"> {line}" for line in quoted.splitlines()
    )
    assert classify_reply(text=text, today=MONDAY).unsubscribe
