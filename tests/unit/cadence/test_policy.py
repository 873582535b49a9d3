"""Contact policy (cadence/contact_policy.py): the policy file, segments, the regulated floor, quiet
hours, frequency preferences, and the day and hour rules the gate applies."""

from __future__ import annotations

import datetime as dt
import textwrap
from typing import Any

import pytest
from pydantic import ValidationError

from cadence.contact_policy import BUILTIN_DEFAULTS, ContactPolicy, EffectivePolicy, Hours, QuietHours, daily_hours, day_allowed, resolve
from cadence.contact_rules import Blackout, Caps, ContactRules, SendWindow
from cadence.gate import Recent
from cadence.parse import DefinitionError
from starter.catalog import POLICY_FILE, load_policy, parse_policy
from tests.unit.cadence.gate_support import effective, gate, local, utc

SHIPPED = load_policy()


def contact(
    config: ContactPolicy = SHIPPED,
    *,
    cadence: ContactRules | None = None,
    persona: str | None = None,
    industry: str | None = None,
    tier: str | None = None,
    country: str | None = "US",
    region: str | None = None,
    frequency: str = "normal",
) -> EffectivePolicy:
    return resolve(
        config, cadence=cadence, persona=persona, industry=industry, tier=tier, country=country, region=region, frequency=frequency
    )


def window(policy: EffectivePolicy) -> tuple[list[str], str, str] | None:
    w = policy.send_window
    return None if w is None else (list(w.days), w.start, w.end)


def caps(policy: EffectivePolicy) -> Any:
    """The caps in force: one (max, per_days, gap) triple, or a tuple of them when several
    apply (a regulated contact keeps both its own caps and the floor's)."""
    triples = tuple((c.max_touches, c.per_days, c.min_gap_hours) for c in policy.cap_list)
    if not triples:
        return None
    return triples[0] if len(triples) == 1 else triples


def problems(text: str) -> list[tuple[str, str]]:
    with pytest.raises(DefinitionError) as info:
        parse_policy(textwrap.dedent(text))
    return [(p.field, p.message) for p in info.value.problems]


# --- the shipped file ------------------------------------------------------------------------------


def test_shipped_policy_file_loads_with_its_rules() -> None:
    assert POLICY_FILE.name == "policy.yaml"
    assert load_policy(POLICY_FILE) == SHIPPED
    d = SHIPPED.defaults
    assert d.send_window == SendWindow(days=["mon", "tue", "wed", "thu", "fri"], start="09:00", end="17:00")
    assert d.caps == Caps(max_touches=3, per_days=7, min_gap_hours=20)
    assert (d.respect_holidays, d.no_contact_days, d.sender_daily_cap, d.spread_minutes) == (True, 90, 500, 120)
    assert SHIPPED.quiet_hours.default == Hours(start="08:00", end="21:00")
    assert {k: (v.start, v.end) for k, v in SHIPPED.quiet_hours.regions.items()} == {
        "US-FL": ("08:00", "20:00"),
        "US-OK": ("08:00", "20:00"),
        "US-MD": ("08:00", "20:00"),
        "US-WA": ("08:00", "20:00"),
    }
    assert [(b.name, b.start, b.end, b.channels) for b in SHIPPED.blackouts] == [("year-end", "12-24", "01-01", None)]
    assert "healthcare" in SHIPPED.regulated.industries and "finance" in SHIPPED.regulated.industries
    assert [s.name for s in SHIPPED.segments] == [
        "enterprise-executive",
        "enterprise",
        "mid-market",
        "smb",
        "tech-touch",
        "procurement",
        "prospect",
    ]


def test_every_contact_in_the_shipped_matrix_resolves_to_a_usable_policy() -> None:
    for persona in (None, "executive", "practitioner", "procurement"):
        for tier in (None, "enterprise", "mid_market", "smb", "tech_touch"):
            for industry in (None, "software", "healthcare"):
                policy = contact(persona=persona, tier=tier, industry=industry)
                assert policy.segment is not None, "the last row (prospect) matches everyone"
                assert policy.send_window is not None and policy.caps is not None
                assert policy.quiet == Hours(start="08:00", end="21:00")
                assert policy.regulated == (industry == "healthcare")


