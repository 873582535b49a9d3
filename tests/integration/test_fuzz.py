"""Schemathesis against the running API, inside the test suite, with a bounded budget: every
phase (examples, coverage, fuzzing, stateful), every role's key, the webhooks with valid
signatures, and every check. It must find no server error, no undocumented status code, no
response that breaks its schema, and no invalid request accepted.

Valid-looking requests that the product refuses on purpose (a pause `until` in the past, a
YAML cadence that is only a string, a CSV without a header row, a phone number that is not
one, a preview's what-if reply after a step its cadence does not have) are business rules the
schema cannot express; for those operations a 422 is an accepted answer to the
"positive data" check, and only for those."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from core.db import transaction
from models.keys import Role, create_key
from starter.api import create_app
from tests.integration.conftest import Stack
from tests.support.server import serve

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
# Seconds of fuzzing per role: the admin reaches everything, the others mostly their refusals.
BUDGET = {Role.admin: 60, Role.service: 25, Role.cs_lead: 20, Role.auditor: 15}
SCALE = float(os.environ.get("CADENCE_FUZZ_SCALE", "1"))  # longer exploratory runs outside CI
SEMANTIC_422 = (
    "POST /v1/cadences",  # a YAML document that is not a valid cadence
    "PUT /v1/cadences/{cadence_id}/draft",  # the same, as a draft
    "POST /v1/contacts",  # a phone number no numbering plan has, an address with no valid domain
    "POST /v1/contacts/import",  # a CSV without a header row
    "POST /v1/enrollments/{enrollment_id}/pause",  # until in the past
    "POST /v1/accounts/{account_id}/pause",  # until in the past
    "POST /v1/events",  # an event without the contact it is about
    "POST /v1/touches/{touch_id}/resolve",  # a reason of only blanks
    "POST /v1/previews",  # an inline definition that is not a valid cadence, a pause ending before it starts
    "POST /v1/operations",  # a migration to another cadence than the filter's
    "GET /v1/reports/variants",  # a date range that ends before it starts
    "GET /v1/reports",  # the same
    "GET /v1/reports/funnel",  # the same
    "GET /v1/reports/touches",  # the same
    "GET /v1/reports/daily",  # the same
    "GET /v1/reports/compare",  # the same, or the same cadence and version on both sides
)


CONFIG = """
[[operations]]
include-name = [{semantic}]
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "422", "429"]
"""


@pytest.mark.parametrize("role", list(BUDGET), ids=lambda r: r.value)
def test_schemathesis_finds_nothing(stack: Stack, role: Role, tmp_path: Path) -> None:
    with transaction(stack.engine) as session:
        _, key = create_key(session, name=f"fuzz-{role.value}", role=role)
    token = "fuzz-twilio-auth-token-0123"
    with serve(
        create_app(
            stack.settings.model_copy(
                update={"twilio_auth_token": token, "temporal_address": stack.env.client.service_client.config.target_host}
            )
        )
    ) as url:
        config = tmp_path / "schemathesis.toml"
        config.write_text(CONFIG.format(semantic=", ".join(f'"{op}"' for op in SEMANTIC_422)))
        env = {
            **os.environ,
            "SCHEMATHESIS_HOOKS": "tests.support.fuzz_hooks",
            "PYTHONPATH": str(ROOT),
            # Twilio signs the URL it was given, which is the public one, not the socket's.
            "CADENCE_FUZZ_PUBLIC_URL": stack.settings.public_base_url,
            "CADENCE_FUZZ_TWILIO_TOKEN": token,
            "CADENCE_FUZZ_EMAIL_SECRET": stack.settings.inbound_email_secret,
        }
        run = subprocess.run(
            [
                str(Path(sys.executable).parent / "schemathesis"),
                "--config-file", str(config),
                "run", f"{url}/openapi.json",
                "-H", f"Authorization: Bearer {key}",
                "--checks", "all",
                "--max-time", str(int(BUDGET[role] * SCALE)),
                "--workers", "1",
                "--request-timeout", "60",
                "--no-color",
                "--seed", os.environ.get("CADENCE_FUZZ_SEED", "20261202"),  # another seed explores further
            ],
            env=env, cwd=ROOT, capture_output=True, text=True, timeout=BUDGET[role] * SCALE * 4 + 120,
        )  # fmt: skip
    summary = run.stdout[-4000:]
    print(summary)  # the figures, with -s
    assert run.returncode == 0, run.stdout[-20000:]
    refused = re.search(r"Authentication failed:.*?\n\n(.*?)\n\n", run.stdout, re.S)
    assert refused is None or "/webhooks/" not in refused.group(1), "the webhooks were not reached with valid signatures"
    cases = re.search(r"(\d+) generated", summary)
    assert cases is not None and int(cases.group(1)) > 100, summary
