"""lead scores: each contact's engagement score, as of when it was computed, with the points
each kind added today (for the daily caps)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 22:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("contacts", sa.Column("score", sa.Float(), server_default="0", nullable=False))
    op.add_column("contacts", sa.Column("score_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("contacts", sa.Column("score_day", sa.Date(), nullable=True))
    op.add_column("contacts", sa.Column("score_used", JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False))


def downgrade() -> None:
    for column in ("score_used", "score_day", "score_at", "score"):
        op.drop_column("contacts", column)
