"""The `cadence` command line.

    cadence dev                      # the whole system on this machine
    cadence cadences load playbooks/ # store cadence versions
    cadence enroll inbound crm-42    # enroll a contact
    cadence status <enrollment-id>   # what it is doing and why
    cadence pause <id> --reason "…"  # CS leads: pause, resume, stop, skip
    cadence accounts pause acme --reason "…"   # a whole customer
    cadence cadences migrate outbound --preview --reason "…"   # live edits: see starter/cli/operations.py
    cadence enrollments pause --where cadence=outbound --reason "…"   # bulk, by query
    cadence preview outbound --contact crm-42   # what the contact will receive, and when

Tables for people by default, `--json` for machines. Exit codes: 0 ok, 1 failure, 2 usage,
3 not found, 4 conflict (illegal transition), 5 invalid input, 6 a dependency is down.
"""

from __future__ import annotations

import typer

from starter.cli import accounts, audit, cadences, contacts, enrollments, keys, operations, policy, previews, reports, services, tasks
from starter.cli.common import Context, finish

app = typer.Typer(
    name="cadence",
    help="Durable sales and customer cadences on Temporal.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def main_options(ctx: typer.Context, json_output: bool = typer.Option(False, "--json", help="Machine-readable JSON output.")) -> None:
    """Options shared by every command."""
    ctx.obj = Context(json=json_output)


services.register(app)
enrollments.register(app)
audit.register(app)
previews.register(app)
previews.register_forecast(app)
reports.register(app)
operations.register(cadences.app)
app.add_typer(cadences.app, name="cadences", help="Load, list, show, validate; draft, diff, publish, roll back and migrate cadences.")
app.add_typer(operations.enrollments_app, name="enrollments", help="Pause, resume or stop every enrollment matching --where.")
app.add_typer(operations.operations_app, name="operations", help="Bulk operations: list, show, items, apply.")
app.add_typer(contacts.app, name="contacts", help="Import contacts.")
app.add_typer(accounts.app, name="accounts", help="Show an account; pause or resume every enrollment of a customer.")
app.add_typer(tasks.app, name="tasks", help="The rep task queue: list, complete, skip.")
app.add_typer(enrollments.events_app, name="events", help="Send events (replies, opt-outs, meetings...) to enrollments.")
app.add_typer(keys.app, name="keys", help="Create, list and revoke API keys.")
app.add_typer(policy.app, name="policy", help="Check and show the gate's policy (segments, windows, caps) and event rules.")


def main() -> None:
    """Entry point of the `cadence` script."""
    try:
        app()
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        finish(code)
    finish(0)
