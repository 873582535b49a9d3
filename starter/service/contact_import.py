"""Contact CSV import: parse, validate per row, and import the valid rows.

Rows are numbered as a spreadsheet shows them (the header is row 1). A bad row is reported
with its number and field and skipped; every good row is imported in its own transaction,
so one bad row never leaves another half-written. What each row did to the contact's dates
is kept, so that the caller can fire the date rules and move open enrollments afterwards.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Engine
from sqlmodel import Session

from core.db import transaction
from models.contacts import upsert_contact
from models.schemas import ContactIn
from models.tables import Contact
from starter.service.events import DatesChange

# Writes one row: (contact, created, what it did to the contact's dates).
Upsert = Callable[[Session, ContactIn], tuple[Contact, bool, DatesChange | None]]

PLAIN_COLUMNS = {
    "external_id",
    "account_external_id",
    "account_name",
    "email",
    "phone",
    "first_name",
    "last_name",
    "title",
    "timezone",
    "country",
    "region",
    "persona",
    "industry",
    "tier",
    "owner_id",
}
CONSENT_COLUMNS = {"consent_email": "email", "consent_sms": "sms", "consent_call": "call", "consent_linkedin": "linkedin"}
TRUE = {"1", "true", "yes", "y", "t"}
FALSE = {"0", "false", "no", "n", "f", ""}
MAX_ROWS = 50_000


class CsvError(ValueError):
    """The file itself is unusable (no header, unknown column, too many rows)."""

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


@dataclass
class RowError:
    """Why one row was not imported."""

    row: int
    field: str
    message: str
    external_id: str | None = None


@dataclass
class ImportReport:
    """What the import did, row by row."""

    created: int = 0
    updated: int = 0
    errors: list[RowError] = field(default_factory=list)
    contact_ids: dict[int, str] = field(default_factory=dict)
    date_changes: list[DatesChange] = field(default_factory=list)

    @property
    def imported(self) -> int:
        """Rows written (created or updated)."""
        return self.created + self.updated


def _row_to_input(values: dict[str, str]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    consent: dict[str, Any] = {}
    dates: dict[str, str] = {}
    fields: dict[str, str] = {}
    for column, raw in values.items():
        value = (raw or "").strip()
        if column in PLAIN_COLUMNS:
            if value:
                data[column] = value
        elif column in CONSENT_COLUMNS:
            lowered = value.lower()
            if lowered in TRUE:
                consent[CONSENT_COLUMNS[column]] = {"granted": True, "source": "csv import"}
            elif lowered not in FALSE:
                raise _Bad(column, f"{value!r} is not yes/no")
        elif column == "preferred_channels":
            if value:
                data["preferences"] = {"channels": [c.strip() for c in value.replace(",", ";").split(";") if c.strip()]}
        elif column.startswith("date_"):
            if value:
                dates[column.removeprefix("date_")] = value
        elif column.startswith("field_"):
            if value:
                fields[column.removeprefix("field_")] = value
    if consent:
        data["consent"] = consent
    if dates:
        data["dates"] = dates
    if fields:
        data["fields"] = fields
    return data


class _Bad(ValueError):
    def __init__(self, column: str, message: str) -> None:
        super().__init__(message)
        self.column = column
        self.message = message


def _known(column: str) -> bool:
    return (
        column in PLAIN_COLUMNS
        or column in CONSENT_COLUMNS
        or column == "preferred_channels"
        or (column.startswith(("date_", "field_")) and len(column) > 6)
    )


def parse(text: str) -> list[tuple[int, ContactIn | RowError]]:
    """Validate every row; returns (row number, contact or error) in file order. A file the
    CSV reader cannot read at all (a stray carriage return in an unquoted cell, say) is
    refused whole, naming the line, before anything is written."""
    # newline="": the csv module reads \r\n, \n and \r line ends (and ones inside quotes) itself.
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    try:
        return _parse_rows(reader)
    except csv.Error as exc:
        raise CsvError(f"line {reader.line_num}: the CSV cannot be read ({exc})", {"line": reader.line_num}) from None


def _parse_rows(reader: csv.DictReader[str]) -> list[tuple[int, ContactIn | RowError]]:
    if not reader.fieldnames:
        raise CsvError("the CSV has no header row; the first row must name the columns (external_id, email, ...)")
    columns = [c.strip() for c in reader.fieldnames]
    reader.fieldnames = columns
    if "external_id" not in columns:
        raise CsvError("the CSV needs an external_id column", {"columns": columns})
    unknown = [c for c in columns if not _known(c)]
    if unknown:
        raise CsvError(
            f"unknown column(s): {', '.join(unknown)}",
            {
                "unknown": unknown,
                "allowed": sorted(PLAIN_COLUMNS | set(CONSENT_COLUMNS) | {"preferred_channels", "date_<name>", "field_<name>"}),
            },
        )
    out: list[tuple[int, ContactIn | RowError]] = []
    seen: dict[str, int] = {}
    for index, values in enumerate(reader, start=2):
        if index - 1 > MAX_ROWS:
            raise CsvError(f"the CSV has more than {MAX_ROWS} rows; split it into smaller files")
        external = (values.get("external_id") or "").strip() or None
        if None in values:
            out.append((index, RowError(index, "(row)", "the row has more cells than the header has columns", external)))
            continue
        try:
            contact = ContactIn.model_validate(_row_to_input(values))
            contact.normalized_phone()
        except _Bad as bad:
            out.append((index, RowError(index, bad.column, bad.message, external)))
            continue
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(p) for p in err["loc"]) or "(row)"
            out.append((index, RowError(index, _column_of(loc), err["msg"].removeprefix("Value error, "), external)))
            continue
        except ValueError as exc:
            out.append((index, RowError(index, "phone", str(exc), external)))
            continue
        if contact.external_id in seen:
            out.append((index, RowError(index, "external_id", f"repeats row {seen[contact.external_id]}", external)))
            continue
        seen[contact.external_id] = index
        out.append((index, contact))
    return out


def _column_of(loc: str) -> str:
    head = loc.split(".")[0]
    if head == "consent":
        return "consent_" + loc.split(".")[1] if "." in loc else "consent"
    if head in ("dates", "fields"):
        return ("date_" if head == "dates" else "field_") + (loc.split(".")[1] if "." in loc else "")
    return head


def _plain(session: Session, data: ContactIn) -> tuple[Contact, bool, DatesChange | None]:
    return (*upsert_contact(session, data), None)


def import_csv(engine: Engine, text: str, upsert: Upsert = _plain) -> ImportReport:
    """Parse and import; each valid row commits on its own."""
    report = ImportReport()
    for row, parsed in parse(text):
        if isinstance(parsed, RowError):
            report.errors.append(parsed)
            continue
        try:
            with transaction(engine) as session:
                contact, created, change = upsert(session, parsed)
                report.contact_ids[row] = str(contact.id)
        except Exception as exc:  # a database refusal for this row only (e.g. unknown owner)
            report.errors.append(RowError(row, _db_field(exc), _db_message(exc), parsed.external_id))
            continue
        if change is not None:
            report.date_changes.append(change)
        if created:
            report.created += 1
        else:
            report.updated += 1
    return report


def _db_field(exc: Exception) -> str:
    text = str(exc)
    return "owner_id" if "owner_id" in text else "(row)"


def _db_message(exc: Exception) -> str:
    text = str(exc)
    if "owner_id" in text and "foreign key" in text.lower():
        return "unknown owner_id"
    return "the database refused the row"
