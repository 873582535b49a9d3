"""`cadence contacts import FILE.csv`."""

from __future__ import annotations

from pathlib import Path

import typer

from core.db import make_engine
from models.imports import CsvError, import_csv
from starter.cli.common import INVALID, NOT_FOUND, Context, emit, fail, guarded, make_table, out

app = typer.Typer(no_args_is_help=True)


@app.command("import")
@guarded
def import_contacts(ctx: typer.Context, file: Path = typer.Argument(..., help="CSV with a header row; external_id is required")) -> None:
    """Import contacts; bad rows are reported with their row number and skipped."""
    obj: Context = ctx.obj
    if not file.is_file():
        fail(f"{file}: no such file", code=NOT_FOUND, as_json=obj.json)
    try:
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        fail(f"{file}: not UTF-8 text", code=INVALID, as_json=obj.json)
    engine = make_engine(obj.settings.database_url, 2)
    try:
        report = import_csv(engine, text)
    except CsvError as error:
        fail(f"{file}: {error.message}", code=INVALID, as_json=obj.json)
    finally:
        engine.dispose()
    data = {"imported": report.imported, "created": report.created, "updated": report.updated, "failed": len(report.errors),
            "errors": [e.__dict__ for e in report.errors]}

    def table() -> object:
        out.print(f"imported {report.imported} (created {report.created}, updated {report.updated}), failed {len(report.errors)}")
        return make_table(None, ["row", "field", "problem", "external_id"], [(e.row, e.field, e.message, e.external_id) for e in report.errors]) if report.errors else ""

    emit(data, as_json=obj.json, table=table)  # type: ignore[arg-type]
    if report.errors:
        raise typer.Exit(INVALID)
