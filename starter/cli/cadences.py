"""`cadence cadences ...`: load, list, show, validate, schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from sqlmodel import select

from cadence.definition import DefinitionError, definition_json_schema
from core.db import make_engine, transaction
from models.cadences import find_cadence, save_bundle, versions
from models.catalog import PLAYBOOKS_DIR, load_file, playbook_files
from models.tables import Cadence
from starter.cli.common import INVALID, NOT_FOUND, Context, actor, emit, fail, guarded, make_table, out
from starter.errors import NotFound

app = typer.Typer(no_args_is_help=True)


def _files(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths or [PLAYBOOKS_DIR]:
        if path.is_dir():
            found.extend(playbook_files(path))
        elif path.is_file():
            found.append(path)
        else:
            fail(f"{path}: no such file or folder", code=NOT_FOUND)
    return found


@app.command("validate")
@guarded
def validate(ctx: typer.Context, paths: list[Path] = typer.Argument(None, help="Files or folders (default: the shipped playbooks)")) -> None:
    """Check definitions and templates without storing anything."""
    obj: Context = ctx.obj
    results, problems = [], []
    for path in _files(paths):
        try:
            bundle = load_file(path)
            results.append({"file": str(path), "key": bundle.definition.key, "steps": len(bundle.definition.steps), "version": bundle.version_hash[:12]})
        except DefinitionError as error:
            problems.append({"file": str(path), "error": str(error)})
    emit({"valid": results, "invalid": problems}, as_json=obj.json, table=lambda: make_table(
        "Cadence definitions", ["file", "key", "steps", "version / error"],
        [(r["file"], r["key"], r["steps"], r["version"]) for r in results] + [(p["file"], "", "", p["error"]) for p in problems],
    ))
    if problems:
        raise typer.Exit(INVALID)


@app.command("load")
@guarded
def load(ctx: typer.Context, paths: list[Path] = typer.Argument(None, help="Files or folders (default: the shipped playbooks)")) -> None:
    """Store definitions as cadence versions (the same content twice is one version)."""
    obj: Context = ctx.obj
    bundles = []
    for path in _files(paths):
        try:
            bundles.append((path, load_file(path)))
        except DefinitionError as error:
            fail(str(error), code=INVALID, as_json=obj.json)
    engine = make_engine(obj.settings.database_url, 2)
    rows = []
    with transaction(engine) as session:
        for path, bundle in bundles:
            cadence, version, created = save_bundle(session, bundle, source=path.read_text(encoding="utf-8"), actor=actor())
            rows.append({"key": cadence.key, "version": version.version, "hash": version.content_hash[:12], "created": created})
    engine.dispose()
    emit(rows, as_json=obj.json, table=lambda: make_table(
        "Loaded", ["key", "version", "hash", "status"], [(r["key"], r["version"], r["hash"], "new version" if r["created"] else "unchanged") for r in rows]
    ))


@app.command("list")
@guarded
def list_cadences(ctx: typer.Context) -> None:
    """Every stored cadence with its latest version."""
    obj: Context = ctx.obj
    engine = make_engine(obj.settings.database_url, 2)
    rows = []
    with transaction(engine) as session:
        for cadence in session.exec(select(Cadence).order_by(Cadence.key)).all():
            latest = versions(session, cadence)[:1]
            rows.append({"id": str(cadence.id), "key": cadence.key, "name": cadence.name,
                         "version": latest[0].version if latest else None, "steps": len(latest[0].definition["steps"]) if latest else 0})
    engine.dispose()
    emit(rows, as_json=obj.json, table=lambda: make_table("Cadences", ["key", "name", "version", "steps", "id"],
                                                        [(r["key"], r["name"], r["version"], r["steps"], r["id"]) for r in rows]))


@app.command("show")
@guarded
def show(ctx: typer.Context, cadence: str = typer.Argument(..., help="Key or id"), version: int | None = typer.Option(None, help="A version number (default: latest)")) -> None:
    """The steps of a cadence version, with their timing."""
    from cadence.definition import CadenceDefinition
    from cadence.waiting import describe_wait

    obj: Context = ctx.obj
    engine = make_engine(obj.settings.database_url, 2)
    with transaction(engine) as session:
        found = find_cadence(session, cadence)
        if found is None:
            raise NotFound(f"cadence {cadence!r} not found")
        rows = versions(session, found)
        chosen = next((v for v in rows if version is None or v.version == version), None)
        if chosen is None:
            raise NotFound(f"cadence {found.key!r} has no version {version}")
        data: dict[str, Any] = {"key": found.key, "name": found.name, "version": chosen.version, "hash": chosen.content_hash,
                "versions": [v.version for v in rows], "definition": chosen.definition}
    engine.dispose()
    definition = CadenceDefinition.model_validate(data["definition"])
    emit(data, as_json=obj.json, table=lambda: make_table(
        f"{data['key']} v{data['version']} ({data['hash'][:12]}) — {data['name']}", ["#", "step", "type", "when"],
        [(i + 1, s.id, s.type, describe_wait(s.wait) + (" (repeats)" if s.repeat else "")) for i, s in enumerate(definition.steps)],
    ))


@app.command("schema")
@guarded
def schema(ctx: typer.Context, output: Path | None = typer.Option(None, "--output", "-o", help="Write to a file instead of stdout")) -> None:
    """The JSON Schema of a cadence definition (for editors and other services)."""
    text = json.dumps(definition_json_schema(), indent=2)
    if output:
        output.write_text(text + "\n", encoding="utf-8")
        out.print(f"wrote {output}")
    else:
        print(text)
