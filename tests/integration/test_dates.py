"""Changed dates reach running enrollments, and date rules fire wherever dates are written:
an account's renewal date (POST /v1/accounts) enrolls its contacts in the renewal cadence
and, when it changes, moves their running enrollments; a CSV import does the same for the
contacts it writes (issue 11, 8k)."""

from __future__ import annotations

import asyncio
import datetime as dt
import zoneinfo
from typing import Any

import pytest

from starter.catalog import PLAYBOOKS_DIR
from tests.integration.conftest import Inbound, Stack

pytestmark = pytest.mark.integration

RENEWAL = "renewal-90-60-30"
TODAY = dt.datetime.now(dt.UTC).date()


async def eventually(check: Any, timeout: float = 30.0) -> Any:
    for _ in range(int(timeout / 0.1)):
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError("condition not met in time")


def value_summary_at(renewal: dt.date, timezone: str) -> dt.datetime:
    """When the renewal cadence's first step (-90 days, 10:00 local) is due."""
    return dt.datetime.combine(renewal - dt.timedelta(days=90), dt.time(10, 0), tzinfo=zoneinfo.ZoneInfo(timezone)).astimezone(dt.UTC)


async def renewal_of(stack: Stack, contact: str) -> Any:
    page = await stack.client.list(cadence=RENEWAL, contact=contact)
    return page.items[0] if page.items else None


async def due_at(stack: Stack, enrollment_id: str, expected: dt.datetime) -> None:
    """The workflow plans the step for `expected`, and the status mirror says so too."""

    async def planned() -> bool:
        live = (await stack.client.status(enrollment_id)).live
        row = await stack.client.get(enrollment_id)
        return live is not None and live.next_due_at == expected and row.next_step_at == expected

    await eventually(planned)


async def test_an_account_renewal_date_enrolls_its_contacts_and_moves_them_when_it_changes(inbound: Inbound) -> None:
    stack = inbound.stack
    stack.load((PLAYBOOKS_DIR / f"{RENEWAL}.yaml").read_text())
    ann = stack.contact(email="ann@acme.example", account_external_id="acme", account_name="Acme")
    bob = stack.contact(email="bob@acme.example", account_external_id="acme", dates={"renewal_date": TODAY + dt.timedelta(days=300)})
    first, second = TODAY + dt.timedelta(days=200), TODAY + dt.timedelta(days=230)
    async with inbound.http(inbound.admin) as http:
        saved = await http.post("/v1/accounts", json={"external_id": "acme", "name": "Acme", "dates": {"renewal_date": first.isoformat()}})
        assert saved.status_code == 200, saved.text
        enrolled = await eventually(lambda: renewal_of(stack, ann.external_id))
        assert enrolled.enrolled_by == "rule:renewal-date-set"
        await due_at(stack, enrolled.id, value_summary_at(first, ann.timezone or "UTC"))
        # Bob's own renewal date wins over the account's: the account's did not set his.
        assert await renewal_of(stack, bob.external_id) is None

        moved = await http.post("/v1/accounts", json={"external_id": "acme", "name": "Acme", "dates": {"renewal_date": second.isoformat()}})
        assert moved.status_code == 200, moved.text
    await due_at(stack, enrolled.id, value_summary_at(second, ann.timezone or "UTC"))
    again = await renewal_of(stack, ann.external_id)
    assert again.id == enrolled.id  # the same enrollment, moved (the rule found it open)
    timeline = await stack.client.timeline(enrolled.id)
    assert any(e.kind == "dates_changed" and second.isoformat() in (e.summary or "") + str(e.details) for e in timeline.entries)


async def test_a_csv_import_fires_the_date_rules_and_moves_running_enrollments(stack: Stack) -> None:
    stack.load((PLAYBOOKS_DIR / f"{RENEWAL}.yaml").read_text())
    zone = "America/Chicago"
    first, second = TODAY + dt.timedelta(days=180), TODAY + dt.timedelta(days=150)
    header = "external_id,email,timezone,country,date_renewal_date\n"
    report = await stack.client.import_contacts(header + f"csv-cy,cy@initech.example,{zone},US,{first.isoformat()}\n")
    assert (report.imported, report.failed) == (1, 0)
    enrolled = await eventually(lambda: renewal_of(stack, "csv-cy"))
    assert enrolled.enrolled_by == "rule:renewal-date-set"
    await due_at(stack, enrolled.id, value_summary_at(first, zone))

    report = await stack.client.import_contacts(header + f"csv-cy,cy@initech.example,{zone},US,{second.isoformat()}\n")
    assert (report.updated, report.failed) == (1, 0)
    await due_at(stack, enrolled.id, value_summary_at(second, zone))
    assert (await stack.client.list(cadence=RENEWAL, contact="csv-cy")).total == 1
