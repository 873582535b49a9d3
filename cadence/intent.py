"""What a reply (email or SMS) means for the cadence's reply branches: positive, negative, neutral or out of office.

`classify_reply` reads only the contact's new text: lines quoted with ">" and everything after an "On ... wrote:",
"-----Original Message-----", "From: ... Sent:/Date:" block, "Begin forwarded message:", a "-- " signature delimiter or
"Sent from my ..." are ignored, so the quoted sales email cannot skew the result. The rules, first match wins:

1. **Machine-generated** (`auto=True`): RFC 3834 `Auto-Submitted` other than "no", `X-Autoreply`/`X-Autorespond` (unless
   "no"), `Precedence: auto_reply|bulk|junk|list`, an empty `Return-Path: <>`, or a subject starting "Automatic reply",
   "Auto-Reply", "Autoreply", "Out of Office", "OOO". An auto-reply (`auto-replied`, `X-Autoreply`, `X-Autorespond`,
   `Precedence: auto_reply`, an auto-reply subject) or a machine message whose text reads as out-of-office is
   **out_of_office**; any other machine message (a bounce, a ticket receipt, a list mail) is **neutral**. Machine messages
   are never positive, negative or an unsubscribe request: no human said so (callers should not count them as replies).
2. **Unsubscribe** (`intent="negative"`, `unsubscribe=True`): "unsubscribe", "remove me", "take me off", "opt out",
   "stop emailing", "don't email me", "no more emails", "leave me alone", "delete my data", or anything
   `cadence.keywords.classify_sms` calls "stop" (so a texted "STOP please" is an opt-out here too).
3. **negative**: "not interested" (and any "interested" negated within four words: "wouldn't really be interested"),
   "no interest", "no thanks", "not a fit", "not for us", "we went with another vendor", "already have a solution",
   "wrong person", "not the right person", "no longer work here", "we'll pass", or a bare "No"/"Nope"/"Absolutely not".
   Negation wins over any positive phrase.
4. **positive**: "interested", "let's talk/chat", "book/schedule/set up a call/meeting/demo", "sounds good", "yes, send",
   "tell me more", "send me pricing", "what times work", "happy to chat", "can we talk", "call me tomorrow", a bare
   "Yes"/"Sure"/"Absolutely" or a thumbs-up emoji... unless directly negated. A positive reply that also defers
   ("interested, but not this quarter", "let's talk next year") is **neutral**: it is not a yes now; a rep decides.
5. **out_of_office** from the text alone: "out of (the) office", "automatic reply", "I am away", "on vacation/holiday/
   leave", "away until", "back in the office on"...; `auto` stays False when only the text says so. A human who is away
   but says yes ("Sounds good! I'm on vacation until Monday, let's chat then") is positive (rule 4 comes first).
6. **neutral**: everything else, including bare deferrals ("not right now", "reach out next quarter"), questions and
   "forwarded to my colleague".

For out_of_office, `return_date` is the first plausible date on or after `today` found in the body (then the subject),
preferring dates after a return cue ("back", "return(ing)", "until", "till", "through", "to", "-"): ISO dates, "December
3", "Dec 3rd, 2026", "Monday, 7 December", "3rd of December", numeric "12/03" (US month/day unless the first number is
over 12; numeric dates without a year only after a return cue, so "24/7 support" is not a date), "03.12.2026" (day first),
"the 3rd", weekdays ("back Monday", "next Monday": the first such day after `today`), "tomorrow", "next week" (next
Monday) and "in 2 weeks". A date without a year that has already passed this year means next year; dates with a year
before `today` or more than two years ahead are ignored. The date is the one written: "until December 3" gives
December 3. Nothing here reads a clock or raises on odd text.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

from cadence.keywords import classify_sms, fold_text
from cadence.return_dates import parse_return_date

ReplyIntentName = Literal["positive", "negative", "neutral", "out_of_office"]
"""The cadence's reply branches; the same values as `cadence.definition.ReplyIntent`."""

MAX_TEXT_CHARS: Final = 20_000
"""Only this many leading characters of the new (unquoted) text are classified; intent is stated early."""


