"""The web console in a real headless browser (Debian's chromium through Playwright), over
the real stack: a CS lead pauses and resumes with a reason the timeline shows, an auditor
can only look, sessions and CSRF tokens cannot be forged or skipped, the task queue and the
account pause drive real enrollments."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from playwright.async_api import Browser, BrowserContext, Page, async_playwright
from pydantic import BaseModel
from sqlmodel import func, select

from activities.lookups import NoLookup
from core.db import transaction
from core.settings import Settings
from models.keys import Role, create_key
from models.tables import ApiKey, AuditEntry, DevOutbox, Enrollment, Task, Touch
from starter.api import create_app
from starter.console.session import seal
from starter.service import engagement_reports, reports
from starter.service.previews import InlineContact, PreviewRequest
from tests.integration.conftest import Stack
from tests.integration.test_reports import AB
from tests.integration.test_sends import crash_after_claim, enrollment_for, run, touch, with_lookup
from tests.integration.test_tracking import CHROME
from tests.support.server import serve

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
COOKIE = "cadence_console"
NAMES = {"cs_lead": "lead@acme", "auditor": "auditor@acme", "service": "billing-service", "admin": "admin@acme"}

WAITING = """
key: console-cadence
name: Console cadence
steps:
  - {id: hello, type: email, template: hello, wait: {days: 1}}
  - {id: follow-up, type: email, template: hello, wait: {days: 2}}
templates:
  hello: {channel: email, subject: "Hello", html: "<p>Hello</p>", text: "Hello"}
"""
WITH_TASK = """
key: with-task
name: With a task
steps:
  - {id: prep, type: task, task: {title: "Prepare the QBR deck", sla_hours: 48}}
  - {id: invite, type: email, template: hello}
templates:
  hello: {channel: email, subject: "QBR", html: "<p>QBR</p>", text: "QBR"}
"""


@dataclass
class Console:
    url: str
    stack: Stack
    settings: Settings
    keys: dict[str, str]
    browser: Browser

    async def sign_in(self, role: str, next_path: str = "/console/enrollments") -> tuple[BrowserContext, Page]:
        """A fresh browser context signed in through the login form with this role's key."""
        context = await self.browser.new_context(base_url=self.url)
        page = await context.new_page()
        await page.goto(next_path)
        assert "/console/login" in page.url
        await page.get_by_label("API key").fill(self.keys[role])
        async with page.expect_navigation():
            await page.get_by_role("button", name="Sign in").click()
        assert page.url.endswith(next_path), page.url
        return context, page

    async def status(self, enrollment_id: str) -> str:
        live = (await self.stack.client.status(enrollment_id)).live
        assert live is not None
        return live.status.value

    def audit(self, action: str) -> int:
        with transaction(self.stack.engine) as session:
            return session.exec(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == action)).one()


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


@pytest.fixture
def console(stack: Stack, browser: Browser) -> Iterator[Console]:
    settings = stack.settings.model_copy(
        update={
            "temporal_address": stack.env.client.service_client.config.target_host,
            "policy_file": "tests/support/open-policy.yaml",
            "dev_mode": True,
        }
    )
    keys = {}
    with transaction(stack.engine) as session:
        for role, name in NAMES.items():
            keys[role] = create_key(session, name=name, role=Role(role))[1]
    with serve(create_app(settings)) as url:
        yield Console(url, stack, settings, keys, browser)


async def enroll_one(stack: Stack, **contact: Any) -> str:
    stack.load(WAITING)
    person = stack.contact(**contact)
    return (await stack.client.enroll("console-cadence", person.external_id)).id


async def submit(page: Page, button: str, form: str | None = None) -> int:
    """Click a form's submit button; the status of the page the browser lands on."""
    scope = page.locator(form) if form else page
    async with page.expect_navigation() as navigation:
        await scope.get_by_role("button", name=button).click()
    response = await navigation.value
    assert response is not None
    return response.status


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 20) -> None:
    for _ in range(int(timeout / 0.1)):
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("condition not reached in time")


async def test_a_cs_lead_pauses_with_a_reason_and_resumes(console: Console) -> None:
    enrollment_id = await enroll_one(
        console.stack,
        email="ada@example.com",
        first_name="Ada",
        last_name="Lovelace",
        timezone="Europe/Paris",
        account_external_id="acme",
        account_name="Acme",
    )
    path = f"/console/enrollments/{enrollment_id}"
    context, page = await console.sign_in("cs_lead", path)
    heading = await page.get_by_role("heading", level=1).inner_text()
    assert heading.startswith("Ada Lovelace (c-") and heading.endswith("in console-cadence active")
    assert "waiting for step 1 'hello'" in await page.inner_text("section[aria-labelledby=next-h]")
    assert "(Europe/Paris) for the contact" in await page.inner_text("section[aria-labelledby=next-h]")

    await page.get_by_label("Reason (required)").first.fill("Customer asked for a quiet month")
    assert await submit(page, "Pause") == 200
    assert "Paused." in await page.get_by_role("status").inner_text()
    assert await page.locator("h1 .status").inner_text() == "paused"
    paused_row = page.locator("table.timeline tr.kind-paused")
    assert await paused_row.count() == 1
    cells = await paused_row.locator("td").all_inner_texts()
    assert cells[1] == "Paused: Customer asked for a quiet month" and cells[2] == "lead@acme"
    assert "Customer asked for a quiet month" in await page.inner_text("section[aria-labelledby=next-h]")
    assert await console.status(enrollment_id) == "paused"
    await page.screenshot(path="/tmp/console-enrollment.png", full_page=True)

    # Only the commands that make sense now are offered: a paused enrollment can be resumed.
    assert await page.get_by_role("button", name="Pause").count() == 0
    await page.get_by_label("Note (optional)").first.fill("quiet month is over")
    assert await submit(page, "Resume") == 200
    assert await page.locator("h1 .status").inner_text() == "active"
    resumed = await page.locator("table.timeline tr.kind-resumed td").all_inner_texts()
    assert resumed[1:3] == ["Resumed: quiet month is over", "lead@acme"]
    assert await console.status(enrollment_id) == "active"

    # Someone else pauses it while this page is open: the form's pause is now illegal and
    # the workflow's own message is shown in a banner (409), not a 500.
    await console.stack.client.pause(enrollment_id, actor="other-lead", reason="legal hold")
    await page.get_by_label("Reason (required)").first.fill("second pause")
    assert await submit(page, "Pause") == 409
    assert "already paused by other-lead: legal hold" in await page.get_by_role("alert").inner_text()
    await context.close()


