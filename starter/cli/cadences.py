"""`cadence cadences ...`: load, list, show, validate, schema."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from cadence.parse import DefinitionError, definition_json_schema
from cadence.waiting import describe_wait
from starter.catalog import PLAYBOOKS_DIR, playbook_files
from starter.cli.common import INVALID, NOT_FOUND, Context, actor, emit, fail, guarded, make_table, out, run
from starter.service import cadences

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
def validate(
    ctx: typer.Context, paths: list[Path] = typer.Argument(None, help="Files or folders (default: the shipped playbooks)")
) -> None:
    """Check definitions and templates without storing anything."""
    obj: Context = ctx.obj
    results, problems = [], []
    for path, loaded in cadences.check_files(_files(paths)):
        if isinstance(loaded, DefinitionError):
            problems.append({"file": str(path), "error": str(loaded)})
        else:
            results.append(
                {
                    "file": str(path),
                    "key": loaded.definition.key,
                    "steps": len(loaded.definition.steps),
                    "version": loaded.version_hash[:12],
                }
            )
    emit(
        {"valid": results, "invalid": problems},
        as_json=obj.json,
        table=lambda: make_table(
            "Cadence definitions",
            ["file", "key", "steps", "version / error"],
            [(r["file"], r["key"], r["steps"], r["version"]) for r in results] + [(p["file"], "", "", p["error"]) for p in problems],
        ),
    )
    if problems:
        raise typer.Exit(INVALID)


@app.command("load")
@guarded
def load(ctx: typer.Context, paths: list[Path] = typer.Argument(None, help="Files or folders (default: the shipped playbooks)")) -> None:
    """Store definitions as cadence versions (the same content twice is one version)."""
    obj: Context = ctx.obj
    files = _files(paths)
    rows = run(lambda backend: cadences.publish_files(backend, files, actor=actor()), obj.settings)
    emit(
        rows,
        as_json=obj.json,
        table=lambda: make_table(
            "Loaded",
            ["key", "version", "hash", "status"],
            [(r.key, r.version, r.hash, "new version" if r.created else "unchanged") for r in rows],
        ),
    )


@app.command("list")
@guarded
def list_cadences(ctx: typer.Context) -> None:
    """Every stored cadence with its latest version."""
    obj: Context = ctx.obj
    found = run(cadences.list_cadences, obj.settings)
    rows = [
        {
            "id": c.id,
            "key": c.key,
            "name": c.name,
            "version": c.latest_version.version if c.latest_version else None,
            "steps": c.latest_version.steps if c.latest_version else 0,
        }
        for c in found
    ]
    emit(
        rows,
        as_json=obj.json,
        table=lambda: make_table(
            "Cadences", ["key", "name", "version", "steps", "id"], [(r["key"], r["name"], r["version"], r["steps"], r["id"]) for r in rows]
        ),
    )


@app.command("show")
@guarded
def show(
    ctx: typer.Context,
    cadence: str = typer.Argument(..., help="Key or id"),
    version: int | None = typer.Option(None, help="A version number (default: latest)"),
) -> None:
    """The steps of a cadence version, with their timing."""
    obj: Context = ctx.obj
    view = run(lambda backend: cadences.get_cadence(backend, cadence, version=version), obj.settings)
    assert view.shown is not None and view.parsed is not None
    found, shown, definition = view.cadence, view.shown, view.parsed
    data = {
        "key": found.key,
        "name": found.name,
        "version": shown.version,
        "hash": shown.content_hash,
        "versions": [v.version for v in found.versions or []],
        "definition": found.definition,
    }
    emit(
        data,
        as_json=obj.json,
        table=lambda: make_table(
            f"{found.key} v{shown.version} ({shown.content_hash[:12]}) — {found.name}",
            ["#", "step", "type", "when"],
            [(i + 1, s.id, s.type, describe_wait(s.wait) + (" (repeats)" if s.repeat else "")) for i, s in enumerate(definition.steps)],
        ),
    )


@app.command("schema")
@guarded
def schema(
    ctx: typer.Context, output: Path | None = typer.Option(None, "--output", "-o", help="Write to a file instead of stdout")
) -> None:
    """The JSON Schema of a cadence definition (for editors and other services)."""
    text = json.dumps(definition_json_schema(), indent=2)
    if output:
        output.write_text(text + "\n", encoding="utf-8")
        out.print(f"wrote {output}")
    else:
        print(text)
