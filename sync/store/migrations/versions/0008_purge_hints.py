"""Privacy deletions hinted by webhooks are kept until synced.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07

HubSpot's privacy (GDPR) deletion leaves no recycle-bin row for a poll to read: its webhook is
the only word of it. The receiver keeps each such record here before answering 200
(`sync.store.purges`), and a daemon started after a crash syncs what is left.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "purge_hints",
        sa.Column("system", sa.String(length=16), nullable=False),
        sa.Column("object", sa.String(length=64), nullable=False),
        sa.Column("record_id", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("system", "object", "record_id", name=op.f("pk_purge_hints")),
    )


def downgrade() -> None:
    op.drop_table("purge_hints")