async def test_an_auditor_can_look_but_not_act(console: Console) -> None:
    enrollment_id = await enroll_one(console.stack, email="grace@example.com", first_name="Grace")
    path = f"/console/enrollments/{enrollment_id}"
    for role in ("auditor", "service"):
        context, page = await console.sign_in(role, path)
        assert await page.locator("table.timeline tbody tr").count() >= 1
        for name in ("Pause", "Resume", "Stop", "Skip step"):
            assert await page.get_by_role("button", name=name, exact=True).count() == 0
        assert await page.locator("form[action*='/enrollments/']").count() == 0
        token = await page.locator("nav input[name=csrf]").input_value()
        refused = await page.request.post(f"{path}/pause", form={"csrf": token, "reason": "auditors cannot"}, max_redirects=0)
        assert refused.status == 403 and "may only view" in await refused.text()
        assert (await page.request.post("/console/tasks/" + str(uuid.uuid4()) + "/complete", form={"csrf": token})).status == 403
        await page.goto("/console/cadences/console-cadence")
        assert "1 day after the previous step" in await page.inner_text("main")
        await context.close()
    assert await console.status(enrollment_id) == "active" and console.audit("paused") == 0


def _tampered(cookie: str, **changes: Any) -> str:
    version, body, signature = cookie.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims.update(changes)
    raw = base64.urlsafe_b64encode(json.dumps(claims, separators=(",", ":")).encode()).rstrip(b"=").decode()
    return f"{version}.{raw}.{signature}"


async def test_sessions_and_csrf_cannot_be_forged_or_skipped(console: Console) -> None:
    enrollment_id = await enroll_one(console.stack, email="lin@example.com")
    path = f"/console/enrollments/{enrollment_id}"

    # A wrong key: an error on the page and no session cookie.
    context = await console.browser.new_context(base_url=console.url)
    page = await context.new_page()
    await page.goto("/console/login")
    await page.get_by_label("API key").fill("cad_not-a-real-key")
    assert await submit(page, "Sign in") == 401
    assert "not valid" in await page.get_by_role("alert").inner_text()
    assert COOKIE not in {c["name"] for c in await context.cookies()}
    await context.close()

    context, page = await console.sign_in("cs_lead", path)
    cookie = next(c for c in await context.cookies() if c["name"] == COOKIE)
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/console"
    assert 11.9 * 3600 < cookie["expires"] - dt.datetime.now(dt.UTC).timestamp() <= 12 * 3600
    claims = json.loads(base64.urlsafe_b64decode(cookie["value"].split(".")[1] + "=="))
    assert set(claims) == {"k", "r", "n", "t", "s"} and console.keys["cs_lead"] not in cookie["value"]
    token = await page.locator("nav input[name=csrf]").input_value()

    # Form posts without the CSRF token, or with a wrong one: 403, nothing changed.
    forms: tuple[dict[str, str | float | bool], ...] = ({"reason": "no token"}, {"reason": "wrong token", "csrf": token[:-4] + "AAAA"})
    for form in forms:
        refused = await page.request.post(f"{path}/pause", form=form, max_redirects=0)
        assert refused.status == 403 and "security token" in await refused.text()
    # Bad values are friendly pages with the right status.
    bad = await page.request.post(f"{path}/pause", form={"csrf": token, "reason": "x", "until": "next tuesday"})
    assert bad.status == 422 and "must be a date and time" in await bad.text()
    past = await page.request.post(f"{path}/pause", form={"csrf": token, "reason": "x", "until": "2001-01-01T09:00"})
    assert past.status == 422 and "in the future" in await past.text()
    assert (await page.request.post(f"{path}/stop", form={"csrf": token, "reason": " "})).status == 422
    missing = await page.goto(f"/console/enrollments/{uuid.uuid4()}")
    assert missing is not None and missing.status == 404 and "not found" in (await page.inner_text("main")).lower()
    assert (r := await page.goto("/console/enrollments?page=zero")) is not None and r.status == 422
    assert (r := await page.goto("/console/no-such-page")) is not None and r.status == 404
    assert (r := await page.goto("/console/cadences/nope")) is not None and r.status == 404
    assert (r := await page.goto("/console/accounts/nope")) is not None and r.status == 404
    mail = EmailMessage()
    mail["Subject"], mail["To"], mail["From"] = "Dev hello", "dev@example.com", "cadence@example.com"
    mail.set_content("Plain hello")
    with transaction(console.stack.engine) as session:
        session.add(
            DevOutbox(channel="email", to="dev@example.com", sender="cadence@example.com", subject="Dev hello", body=mail.as_string())
        )
        session.add(DevOutbox(channel="sms", to="+14155552671", sender="+15005550006", body="Quick question <b>for</b> you"))
    assert (r := await page.goto("/console/dev/mail")) is not None and r.status == 200
    assert "Dev hello" in await page.inner_text("main") and "Plain hello" in (await page.locator("pre").first.text_content() or "")
    assert (r := await page.goto("/console/dev/sms")) is not None and r.status == 200
    assert "Quick question <b>for</b> you" in await page.inner_text("main")
    assert await console.status(enrollment_id) == "active" and console.audit("paused") == 0

    # Forged, re-signed with another secret, or expired cookies: back to the sign-in page.
    other = console.settings.model_copy(update={"link_secret": "another-secret-of-enough-length"})
    now = int(dt.datetime.now(dt.UTC).timestamp())
    forged = [
        _tampered(cookie["value"], n="mallory", r="admin"),
        seal(other, {**claims, "t": now}),
        seal(console.settings, {**claims, "t": now - 13 * 3600}),
        "v1.garbage.garbage",
    ]
    for value in forged:
        intruder = await console.browser.new_context(base_url=console.url)
        await intruder.add_cookies([{"name": COOKIE, "value": value, "domain": "127.0.0.1", "path": "/console"}])
        tab = await intruder.new_page()
        await tab.goto(path)
        assert "/console/login" in tab.url and await tab.get_by_label("API key").count() == 1
        sneaky = await intruder.request.post(f"{path}/pause", form={"csrf": token, "reason": "forged"}, max_redirects=0)
        assert sneaky.status == 303 and sneaky.headers["location"].startswith("/console/login")
        await intruder.close()
    assert await console.status(enrollment_id) == "active" and console.audit("paused") == 0

    # Signing out clears the cookie; a revoked key ends every session at once.
    await submit(page, "Sign out")
    assert "You have signed out." in await page.inner_text("main")
    assert COOKIE not in {c["name"] for c in await context.cookies()}
    await context.close()
    context, page = await console.sign_in("cs_lead", path)
    with transaction(console.stack.engine) as session:
        for key in session.exec(select(ApiKey).where(ApiKey.name == NAMES["cs_lead"])).all():
            key.revoked_at = dt.datetime.now(dt.UTC)
            session.add(key)
    await page.reload()
    assert "/console/login" in page.url
    await context.close()


