"""The `cadence` CLI as a user runs it: a real process, real Postgres and Temporal, tables by
default, --json for scripts, and exit codes that say what went wrong."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import Stack

pytestmark = pytest.mark.integration

CADENCE = Path(sys.executable).parent / "cadence"
GOOD = """
key: cli-cadence
name: CLI cadence
steps:
  - id: hello
    type: email
    template: hello
  - id: later
    type: email
    template: hello
    wait: {days: 3}
templates:
  hello:
    channel: email
    subject: "Hi {{ contact.first_name or 'there' }}"
    html: "<p>Hi {{ contact.first_name or 'there' }}</p>"
    text: "Hi {{ contact.first_name or 'there' }}"
"""


async def cli(stack: Stack, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a thread, so the in-process worker keeps running meanwhile."""
    return await asyncio.to_thread(_cli, stack, *args, cwd=cwd)


def _cli(stack: Stack, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": stack.settings.database_url,
        "TEMPORAL_ADDRESS": stack.env.client.service_client.config.target_host,
        "TASK_QUEUE": stack.settings.task_queue,
        "COLUMNS": "200",
    }
    return subprocess.run([str(CADENCE), *args], env=env, capture_output=True, text=True, timeout=120, cwd=cwd)


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr + result.stdout
    return json.loads(result.stdout)


