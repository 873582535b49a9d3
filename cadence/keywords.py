"""Compliance keywords in inbound SMS: does this text revoke consent (STOP), restore it (START) or ask for HELP?

Twilio only honours an exact single-word keyword ("STOP" blocks, "Stop please" does not), but the FCC's 2024 order
(47 CFR 64.1200(a)(10)) says consent may be revoked "in any reasonable manner". So the engine classifies every inbound body
itself, erring towards stop for short messages while leaving ordinary replies alone. The rules, first match wins:

1. **stop** (the contact revokes consent; suppress the number):

   a. the message's letters and digits alone spell a stop word: "STOP!!!", "'Stop.'", "s.t.o.p", "🛑 Stop 🛑", "Opt-out";
   b. some clause of the message (clauses split at punctuation, emoji and line breaks) is made only of stop words and filler
      words (politeness, pronouns, "texts"/"messages", "I said", "can you", a few expletives), e.g. "stop please",
      "Please STOP", "stop it", "Thanks. Unsubscribe", "No. Cancel", "stop texting me", "I said stop", "Can you stop?",
      "the end". This deliberately also catches "Cancel?" and "ok, end": a short message of stop words is a revocation;
   c. an explicit opt-out phrase appears anywhere, unless directly negated: "stop texting/messaging/sending/contacting",
      "remove me", "take me off", "unsubscribe(d/ing)", "opt(ing) out", "opt me out", "do not text", "dont text",
      "don't text me before 9" (a partial revocation is still one), "no more texts",
      "leave me alone", "lose my number", "wrong number", "revoke consent".

   A stop word inside an ordinary sentence is a reply: "I can't stop thinking about the demo", "let's not cancel the
   meeting", "the end of the quarter works", "quit worrying, we'll sign", "send me the cancellation policy".
2. **start**: the whole message is START, UNSTOP or YES (Twilio's re-opt-in words), in any casing/punctuation. "Yes, let's
   talk" is a reply, not an opt-in.
3. **help**: the whole message is HELP or INFO.
4. **other**: a reply; hand it to `cadence.intent.classify_reply`.

Before matching, text is NFKC-normalised (full-width letters become ASCII), invisible characters (zero-width spaces,
joiners, bidi marks, variation selectors, soft hyphens) are dropped, it is casefolded, apostrophes inside words are
removed ("don't" == "dont"), runs of three or more equal letters are collapsed ("stoppp" == "stop") and hyphens between
letters split words ("opt-out" == "opt out"). Only the first `MAX_SCAN_CHARS` characters are read (Twilio caps a body at
1,600), and every step is linear in the text length.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final, Literal

SmsKeyword = Literal["stop", "start", "help", "other"]
"""What an inbound SMS means for consent: revoke it, restore it, ask for help, or none of these (a normal reply)."""

STOP_KEYWORDS: Final = frozenset({"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout"})
"""Twilio's default opt-out words for long codes plus the FCC's per-se reasonable ones ("opt out" is folded to "optout")."""

STOP_VARIANTS: Final = frozenset({"unsub", "remove", "nomas", "parar", "detener", "cancelar", "baja", "alto", "basta"})
"""Further words that revoke consent when a clause is made of them alone: "Remove", "unsub", and common Spanish ones."""

START_KEYWORDS: Final = frozenset({"start", "unstop", "yes"})
"""Twilio's re-opt-in words; they restore SMS consent only when they are the whole message."""

HELP_KEYWORDS: Final = frozenset({"help", "info"})
"""Carrier HELP words; the whole message must be one of them."""

MAX_SCAN_CHARS: Final = 4_000
"""Only this many leading characters are classified; no real SMS is longer (Twilio caps a body at 1,600)."""

FILLER_WORDS: Final = frozenset(
    {
        # politeness and interjections
        *"please pls plz plse plez pleas kindly thanks thank thankyou thx ty tks sorry hi hello hey ok okay k".split(),
        *"just now asap immediately right away already again seriously really sir maam madam no oh ugh jeez god".split(),
        *"i said told can could will would".split(),
        *"fucking fuckin freaking frigging damn goddamn bloody wtf omg lol dude man bro".split(),
        # pronouns and determiners
        *"you u ya me my us we it this that these those them the your ur all any of and or from to".split(),
        # what is being stopped
        *"text texts txt txts texting message messages msg msgs messaging sms sending send contact contacting".split(),
        *"call calls calling spam spamming number phone more anymore ever".split(),
    }
)
"""Words that may surround a stop word in a clause without making it an ordinary sentence ("stop texting me please")."""

_STOP_CLAUSE_WORDS: Final = STOP_KEYWORDS | STOP_VARIANTS
_MERGES: Final = {
    ("opt", "out"): "optout",
    ("stop", "all"): "stopall",
    ("un", "subscribe"): "unsubscribe",
    ("no", "mas"): "nomas",
    ("no", "más"): "nomas",
}
_NEGATORS: Final = frozenset({"dont", "not", "never", "didnt", "wont", "cant", "doesnt", "shouldnt"})