async def test_tasks_and_account_pause(console: Console) -> None:
    stack = console.stack
    stack.load(WITH_TASK)
    stack.owner("csm-sam", name="Sam")
    person = stack.contact(email="qbr@example.com", first_name="Quinn", owner_id="csm-sam")
    with_task = (await stack.client.enroll("with-task", person.external_id)).id

    def open_tasks() -> int:
        with transaction(stack.engine) as session:
            return session.exec(select(func.count()).select_from(Task).where(Task.status == "open")).one()

    async def task_exists() -> bool:
        return open_tasks() == 1

    await eventually(task_exists)
    context, page = await console.sign_in("cs_lead", "/console/tasks?owner=csm-sam")
    row = page.locator("tbody tr", has_text="Prepare the QBR deck")
    assert await row.count() == 1 and "Quinn" in await row.inner_text()
    await row.get_by_label("Outcome").fill("deck ready")
    assert await submit(page, "Complete", "tbody tr") == 200
    assert "Task marked done" in await page.get_by_role("status").inner_text()
    assert await page.locator("tbody tr").count() == 0

    async def finished() -> bool:
        return (await stack.client.get(with_task)).status == "completed"

    await eventually(finished)
    with transaction(stack.engine) as session:
        task = session.exec(select(Task)).one()
    assert (task.status, task.outcome, task.completed_by) == ("completed", "deck ready", "lead@acme")

    stack.load(WAITING)
    team = []
    for n in range(3):
        member = stack.contact(
            email=f"team{n}@globex.example", first_name=f"Member{n}", account_external_id="globex", account_name="Globex"
        )
        team.append((await stack.client.enroll("console-cadence", member.external_id)).id)
    await page.goto("/console/accounts/globex")
    assert await page.locator("td .status.active").count() == 3
    assert await page.locator(".lead-score").all_inner_texts() == ["score 0.0"] * 3  # nobody engaged yet
    await page.get_by_label("Reason (required)").fill("renewal negotiation")
    assert await submit(page, "Pause every enrollment") == 200
    assert "Paused 3 enrollment(s)." in await page.get_by_role("status").inner_text()
    assert await page.locator("td .status.paused").count() == 3
    await page.goto("/console/enrollments?account=globex&status=paused")
    assert await page.locator("tbody tr").count() == 3 and "3 enrollments" in await page.inner_text("main")
    assert (r := await page.goto("/console/enrollments?cadence=nope")) is not None and r.status == 404
    assert "nope" in await page.get_by_role("alert").inner_text()
    await page.goto("/console/accounts/globex")
    assert "Account paused by lead@acme" in await page.get_by_role("note").inner_text()
    late = stack.contact(email="late@globex.example", first_name="Late", account_external_id="globex", account_name="Globex")
    team.append((await stack.client.enroll("console-cadence", late.external_id)).id)  # while the account is paused
    for enrollment_id in team:
        live = (await stack.client.status(enrollment_id)).live
        assert live is not None and live.status.value == "paused" and live.pause is not None
        assert (live.pause.actor, live.pause.reason, live.pause.cause) == ("lead@acme", "account paused: renewal negotiation", "account")
    assert await submit(page, "Resume the account's enrollments") == 200
    assert "Resumed 4 enrollment(s)." in await page.get_by_role("status").inner_text()
    assert await page.get_by_role("note").count() == 0
    assert [await console.status(e) for e in team] == ["active"] * 4
    await context.close()


