"""`cadence keys create/list/revoke`: API keys, shown once and stored hashed."""

from __future__ import annotations

import typer

from models.keys import Role
from starter.cli.common import Context, actor, emit, guarded, make_table, run
from starter.service import keys

app = typer.Typer(no_args_is_help=True)


@app.command("create")
@guarded
def create(
    ctx: typer.Context,
    role: Role = typer.Option(..., help="service, cs_lead, auditor or admin"),
    name: str = typer.Option(..., help="Who or what uses it; recorded as the actor in the audit trail"),
) -> None:
    """Create a key. The secret is printed once and never stored."""
    obj: Context = ctx.obj
    created = run(lambda backend: keys.create(backend, name=name, role=role, actor=actor()), obj.settings)
    data = {"id": created.id, "name": created.name, "role": created.role, "key": created.key}
    emit(
        data, as_json=obj.json, table=lambda: f"{role.value} key for {name}:\n\n  {created.key}\n\nStore it now; it cannot be shown again."
    )


@app.command("list")
@guarded
def list_keys(ctx: typer.Context) -> None:
    """Keys with their role, prefix and last use (never the secret)."""
    obj: Context = ctx.obj
    found = run(keys.list_keys, obj.settings)
    rows = [
        {
            "id": k.id,
            "name": k.name,
            "role": k.role,
            "prefix": k.prefix,
            "created_at": k.created_at,
            "last_used_at": k.last_used_at,
            "revoked": k.revoked_at is not None,
        }
        for k in found
    ]
    emit(
        rows,
        as_json=obj.json,
        table=lambda: make_table(
            "API keys",
            ["name", "role", "prefix", "last used", "revoked", "id"],
            [(r["name"], r["role"], f"{r['prefix']}…", r["last_used_at"], r["revoked"], r["id"]) for r in rows],
        ),
    )


@app.command("revoke")
@guarded
def revoke(ctx: typer.Context, key_id: str = typer.Argument(..., help="The key's id (from keys list)")) -> None:
    """Revoke a key at once."""
    obj: Context = ctx.obj
    run(lambda backend: keys.revoke(backend, key_id, actor=actor()), obj.settings)
    emit({"id": key_id, "revoked": True}, as_json=obj.json, table=lambda: f"revoked {key_id}")
