"""`cadence dev` from the outside: start it, drive it over HTTP, see the email arrive in its
SMTP sink, stop it with Ctrl-C, start it again and find the data still there."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.support.smtp import free_port

pytestmark = pytest.mark.e2e

CADENCE = {
    "key": "e2e-welcome",
    "name": "E2E welcome",
    "steps": [{"id": "welcome", "type": "email", "template": "welcome"}],
    "templates": {
        "welcome": {
            "channel": "email",
            "subject": "Welcome, {{ contact.first_name or 'there' }}",
            "html": "<p>Welcome aboard, {{ contact.first_name or 'there' }}.</p>",
            "text": "Welcome aboard, {{ contact.first_name or 'there' }}.",
        }
    },
}


def start_dev(data_dir: Path, ports: dict[str, int]) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TEMPORAL_ADDRESS")}
    # The shipped send windows would make this test depend on the time of day it runs.
    env["POLICY_FILE"] = str(Path(__file__).resolve().parents[1] / "support" / "open-policy.yaml")
    cmd = [
        str(Path(sys.executable).parent / "cadence"),
        "dev",
        "--data-dir",
        str(data_dir),
        "--demo",
        "--port",
        str(ports["api"]),
        "--temporal-port",
        str(ports["temporal"]),
        "--ui-port",
        str(ports["ui"]),
        "--smtp-port",
        str(ports["smtp"]),
    ]
    log = (data_dir.parent / "dev.log").open("ab")
    return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=data_dir.parent)


def wait_for_dev_json(data_dir: Path, process: subprocess.Popen[bytes], after: float) -> dict[str, Any]:
    path = data_dir / "dev.json"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, (data_dir.parent / "dev.log").read_text()[-3000:]
        if path.exists() and path.stat().st_mtime >= after:
            info: dict[str, Any] = json.loads(path.read_text())
            if info.get("pid") == process.pid:
                return info
        time.sleep(0.2)
    raise AssertionError("cadence dev did not come up: " + (data_dir.parent / "dev.log").read_text()[-3000:])


def stop(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGINT)
    return process.wait(60)


def test_cadence_dev_end_to_end(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    ports = {name: free_port() for name in ("api", "temporal", "ui", "smtp")}
    began = time.time() - 1
    process = start_dev(data_dir, ports)
    try:
        info = wait_for_dev_json(data_dir, process, began)
        assert set(info["keys"]) == {"service", "cs_lead", "auditor", "admin"}
        assert info["smtp_port"] == ports["smtp"] and info["twilio_auth_token"]
        api = info["api_url"]
        admin = {"Authorization": f"Bearer {info['keys']['admin']}"}
        with httpx.Client(base_url=api, timeout=30) as http:
            assert http.get("/healthz").json()["status"] == "ok"
            playbooks = http.get("/v1/cadences", headers=admin).json()
            assert {"inbound", "outbound-12-day", "renewal-90-60-30"} <= {c["key"] for c in playbooks}
            assert http.post("/v1/cadences", json=CADENCE, headers=admin).status_code == 201
            demo = http.get("/v1/contacts/demo-ada", headers=admin).json()
            assert demo["first_name"] == "Ada"
            service = {"Authorization": f"Bearer {info['keys']['service']}"}
            enrolled = http.post("/v1/enrollments", json={"cadence_id": "e2e-welcome", "contact_external_id": "demo-ada"}, headers=service)
            assert enrolled.status_code == 201, enrolled.text
            mail: list[dict[str, Any]] = []
            for _ in range(150):
                mail = http.get("/dev/mail", params={"to": demo["email"]}, headers=admin).json()
                if mail:
                    break
                time.sleep(0.2)
            assert mail and mail[0]["subject"] == "Welcome, Ada"
            assert mail[0]["list_unsubscribe_post"] == "List-Unsubscribe=One-Click"
            assert "Welcome aboard, Ada." in mail[0]["text"]
            enrollment_id = enrolled.json()["id"]
        # The API and the worker connect as a role that owns nothing: the audit log is out of its reach.
        assert info["database_url"] != info["migration_database_url"]
        with psycopg.connect(make_url(info["database_url"]).set(drivername="postgresql").render_as_string(hide_password=False)) as conn:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("ALTER TABLE audit_log DISABLE TRIGGER ALL")
    finally:
        code = stop(process)
    assert code == 0, (tmp_path / "dev.log").read_text()[-3000:]

    again = start_dev(data_dir, ports)
    try:
        info = wait_for_dev_json(data_dir, again, time.time() - 1)
        with httpx.Client(base_url=info["api_url"], timeout=30) as http:
            kept = http.get(f"/v1/enrollments/{enrollment_id}", headers={"Authorization": f"Bearer {info['keys']['auditor']}"})
            assert kept.status_code == 200 and kept.json()["status"] == "completed"
            assert kept.json()["live"] is not None  # the Temporal history survived the restart too
    finally:
        assert stop(again) == 0
