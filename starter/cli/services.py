"""`cadence dev`, `cadence worker`, `cadence api`, `cadence migrate`."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import typer
import uvicorn

from core import logs
from core.postgres import migrate as run_migrations
from core.postgres import role_of
from core.settings import InsecureSettings
from starter.cli.common import INVALID, UNAVAILABLE, Context, fail, finish, guarded, out


def register(app: typer.Typer) -> None:
    """Add the process commands to the top-level app."""

    @app.command("dev")
    @guarded
    def dev(
        ctx: typer.Context,
        data_dir: Path = typer.Option(Path(".cadence"), help="Where Postgres, Temporal and dev.json live"),
        port: int = typer.Option(8000, help="API port"),
        temporal_port: int = typer.Option(7233, help="Temporal gRPC port"),
        ui_port: int = typer.Option(8233, help="Temporal UI port"),
        smtp_port: int = typer.Option(1025, help="Local SMTP sink port"),
        demo: bool = typer.Option(False, "--demo", help="Add sample owners, accounts and contacts"),
    ) -> None:
        """Run the whole system on this machine (embedded Postgres and Temporal unless configured)."""
        from starter.dev import DevOptions, run_dev

        obj: Context = ctx.obj
        settings = obj.settings
        logs.configure(settings.log_level)
        options = DevOptions(
            data_dir=data_dir,
            port=port,
            temporal_port=temporal_port,
            ui_port=ui_port,
            smtp_port=smtp_port,
            demo=demo,
            database_url=os.environ.get("DATABASE_URL") and settings.database_url,
        )
        try:
            asyncio.run(run_dev(options, settings))
        except RuntimeError as error:
            fail(str(error), code=UNAVAILABLE)

    @app.command("worker")
    def worker() -> None:
        """Run a worker (settings from the environment and .env)."""
        import worker as worker_module

        finish(worker_module.main())

    @app.command("api")
    @guarded
    def api(ctx: typer.Context, host: str | None = typer.Option(None), port: int | None = typer.Option(None)) -> None:
        """Serve the HTTP API (docs at /docs)."""
        from starter.api import create_app

        settings: object = ctx.obj.settings
        from core.settings import Settings

        assert isinstance(settings, Settings)
        logs.configure(settings.log_level)
        try:
            settings.require_real_secrets()
        except InsecureSettings as error:
            fail(str(error), code=INVALID)
        uvicorn.run(create_app(settings), host=host or settings.api_host, port=port or settings.api_port, log_level="info")

    @app.command("migrate")
    @guarded
    def migrate(ctx: typer.Context) -> None:
        """Bring the database schema up to date (as MIGRATION_DATABASE_URL's owner role, granting
        DATABASE_URL's application role its privileges), or as DATABASE_URL alone."""
        obj: Context = ctx.obj
        owner_url = obj.settings.migration_database_url or obj.settings.database_url
        app_role = role_of(obj.settings.database_url)
        run_migrations(owner_url, app_role=app_role if app_role and app_role != role_of(owner_url) else None)
        out.print("database is up to date") if not obj.json else out.print_json('{"migrated": true}')
