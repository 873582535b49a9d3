"""The workflows call activities through declarations (workflows/calls.py); the worker
registers the real implementations. Both must agree on every name, input and result, or a
workflow would schedule an activity no worker runs, or decode its result wrongly."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import create_engine
from temporalio import activity

from activities.archive import ArchiveActivities
from activities.channels import OutboxSmsSender, SmtpConfig, SmtpMailer
from core.settings import Settings
from starter.catalog import load_policy
from worker import build_activities
from workflows import calls


def _signature(fn: Callable[..., Any]) -> tuple[str, list[Any], Any]:
    definition = activity._Definition.must_from_callable(fn)
    hints = typing.get_type_hints(fn)
    params = [hints[p] for p in inspect.signature(fn).parameters if p not in ("self",)]
    return str(definition.name), params, hints.get("return")


def test_every_registered_activity_matches_its_declaration() -> None:
    engine = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")  # never connected to
    settings = Settings(_env_file=None, sms_outbox=True)
    registered = build_activities(
        engine,
        settings,
        mail=SmtpMailer(SmtpConfig(host="127.0.0.1", port=1)),
        sms=OutboxSmsSender(engine, None),
        http=httpx.Client(),
        policy=load_policy(),
    )
    # Without a Temporal client the worker has no archiver; its implementation is checked too.
    implementations = [*registered, ArchiveActivities.archive_histories]
    declared = {_signature(fn)[0]: _signature(fn) for fn in calls.DECLARED}
    implemented = {_signature(fn)[0]: _signature(fn) for fn in implementations}
    assert set(implemented) == set(declared)
    for name, signature in implemented.items():
        assert signature == declared[name], name