# --- parse_policy errors name the field ------------------------------------------------------------


def test_unknown_time_zone_names_the_field() -> None:
    assert problems("defaults: {timezone: Mars/Olympus_Mons}") == [
        ("defaults.timezone", "unknown time zone 'Mars/Olympus_Mons' (use an IANA name such as America/Chicago)")
    ]
    [(field, message)] = problems("segments: [{name: a, policy: {timezone: America/Chicagoo}}]")
    assert field == "segments.0.policy.timezone" and "America/Chicagoo" in message


@pytest.mark.parametrize(("start", "end"), [("17:00", "09:00"), ("09:00", "09:00")])
def test_window_ending_before_it_starts_names_the_field(start: str, end: str) -> None:
    assert problems(f'defaults: {{send_window: {{start: "{start}", end: "{end}"}}}}') == [
        ("defaults.send_window", f"window end {end} must be after its start {start}")
    ]
    [(field, _)] = problems(f'segments: [{{name: x, policy: {{send_window: {{start: "{start}", end: "{end}"}}}}}}]')
    assert field == "segments.0.policy.send_window"


@pytest.mark.parametrize(
    ("yaml", "field"),
    [
        ("defaults: {caps: {max_touches: 0}}", "defaults.caps.max_touches"),
        ("defaults: {caps: {per_days: 0}}", "defaults.caps.per_days"),
        ("defaults: {sender_daily_cap: 0}", "defaults.sender_daily_cap"),
        ("regulated: {policy: {caps: {max_touches: 0}}}", "regulated.policy.caps.max_touches"),
        ("segments: [{name: x, policy: {caps: {max_touches: 0}}}]", "segments.0.policy.caps.max_touches"),
    ],
)
def test_a_cap_of_zero_names_the_field(yaml: str, field: str) -> None:
    [(got, message)] = problems(yaml)
    assert got == field
    assert "greater than or equal to 1" in message


def test_impossible_blackout_date_is_refused_naming_the_blackout() -> None:
    [(field, _)] = problems('blackouts: [{name: leap, start: "02-28", end: "02-29"}, {name: bad, start: "02-30", end: "03-02"}]')
    assert field == "blackouts.1.start"
    [(field, _)] = problems('blackouts: [{name: bad, start: "2-3", end: "03-02"}]')
    assert field == "blackouts.0.start"
    parse_policy('blackouts: [{name: leap, start: "02-29", end: "02-29"}]')  # a real date in leap years


def test_impossible_blackout_date_error_says_which_date() -> None:
    [(field, message)] = problems('blackouts: [{name: bad, start: "02-30", end: "03-02"}]')
    assert field == "blackouts.0.start" and "'02-30' is not a real date" in message, (field, message)


def test_unquoted_clock_and_unknown_keys_are_explained() -> None:
    [(field, message)] = problems("defaults: {send_window: {start: 10:30, end: '17:00'}}")
    assert field == "defaults.send_window.start" and "quotes" in message
    [(field, _)] = problems("defaults: {send_windw: {start: '09:00'}}")
    assert field == "defaults.send_windw"
    [(field, message)] = problems("defaults: {respect_holidays: null}")
    assert "respect_holidays" in message


def test_error_message_names_the_file() -> None:
    with pytest.raises(DefinitionError, match=r"^ops/policy\.yaml: field 'defaults\.timezone'"):
        parse_policy("defaults: {timezone: Nowhere/Town}", "ops/policy.yaml")


def test_partial_defaults_keep_the_builtin_values() -> None:
    config = parse_policy("defaults: {spread_minutes: 30}")
    assert config.defaults.spread_minutes == 30
    assert config.defaults.send_window == BUILTIN_DEFAULTS.send_window
    assert config.defaults.caps == BUILTIN_DEFAULTS.caps
    assert parse_policy("").defaults == BUILTIN_DEFAULTS
    anytime = parse_policy("defaults: {send_window: null, caps: null, sender_daily_cap: null}")
    policy = contact(anytime)
    assert (policy.send_window, policy.cap_list, policy.sender_daily_cap) == (None, (), None)
    # No window and no caps: an email at 03:00 on a Sunday goes out.
    assert gate(policy, at=local("America/Chicago", 2026, 6, 7, 3, 0), tz="America/Chicago").action == "allow"