async def test_an_operator_settles_an_unclear_send_and_an_auditor_only_sees_it(console: Console) -> None:
    stack = console.stack
    acts = with_lookup(stack, NoLookup())
    ids = enrollment_for(stack, email="held@example.com", first_name="Hana")
    await run(acts.send_email, touch(*ids))
    crash_after_claim(stack, ids[2])
    assert (await run(acts.send_email, touch(*ids))).status == "unclear"

    context, page = await console.sign_in("auditor", "/console/touches")
    row = page.locator("tbody tr", has_text="mail")
    assert await row.count() == 1 and "Hana" in await row.inner_text()
    assert "cannot tell whether it was accepted" in await row.inner_text()
    assert await row.get_by_role("button", name="It arrived").count() == 0  # read-only
    await context.close()

    context, page = await console.sign_in("cs_lead", "/console/touches")
    row = page.locator("tbody tr", has_text="Hana")
    await row.get_by_label("What you checked").fill("found in the relay's log")
    assert await submit(page, "It arrived", "tbody tr") == 200
    assert "Recorded as sent." in await page.get_by_role("status").inner_text()
    assert "Nothing unclear" in await page.inner_text("main")
    with transaction(stack.engine) as session:
        entry = session.exec(select(AuditEntry).where(AuditEntry.action == "touch_resolved")).one()
    assert (entry.actor, entry.reason) == ("lead@acme", "found in the relay's log")
    assert len(stack.smtp.sink.to("held@example.com")) == 1
    await context.close()


async def test_an_admin_edits_publishes_and_migrates_and_a_lead_pauses_the_list_in_bulk(console: Console) -> None:
    stack = console.stack
    ids = [await enroll_one(stack, email=f"live{n}@example.com") for n in range(3)]
    context, page = await console.sign_in("admin", "/console/cadences/console-cadence")
    edited = WAITING.replace("template: hello, wait: {days: 1}", "template: hello, wait: {days: 2}")
    await page.get_by_label("Definition (YAML or JSON").fill(edited)
    assert await submit(page, "Save draft") == 200
    assert "Draft saved" in await page.get_by_role("status").inner_text()
    changes = await page.inner_text("#draft ul.changes")
    assert "step 'hello': wait 1 day after the previous step -> 2 days after the previous step" in changes
    # A draft that does not validate is refused with the step and the field; the draft stays.
    await page.get_by_label("Definition (YAML or JSON").fill(edited.replace("{days: 2}", "{days: 2, business_days: 1}"))
    assert await submit(page, "Save draft") == 422
    assert "choose one kind of wait" in await page.inner_text("main")
    await page.goto("/console/cadences/console-cadence")
    await page.get_by_label("Why (recorded)").fill("a gentler start")
    assert await submit(page, "Publish the draft") == 200
    assert "Published" in await page.get_by_role("status").inner_text()
    assert "v2 published" in await page.inner_text("section[aria-labelledby=versions-h]")

    await page.get_by_label("Why (recorded on each enrollment)").fill("a gentler start for everyone")
    assert await submit(page, "Preview the migration") == 200
    assert "/console/operations/" in page.url
    assert "rescheduled" in await page.inner_text("table.counts")
    rows = page.locator("section[aria-labelledby=items-h] tbody tr")
    assert await rows.count() == 3
    assert "its wait is now 2 days after the previous step" in await rows.first.inner_text()
    await page.screenshot(path="/tmp/console-migration-preview.png", full_page=True)
    assert await submit(page, "Apply to 3 enrollments") == 200

    async def applied() -> bool:
        await page.reload()
        return await page.locator("td[data-status=applied]").inner_text() == "3"

    await eventually(applied)
    await page.goto(f"/console/enrollments/{ids[0]}")
    assert await page.locator("table.timeline tr.kind-migrated").count() == 1
    await context.close()

    # A CS lead filters the list by the cadence and pauses every one of them at once.
    context, page = await console.sign_in("cs_lead", "/console/enrollments?cadence=console-cadence")
    await page.goto("/console/cadences/console-cadence")
    assert await page.get_by_role("button", name="Preview the migration").count() == 0  # admins only
    await page.goto("/console/enrollments?cadence=console-cadence")
    bar = page.locator("form.bulk")
    await bar.get_by_label("Every open one shown").select_option("pause")
    await bar.get_by_label("Why (required)").fill("pricing review")
    assert await submit(page, "Preview", "form.bulk") == 200
    assert "Pause of 3 enrollments" in await page.get_by_role("heading", level=1).inner_text()
    assert await submit(page, "Apply to 3 enrollments") == 200

    async def all_paused() -> bool:
        return all([await console.status(i) == "paused" for i in ids])

    await eventually(all_paused, timeout=30)
    await context.close()


PREVIEWED = """
key: preview-cadence
name: Preview cadence
policy:
  send_window: {days: [mon, tue, wed, thu, fri], start: "09:00", end: "17:00"}
steps:
  - {id: intro, type: email, template: hello}
  - {id: prep, type: task, task: {title: "Research the account"}, wait: {days: 1}}
  - {id: follow-up, type: email, template: hello, wait: {days: 2}}
  - {id: nudge, type: sms, template: nudge, wait: {days: 1}}
templates:
  hello: {channel: email, subject: "Hello", html: "<p>Hello</p>", text: "Hello"}
  nudge: {channel: sms, body: "Quick question"}
"""


def next_saturday(zone: str) -> dt.datetime:
    """10:00 on a Saturday at least a week ahead, in `zone`, as UTC."""
    here = dt.datetime.now(ZoneInfo(zone))
    day = here.date() + dt.timedelta(days=7 + (5 - here.weekday()) % 7)
    return dt.datetime.combine(day, dt.time(10, 0), tzinfo=ZoneInfo(zone)).astimezone(dt.UTC)