@dataclass(frozen=True)
class Reply:
    """How the cadence should treat one reply.

    intent: which reply branch runs. return_date: when an out-of-office contact is back (resume then), if stated.
    unsubscribe: the contact asked to be removed; the caller must record an opt-out, not just end the enrollment.
    auto: the message was machine-generated (auto-reply headers or subject); it is not a human reply.
    """

    intent: ReplyIntentName
    return_date: dt.date | None = None
    unsubscribe: bool = False
    auto: bool = False


# --- Quoted text -----------------------------------------------------------------------------------------------------

_ATTRIBUTION: Final = re.compile(
    r"^\s*(?:on\b.{0,400}\b(?:wrote|said)|le\b.{0,400}\ba écrit|am\b.{0,400}\bschrieb.{0,200}|el\b.{0,400}\bescribió)\s*:\s*$",
    re.IGNORECASE,
)
_SEPARATOR: Final = re.compile(
    r"^\s*(?:-{2,}\s*(?:original message|forwarded message|ursprüngliche nachricht|message d'origine)\b.*"
    r"|_{8,}\s*|begin forwarded message:?.*|--\s*|sent from my \S.*|get outlook for \S.*)$",
    re.IGNORECASE,
)
_FROM_LINE: Final = re.compile(r"^\s*\**(?:from|von|de)\s*:\**\s*\S", re.IGNORECASE)
_SENT_LINE: Final = re.compile(r"^\s*\**(?:sent|date|gesendet|envoyé|to|subject)\s*:", re.IGNORECASE)


def strip_quoted(text: str) -> str:
    """The contact's own new text: quoted lines and the quoted thread below a reply header are dropped.

    If nothing is left above an "On ... wrote:" header (a bottom-posted reply), the unquoted lines below it are used.
    """
    lines = text[: MAX_TEXT_CHARS * 4].splitlines()
    kept: list[str] = []
    for i, line in enumerate(lines):
        following = lines[i + 1] if i + 1 < len(lines) else ""
        one_line = bool(_ATTRIBUTION.match(line))
        two_lines = (
            not one_line and len(line) < 400 and bool(_ATTRIBUTION.match(f"{line} {following}")) and not _ATTRIBUTION.match(following)
        )
        if one_line or two_lines:
            if any(k.strip() for k in kept):
                break
            rest = lines[i + 2 :] if two_lines else lines[i + 1 :]
            return "\n".join(r for r in rest if not r.lstrip().startswith(">")).strip()
        if _SEPARATOR.match(line):
            break
        if _FROM_LINE.match(line) and any(_SENT_LINE.match(n) for n in lines[i + 1 : i + 5]):
            break
        if line.lstrip().startswith(">"):
            continue
        kept.append(line)
    return "\n".join(kept).strip()


# --- Normalisation ---------------------------------------------------------------------------------------------------

_CONTRACTIONS: Final = {
    "won't": "will not",
    "can't": "can not",
    "shan't": "shall not",
    "ain't": "is not",
    "dont": "do not",
    "doesnt": "does not",
    "didnt": "did not",
    "isnt": "is not",
    "arent": "are not",
    "wasnt": "was not",
    "wont": "will not",
    "cant": "can not",
    "couldnt": "could not",
    "wouldnt": "would not",
    "shouldnt": "should not",
    "havent": "have not",
    "hasnt": "has not",
    "aint": "is not",
}
_CONTRACTION: Final = re.compile(r"\b(?:" + "|".join(re.escape(k) for k in _CONTRACTIONS) + r")\b")
_NT: Final = re.compile(r"(?<=\w)n't\b")
_TOKEN: Final = re.compile(r"[^\W_]+|[.!?;\n]+")


def _flatten(text: str) -> str:
    """Casefolded words separated by single spaces, contractions expanded ("don't" → "do not", "let's" → "lets"), and
    "." standing for every sentence break."""
    folded = _CONTRACTION.sub(lambda m: _CONTRACTIONS[m.group()], fold_text(text))
    folded = _NT.sub(" not", folded).replace("'", "")
    folded = _CONTRACTION.sub(lambda m: _CONTRACTIONS[m.group()], folded)
    tokens: list[str] = []
    for token in _TOKEN.findall(folded):
        if token[0] in ".!?;\n":
            if tokens and tokens[-1] != ".":
                tokens.append(".")
        else:
            tokens.append(token)
    return " ".join(tokens)


def _words(flat: str) -> str:
    """The flattened text without sentence breaks, for whole-message comparisons."""
    return " ".join(t for t in flat.split() if t != ".")