# --- quiet hours ---------------------------------------------------------------------------------------


def test_quiet_hours_by_state_then_country_then_default() -> None:
    quiet = QuietHours(
        regions={
            "US-FL": Hours(start="08:00", end="20:00"),
            "GB": Hours(start="09:00", end="20:00"),
            "US": Hours(start="08:30", end="21:00"),
        }
    )
    assert quiet.for_region("US", "FL") == Hours(start="08:00", end="20:00")
    assert quiet.for_region("us", "fl") == Hours(start="08:00", end="20:00")
    assert quiet.for_region("US", "TX") == Hours(start="08:30", end="21:00")
    assert quiet.for_region("US", None) == Hours(start="08:30", end="21:00")
    assert quiet.for_region("GB", "ENG") == Hours(start="09:00", end="20:00")
    assert quiet.for_region("DE", "BY") == Hours(start="08:00", end="21:00")
    assert quiet.for_region(None, "FL") == Hours(start="08:00", end="21:00")
    assert SHIPPED.quiet_hours.for_region("US", "WA") == Hours(start="08:00", end="20:00")
    assert contact(country="US", region="FL").quiet == Hours(start="08:00", end="20:00")


@pytest.mark.parametrize(("start", "end"), [("07:59", "21:00"), ("08:00", "21:01"), ("07:00", "22:00"), ("00:00", "23:59")])
def test_quiet_hours_refuse_anything_looser_than_eight_to_nine(start: str, end: str) -> None:
    with pytest.raises(ValidationError, match="stricter than 08:00-21:00"):
        QuietHours(default=Hours(start=start, end=end))
    with pytest.raises(ValidationError, match="quiet_hours.US-FL: may only be stricter than 08:00-21:00"):
        QuietHours(regions={"US-FL": Hours(start=start, end=end)})
    [(field, message)] = problems(f'quiet_hours: {{regions: {{US-FL: {{start: "{start}", end: "{end}"}}}}}}')
    assert field == "quiet_hours" and "US-FL" in message


def test_quiet_hours_accept_the_floor_and_anything_stricter() -> None:
    QuietHours(default=Hours(start="08:00", end="21:00"), regions={"US-FL": Hours(start="09:00", end="20:00")})
    with pytest.raises(ValidationError, match="must be after start"):
        Hours(start="20:00", end="09:00")


# --- segments and precedence ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("persona", "tier", "segment"),
    [
        ("executive", "enterprise", "enterprise-executive"),
        ("practitioner", "enterprise", "enterprise"),
        ("procurement", "enterprise", "enterprise"),  # the tier row comes first
        ("procurement", "smb", "smb"),
        ("procurement", None, "procurement"),
        ("executive", "mid_market", "mid-market"),
        ("executive", None, "prospect"),
        (None, None, "prospect"),
    ],
)
def test_first_matching_segment_wins_and_unset_fields_match_anything(persona: str | None, tier: str | None, segment: str) -> None:
    assert contact(persona=persona, tier=tier).segment == segment


def test_industry_group_matching_is_case_insensitive() -> None:
    config = parse_policy(
        textwrap.dedent(
            """
            regulated: {industries: [Healthcare, banking]}
            segments:
              - {name: regulated-smb, match: {industry_group: regulated, tier: smb}}
              - {name: standard, match: {industry_group: standard}}
              - {name: rest}
            """
        )
    )
    assert contact(config, industry="healthcare", tier="smb").segment == "regulated-smb"
    assert contact(config, industry="BANKING", tier="smb").segment == "regulated-smb"
    assert contact(config, industry="banking", tier="enterprise").segment == "rest"
    assert contact(config, industry="software", tier="smb").segment == "standard"
    assert contact(config, industry=None, tier=None).segment == "standard"
    assert contact(config, industry="Healthcare").regulated is True
    assert contact(config, industry="software").regulated is False


