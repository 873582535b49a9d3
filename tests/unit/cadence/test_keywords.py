"""STOP/START/HELP classification of inbound SMS: every keyword and variant, the sentences that must stay replies."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cadence.keywords import (
    FILLER_WORDS,
    HELP_KEYWORDS,
    MAX_SCAN_CHARS,
    START_KEYWORDS,
    STOP_KEYWORDS,
    STOP_VARIANTS,
    classify_sms,
    fold_text,
)

PROPERTY = settings(max_examples=100, deadline=None)


def full_width(text: str) -> str:
    """ASCII letters, digits and punctuation as their full-width forms (what some phone keyboards send)."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


# --- stop --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("keyword", sorted(STOP_KEYWORDS))
@pytest.mark.parametrize("render", [str.upper, str.lower, str.title, lambda k: k[0] + k[1:].upper()])
def test_every_twilio_and_fcc_keyword_alone_is_stop(keyword: str, render: Callable[[str], str]) -> None:
    assert classify_sms(render(keyword)) == "stop"


@pytest.mark.parametrize("keyword", sorted(STOP_VARIANTS - {"nomas"}))
def test_stop_variants_alone_are_stop(keyword: str) -> None:
    assert classify_sms(keyword) == "stop"
    assert classify_sms(f"{keyword.upper()}!") == "stop"


@pytest.mark.parametrize(
    "body",
    [
        # punctuation, casing and whitespace around a single keyword
        "STOP",
        "stop",
        "sToP",
        "Stop.",
        "STOP!!!",
        "stop?",
        "  stop  ",
        "\tSTOP\n",
        "'STOP'",
        '"stop"',
        "\u201cStop\u201d",
        "(stop)",
        "*STOP*",
        "stop 🛑",
        "🛑 Stop 🛑",
        "STOP 😡😡",
        "s.t.o.p",
        "S T O P",
        "stoppp",
        "STOPPPPP!!!",
        "Stop all",
        "STOP ALL",
        "StopAll",
        "End.",
        "QUIT",
        "Cancel!",
        "revoke",
        # opt out spelt every way
        "opt out",
        "Opt Out",
        "opt-out",
        "OPT-OUT",
        "optout",
        "opt\u2011out",
        "opt me out",
        "Please opt me out of these",
        # politeness around the keyword
        "stop please",
        "please stop",
        "Please STOP",
        "STOP PLEASE",
        "PLEASE CANCEL",
        "stop pls",
        "stop plz!!",
        "pleeeease stop",
        "stop now",
        "stop it",
        "stop this",
        "Stop. Thanks",
        "Thanks. Unsubscribe",
        "thank you, stop",
        "ok stop",
        "Hi, please unsubscribe",
        "No. Cancel",
        "no stop",
        "stop it now please",
        "stop stop stop",
        "the end",
        "I said stop",
        "I told you to stop",
        "Can you stop?",
        "Cancel?",  # deliberately: a short message of stop words revokes
        # explicit phrases
        "unsubscribe",
        "unsubscribe me",
        "Unsubscribe me please",
        "how do I unsubscribe",
        "unsubscribing",
        "I'm opting out",
        "UNSUB",
        "stop texting me",
        "Stop texting me!",
        "stop messaging me",
        "stop sending me these",
        "please stop contacting me",
        "stop fucking texting me",
        "remove me",
        "Remove me from your list",
        "please remove my number",
        "take me off your list",
        "Take me off this list please",
        "do not text me",
        "Do NOT text me again",
        "dont text me",
        "don't text me",
        "don\u2019t text me",
        "never text me again",
        "Please don't text me before 9am",
        "do not contact me",
        "no more texts",
        "No more messages please",
        "leave me alone",
        "lose my number",
        "delete my number",
        "wrong number",
        "Sorry, wrong number",
        "I revoke my consent",
        "I'm withdrawing consent",
        # a stop clause inside a longer message
        "Stop, who is this?",
        "STOP. I never signed up for this",
        "Who is this? Stop",
        "Not interested. Please stop texting me, thanks",
        "Hey, I got your message about the demo but please remove me from this list",
        # Spanish
        "no más",
        "No mas",
        "PARAR",
        "baja",
    ],
)
def test_stop(body: str) -> None:
    assert classify_sms(body) == "stop"


@pytest.mark.parametrize(
    "body",
    [
        "I can't stop thinking about the demo",
        "I cant stop thinking about the demo",
        "let's not cancel the meeting",
        "Let's not cancel the meeting!",
        "the end of the quarter works",
        "The end of the month is better for us",
        "quit worrying, we'll sign",
        "Quit worrying, we'll sign.",
        "send me the cancellation policy",
        "can you stop by our booth tomorrow?",
        "We need to end the call by 3",
        "I quit my old job last month, now at Acme",
        "Don't stop texting me, I love these updates",
        "I will stop by later",
        "never stop sending these, they're great",
        "Please cancel my 3pm and move it to 4",
        "Is there an end date on the trial?",
        "Stop by anytime",
        "Who is this?",
        "Sounds good, talk Tuesday",
        "no",
        "no more questions, see you Tuesday",
        "",
        "   ",
        "🙂",
        "...",
    ],
)
def test_ordinary_replies_are_not_stop(body: str) -> None:
    assert classify_sms(body) == "other"


# --- start / help ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    ["START", "start", "Start.", "UNSTOP", "unstop!", "YES", "yes", "Yes!", "yes.", " YES ", "'yes'", "Yesss", "ＹＥＳ", "S\u200btart"],
)
def test_start_is_the_whole_message(body: str) -> None:
    assert classify_sms(body) == "start"


