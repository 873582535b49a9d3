"""Workflow ids, touch keys and Message-IDs: deterministic, opaque and distinct."""

from __future__ import annotations

import re
import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from cadence.ids import message_id, touch_key, workflow_id

CADENCE = uuid.UUID("6f1c1b2e-9a53-4a44-9d1e-0a3c4f5e6d7c")
CONTACT = uuid.UUID("0b7f7a52-3c1d-4e0f-8a9b-1c2d3e4f5a6b")

step_ids = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,62}", fullmatch=True)


def test_workflow_id_is_deterministic_and_holds_only_opaque_ids() -> None:
    wid = workflow_id(CADENCE, CONTACT)
    assert wid == workflow_id(str(CADENCE), str(CONTACT))
    assert wid == f"enr-{CADENCE}-{CONTACT}"
    assert "@" not in wid and "+" not in wid


@settings(max_examples=100, deadline=None)
@given(a=st.tuples(st.uuids(), st.uuids()), b=st.tuples(st.uuids(), st.uuids()))
def test_workflow_ids_differ_for_different_enrollments(a: tuple[uuid.UUID, uuid.UUID], b: tuple[uuid.UUID, uuid.UUID]) -> None:
    assert (workflow_id(*a) == workflow_id(*b)) == (a == b)


def test_workflow_id_distinguishes_cadence_from_contact() -> None:
    assert workflow_id(CADENCE, CONTACT) != workflow_id(CONTACT, CADENCE)


@settings(max_examples=200, deadline=None)
@given(
    a=st.tuples(st.uuids(), step_ids, st.integers(0, 1000), st.integers(0, 1000)),
    b=st.tuples(st.uuids(), step_ids, st.integers(0, 1000), st.integers(0, 1000)),
)
def test_touch_keys_are_unique_per_enrollment_step_occurrence_and_round(a: tuple, b: tuple) -> None:  # type: ignore[type-arg]
    assert (touch_key(*a) == touch_key(*b)) == (a == b)


def test_touch_key_separates_repeats_and_loop_rounds() -> None:
    keys = {touch_key(CONTACT, "check-in", occurrence, round_) for occurrence in range(3) for round_ in range(3)}
    assert len(keys) == 9
    assert touch_key(CONTACT, "check-in", 1, 0) != touch_key(CONTACT, "check-in", 0, 1)


def test_message_id_is_an_rfc5322_msg_id_and_deterministic() -> None:
    key = touch_key(CONTACT, "intro", 0, 0)
    mid = message_id(key, "mail.example.com")
    assert re.fullmatch(r"<touch-[0-9a-f-]{36}@mail\.example\.com>", mid)
    assert mid == message_id(key, "mail.example.com")  # a resend reuses it
    assert str(CONTACT) not in mid  # nothing that ties it back to the contact in clear


def test_message_ids_differ_per_touch() -> None:
    keys = [touch_key(CONTACT, step, occ, 0) for step in ("intro", "follow-up") for occ in range(50)]
    assert len({message_id(k, "example.com") for k in keys}) == len(keys)
