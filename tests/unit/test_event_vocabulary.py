"""One event vocabulary: what callers may send, what the workflow listens for, and the
suppression each event writes, all from cadence/events.py."""

from __future__ import annotations

import typing

from temporalio import workflow

from cadence import events
from cadence.events import EventKind, Suppresses
from starter.api.schemas import EventRequest
from workflows.enrollment import EnrollmentWorkflow


def test_the_workflow_listens_for_every_signal_the_vocabulary_delivers() -> None:
    listened = set(workflow._Definition.must_from_class(EnrollmentWorkflow).signals)
    delivered = {kind.signal for kind in events.KINDS.values() if kind.signal is not None}
    assert listened == delivered == {"reply", "meeting_booked", "bounce", "opt_out", "task_completed", "event", "dates_changed"}


def test_callers_may_send_every_event_kind_and_rules_decide_all_but_task_completion() -> None:
    assert set(EventRequest.model_json_schema()["$defs"]["EventKind"]["enum"]) == {k.value for k in EventKind}
    assert set(typing.get_args(events.Decided)) == {k.value for k in EventKind} - {"task_completed"}
    assert all(events.signal_of(k) == k.value for k in EventKind)


def test_the_suppression_each_event_writes() -> None:
    assert events.suppression_of("opt_out") == Suppresses("all", "opt_out")
    assert events.suppression_of("opt_out", "sms") == Suppresses("sms", "opt_out")  # STOP to a text: texts only
    assert events.suppression_of("bounce", "sms") == Suppresses("email", "bounce")  # a bounce is about the address
    assert events.suppression_of("complaint") == Suppresses("email", "complaint")
    assert [k for k in events.KINDS if events.suppression_of(k) is not None] == ["bounce", "opt_out", "complaint"]
    assert events.signal_of("complaint") == "opt_out" and events.signal_of("soft_bounce") is None and events.signal_of("nonsense") is None