async def test_a_reader_previews_a_cadence_and_what_happens_next_in_an_enrollment(console: Console) -> None:
    stack = console.stack
    await stack.client.publish_cadence(PREVIEWED, actor="admin")
    context, page = await console.sign_in("auditor", "/console/cadences/preview-cadence")
    async with page.expect_navigation():
        await page.get_by_role("link", name="Preview", exact=True).click()
    assert page.url.endswith("/console/cadences/preview-cadence/preview")
    assert await page.locator("svg.preview-timeline").count() == 1  # the defaults, at once

    saturday = next_saturday("America/Chicago")
    await page.get_by_label("Start").fill(saturday.astimezone(ZoneInfo("America/Chicago")).strftime("%Y-%m-%dT%H:%M"))
    assert await page.get_by_label("Time zone").input_value() == "America/Chicago"
    assert await page.get_by_label("Has a phone number").is_checked()
    assert not await page.get_by_label("Consented to SMS").is_checked()
    assert await submit(page, "Show the preview") == 200
    expected = await stack.client.preview(
        PreviewRequest(
            cadence="preview-cadence",
            contact=InlineContact(timezone="America/Chicago", country="US", consent={"sms": False, "call": False}),
            start_at=saturday,
        )
    )
    planned = [i for i in expected.items if i.kind in ("touch", "task")]
    assert planned and {i.kind for i in planned} == {"touch", "task"}
    svg = page.locator("svg.preview-timeline")
    markers = svg.locator("g.marker[data-kind=touch], g.marker[data-kind=task]")
    assert await markers.count() == len(planned)
    assert await markers.locator("title").all_text_contents() == [i.sentence for i in planned]
    assert await svg.locator("g.marker path").count() >= len(planned)

    # Saturday is outside the send window: the first email is moved to Monday, and says why.
    deferred = next(i for i in expected.items if i.kind == "deferred" and i.step_id == "intro")
    assert deferred.reason and deferred.until and deferred.until.astimezone(ZoneInfo("America/Chicago")).weekday() == 0
    row = page.locator("table.preview-items tr.kind-deferred", has_text="intro").first
    assert deferred.reason in await row.inner_text()
    assert deferred.sentence in await svg.locator("g.deferral title").all_text_contents()
    # The SMS has no consent: a skip, hollow and crossed.
    assert await svg.locator("g.marker.k-skipped.hollow .tl-cross").count() == 1
    assert "no_consent" in await page.locator("table.preview-items tr.kind-skipped").inner_text()
    touches = await page.locator("table.preview-items tr.kind-touch td:first-child").all_inner_texts()
    assert touches == [i.label for i in expected.items if i.kind == "touch"]
    assert await svg.locator("g.tl-end[data-kind=ended]").count() == 1
    summary = await page.inner_text("section[aria-labelledby=summary-h]")
    assert "completed" in summary and "2 touches" in summary and "1 task" in summary
    assert "nobody replies" in (await page.inner_text("section[aria-labelledby=assumptions-h]")).lower()
    await page.screenshot(path="/tmp/console-preview.png", full_page=True)

    # A what-if reply after the first email ends it there.
    await page.get_by_label("What if the contact replies after").select_option("intro")
    await page.get_by_label("Reply intent").select_option("negative")
    assert await submit(page, "Show the preview") == 200
    assert await svg.locator("g.marker[data-kind=touch]").count() == 1
    await context.close()

    # A running enrollment: what happens next, from its live state.
    enrollment_id = await enroll_one(stack, email="next@example.com", first_name="Nia", timezone="Europe/Paris")
    context, page = await console.sign_in("auditor", f"/console/enrollments/{enrollment_id}")
    coming = page.locator("ol.coming li")  # the next few, on the enrollment page itself
    assert await coming.count() >= 2
    assert "hello" in await coming.first.inner_text() and "Europe/Paris" in await coming.first.inner_text()
    async with page.expect_navigation():
        await page.get_by_role("link", name="What happens next").click()
    assert page.url.endswith(f"/console/enrollments/{enrollment_id}/preview")
    assert "What happens next" in await page.get_by_role("heading", level=1).inner_text()
    first = page.locator("table.preview-items tr.kind-touch").first
    assert "hello" in await first.inner_text() and "Europe/Paris" in await first.inner_text()
    assert await page.locator("svg.preview-timeline g.marker[data-kind=touch]").count() == 2

    # Once it has ended there is nothing to foresee: said on the page, not an error.
    await stack.client.stop(enrollment_id, actor="lead@acme", reason="done")

    async def stopped() -> bool:
        return (await stack.client.get(enrollment_id)).status == "stopped"

    await eventually(stopped)
    response = await page.reload()
    assert response is not None and response.status == 200
    assert "already ended" in await page.get_by_role("status").inner_text()
    assert await page.locator("svg.preview-timeline").count() == 0
    await context.close()