def test_defaults_then_segment_then_cadence() -> None:
    prospect = contact()
    assert window(prospect) == (["mon", "tue", "wed", "thu", "fri"], "09:00", "17:00")
    assert caps(prospect) == (3, 7, 20)
    assert (prospect.sender_daily_cap, prospect.spread_minutes, prospect.respect_holidays) == (500, 120, True)

    executive = contact(persona="executive", tier="enterprise")
    assert window(executive) == (["tue", "wed", "thu"], "08:00", "10:00")  # from the segment
    assert caps(executive) == (2, 14, 72)
    assert executive.sender_daily_cap == 500  # the segment does not set it: the default stays

    mid = contact(tier="mid_market")
    assert window(mid) == (["mon", "tue", "wed", "thu", "fri"], "09:00", "17:00")  # default window
    assert caps(mid) == (3, 7, 24)  # segment caps

    tuned = contact(persona="executive", tier="enterprise", cadence=ContactRules(spread_minutes=15, timezone="Europe/Berlin"))
    assert window(tuned) == (["tue", "wed", "thu"], "08:00", "10:00"), "unset cadence fields keep the segment's"
    assert (tuned.spread_minutes, tuned.timezone) == (15, "Europe/Berlin")

    override = contact(
        persona="executive", tier="enterprise", cadence=ContactRules(send_window=SendWindow(days=["mon"], start="12:00", end="13:00"))
    )
    assert window(override) == (["mon"], "12:00", "13:00")
    assert caps(override) == (2, 14, 72)


def test_blackouts_add_up_instead_of_replacing_the_file_wide_ones() -> None:
    summer = Blackout(name="summer", start="08-01", end="08-15")
    policy = contact(cadence=ContactRules(blackouts=[summer]))
    assert [b.name for b in policy.blackouts] == ["year-end", "summer"]
    at = local("America/Chicago", 2026, 12, 29, 10)
    assert gate(policy, at=at, tz="America/Chicago").code == "blackout"


def test_segment_window_decides_when_an_executive_is_contacted() -> None:
    policy = contact(persona="executive", tier="enterprise", cadence=ContactRules(spread_minutes=0))
    zone = "America/Chicago"
    decision = gate(policy, at=local(zone, 2026, 6, 1, 9, 0), tz=zone, country="US")  # Monday
    assert decision.until == local(zone, 2026, 6, 2, 8, 0)
    assert decision.reason == "deferred to Tue 08:00 America/Chicago: outside the send window"


# --- the regulated floor ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("asked", "expected"),
    [
        (
            SendWindow(days=["mon", "tue", "wed", "thu", "fri", "sat", "sun"], start="06:00", end="20:00"),
            (["tue", "wed", "thu"], "10:00", "16:00"),
        ),
        (SendWindow(days=["mon", "tue", "wed"], start="11:00", end="18:00"), (["tue", "wed"], "11:00", "16:00")),
        (SendWindow(days=["wed"], start="10:30", end="11:00"), (["wed"], "10:30", "11:00")),
        # Nothing in common: the floor, never an empty (or looser) window.
        (SendWindow(days=["sat"], start="10:00", end="12:00"), (["tue", "wed", "thu"], "10:00", "16:00")),
        (SendWindow(days=["tue"], start="16:00", end="18:00"), (["tue", "wed", "thu"], "10:00", "16:00")),
    ],
)
def test_regulated_contacts_get_the_intersection_with_the_floor_window(asked: SendWindow, expected: tuple[list[str], str, str]) -> None:
    policy = contact(industry="healthcare", cadence=ContactRules(send_window=asked))
    assert policy.regulated
    assert window(policy) == expected
    assert window(contact(industry="software", cadence=ContactRules(send_window=asked))) == (list(asked.days), asked.start, asked.end)


