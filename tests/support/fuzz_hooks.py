"""Schemathesis hooks for the fuzz test: webhooks go out with valid signatures (Twilio's
HMAC-SHA1 over URL and form, Cadence's HMAC-SHA256 over the email body), so the fuzzer
reaches the code behind them instead of stopping at the 403. Secrets come from the
environment the test sets."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from typing import Any

import schemathesis
from twilio.request_validator import RequestValidator


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    path = case.operation.path
    if case.headers is None:
        case.headers = {}
    if path.startswith("/webhooks/twilio/") and isinstance(case.body, dict):
        params = {str(k): str(v) for k, v in case.body.items()}
        case.body = params
        url = os.environ["CADENCE_FUZZ_PUBLIC_URL"].rstrip("/") + path
        case.headers["X-Twilio-Signature"] = RequestValidator(os.environ["CADENCE_FUZZ_TWILIO_TOKEN"]).compute_signature(url, params)
    elif path == "/webhooks/email" and isinstance(case.body, dict | list):
        # The transport sends a JSON body as requests does: json.dumps with its default separators.
        raw = json.dumps(case.body, allow_nan=False).encode()
        secret = os.environ["CADENCE_FUZZ_EMAIL_SECRET"].encode()
        case.headers["X-Cadence-Signature"] = "sha256=" + hmac.new(secret, raw, hashlib.sha256).hexdigest()
