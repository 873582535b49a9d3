"""Engagement in the reports, through the HTTP API: six real enrollments whose contacts open,
click, reply (by intent), bounce, unsubscribe or do nothing, through the real tracking links
and webhooks; every figure below is worked out by hand from that script."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import re
from typing import Any

import pytest
from sqlmodel import func, select

from core.db import transaction
from models.tables import Enrollment
from tests.integration.conftest import Inbound
from tests.integration.test_tracking import CHROME, _html, _path, backdate_sends

pytestmark = pytest.mark.integration

MEASURED = """
key: measured
name: Measured
steps:
  - {id: hello, type: email, template: hello}
  - {id: bump, type: email, template: hello, wait: {days: 3}}
templates:
  hello:
    channel: email
    subject: "Hello"
    html: '<p>Read <a href="https://example.com/case-study">the case study</a></p>'
    text: "Read the case study"
"""


async def _settled(inbound: Inbound, ended: int) -> None:
    for _ in range(300):
        with transaction(inbound.stack.engine) as session:
            ended_here = Enrollment.status.in_(("replied", "bounced", "opted_out"))  # type: ignore[attr-defined]
            done = session.exec(select(func.count()).select_from(Enrollment).where(ended_here)).one()
        if done == ended:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"expected {ended} ended enrollments")


async def test_reports_count_opens_clicks_replies_bounces_and_opt_outs_per_message_and_per_enrollment(inbound: Inbound) -> None:
    stack = inbound.stack
    await stack.client.publish_cadence(MEASURED, actor="admin")
    await stack.client.publish_cadence(MEASURED.replace("key: measured", "key: other"), actor="admin")
    stack.owner("rep-a")
    stack.owner("rep-b")
    mails: list[Any] = []
    for i in range(6):
        person = stack.contact(external_id=f"m-{i}", email=f"m{i}@example.com", owner_id="rep-a" if i < 3 else "rep-b", persona="executive")
        await stack.client.enroll("measured", person.external_id)
        [mail] = await asyncio.to_thread(stack.smtp.sink.wait_for, f"m{i}@example.com")
        mails.append(mail)
    await backdate_sends(inbound, 6)
    pixel = [re.findall(r'<img src="([^"]+/t/o/[^"]+)"', _html(m))[0] for m in mails]
    click = [re.findall(r'href="([^"]+/t/c/[^"]+)"', _html(m))[0] for m in mails]
    unsubscribe = [re.findall(r'href="([^"]+/u/[^"]+)"', _html(m))[0] for m in mails]
    async with inbound.http() as http:
        # m0 opens, clicks and says yes; m1 opens and says no; m2 only Apple's proxy opened.
        assert (await http.get(_path(pixel[0]), headers={"user-agent": CHROME})).status_code == 200
        assert (await http.get(_path(click[0]), headers={"user-agent": CHROME})).status_code == 302
        assert (await http.get(_path(pixel[1]), headers={"user-agent": CHROME})).status_code == 200
        assert (await http.get(_path(pixel[2]), headers={"user-agent": "Mozilla/5.0"})).status_code == 200
        for i, text in ((0, "Yes, let's talk - what times work?"), (1, "Not interested, thanks")):
            reply = {"id": f"reply-{i}", "from": f"m{i}@example.com", "text": text, "in_reply_to": mails[i]["Message-ID"]}
            assert inbound.email(reply).status_code == 202
        # m3 bounces; m5 unsubscribes; m4 does nothing.
        assert inbound.email({"id": "bounce-3", "type": "bounce", "from": "m3@example.com", "bounce": {"type": "hard"}}).status_code == 202
        assert (await http.post(_path(unsubscribe[5]))).status_code == 200
        await _settled(inbound, 4)

        reader = inbound.http(inbound.lead)
        async with reader:
            got = (await reader.get("/v1/reports/touches", params={"cadence": "measured", "by": "step"})).json()
            [hello] = got["rows"]
            assert hello["key"] == "hello"
            assert {
                k: hello[k] for k in ("sent", "delivered", "opened", "machine_opened", "clicked", "replied", "bounced", "opted_out")
            } == {"sent": 6, "delivered": 5, "opened": 2, "machine_opened": 1, "clicked": 1, "replied": 2, "bounced": 1, "opted_out": 1}
            assert (hello["delivery_rate"], hello["open_rate"], hello["click_rate"], hello["click_to_open_rate"]) == (0.8333, 0.4, 0.2, 0.5)
            assert (hello["reply_rate"], hello["bounce_rate"], hello["opt_out_rate"]) == (0.4, 0.1667, 0.2)
            by_channel = (await reader.get("/v1/reports/touches", params={"cadence": "measured", "by": "channel"})).json()["rows"]
            assert [(r["key"], r["sent"]) for r in by_channel] == [("email", 6)]

            [row] = (await reader.get("/v1/reports", params={"cadence": "measured"})).json()["rows"]
            assert {k: row[k] for k in ("enrolled", "emailed", "opened", "clicked", "replied", "bounced", "opted_out", "still_open")} == {
                "enrolled": 6,
                "emailed": 6,
                "opened": 2,
                "clicked": 1,
                "replied": 2,
                "bounced": 1,
                "opted_out": 1,
                "still_open": 2,
            }
            assert (row["replied_positive"], row["replied_negative"], row["replied_neutral"]) == (1, 1, 0)
            assert (row["open_rate"], row["click_rate"], row["response_rate"]) == (0.3333, 0.1667, 0.3333)
            assert row["first_reply_p50_seconds"] is not None and row["first_reply_p50_seconds"] >= 0

            # Filters: rep-a's three enrollments hold both opens, the click and both replies.
            [mine] = (await reader.get("/v1/reports", params={"cadence": "measured", "owner": "rep-a"})).json()["rows"]
            assert (mine["enrolled"], mine["opened"], mine["clicked"], mine["replied"], mine["bounced"]) == (3, 2, 1, 2, 0)
            nobody = (await reader.get("/v1/reports", params={"cadence": "measured", "persona": "procurement"})).json()
            assert nobody["rows"] == [] and nobody["filters"]["persona"] == "procurement"
            # Cohorts by the policy's industry groups: none of them is in a regulated industry.
            cohorts = (await reader.get("/v1/reports", params={"cadence": "measured", "by": "cohort"})).json()["rows"]
            assert [(r["key"], r["enrolled"]) for r in cohorts] == [("executive / standard / -", 6)]
            regulated = (await reader.get("/v1/reports", params={"cadence": "measured", "industry_group": "regulated"})).json()
            assert regulated["rows"] == []
            bad_group = await reader.get("/v1/reports", params={"cadence": "measured", "industry_group": "risky"})
            assert bad_group.status_code == 422 and "industry_group" in bad_group.text
            funnel = (await reader.get("/v1/reports/funnel", params={"cadence": "measured", "owner": "rep-b"})).json()
            # They left while waiting for the second email.
            ended = {step["step_id"]: step["ended_here"] for step in funnel["steps"]}
            assert funnel["enrolled"] == 3 and ended == {"hello": {}, "bump": {"bounced": 1, "opted_out": 1}}

            # Day by day: all of it happened today (UTC).
            days = (await reader.get("/v1/reports/daily", params={"cadence": "measured"})).json()["days"]
            today = dt.datetime.now(dt.UTC).date().isoformat()
            assert [(d["day"], d["sent"], d["opened"], d["clicked"], d["replied"]) for d in days] == [(today, 6, 2, 1, 2)]

            # CSV of the message report: a header and one line per step.
            text = (await reader.get("/v1/reports/touches", params={"cadence": "measured", "format": "csv"})).text
            rows = list(csv.DictReader(io.StringIO(text)))
            assert [(r["key"], r["opened"], r["open_rate"]) for r in rows] == [("hello", "2", "0.4")]

            # Two cadences side by side: the other has nothing yet, so it is too early to call.
            compared = (await reader.get("/v1/reports/compare", params={"a": "measured", "b": "other@1"})).json()
            assert [(s["cadence_key"], s["version"], s["outcomes"]["enrolled"]) for s in compared["sides"]] == [
                ("measured", None, 6),
                ("other", 1, 0),
            ]
            assert compared["verdict"] == "too_early" and compared["leader"] == "measured"

            # Bad input names the field.
            for params, field in (
                ({"cadence": "measured", "by": "weekday"}, "by"),
                ({"cadence": "nope"}, "cadence"),
                ({"cadence": "measured", "since": "2030-01-02T00:00:00Z", "until": "2030-01-01T00:00:00Z"}, "since"),
                ({"cadence": "measured", "version": "9"}, "version"),
            ):
                bad = await reader.get("/v1/reports/touches", params=params)
                assert bad.status_code in (404, 422) and field in bad.text, (params, bad.text)
            for params, field in (({"a": "measured", "b": "measured"}, "b"), ({"a": "x@y@z", "b": "measured"}, "a")):
                bad = await reader.get("/v1/reports/compare", params=params)
                assert bad.status_code == 422 and bad.json()["error"]["details"]["field"] == field