def test_regulated_floor_lowers_caps_and_keeps_stricter_ones() -> None:
    # The cadence's caps and the floor's are both enforced; the gate honours the stricter at every instant.
    assert caps(contact(industry="finance", cadence=ContactRules(caps=Caps(max_touches=10, per_days=7, min_gap_hours=0)))) == (
        (10, 7, 0),
        (2, 7, 48),
    )
    assert caps(contact(industry="finance", cadence=ContactRules(caps=Caps(max_touches=1, per_days=7, min_gap_hours=72)))) == (
        (1, 7, 72),
        (2, 7, 48),
    )
    assert caps(contact(industry="finance")) == ((3, 7, 20), (2, 7, 48))
    requested = utc(2026, 6, 10, 12)
    loose = contact(industry="finance", cadence=ContactRules(caps=Caps(max_touches=10, per_days=7, min_gap_hours=0)))
    two = (requested - dt.timedelta(days=3), requested - dt.timedelta(days=2))
    decision = gate(effective(send_window=None, caps=loose.caps), at=requested, tz="UTC", recent=Recent(contact=two))
    assert decision.until == two[0] + dt.timedelta(days=7)
    assert caps(contact(industry="software", cadence=ContactRules(caps=Caps(max_touches=10, per_days=7)))) == (10, 7, 0)


def test_regulated_contact_on_monday_waits_for_tuesday_ten() -> None:
    policy = contact(
        industry="healthcare",
        cadence=ContactRules(send_window=SendWindow(days=["mon", "tue"], start="08:00", end="18:00"), spread_minutes=0),
    )
    zone = "America/New_York"
    decision = gate(policy, at=local(zone, 2026, 6, 1, 11, 0), tz=zone, country="US")
    assert decision.until == local(zone, 2026, 6, 2, 10, 0)
    assert gate(policy, at=local(zone, 2026, 6, 2, 16, 30), tz=zone, country="US").until == local(zone, 2026, 6, 9, 10, 0)


REGULATED_BURST = """
defaults: {send_window: null, caps: {max_touches: 3, per_days: 7}, respect_holidays: false, sender_daily_cap: null, spread_minutes: 0}
regulated: {industries: [healthcare], policy: {caps: {max_touches: 2, per_days: 7}}}
"""


def test_regulated_floor_caps_hold_for_a_cadence_asking_for_a_higher_rate() -> None:
    config = parse_policy(REGULATED_BURST)
    policy = contact(config, industry="healthcare", cadence=ContactRules(caps=Caps(max_touches=5, per_days=7)))
    requested = utc(2026, 6, 10, 12)
    touches = (requested - dt.timedelta(days=2), requested - dt.timedelta(days=1))
    decision = gate(policy, at=requested, tz="UTC", recent=Recent(contact=touches))
    assert decision.until == touches[0] + dt.timedelta(days=7)


def test_regulated_floor_caps_hold_for_a_cadence_with_a_lower_rate_but_a_bigger_burst() -> None:
    config = parse_policy(REGULATED_BURST)
    policy = contact(config, industry="healthcare", cadence=ContactRules(caps=Caps(max_touches=6, per_days=30)))
    requested = utc(2026, 6, 10, 12)
    touches = (requested - dt.timedelta(days=2), requested - dt.timedelta(days=1))
    decision = gate(policy, at=requested, tz="UTC", recent=Recent(contact=touches))
    assert decision.action == "defer", "a third touch within 7 days breaks the regulated floor of 2 per 7 days"
    assert decision.until == touches[0] + dt.timedelta(days=7)


# --- frequency preference -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tier", "frequency", "expected"),
    [
        (None, "normal", (3, 7, 20)),
        (None, "reduced", (1, 7, 48)),
        (None, "minimal", (1, 14, 168)),
        ("enterprise", "reduced", (1, 14, 48)),
        ("mid_market", "reduced", (1, 7, 48)),
        ("enterprise", "minimal", (1, 14, 168)),
    ],
)
def test_frequency_preference_lowers_caps(tier: str | None, frequency: str, expected: tuple[int, int, int]) -> None:
    assert caps(contact(tier=tier, frequency=frequency)) == expected


