"""Browser tests run against the integration stack: a real worker on the Temporal dev
server, Postgres, SMTP and the fake Twilio (the root conftest provides the servers)."""

from tests.integration.conftest import settings, stack  # noqa: F401
