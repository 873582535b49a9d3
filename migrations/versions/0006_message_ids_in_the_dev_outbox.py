"""message ids in the dev outbox

The dev SMTP sink keeps each received message's Message-ID, so that a send retried after a
crash can ask whether the earlier attempt's email was accepted instead of sending it twice.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("dev_outbox", sa.Column("message_id", sa.String(length=998), nullable=True))
    op.create_index("ix_dev_outbox_message_id", "dev_outbox", ["message_id"])


def downgrade() -> None:
    op.drop_index("ix_dev_outbox_message_id", table_name="dev_outbox")
    op.drop_column("dev_outbox", "message_id")