async def test_cadences_validate_load_list_show_schema(stack: Stack, tmp_path: Path) -> None:
    good = tmp_path / "cli-cadence.yaml"
    good.write_text(GOOD)
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("key: cli-cadence", "key: bad").replace("wait: {days: 3}", "wait: {days: 3, business_days: 1}"))
    ok = await cli(stack, "--json", "cadences", "validate", str(good))
    assert as_json(ok)["valid"][0]["key"] == "cli-cadence"
    refused = await cli(stack, "cadences", "validate", str(good), str(bad))
    assert refused.returncode == 5
    assert "step 2 'later'" in refused.stdout and "choose one kind of wait" in refused.stdout
    missing = await cli(stack, "cadences", "validate", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 3 and "no such file" in missing.stderr
    loaded = as_json(await cli(stack, "--json", "cadences", "load", str(good)))
    assert loaded == [{"key": "cli-cadence", "version": 1, "hash": loaded[0]["hash"], "created": True}]
    again = as_json(await cli(stack, "--json", "cadences", "load", str(good)))
    assert again[0]["created"] is False
    shipped = as_json(await cli(stack, "--json", "cadences", "load"))
    assert {"inbound", "renewal-90-60-30"} <= {row["key"] for row in shipped}
    listing = await cli(stack, "cadences", "list")
    assert listing.returncode == 0 and "cli-cadence" in listing.stdout and "inbound" in listing.stdout
    shown = await cli(stack, "cadences", "show", "cli-cadence")
    assert "3 days after the previous step" in shown.stdout
    assert (await cli(stack, "cadences", "show", "ghost")).returncode == 3
    schema = json.loads((await cli(stack, "cadences", "schema")).stdout)
    assert schema["title"] == "Cadence definition" and "steps" in schema["properties"]


async def test_contacts_enroll_status_pause_resume_events(stack: Stack, tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(GOOD)
    await cli(stack, "cadences", "load", str(tmp_path / "c.yaml"))
    csv = tmp_path / "contacts.csv"
    csv.write_text("external_id,email,first_name\ncli-1,cli1@example.com,Ida\ncli-2,not-an-email,Jo\ncli-3,cli3@example.com,Kai\n")
    imported = await cli(stack, "--json", "contacts", "import", str(csv))
    assert imported.returncode == 5  # some rows failed
    report = json.loads(imported.stdout)
    assert report["imported"] == 2 and report["errors"][0]["row"] == 3 and report["errors"][0]["field"] == "email"

    enrolled = as_json(await cli(stack, "--json", "enroll", "cli-cadence", "cli-1"))
    assert enrolled["created"] is True and enrolled["status"] == "active"
    again = await cli(stack, "enroll", "cli-cadence", "cli-1")
    assert again.returncode == 0 and "already enrolled" in again.stdout
    assert (await cli(stack, "enroll", "cli-cadence", "ghost")).returncode == 3

    await asyncio.to_thread(stack.smtp.sink.wait_for, "cli1@example.com")
    status = as_json(await cli(stack, "--json", "status", enrolled["id"]))
    assert status["touches"][0]["step_id"] == "hello"
    not_paused = await cli(stack, "resume", enrolled["id"])
    assert not_paused.returncode == 4 and "not paused" in not_paused.stderr
    assert (await cli(stack, "pause", enrolled["id"])).returncode == 5  # --reason is required
    paused = as_json(await cli(stack, "--json", "pause", enrolled["id"], "--reason", "customer asked"))
    assert paused["status"] == "paused" and paused["pause"]["actor"].startswith("cli:")
    table = await cli(stack, "status", enrolled["id"])
    assert "paused by" in table.stdout and "customer asked" in table.stdout
    assert as_json(await cli(stack, "--json", "resume", enrolled["id"]))["status"] == "active"

    bulk_csv = tmp_path / "bulk.csv"
    bulk_csv.write_text("external_id\ncli-1\ncli-3\nghost\n")
    bulk = await cli(stack, "--json", "enroll", "cli-cadence", "--csv", str(bulk_csv))
    rows = json.loads(bulk.stdout)
    assert bulk.returncode == 5 and [(r["ok"], r["created"]) for r in rows] == [(True, False), (True, True), (False, False)]

    event = as_json(await cli(stack, "--json", "events", "send", "opt_out", "cli-1", "--event-id", "unsub-1"))
    assert event["delivered_to"] == [enrolled["id"]]
    assert (await cli(stack, "events", "send", "teleport", "cli-1")).returncode == 5
    listing = as_json(await cli(stack, "--json", "list", "--cadence", "cli-cadence"))
    assert listing["total"] == 2


async def test_keys_and_migrate(stack: Stack) -> None:
    created = as_json(await cli(stack, "--json", "keys", "create", "--role", "auditor", "--name", "audit-team"))
    assert created["key"].startswith("cad_") and created["role"] == "auditor"
    listed = as_json(await cli(stack, "--json", "keys", "list"))
    assert [k["name"] for k in listed] == ["audit-team"] and "key" not in listed[0]
    assert as_json(await cli(stack, "--json", "keys", "revoke", created["id"]))["revoked"] is True
    assert (await cli(stack, "keys", "revoke", "not-a-key")).returncode == 3
    assert (await cli(stack, "keys", "create", "--role", "wizard", "--name", "x")).returncode == 2
    assert (await cli(stack, "migrate")).returncode == 0


async def test_unreachable_database_is_a_clear_error(stack: Stack) -> None:
    env_url = "postgresql+psycopg://postgres@127.0.0.1:1/none"
    result = await asyncio.to_thread(
        subprocess.run,
        [str(CADENCE), "cadences", "list"],
        env={**os.environ, "DATABASE_URL": env_url},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 6 and "database is not reachable" in result.stderr


async def test_draft_diff_publish_migrate_and_bulk_pause_from_the_command_line(stack: Stack, tmp_path: Path) -> None:
    v1 = tmp_path / "v1.yaml"
    v1.write_text(GOOD)
    as_json(await cli(stack, "--json", "cadences", "load", str(v1)))
    stack.contact(external_id="cli-m1", email="m1@example.com")
    stack.contact(external_id="cli-m2", email="m2@example.com")
    for person in ("cli-m1", "cli-m2"):
        as_json(await cli(stack, "--json", "enroll", "cli-cadence", person, "--start-at", "2030-01-01T09:00:00+00:00"))
    v2 = tmp_path / "v2.yaml"
    v2.write_text(GOOD.replace("wait: {days: 3}", "wait: {days: 1}"))
    drafted = as_json(await cli(stack, "--json", "cadences", "draft", str(v2)))
    assert any("wait 3 days after the previous step -> 1 day after the previous step" in line for line in drafted["changes"])
    diff = await cli(stack, "cadences", "diff", "cli-cadence")
    assert diff.returncode == 0 and "v1 -> draft" in diff.stdout and "step 'later': wait" in diff.stdout
    published = as_json(await cli(stack, "--json", "cadences", "publish", "cli-cadence", "--reason", "shorter"))
    assert (published["version"], published["previous_version"]) == (2, 1)
    refused = await cli(stack, "cadences", "migrate", "cli-cadence", "--preview")
    assert refused.returncode == 5 and "--reason" in refused.stderr
    planned = as_json(await cli(stack, "--json", "cadences", "migrate", "cli-cadence", "--preview", "--reason", "shorter"))
    assert planned["total"] == 2 and planned["outcomes"]["unchanged"] == 2  # both still wait for their first step
    applied = as_json(await cli(stack, "--json", "cadences", "migrate", "cli-cadence", "--apply", planned["id"]))
    assert applied["status"] == "done" and applied["progress"]["applied"] == 2
    rolled = as_json(await cli(stack, "--json", "cadences", "publish", "cli-cadence", "--version", "1"))
    assert (rolled["version"], rolled["previous_version"], rolled["created"]) == (1, 2, False)
    nothing = await cli(stack, "enrollments", "pause", "--reason", "hold")
    assert nothing.returncode == 5 and "--where" in nothing.stderr
    bad = await cli(stack, "enrollments", "pause", "--where", "colour=blue", "--reason", "hold")
    assert bad.returncode == 5 and "colour=blue" in bad.stderr
    paused = as_json(await cli(stack, "--json", "enrollments", "pause", "--where", "cadence=cli-cadence", "--reason", "hold", "--yes"))
    assert paused["action"] == "pause" and paused["progress"]["applied"] == 2
    listed = await cli(stack, "operations", "list", "--cadence", "cli-cadence")
    assert listed.returncode == 0 and "pause" in listed.stdout and "migrate" in listed.stdout


async def test_preview_as_a_table_as_json_and_as_a_calendar(stack: Stack, tmp_path: Path) -> None:
    source = tmp_path / "c.yaml"
    source.write_text(GOOD)
    as_json(await cli(stack, "--json", "cadences", "load", str(source)))
    stack.contact(external_id="cli-p1", email="p1@example.com", timezone="Asia/Tokyo", country="JP")
    table = await cli(stack, "preview", "cli-cadence", "--contact", "cli-p1", "--start-at", "2030-01-05T00:00:00+00:00")
    assert table.returncode == 0, table.stderr
    assert "Asia/Tokyo" in table.stdout and "hello" in table.stdout and "later" in table.stdout
    data = as_json(await cli(stack, "--json", "preview", "cli-cadence", "--timezone", "Europe/Berlin", "--country", "DE"))
    assert data["timezone"] == "Europe/Berlin" and [i["step_id"] for i in data["items"] if i["kind"] == "touch"] == ["hello", "later"]
    calendar = tmp_path / "p.ics"
    written = await cli(stack, "preview", "cli-cadence", "--contact", "cli-p1", "--ics", str(calendar))
    assert written.returncode == 0, written.stderr
    text = calendar.read_bytes().decode()
    assert text.startswith("BEGIN:VCALENDAR\r\n") and text.count("BEGIN:VEVENT") == 2 and text.endswith("END:VCALENDAR\r\n")
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))
    bad = await cli(stack, "preview", "cli-cadence", "--timezone", "Mars/Base")
    assert bad.returncode == 5 and "Mars/Base" in bad.stderr
    wrong = await cli(stack, "preview", "cli-cadence", "--contact", "cli-p1", "--reply", "nope:positive")
    assert wrong.returncode == 5 and "nope" in wrong.stderr
    missing = await cli(stack, "preview", "no-such-cadence", "--contact", "cli-p1")
    assert missing.returncode == 3


async def test_forecast_and_report_as_a_table_and_as_json(stack: Stack, tmp_path: Path) -> None:
    source = tmp_path / "calls.yaml"
    source.write_text(
        "key: cli-calls\nname: Calls\nsteps:\n"
        "  - {id: c1, type: task, task: {title: Call, due_hours: 0, wait_for_completion: false}}\n"
        "  - {id: c2, type: task, wait: {days: 7}, task: {title: Call, due_hours: 0, wait_for_completion: false}}\n"
    )
    as_json(await cli(stack, "--json", "cadences", "load", str(source)))
    stack.owner("cli-csm", weekly_task_capacity=1)
    for i in range(2):
        stack.contact(external_id=f"cli-f{i}", email=f"f{i}@example.com", owner_id="cli-csm")
        as_json(await cli(stack, "--json", "enroll", "cli-calls", f"cli-f{i}", "--start-at", "2030-01-01T09:00:00+00:00"))
    data = as_json(await cli(stack, "--json", "forecast", "--owner", "cli-csm", "--weeks", "26"))
    [owner] = data["owners"]
    assert owner["capacity"] == 1 and owner["enrollments"] == 2
    table = await cli(stack, "forecast", "--owner", "cli-csm")
    assert table.returncode == 0 and "cli-csm" in table.stdout, table.stderr
    bad = await cli(stack, "forecast", "--weeks", "40")
    assert bad.returncode == 5 and "weeks" in bad.stderr
    report = as_json(await cli(stack, "--json", "report", "cli-calls", "--by", "variant"))
    assert report["cadence_key"] == "cli-calls" and report["steps"] == []  # no A/B-tested step in it
    owners = as_json(await cli(stack, "--json", "report", "cli-calls", "--by", "owner"))
    assert [(r["key"], r["enrolled"], r["still_open"]) for r in owners["rows"]] == [("cli-csm", 2, 2)]
    funnel = await cli(stack, "report", "cli-calls", "--by", "step")
    assert funnel.returncode == 0 and "c1" in funnel.stdout and "c2" in funnel.stdout, funnel.stderr
    assert "no email or text of these enrollments yet" in funnel.stdout  # a cadence of calls sends no messages
    steps = as_json(await cli(stack, "--json", "report", "cli-calls", "--by", "step", "--owner", "cli-csm"))
    assert steps["messages"]["rows"] == [] and steps["funnel"]["enrolled"] == 2 and steps["funnel"]["filters"]["owner"] == "cli-csm"
    nobody = as_json(await cli(stack, "--json", "report", "cli-calls", "--by", "owner", "--owner", "someone-else"))
    assert nobody["rows"] == []
    days = await cli(stack, "report", "cli-calls", "--by", "day", "--csv")
    assert days.returncode == 0 and days.stdout == "", days.stdout  # nothing was sent yet
    compared = as_json(await cli(stack, "--json", "report", "cli-calls@1", "--compare", "cli-calls"))
    assert compared["verdict"] == "too_early" and [s["outcomes"]["enrolled"] for s in compared["sides"]] == [2, 2]
    unknown = await cli(stack, "report", "cli-calls@1", "--compare", "cli-calls@2")
    assert unknown.returncode != 0 and "no version 2" in unknown.stderr
    rebuilt = as_json(await cli(stack, "--json", "rollups", "--full"))
    assert rebuilt["full"] is True and rebuilt["enrollments"] == 2
    csv_rows = await cli(stack, "report", "cli-calls", "--by", "version", "--csv")
    assert csv_rows.returncode == 0 and csv_rows.stdout.splitlines()[0].startswith("key,enrolled,touched"), csv_rows.stdout
    inverted = await cli(stack, "report", "cli-calls", "--since", "2030-01-02T00:00:00+00:00", "--until", "2030-01-01T00:00:00+00:00")
    assert inverted.returncode == 5 and "since" in inverted.stderr