async def test_a_service_key_enrolls_a_stored_contact_from_its_preview_and_an_auditor_cannot(console: Console) -> None:
    stack = console.stack
    await stack.client.publish_cadence(PREVIEWED, actor="admin")
    stack.load(WAITING)
    person = stack.contact(email="eve@example.com", first_name="Eve", timezone="Europe/Paris")
    await stack.client.enroll("console-cadence", person.external_id)  # counted against the caps
    context, page = await console.sign_in("service", "/console/cadences/preview-cadence")
    async with page.expect_navigation():
        await page.get_by_role("link", name="Enroll…").click()
    assert page.url.endswith("/console/cadences/preview-cadence/preview?who=stored")
    assert await page.get_by_label("A stored contact").is_checked() and await page.locator("svg.preview-timeline").count() == 0
    assert not await page.get_by_label("Time zone").is_visible()  # the sample's fields are not the ones used

    await page.get_by_label("Contact id or external id").fill(person.external_id)
    saturday = next_saturday("Europe/Paris")  # read in the stored contact's own time zone
    await page.get_by_label("Start").fill(saturday.astimezone(ZoneInfo("Europe/Paris")).strftime("%Y-%m-%dT%H:%M"))
    assert await submit(page, "Show the preview") == 200
    expected = await stack.client.preview(PreviewRequest(cadence="preview-cadence", contact_id=person.external_id, start_at=saturday))
    planned = [i for i in expected.items if i.kind in ("touch", "task")]
    assert planned and expected.timezone == "Europe/Paris" and expected.other_open_enrollments == 1
    markers = page.locator("svg.preview-timeline g.marker[data-kind=touch], svg.preview-timeline g.marker[data-kind=task]")
    assert await markers.count() == len(planned)
    touched = await page.locator("table.preview-items tr.kind-touch td:nth-child(4)").all_inner_texts()
    assert touched == [i.step_id for i in expected.items if i.kind == "touch"]
    summary = await page.inner_text("section[aria-labelledby=summary-h]")
    assert "Eve (" in summary and "Europe/Paris" in summary and "counting 1 other open enrollment of the contact" in summary
    heading = await page.locator("#enroll-h").inner_text()
    paris = saturday.astimezone(ZoneInfo("Europe/Paris"))
    assert heading == f"Enroll Eve ({person.external_id}) in Preview cadence (starting at {paris:%Y-%m-%d %H:%M %Z} (Europe/Paris))"
    await page.screenshot(path="/tmp/console-enroll-preview.png", full_page=True)

    assert await submit(page, "Enroll") == 200
    assert "/console/enrollments/" in page.url
    enrollment_id = page.url.rsplit("/", 1)[1]
    detail = await stack.client.get(enrollment_id)
    assert detail.next_step_at == saturday  # the same start as the preview's
    assert (detail.cadence_key, detail.contact_id) == ("preview-cadence", str(person.id))
    assert "in preview-cadence" in await page.get_by_role("heading", level=1).inner_text()
    assert await page.locator("table.timeline tbody tr").count() >= 1

    # Previewed again: already enrolled, so no button; a stale or forged post is a message, not a 500.
    preview = f"/console/cadences/preview-cadence/preview?who=stored&run=1&contact={person.external_id}"
    await page.goto(preview)
    assert await page.get_by_role("button", name="Enroll", exact=True).count() == 0
    assert "already has an open enrollment" in await page.inner_text("section.enroll")
    token = await page.locator("nav input[name=csrf]").input_value()
    posts = [
        ({"contact": person.external_id, "version": "v1"}, 409, "already enrolled"),
        ({"contact": "nobody-at-all", "version": "v1"}, 404, "not found"),
        ({"contact": person.external_id, "version": "v7"}, 409, "published version changed"),
    ]
    for fields, status, said in posts:
        answer = await page.request.post("/console/cadences/preview-cadence/enroll", form={"csrf": token, **fields})
        assert answer.status == status and said in await answer.text(), (fields, answer.status)

    # A preview of another version than the published one offers no button, and says why.
    await stack.client.publish_cadence(PREVIEWED.replace("wait: {days: 2}", "wait: {days: 3}"), actor="admin")
    newcomer = stack.contact(email="noor@example.com", first_name="Noor")
    await page.goto(f"/console/cadences/preview-cadence/preview?who=stored&run=1&version=1&contact={newcomer.external_id}")
    assert await page.get_by_role("button", name="Enroll", exact=True).count() == 0
    assert "enrolling always uses the published version, v2" in await page.inner_text("section.enroll")
    async with page.expect_navigation():
        await page.get_by_role("link", name="Preview the published version").click()
    assert await page.get_by_role("button", name="Enroll", exact=True).count() == 1
    await context.close()

    # An auditor sees the same preview without the button, and may not post the form.
    context, page = await console.sign_in("auditor", "/console/cadences/preview-cadence")
    assert await page.get_by_role("link", name="Enroll…").count() == 0
    await page.goto(preview)
    assert await page.locator("svg.preview-timeline g.marker").count() >= 1
    assert await page.get_by_role("button", name="Enroll", exact=True).count() == 0
    assert "cannot enroll" in await page.inner_text("main")
    token = await page.locator("nav input[name=csrf]").input_value()
    refused = await page.request.post("/console/cadences/preview-cadence/enroll", form={"csrf": token, "contact": person.external_id})
    assert refused.status == 403 and "may not enroll" in await refused.text()
    await context.close()


WEEKLY_CALLS = """
key: weekly-calls
name: Weekly calls
steps:
  - {id: call-1, type: task, task: {title: Check in, due_hours: 0, wait_for_completion: false}}
  - {id: call-2, type: task, wait: {days: 7}, task: {title: Check in, due_hours: 0, wait_for_completion: false}}
"""


