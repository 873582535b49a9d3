"""drafts, publishing and bulk operations

A cadence has a draft (edited, validated, used by nobody) and a published version (what
new enrollments get; publishing an earlier one again is a rollback), and may follow each
published version with its running enrollments. Bulk operations (migrate, pause, resume,
stop) are previewed into a list of items and then applied. The enrollment mirror says
where its workflow stands (occurrence, round, when its wait began, what it waits on), so a
migration can be previewed without asking every workflow.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_EMPTY = sa.text("'{}'::jsonb")


def upgrade() -> None:
    op.add_column("cadences", sa.Column("published_version_id", sa.Uuid(), nullable=True))
    op.create_foreign_key(None, "cadences", "cadence_versions", ["published_version_id"], ["id"])
    op.add_column("cadences", sa.Column("published_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("cadences", sa.Column("published_by", sa.String(length=200), nullable=True))
    op.add_column("cadences", sa.Column("follow_published", sa.Boolean(), server_default=sa.false(), nullable=False))
    # Until now the newest version was what new enrollments got: it is the published one.
    op.execute(
        """
        UPDATE cadences c SET published_version_id = v.id, published_at = v.created_at, published_by = v.created_by
        FROM (SELECT DISTINCT ON (cadence_id) cadence_id, id, created_at, created_by
              FROM cadence_versions ORDER BY cadence_id, version DESC) v
        WHERE v.cadence_id = c.id
        """
    )
    op.create_table(
        "cadence_drafts",
        sa.Column("cadence_id", sa.Uuid(), sa.ForeignKey("cadences.id"), primary_key=True),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("definition", JSONB(), server_default=_EMPTY, nullable=False),
        sa.Column("templates", JSONB(), server_default=_EMPTY, nullable=False),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("based_on_version_id", sa.Uuid(), sa.ForeignKey("cadence_versions.id"), nullable=True),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )
    op.add_column("enrollments", sa.Column("step_occurrence", sa.Integer(), server_default="0", nullable=False))
    op.add_column("enrollments", sa.Column("step_round", sa.Integer(), server_default="0", nullable=False))
    op.add_column("enrollments", sa.Column("planned_from", sa.DateTime(timezone=True), nullable=True))
    op.add_column("enrollments", sa.Column("waiting_on", sa.String(length=10), nullable=True))
    op.create_table(
        "operations",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("cadence_id", sa.Uuid(), sa.ForeignKey("cadences.id"), nullable=True),
        sa.Column("to_version_id", sa.Uuid(), sa.ForeignKey("cadence_versions.id"), nullable=True),
        sa.Column("filter", JSONB(), server_default=_EMPTY, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcomes", JSONB(), server_default=_EMPTY, nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("rate_per_second", sa.Float(), nullable=False),
        sa.Column("spread_per_second", sa.Float(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("applied_by", sa.String(length=200), nullable=True),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_operations_status", "operations", ["status"])
    op.create_index("ix_operations_cadence_id", "operations", ["cadence_id"])
    op.create_table(
        "operation_items",
        sa.Column("operation_id", sa.Uuid(), sa.ForeignKey("operations.id"), primary_key=True),
        sa.Column("enrollment_id", sa.Uuid(), sa.ForeignKey("enrollments.id"), primary_key=True),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=12), nullable=False),
        sa.Column("preview", JSONB(), server_default=_EMPTY, nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_operation_items_pending", "operation_items", ["operation_id", "status", "seq"])


def downgrade() -> None:
    op.drop_table("operation_items")
    op.drop_table("operations")
    for column in ("waiting_on", "planned_from", "step_round", "step_occurrence"):
        op.drop_column("enrollments", column)
    op.drop_table("cadence_drafts")
    op.drop_constraint("cadences_published_version_id_fkey", "cadences", type_="foreignkey")
    for column in ("follow_published", "published_by", "published_at", "published_version_id"):
        op.drop_column("cadences", column)