_NEGATORS: Final = frozenset({"not", "never", "nor", "without", "hardly", "neither", "longer"})
_SCOPE_BREAKS: Final = frozenset({".", "but", "however", "although", "though", "yet"})


def _negated(flat: str, start: int, window: int = 4) -> bool:
    """Whether a negation word governs the phrase starting at `start` (looking back `window` words, stopping at "but"/".")."""
    before = flat[max(0, start - 80) : start].split()[-window:]
    for word in reversed(before):
        if word in _SCOPE_BREAKS:
            return False
        if word in _NEGATORS:
            return True
    return False


def _any(pattern: re.Pattern[str], flat: str, *, unless_negated: bool = False) -> bool:
    return any(not (unless_negated and _negated(flat, m.start())) for m in pattern.finditer(flat))


# --- Phrases (matched against `_flatten` output) ---------------------------------------------------------------------

_AUTO_REPLY_SUBJECT: Final = re.compile(
    r"^\W*(?:automatic reply|auto ?-?reply|autoreply|auto ?-?response|automated (?:reply|response)|out of (?:the )?office"
    r"|ooo\b|abwesenheitsnotiz|réponse automatique|respuesta automática)"
)
_REPLY_PREFIX: Final = re.compile(r"^\W*(?:re|aw|sv|fwd?|wg|tr|rv)\s*(?:\[\d+\])?\s*:")

_OUT_OF_OFFICE: Final = re.compile(
    r"\b(?:out of (?:the )?office|automatic reply|auto ?reply|autoreply|auto response|automated (?:reply|response)"
    r"|(?:i am|im|i will be|ill be|currently|presently) (?:currently |now )?(?:away|out (?:until|till|through|of)|travell?ing"
    r"|on (?:\w+ )?(?:leave|vacation|holiday|holidays|pto|sabbatical)|off (?:work|sick)|ooo)"
    r"|on (?:annual|parental|maternity|paternity|sick|medical|family|extended|study|bereavement) leave"
    r"|on (?:vacation|holiday|holidays|pto|sabbatical)|away (?:until|till|through|from (?:the |my )?(?:office|desk|email|e mail))"
    r"|(?:limited|no|without) access to (?:my )?(?:email|e mail)|back in the office|(?:will be|ill be) back (?:on|in)"
    r"|(?:will|shall) (?:return|respond|reply) (?:on|when i return|upon my return)|returning (?:on|to the office)|ooo)\b"
)

_UNSUBSCRIBE: Final = re.compile(
    r"\b(?:unsubscrib\w*|unsub|opt(?:ing|ed)? (?:me |us )?out|optout"
    r"|remove (?:me|us|my (?:email|e mail|address|name|details|info|information|contact|number|data))"
    r"|take (?:me|us|my (?:email|e mail|name|address)) off"
    r"|stop (?:emailing|e mailing|mailing|contacting|messaging|texting|sending|writing|spamming|bothering|reaching out|calling)"
    r"|(?:do not|never|please no) (?:ever )?(?:email|e mail|contact|message|text|write|call|mail|reach out to) (?:me|us)"
    r"|(?:do not|stop|never) send(?:ing)? (?:me|us) (?:any )?(?:more |further )?(?:emails|e mails|messages|mail|spam)"
    r"|no (?:more|further) (?:emails|e mails|messages|mail|mails|spam|contact)"
    r"|leave (?:me|us) alone|delete me|wrong number|(?:be|get|been|being) (?:removed|unsubscribed|taken off)"
    r"|(?:delete|erase|remove|forget) (?:all )?(?:my|our) (?:personal )?(?:data|details|information|info|contact details|email|email address)"
    r")\b"
)