async def test_a_lead_sees_an_owner_over_their_weekly_allowance_on_the_capacity_chart(console: Console) -> None:
    stack = console.stack
    await stack.client.publish_cadence(WEEKLY_CALLS, actor="admin")
    stack.owner("csm-chart", weekly_task_capacity=2)
    start = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    for i in range(3):
        person = stack.contact(external_id=f"chart-{i}", email=f"chart{i}@example.com", owner_id="csm-chart")
        await stack.client.enroll("weekly-calls", person.external_id, start_at=start)
    for _ in range(100):
        expected = await stack.client.forecast(owner="csm-chart")
        if expected.enrollments == 3 and not expected.unreadable:
            break
        await asyncio.sleep(0.1)
    [owner] = expected.owners
    context, page = await console.sign_in("cs_lead", "/console/tasks")
    async with page.expect_navigation():
        await page.get_by_role("link", name="Capacity").click()
    await page.get_by_label("Owner").fill("csm-chart")
    assert await submit(page, "Show") == 200
    card = page.locator("section.forecast-owner[data-owner=csm-chart]")
    assert "over in 2 weeks" in await card.locator("h2").inner_text()
    bars = card.locator("svg.forecast-chart g.week")
    assert await bars.count() == 12
    titles = await bars.locator("title").all_text_contents()
    assert titles[0] == (
        f"week of {owner.weeks[0].week:%d %b}: {owner.weeks[0].open} open, {owner.weeks[0].forecast} new"
        + (f" ({owner.weeks[0].forecast} task)" if owner.weeks[0].forecast else "")
        + f"; {owner.weeks[0].asked} asked for"
        + (", over the allowance of 2" if owner.weeks[0].over else "")
    )
    assert await card.locator("svg.forecast-chart g.week.over").count() == owner.over_weeks == 2
    assert await card.locator("line.allowance title").text_content() == "allowance: 2 a week"
    due = await card.locator("table.forecast-table tr", has_text="Due").locator("td").all_text_contents()
    assert [int(n) for n in due] == [w.total for w in owner.weeks] and sum(int(n) for n in due) == 6
    await context.close()


AB_REPORT = (
    AB.replace("key: ab-test\nname: A/B test", "key: ab-report\nname: A/B report")
    .replace('html: "<p>Hi</p>"', "html: \"<p>Hi, <a href='https://example.com/x'>a link</a></p>\"")
    .replace('html: "<p>Hello there</p>"', "html: \"<p>Hello there, <a href='https://example.com/y'>a link</a></p>\"")
)


