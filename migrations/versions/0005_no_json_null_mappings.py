"""no JSON null in contact and account mappings

Contacts and accounts saved with "consent": null (or dates, fields, preferences) were
stored as the JSON value null, which the gate and the renderer read as a mapping. Since
then null means "leave it as it is"; rows written before become empty mappings.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 03:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = {"contacts": ("consent", "preferences", "dates", "fields"), "accounts": ("dates", "fields")}


def upgrade() -> None:
    for table, columns in COLUMNS.items():
        for column in columns:
            op.execute(f"UPDATE {table} SET {column} = '{{}}'::jsonb WHERE {column} = 'null'::jsonb")


def downgrade() -> None:
    pass  # an empty mapping is what null always meant
