"""`cadence contacts import FILE.csv`."""

from __future__ import annotations

from pathlib import Path

import typer

from starter.cli.common import INVALID, NOT_FOUND, Context, emit, fail, guarded, make_table, out, run
from starter.service import contacts

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
    report = run(lambda backend: contacts.import_contacts(backend, text), obj.settings)

    def table() -> object:
        out.print(f"imported {report.imported} (created {report.created}, updated {report.updated}), failed {report.failed}")
        return (
            make_table(
                None, ["row", "field", "problem", "external_id"], [(e.row, e.field, e.message, e.external_id) for e in report.errors]
            )
            if report.errors
            else ""
        )

    emit(report, as_json=obj.json, table=table)  # type: ignore[arg-type]
    if report.errors:
        raise typer.Exit(INVALID)