_INVISIBLE: Final = dict.fromkeys(
    [
        0x00AD,
        0x034F,
        0x061C,
        0x115F,
        0x1160,
        0x17B4,
        0x17B5,
        0x180E,
        0x3164,
        0xFEFF,
        0xFFA0,
        *range(0x180B, 0x180E),
        *range(0x200B, 0x2010),
        *range(0x202A, 0x202F),
        *range(0x2060, 0x2070),
        *range(0xFE00, 0xFE10),
        *range(0xE0000, 0xE0080),
    ]
)
_APOSTROPHES: Final = str.maketrans(dict.fromkeys("\u2018\u2019\u02bc\u0060\u00b4\u2032\uff07", "'"))
_INNER_APOSTROPHE: Final = re.compile(r"(?<=\w)'(?=\w)")
_INNER_HYPHEN: Final = re.compile(r"(?<=\w)[-\u2010\u2011\u2012\u2013](?=\w)")
_CLAUSE_BREAK: Final = re.compile(r"[^\w \t]+|_+")
_ELONGATED: Final = re.compile(r"([^\W\d_])\1{2,}")
_OPT_OUT_PHRASE: Final = re.compile(
    r"\b(?:"
    r"stop(?:all)? (?:texting|txting|texing|messaging|msging|sending|contacting|calling|spamming|bothering|emailing|harassing|pestering)"
    r"|remove (?:me|us|my (?:number|phone|cell|info|details|contact)|this number)"
    r"|take (?:me|us|my number|this number) off"
    r"|opt(?:ing|ed)? (?:me |us )?out|optout|unsubscrib\w*|unsub|stopall"
    r"|(?:do not|dont|never) (?:ever )?(?:text|txt|message|msg|contact|sms|call)"
    r"|no more (?:text|texts|txt|txts|messages|msgs|sms|spam)"
    r"|leave (?:me|us) alone"
    r"|(?:lose|delete|erase|forget) (?:my|this) number"
    r"|wrong number"
    r"|(?:revoke|revoking|withdraw|withdrawing) (?:my |all )?consent"
    r")\b"
)


def fold_text(text: str) -> str:
    """Text as the classifiers compare it: invisible characters dropped, NFKC (full-width → ASCII), casefolded, plain apostrophes."""
    return unicodedata.normalize("NFKC", text.translate(_INVISIBLE)).casefold().translate(_APOSTROPHES)


def _clauses(body: str) -> list[list[str]]:
    """The message as clauses of words, the way the stop rules read it (see the module docstring)."""
    text = fold_text(body[:MAX_SCAN_CHARS])
    text = _INNER_HYPHEN.sub(" ", _INNER_APOSTROPHE.sub("", text))
    text = _ELONGATED.sub(r"\1", text)
    clauses: list[list[str]] = []
    for chunk in _CLAUSE_BREAK.split(text):
        words = chunk.split()
        if not words:
            continue
        merged: list[str] = []
        i = 0
        while i < len(words):
            pair = (words[i], words[i + 1]) if i + 1 < len(words) else None
            if pair in _MERGES:
                merged.append(_MERGES[pair])
                i += 2
            else:
                merged.append(words[i])
                i += 1
        clauses.append(merged)
    return clauses


def _has_opt_out_phrase(clause: str) -> bool:
    """An explicit opt-out phrase that is not directly negated ("don't stop texting me" is not one)."""
    for match in _OPT_OUT_PHRASE.finditer(clause):
        space = match.start() - 1  # words are joined by single spaces
        previous = clause[clause.rfind(" ", 0, space) + 1 : space] if space > 0 else ""
        if previous not in _NEGATORS:
            return True
    return False


def _is_stop_clause(words: list[str]) -> bool:
    """A clause made only of stop words and filler ("please stop", "stop texting me"), with at least one stop word."""
    core = [w for w in words if w not in FILLER_WORDS]
    return bool(core) and all(w in _STOP_CLAUSE_WORDS for w in core)


def classify_sms(body: str) -> SmsKeyword:
    """What an inbound SMS means for consent; "stop" must suppress the number before anything else is sent.

    Never raises; see the module docstring for the rules and the cases decided either way.
    """
    clauses = _clauses(body)
    spelled = "".join(w for words in clauses for w in words)
    if spelled in _STOP_CLAUSE_WORDS:
        return "stop"
    for words in clauses:
        if _is_stop_clause(words) or _has_opt_out_phrase(" ".join(words)):
            return "stop"
    if spelled in START_KEYWORDS:
        return "start"
    if spelled in HELP_KEYWORDS:
        return "help"
    return "other"
