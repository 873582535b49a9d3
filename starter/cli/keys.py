"""`cadence keys create/list/revoke`: API keys, shown once and stored hashed."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
import typer
from sqlmodel import select

from core.db import make_engine, transaction
from models.keys import Role, create_key
from models.tables import ApiKey
from starter.cli.common import Context, emit, guarded, make_table
from starter.errors import NotFound

app = typer.Typer(no_args_is_help=True)


@app.command("create")
@guarded
def create(ctx: typer.Context, role: Role = typer.Option(..., help="service, cs_lead, auditor or admin"),
           name: str = typer.Option(..., help="Who or what uses it; recorded as the actor in the audit trail")) -> None:
    """Create a key. The secret is printed once and never stored."""
    obj: Context = ctx.obj
    engine = make_engine(obj.settings.database_url, 2)
    with transaction(engine) as session:
        row, secret = create_key(session, name=name, role=role)
        data = {"id": str(row.id), "name": row.name, "role": row.role, "key": secret}
    engine.dispose()
    emit(data, as_json=obj.json, table=lambda: f"{role.value} key for {name}:\n\n  {secret}\n\nStore it now; it cannot be shown again.")


@app.command("list")
@guarded
def list_keys(ctx: typer.Context) -> None:
    """Keys with their role, prefix and last use (never the secret)."""
    obj: Context = ctx.obj
    engine = make_engine(obj.settings.database_url, 2)
    with transaction(engine) as session:
        rows = [{"id": str(k.id), "name": k.name, "role": k.role, "prefix": k.prefix, "created_at": k.created_at,
                 "last_used_at": k.last_used_at, "revoked": k.revoked_at is not None}
                for k in session.exec(select(ApiKey).order_by(sa.column("created_at"))).all()]
    engine.dispose()
    emit(rows, as_json=obj.json, table=lambda: make_table("API keys", ["name", "role", "prefix", "last used", "revoked", "id"],
                                                        [(r["name"], r["role"], f"{r['prefix']}…", r["last_used_at"], r["revoked"], r["id"]) for r in rows]))


@app.command("revoke")
@guarded
def revoke(ctx: typer.Context, key_id: str = typer.Argument(..., help="The key's id (from keys list)")) -> None:
    """Revoke a key at once."""
    import uuid

    obj: Context = ctx.obj
    engine = make_engine(obj.settings.database_url, 2)
    with transaction(engine) as session:
        try:
            row = session.get(ApiKey, uuid.UUID(key_id))
        except ValueError:
            row = None
        if row is None:
            raise NotFound(f"no key with id {key_id!r}")
        row.revoked_at = row.revoked_at or dt.datetime.now(dt.UTC)
        session.add(row)
    engine.dispose()
    emit({"id": key_id, "revoked": True}, as_json=obj.json, table=lambda: f"revoked {key_id}")