async def test_an_auditor_reads_a_cadence_report_with_its_charts_and_downloads_its_csv(console: Console) -> None:
    stack = console.stack
    await stack.client.publish_cadence(AB_REPORT, actor="admin")
    people = [stack.contact(external_id=f"rep-{i}", email=f"rep{i}@example.com") for i in range(6)]
    for person in people:
        await stack.client.enroll("ab-report", person.external_id)

    def count(model: Any, *where: Any) -> int:
        with transaction(stack.engine) as session:
            return int(session.exec(select(func.count()).select_from(model).where(*where)).one())

    async def all_sent() -> bool:
        return count(Touch, Touch.step_id == "hello", Touch.status == "sent") == 6

    await eventually(all_sent)
    for person in people[:3]:
        await stack.client.send_event("reply", person.external_id, event_id=f"rep-reply-{person.external_id}", intent="neutral")

    async def replied() -> bool:
        return count(Enrollment, Enrollment.status == "replied") == 3

    await eventually(replied)
    # Two of them opened the email a minute after it came (a person, not a scanner), one clicked too.
    with transaction(stack.engine) as session:
        session.execute(sa.text("UPDATE touches SET sent_at = sent_at - interval '1 minute'"))
    backend = stack.client.backend
    context, page = await console.sign_in("auditor", "/console/cadences/ab-report")
    for i, kind in enumerate(("o", "o", "c")):
        [mail] = stack.smtp.sink.to(f"rep{i % 2}@example.com")
        body = mail.get_body(("html",))
        assert body is not None
        link = re.findall(r"https?://[^/\"']+(/t/" + kind + r"/[^\"']+)", body.get_content())[0]
        assert (await page.request.get(link, headers={"user-agent": CHROME}, max_redirects=0)).status in (200, 302)
    outcomes = await reports.outcomes(backend, "ab-report", by="version")
    funnel = await reports.funnel(backend, "ab-report")
    variants = await reports.variants(backend, "ab-report")
    messages = await engagement_reports.touches(backend, "ab-report", by="step")
    daily = await engagement_reports.daily(backend, "ab-report")
    [row] = outcomes.rows
    assert (row.key, row.enrolled, row.replied, row.opened, row.clicked) == ("v1", 6, 3, 2, 1)

    async with page.expect_navigation():
        await page.get_by_role("link", name="Report", exact=True).click()
    assert page.url.endswith("/console/cadences/ab-report/report")
    cells = await page.locator("table.outcome-table tr[data-key=v1] > *").all_inner_texts()
    counts = (row.enrolled, row.touched, row.sent, row.opened, row.clicked)
    assert cells[:6] == ["v1", *(str(n) for n in counts)]
    assert cells[6] == f"{row.replied_positive} / {row.replied_negative} / {row.replied_neutral}" == "0 / 0 / 3"
    ends = (row.replied, row.meetings, row.switched, row.opted_out, row.bounced, row.completed, row.still_open)
    assert cells[7:14] == [str(n) for n in ends]
    rates = (row.response_rate, row.open_rate, row.click_rate, row.opt_out_rate, row.bounce_rate, row.completion_rate)
    assert cells[14:20] == [f"{r * 100:.1f}%" for r in rates]
    assert cells[14:17] == ["50.0%", "33.3%", "16.7%"]
    rate_bars = page.locator("svg.outcome-chart g.bar")
    assert await rate_bars.count() == 1
    assert await rate_bars.locator("text.value").all_text_contents() == [f"{row.response_rate * 100:.1f}%"]
    assert float(await rate_bars.first.get_attribute("data-value") or "nan") == row.response_rate
    assert await rate_bars.locator("rect").first.bounding_box() is not None  # really drawn

    funnel_labels = await page.locator("svg.funnel-chart g.bar text.value").all_text_contents()
    assert funnel_labels == [label for s in funnel.steps for label in (f"{s.reached} reached", f"{sum(s.ended_here.values())} ended here")]
    assert [s.step_id for s in funnel.steps] == ["hello", "later"] and funnel.steps[0].reached == 6
    reached = await page.locator("table.funnel-table tbody tr td:nth-of-type(2)").all_inner_texts()
    assert reached == [str(s.reached) for s in funnel.steps]

    [test] = variants.steps
    block = page.locator(f"div.variant-test[data-step={test.step_id}]")
    assert await block.locator("p.verdict-reason").inner_text() == test.reason
    assert await block.locator("svg.variant-chart g.bar text.value").all_text_contents() == [
        f"{v.rate * 100:.1f}% ({v.responded}/{v.exposed})" for v in test.variants
    ]
    assert sum(v.exposed for v in test.variants) == 6

    # Sends and replies over time: one column for today, titled with its numbers.
    [today] = daily.days
    assert (today.sent, today.opened, today.clicked, today.replied) == (6, 2, 1, 3)
    day = page.locator("svg.day-chart g.day")
    assert await day.count() == 1 and await day.get_attribute("data-day") == today.day.isoformat()
    assert await day.locator("title").text_content() == f"{today.day.isoformat()}: 6 sent, 2 opened, 1 clicked, 3 replied"
    sent_box, replied_box = await day.locator("rect.sent").bounding_box(), await day.locator("rect.replied").bounding_box()
    assert sent_box is not None and replied_box is not None and replied_box["height"] == pytest.approx(sent_box["height"] / 2, abs=1)
    # Messages by step: the open, click and reply rates of the first email, drawn and tabled.
    hello = messages.rows[0]
    assert (hello.key, hello.delivered, hello.opened, hello.clicked) == ("hello", 6, 2, 1)
    assert await page.locator("svg.message-chart g.chart-row[data-name=hello] text.value").all_text_contents() == [
        "33.3% opened",
        "16.7% clicked",
        "50.0% replied",  # the API's replies count against the last email each contact got
    ]
    cells = await page.locator("table.message-table tr[data-step=hello] > *").all_inner_texts()
    assert cells[:6] == ["hello", "6", "6", "2", "1", "3"]
    assert await page.locator("table.cohort-table tbody th").all_inner_texts() == ["- / standard / -"]
    await page.screenshot(path="/tmp/console-report.png", full_page=True)

    # Reps see the most engaged first: rep-0 opened, clicked and replied (1 + 3 + 5 points),
    # rep-1 opened and replied (1 + 5), rep-2 replied (5); the rest did nothing yet.
    shown = await page.goto("/console/enrollments?cadence=ab-report&sort=score")
    assert shown is not None and shown.status == 200
    assert (await page.locator("table td.score").all_inner_texts())[:4] == ["9.0", "6.0", "5.0", "0.0"]
    assert await page.get_by_label("Order").input_value() == "score"
    async with page.expect_navigation():
        await page.locator("table tbody tr").first.get_by_role("link").first.click()
    assert (await page.locator("dd.lead-score").inner_text()).startswith("9.0")

    # Narrowed to one owner (nobody here has one): every table says so.
    shown = await page.goto("/console/cadences/ab-report/report?owner=rep-nobody")
    assert shown is not None and shown.status == 200
    assert await page.locator("table.outcome-table tbody tr").count() == 0
    assert await page.get_by_label("Owner").input_value() == "rep-nobody"
    shown = await page.goto("/console/cadences/ab-report/report?version=7")
    assert shown is not None and shown.status == 404 and "no version 7" in await page.get_by_role("alert").inner_text()
    shown = await page.goto("/console/cadences/ab-report/report?version=x")
    assert shown is not None and shown.status == 422
    await page.goto("/console/cadences/ab-report/report")

    # Grouped by owner, and each table as CSV: the service's header and rows.
    await page.get_by_label("Group by").select_option("owner")
    assert await submit(page, "Show") == 200
    by_owner = await reports.outcomes(backend, "ab-report", by="owner")
    assert await page.locator("table.outcome-table tbody th").all_inner_texts() == [r.key for r in by_owner.rows]
    async with page.expect_download() as download_info:
        await page.get_by_role("link", name="Download outcomes by owner (CSV)").click()
    download = await download_info.value
    assert download.suggested_filename == "ab-report-by-owner.csv"
    path = await download.path()
    assert path is not None
    with open(path, newline="") as f:
        assert f.read() == reports.rows_csv(list(by_owner.rows))
    answer = await page.request.get("/console/cadences/ab-report/report.csv?table=variants")
    assert answer.status == 200 and answer.headers["content-type"].startswith("text/csv")
    assert await answer.text() == reports.rows_csv(reports.variant_rows(variants))
    answer = await page.request.get("/console/cadences/ab-report/report.csv?table=funnel")
    lines = (await answer.text()).splitlines()
    assert lines[0].startswith("step_index,step_id,reached,sent,skipped,failed") and lines[1].startswith("0,hello,6,6,")
    tables: list[tuple[str, list[BaseModel]]] = [("messages", list(messages.rows)), ("daily", list(daily.days))]
    for table, expected in tables:
        answer = await page.request.get(f"/console/cadences/ab-report/report.csv?table={table}")
        assert await answer.text() == reports.rows_csv(expected)
    answer = await page.request.get("/console/cadences/ab-report/report.csv?table=cohorts&owner=rep-nobody")
    assert (await answer.text()).splitlines() == [",".join(reports.OutcomeRow.model_fields)]

    # Bad input: a message with its status, never a 500.
    shown = await page.goto("/console/cadences/no-such-cadence/report")
    assert shown is not None and shown.status == 404
    shown = await page.goto("/console/cadences/ab-report/report?since=2030-02-01&until=2030-01-01")
    assert shown is not None and shown.status == 422
    assert "since must be before until" in (await page.get_by_role("alert").inner_text()).lower()
    shown = await page.goto("/console/cadences/ab-report/report?since=yesterday")
    assert shown is not None and shown.status == 422
    await context.close()
