"""Prometheus metrics: what operators watch (prometheus-client, the process's default registry).

The API serves them at `/metrics`; the worker serves its own at `WORKER_METRICS_ADDRESS`
together with the Temporal SDK's worker metrics (task slots, poll and task latencies,
sticky cache), which the SDK's runtime exports on a private local port and this module
appends. Series are counted where the thing happens: touches and gate decisions in the send
activities, enrollments ended when their last transition is recorded, enrollments started
by the enroll operation, inbound events when written and when delivered, requests in the
API's middleware (by route template, so ids do not multiply the series).
"""

from __future__ import annotations

import http.server
import threading
import urllib.request

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Histogram, generate_latest

TOUCHES = Counter(
    "cadence_touches", "Emails and texts by channel and outcome (sent, skipped, deferred, stopped, unclear, failed)", ["channel", "outcome"]
)
GATE_DECISIONS = Counter("cadence_gate_decisions", "The gate's decisions on touches and call tasks, by action and code", ["action", "code"])
ENROLLMENTS_STARTED = Counter("cadence_enrollments_started", "Enrollments started, by cadence", ["cadence"])
ENROLLMENTS_ENDED = Counter("cadence_enrollments_ended", "Enrollments ended, by final status", ["status"])
INBOUND_EVENTS = Counter("cadence_inbound_events", "Inbound events written (replies, opt-outs, bounces, meetings...), by kind", ["kind"])
ENGAGEMENTS = Counter(
    "cadence_engagements", "Opens and clicks recorded from tracking links, by kind and whether a machine made them", ["kind", "machine"]
)
INBOUND_LAG = Histogram(
    "cadence_inbound_delivery_lag_seconds",
    "From an inbound event's arrival to its delivery to the contact's enrollments",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
)
REQUESTS = Histogram(
    "cadence_http_request_duration_seconds",
    "API request latency, by method, route template and status",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


def exposition(sdk_url: str | None = None) -> bytes:
    """The text format of this process's series, and the Temporal SDK's when `sdk_url`
    (its local Prometheus endpoint) is given and answers."""
    body = generate_latest(REGISTRY)
    if sdk_url is not None:
        try:
            with urllib.request.urlopen(sdk_url, timeout=2) as answer:  # noqa: S310 (a local http URL we built)
                body += answer.read()
        except OSError:
            body += b"# the Temporal SDK's metrics did not answer\n"
    return body


def serve(address: str, sdk_url: str | None = None) -> http.server.ThreadingHTTPServer:
    """Serve `GET /metrics` at host:port on a daemon thread (the worker's endpoint)."""
    host, _, port = address.rpartition(":")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
            if self.path.split("?")[0] != "/metrics":
                self.send_error(404, "only /metrics here")
                return
            body = exposition(sdk_url)
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE_LATEST)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # scrapes every 15 s are not news
            return

    server = http.server.ThreadingHTTPServer((host or "127.0.0.1", int(port)), Handler)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