_NEGATIVE: Final = re.compile(
    r"\b(?:uninterested|disinterested|no (?:real |further |more |particular )?interest|zero interest"
    r"|no thanks?|thanks but no|no thank you"
    r"|not (?:a |the )?(?:good |great |right |strong )?(?:fit|match)"
    r"|do not think (?:we are|were|it is|its|this is|you are|youre|that is|thats) (?:a )?(?:good |great |right )?(?:fit|match)"
    r"|not for (?:us|me)|not (?:a )?(?:priority|relevant)|no need|(?:do|does|did) not need|(?:do|does) not want"
    r"|not looking|not in the market|no budget"
    r"|went with (?:another|a different|a competitor|someone else|an? other)"
    r"|(?:chose|chosen|selected|picked|signed with|decided (?:on|to go with)|going with|gone with) (?:another|a different|a competitor|someone else)"
    r"|already (?:have|use|using|work with|working with|signed with|partnered with) (?:a |an )?(?:solution|vendor|provider|tool|partner|platform|system|agency|something)"
    r"|(?:happy|satisfied) with (?:our )?(?:current|existing) (?:solution|vendor|provider|tool|setup|platform|system)"
    r"|wrong (?:person|contact|guy|email|address|department|team)"
    r"|not (?:the )?(?:right|correct|best|appropriate|relevant) (?:person|contact|guy|one)"
    r"|no longer (?:work|with|at|employed)"
    r"|(?:(?:i|we) (?:will|am going to|are going to|have to|must)|ill|well|gonna|going to|have to) pass(?= \.| on this| on it| for now| thanks| thank|$)"
    r"|(?:not sure|doubt) (?:if |whether |that )?(?:(?!but |however |though |yet )\w+ ){0,3}interested"
    r")\b"
)
_BARE_NO: Final = frozenset(
    {
        *("no", "nope", "nah", "no way", "never", "pass", "hard pass", "no sorry", "sorry no", "no but thanks", "no but thank you"),
        *("absolutely not", "definitely not", "certainly not", "not really", "not at all", "no not really"),
    }
)

_INTERESTED: Final = re.compile(r"\binterested\b")
_POSITIVE: Final = re.compile(
    r"\b(?:lets (?:talk|chat|connect|meet|set (?:up|something up|a time)|schedule|book|do (?:it|this)|find (?:a )?time|hop on|jump on|get (?:something|a call|a time|time))"
    r"|let us (?:talk|chat|connect|meet|schedule|set up|book|find)"
    r"|(?:book|schedule|set up|arrange|organi[sz]e|grab|find|put) (?:a |some |the |an |in a |in some )?(?:time|call|meeting|demo|chat|slot|intro|meet)"
    r"|sounds? (?:good|great|interesting|perfect|fine|like a plan)|(?:looks|seems) (?:good|great|interesting)"
    r"|yes (?:\. )?(?:please|send|lets|let us|interested|sounds|absolutely|definitely|happy|sure|go ahead|book|schedule|tell|id love|would love)"
    r"|tell me more|(?:learn|hear|know) more"
    r"|(?:send|share) (?:me |us |over )?(?:some |more |the |your |a )?(?:info|information|details|deck|pricing|prices|proposal|quote|case studies|more)"
    r"|what (?:times?|days?|dates?|slots?) (?:work|works|are good|suit|do you have|are you)"
    r"|when (?:are|is|would) (?:you|a good time|be good|work)|when can we (?:talk|chat|meet)"
    r"|(?:happy|glad|keen|love|like|open|willing|eager|excited) to (?:chat|talk|connect|meet|learn|hear|see|discuss|hop|jump|explore|take a look|look|try)"
    r"|(?:can|could|shall|should) we (?:talk|chat|meet|connect|schedule|set up|book|do|hop|jump)"
    r"|im in|i am in|count (?:me|us) in|works for (?:me|us)|how about (?:monday|tuesday|wednesday|thursday|friday|tomorrow|next week|\d)"
    r"|send (?:me |over )?(?:an? )?(?:invite|calendar invite|link|calendly)|my calendar|calendly|go ahead|sign (?:me|us) up"
    r"|(?:love|like) (?:a|an|some) (?:demo|call|chat|meeting|quote|trial|intro)"
    r"|(?:please )?call me(?= \.|$| tomorrow| today| at| on| anytime| any time| this| next| when| back)|give me a (?:call|ring)|reach me (?:at|on)|my (?:cell|mobile|phone|number) is)\b"
)
_BARE_YES: Final = frozenset(
    {"yes", "yes please", "yep", "yeah", "yup", "sure", "sure thing", "absolutely", "definitely", "of course", "please do", "ok sure"}
)
_THUMBS_UP: Final = re.compile(r"[\s\U0001F44D\U0001F44C\U0001F64C\u2705\U0001F3FB-\U0001F3FF\ufe0f]+")

