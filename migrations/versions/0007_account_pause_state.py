"""account pause state

An account pause is a state of the account (who paused it, why, until when), not only a
command sent to its enrollments: new enrollments of its contacts start paused, and an
account resume resumes only the enrollments the account pause paused.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 05:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("accounts", sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("accounts", sa.Column("paused_by", sa.String(length=200), nullable=True))
    op.add_column("accounts", sa.Column("pause_reason", sa.String(length=1000), nullable=True))
    op.add_column("accounts", sa.Column("paused_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    for column in ("paused_until", "pause_reason", "paused_by", "paused_at"):
        op.drop_column("accounts", column)
