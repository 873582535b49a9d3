"""engagement events: deliveries, opens, clicks, replies, meetings, bounces, complaints,
opt-outs and completed tasks, each against the touch (or enrollment) that caused it

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 21:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "engagements",
        sa.Column("id", sa.BigInteger(), autoincrement=True, primary_key=True),
        sa.Column("dedup_key", sa.String(length=300), nullable=False, unique=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("touch_id", sa.Uuid(), sa.ForeignKey("touches.id"), nullable=True),
        sa.Column("enrollment_id", sa.Uuid(), sa.ForeignKey("enrollments.id"), nullable=True),
        sa.Column("contact_id", sa.Uuid(), sa.ForeignKey("contacts.id"), nullable=True),
        sa.Column("machine", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("detail", JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )
    op.create_index("ix_engagements_touch", "engagements", ["touch_id", "kind"])
    op.create_index("ix_engagements_enrollment", "engagements", ["enrollment_id", "kind"])
    op.create_index(op.f("ix_engagements_contact_id"), "engagements", ["contact_id"])


def downgrade() -> None:
    op.drop_table("engagements")