_DEFERRAL: Final = re.compile(
    r"\b(?:not (?:right )?now|not at (?:this|the) (?:time|moment|minute)"
    r"|not (?:this|until next|till next|before next) (?:quarter|year|month|q[1-4])"
    r"|(?:maybe|perhaps|possibly) (?:later|next (?:quarter|year|month)|in (?:a few|a couple|\w+) (?:months|weeks))"
    r"|(?:next|following) (?:quarter|year|fiscal year|fy)|in (?:q[1-4]|the new year)|after (?:the holidays|the new year|q[1-4])"
    r"|bad timing|not a good time|timing (?:is not|isnt) (?:right|great|good)|no bandwidth|too busy"
    r"|(?:reach out|circle back|check back|follow up|touch base|try (?:me|us) again)(?: \w+){0,4} (?:in|next|after) (?:q[1-4]|\w+ (?:months|quarter|year)))\b"
)


# --- Headers ---------------------------------------------------------------------------------------------------------


def _machine_markers(headers: Mapping[str, str]) -> tuple[bool, bool]:
    """(machine-generated, an auto-reply) from RFC 3834 and the common non-standard headers."""
    h = {str(k).strip().casefold(): " ".join(str(v).split()).casefold() for k, v in headers.items()}
    auto = replied = False
    submitted = h.get("auto-submitted", "").split(";")[0].strip()
    if submitted and submitted != "no":
        auto = True
        replied = submitted == "auto-replied"
    for name in ("x-autoreply", "x-autorespond", "x-autoresponder", "x-mail-autoreply"):
        if name in h and h[name] not in {"no", "false", "0", "off"}:
            auto = replied = True
    precedence = h.get("precedence", "")
    if precedence in {"auto_reply", "auto-reply"}:
        auto = replied = True
    elif precedence in {"bulk", "junk", "list"}:
        auto = True
    if h.get("return-path", "").replace(" ", "") == "<>":
        auto = True
    return auto, replied


# --- The classifier --------------------------------------------------------------------------------------------------


def _out_of_office(body: str, subject: str, today: dt.date, *, auto: bool) -> Reply:
    return_date = parse_return_date(body, today) or parse_return_date(subject, today)
    return Reply(intent="out_of_office", return_date=return_date, auto=auto)


def classify_reply(*, text: str, subject: str | None = None, headers: Mapping[str, str] | None = None, today: dt.date) -> Reply:
    """Which reply branch a reply takes, whether it asks to be removed, and when an absent contact is back.

    `today` is the contact's current date (no clock is read); see the module docstring for the rules.
    """
    if isinstance(today, dt.datetime):
        today = today.date()
    text = text if isinstance(text, str) else ""
    subject = subject if isinstance(subject, str) else ""
    auto, auto_replied = _machine_markers(headers or {})
    body = strip_quoted(text)[:MAX_TEXT_CHARS]
    folded_subject = fold_text(subject[:1000]).strip()
    auto_subject = bool(_AUTO_REPLY_SUBJECT.search(folded_subject))
    # A subject that is not "Re:" our own email may carry the request itself ("Unsubscribe", empty body).
    own_subject = subject[:1000] if folded_subject and not _REPLY_PREFIX.search(folded_subject) and not auto_subject else ""
    flat = _flatten(f"{own_subject}\n{body}" if own_subject else body)
    words = _words(flat)

    if auto or auto_subject:
        if auto_replied or auto_subject or _OUT_OF_OFFICE.search(flat):
            return _out_of_office(body, subject, today, auto=True)
        return Reply(intent="neutral", auto=True)

    if _UNSUBSCRIBE.search(flat) or classify_sms(body) == "stop" or (own_subject and classify_sms(own_subject) == "stop"):
        return Reply(intent="negative", unsubscribe=True)

    negated_interest = any(_negated(flat, m.start()) for m in _INTERESTED.finditer(flat))
    if negated_interest or words in _BARE_NO or _NEGATIVE.search(flat):
        return Reply(intent="negative")

    positive = (
        words in _BARE_YES
        or bool(body and _THUMBS_UP.fullmatch(body))
        or _any(_INTERESTED, flat)
        or _any(_POSITIVE, flat, unless_negated=True)
    )
    if positive:
        return Reply(intent="neutral" if _DEFERRAL.search(flat) else "positive")

    if _OUT_OF_OFFICE.search(flat):
        return _out_of_office(body, subject, today, auto=False)
    return Reply(intent="neutral")
