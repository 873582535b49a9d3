"""Rate limits over HTTP: one API key, one client address, and the provider webhooks each
have their own limit; over it the API answers 429 in the error shape with Retry-After, and
the Python client waits that long and goes through."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from cadence_client import Cadence

from core.db import transaction
from core.settings import Settings
from models.keys import Role, create_key
from starter.api import create_app
from tests.integration.conftest import Stack
from tests.support.server import serve

pytestmark = pytest.mark.integration


def limited(stack: Stack, **limits: int) -> dict[str, object]:
    return {
        "temporal_address": stack.env.client.service_client.config.target_host,
        "rate_limit_per_key": 1_000_000,
        "rate_limit_per_address": 1_000_000,
        "rate_limit_webhooks": 1_000_000,
        **limits,
    }


def test_one_key_over_its_limit_gets_429_with_retry_after_and_others_go_on(stack: Stack) -> None:
    with transaction(stack.engine) as session:
        _, busy = create_key(session, name="busy-service", role=Role.service)
        _, calm = create_key(session, name="calm-service", role=Role.service)
    with serve(create_app(stack.settings.model_copy(update=limited(stack, rate_limit_per_key=30)))) as url:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {busy}"}) as http:
            answers = [http.get("/v1/cadences") for _ in range(40)]
        codes = [a.status_code for a in answers]
        assert codes[:30] == [200] * 30 and set(codes[30:]) == {429}
        refused = answers[-1]
        assert refused.json()["error"]["code"] == "rate_limited" and "API key" in refused.json()["error"]["message"]
        assert 1 <= int(refused.headers["retry-after"]) <= 2  # 30 a minute: one more every 2 s
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {calm}"}) as http:
            assert http.get("/v1/cadences").status_code == 200  # another key is not held back
            assert http.get("/healthz").status_code in (200, 503)  # never limited


def test_an_address_flooding_with_bad_keys_is_limited_and_webhooks_have_their_own_limit(stack: Stack) -> None:
    settings = stack.settings.model_copy(update=limited(stack, rate_limit_per_address=20, rate_limit_webhooks=50))
    with serve(create_app(settings)) as url, httpx.Client(base_url=url) as http:
        guesses = [http.get("/v1/cadences", headers={"Authorization": f"Bearer cad_guess{n}"}).status_code for n in range(25)]
        assert guesses[:20] == [401] * 20 and set(guesses[20:]) == {429}
        # Twilio's webhooks are counted apart (unsigned here: refused, but not rate limited).
        webhook = [http.post("/webhooks/twilio/sms", data={"From": "+1", "Body": "hi"}).status_code for _ in range(30)]
        assert 429 not in webhook


def test_the_client_waits_as_long_as_it_is_asked_and_goes_through(stack: Stack) -> None:
    with transaction(stack.engine) as session:
        _, key = create_key(session, name="patient-service", role=Role.service)
    with serve(create_app(stack.settings.model_copy(update=limited(stack, rate_limit_per_key=60)))) as url:
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=url, timeout=30) as http:
            # Empty the key's bucket (it refills one a second, so a slow machine needs more).
            for _ in range(200):
                if http.get("/v1/tasks", headers=headers).status_code == 429:
                    break
            else:
                raise AssertionError("the key was never limited")
        with Cadence(url, key, timeout=30) as client:
            started = time.monotonic()
            client.tasks()  # 429 with Retry-After 1, then a retry that goes through
            assert time.monotonic() - started >= 0.9


async def test_no_limit_gets_in_the_way_of_a_normal_reply_wave(stack: Stack) -> None:
    # The shipped defaults: a burst of 200 signed-looking webhook posts from one address is let in.
    shipped = {
        name: Settings.model_fields[name].default for name in ("rate_limit_per_key", "rate_limit_per_address", "rate_limit_webhooks")
    }
    defaults = stack.settings.model_copy(update={"temporal_address": stack.env.client.service_client.config.target_host, **shipped})
    with serve(create_app(defaults)) as url:
        async with httpx.AsyncClient(base_url=url) as http:
            answers = await asyncio.gather(*[http.post("/webhooks/twilio/sms", data={"From": "+1", "Body": "hi"}) for _ in range(200)])
    assert 429 not in [a.status_code for a in answers]
