"""A/B variants: a stable, weighted assignment of each enrollment to one arm of a step."""

from __future__ import annotations

import hashlib

from cadence.steps import Variant


def bucket(enrollment_id: str, step_id: str, modulus: int) -> int:
    """A number in [0, modulus) that depends only on the enrollment and the step."""
    digest = hashlib.sha256(f"{enrollment_id}:{step_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % modulus


def choose(enrollment_id: str, step_id: str, variants: list[Variant]) -> Variant:
    """The variant this enrollment gets on this step: the same on every retry, replay and
    continue-as-new, and spread across enrollments in proportion to the weights."""
    total = sum(v.weight for v in variants)
    point = bucket(enrollment_id, step_id, total)
    for variant in variants:
        if point < variant.weight:
            return variant
        point -= variant.weight
    raise AssertionError("unreachable: point is below the total weight")