@pytest.mark.parametrize(
    "body",
    ["yes please", "Yes, let's talk", "yes I'm interested", "start the trial please", "Let's start next week", "yes yes", "yes 100%"],
)
def test_start_words_in_a_sentence_are_replies(body: str) -> None:
    assert classify_sms(body) == "other"


@pytest.mark.parametrize("body", ["HELP", "help", "Help!", "help?", "INFO", "info", "Info.", "ＨＥＬＰ", " help\n"])
def test_help_is_the_whole_message(body: str) -> None:
    assert classify_sms(body) == "help"


@pytest.mark.parametrize("body", ["help me understand the pricing", "more info please", "I need help", "info on pricing?"])
def test_help_words_in_a_sentence_are_replies(body: str) -> None:
    assert classify_sms(body) == "other"


def test_stop_wins_over_start_and_help() -> None:
    assert classify_sms("Yes. Stop.") == "stop"
    assert classify_sms("help. stop") == "stop"


# --- normalisation -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("ＳＴＯＰ", "stop"),
        ("ｓｔｏｐ ｐｌｅａｓｅ", "stop"),
        ("Ｏｐｔ－ｏｕｔ", "stop"),
        ("S\u200bT\u200cO\u200dP", "stop"),
        ("\ufeffstop", "stop"),
        ("st\u00adop", "stop"),
        ("\u2060STOP\u2060", "stop"),
        ("\u202estop\u202c", "stop"),
        ("stop\ufe0f", "stop"),
        ("ＨＥＬＰ", "help"),
        ("\u200b\u200b", "other"),
    ],
)
def test_unicode_is_normalised(body: str, expected: str) -> None:
    assert classify_sms(body) == expected


def test_fold_text() -> None:
    assert fold_text("ＳＴＯＰ\u200b Don\u2019t") == "stop don't"


def test_long_bodies_are_classified_quickly() -> None:
    started = time.perf_counter()
    assert classify_sms("lorem ipsum dolor sit amet. " * 50_000) == "other"
    assert classify_sms("x" * 2_000_000) == "other"
    assert classify_sms("stop. " + "a" * 1_000_000) == "stop"
    assert classify_sms("dont " * 200_000 + "stop texting") == "other"
    assert time.perf_counter() - started < 1.0


def test_only_the_head_of_a_huge_body_is_read() -> None:
    assert classify_sms(" " * MAX_SCAN_CHARS + "STOP") == "other"
    assert classify_sms("x " * 100 + "please stop texting me") == "stop"


# --- properties --------------------------------------------------------------------------------------------------------

_SURROUND = st.text(alphabet=" \t\n.,!?;:'\"()*-…🛑😡🙏👍\u200b", max_size=6)


def _random_case(draw: st.DrawFn, word: str) -> str:
    flips = draw(st.lists(st.booleans(), min_size=len(word), max_size=len(word)))
    return "".join(c.upper() if flip else c for c, flip in zip(word, flips, strict=True))


@st.composite
def stop_messages(draw: st.DrawFn) -> str:
    keyword = _random_case(draw, draw(st.sampled_from(sorted(STOP_KEYWORDS))))
    before = draw(st.lists(st.sampled_from(["please", "pls", "thanks", "ok", "now", "Please", "hi"]), max_size=2))
    after = draw(st.lists(st.sampled_from(["please", "thanks", "thank you", "now", "it", "me"]), max_size=2))
    return draw(_SURROUND) + " ".join([*before, keyword, *after]) + draw(_SURROUND)


@PROPERTY
@given(stop_messages())
def test_any_stop_keyword_with_random_casing_punctuation_and_politeness_is_stop(body: str) -> None:
    assert classify_sms(body) == "stop"


@PROPERTY
@given(st.sampled_from(sorted(START_KEYWORDS | HELP_KEYWORDS)).flatmap(lambda w: st.tuples(st.just(w), _SURROUND, _SURROUND)))
def test_start_and_help_with_random_punctuation(case: tuple[str, str, str]) -> None:
    word, before, after = case
    expected = "start" if word in START_KEYWORDS else "help"
    assert classify_sms(before + word.upper() + after) == expected
    assert classify_sms(before + word + after) == expected


@PROPERTY
@given(st.text(max_size=300))
def test_never_raises_on_arbitrary_text(body: str) -> None:
    assert classify_sms(body) in {"stop", "start", "help", "other"}


@PROPERTY
@given(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=80))
def test_full_width_text_classifies_like_ascii(body: str) -> None:
    assert classify_sms(full_width(body)) == classify_sms(body)


@PROPERTY
@given(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=80), st.data())
def test_zero_width_characters_do_not_change_the_result(body: str, data: st.DataObject) -> None:
    noise = data.draw(st.lists(st.sampled_from(["", "\u200b", "\u200d", "\ufeff", "\u2060"]), min_size=len(body), max_size=len(body)))
    noisy = "".join(c + extra for c, extra in zip(body, noise, strict=True))
    assert classify_sms(noisy) == classify_sms(body)


@PROPERTY
@given(st.lists(st.sampled_from(sorted(FILLER_WORDS)), max_size=5))
def test_filler_alone_is_never_stop(words: list[str]) -> None:
    """Politeness and pronouns need a stop word beside them (clauses kept apart, since "no more texts" is a phrase)."""
    assert classify_sms(", ".join(words)) != "stop"