def test_frequency_preference_applies_even_without_configured_caps() -> None:
    uncapped = parse_policy("defaults: {caps: null}")
    assert contact(uncapped).cap_list == ()
    reduced = contact(uncapped, frequency="reduced")
    assert [c.min_gap_hours for c in reduced.cap_list] == [48]
    minimal = contact(uncapped, frequency="minimal")
    assert caps(minimal) == (1, 14, 168)
    # Behaviour: after one touch yesterday, a "minimal" contact waits two weeks from that touch.
    requested = utc(2026, 6, 10, 12)
    policy = effective(send_window=None, caps=minimal.caps)
    assert gate(
        policy, at=requested, tz="UTC", recent=Recent(contact=(requested - dt.timedelta(days=1),))
    ).until == requested + dt.timedelta(days=13)


def test_frequency_preference_stacks_on_the_regulated_floor() -> None:
    assert caps(contact(industry="healthcare", frequency="reduced")) == ((1, 7, 48), (2, 7, 48))
    assert caps(contact(industry="healthcare", frequency="minimal")) == ((1, 14, 168), (2, 7, 48))


# --- day and hour rules ------------------------------------------------------------------------------------------


def test_daily_hours_per_channel() -> None:
    nine_five = effective()
    assert daily_hours(nine_five, "email") == (dt.time(9), dt.time(17))
    assert daily_hours(nine_five, "sms") == (dt.time(9), dt.time(17))
    wide = effective(send_window=SendWindow(start="06:00", end="23:00"))
    assert daily_hours(wide, "call") == (dt.time(8), dt.time(21))
    assert daily_hours(wide, "linkedin") == (dt.time(6), dt.time(23))
    florida = effective(send_window=None, quiet=Hours(start="08:00", end="20:00"))
    assert daily_hours(florida, "sms") == (dt.time(8), dt.time(20))
    assert daily_hours(florida, "email") is None


def test_day_allowed_names_the_rule_that_closes_the_day() -> None:
    policy = effective(
        respect_holidays=True,
        blackouts=(
            Blackout(name="year-end", start="12-24", end="01-01"),
            Blackout(name="texts", start="07-01", end="07-02", channels=["sms"]),
        ),
    )
    assert day_allowed(policy, dt.date(2026, 6, 6), "sat", "email", holiday=False) == "outside the send window"
    assert day_allowed(policy, dt.date(2026, 6, 8), "mon", "email", holiday=True) == "a public holiday"
    assert day_allowed(effective(respect_holidays=False), dt.date(2026, 6, 8), "mon", "email", holiday=True) is None
    assert day_allowed(policy, dt.date(2026, 12, 28), "mon", "email", holiday=False) == "the year-end blackout"
    assert day_allowed(policy, dt.date(2026, 7, 1), "wed", "sms", holiday=False) == "the texts blackout"
    assert day_allowed(policy, dt.date(2026, 7, 1), "wed", "email", holiday=False) is None
    assert day_allowed(policy, dt.date(2026, 6, 8), "mon", "email", holiday=False) is None


@pytest.mark.parametrize(
    ("start", "end", "inside", "outside"),
    [
        ("12-24", "01-01", ["12-24", "12-31", "01-01"], ["12-23", "01-02", "06-15"]),
        ("08-01", "08-15", ["08-01", "08-15"], ["07-31", "08-16", "01-01"]),
        ("02-29", "02-29", ["02-29"], ["02-28", "03-01"]),
        ("11-30", "02-01", ["12-15", "01-31", "02-01"], ["02-02", "11-29"]),
    ],
)
def test_blackout_dates_including_year_end_wrap(start: str, end: str, inside: list[str], outside: list[str]) -> None:
    blackout = Blackout(name="b", start=start, end=end)
    for md in inside:
        assert blackout.covers(dt.date(2028, int(md[:2]), int(md[3:])), "email"), md
    for md in outside:
        assert not blackout.covers(dt.date(2028, int(md[:2]), int(md[3:])), "email"), md
    only_calls = Blackout(name="b", start=start, end=end, channels=["call"])
    day = dt.date(2028, int(inside[0][:2]), int(inside[0][3:]))
    assert only_calls.covers(day, "call") and not only_calls.covers(day, "email")
