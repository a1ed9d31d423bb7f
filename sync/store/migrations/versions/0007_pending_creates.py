"""Creates sent but not committed are kept, so a replay finds what they made.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06

One row per person and system from sending a create until a commit stored the person's
snapshots (`sync.store.pending`): after a crash in between, the replay reads the record by its
upsert key and plans against it, rather than upserting the old values over edits made since.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pending_creates",
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("system", sa.String(length=16), nullable=False),
        sa.Column("object", sa.String(length=64), nullable=False),
        sa.Column("match_on", sa.String(length=64), nullable=False),
        sa.Column("match_value", sa.Text(), nullable=False),
        sa.Column("field_values", sa.JSON(), nullable=False),
        sa.Column("source_system", sa.String(length=16), nullable=True),
        sa.Column("source_object", sa.String(length=64), nullable=True),
        sa.Column("source_record_id", sa.String(length=64), nullable=True),
        sa.Column("source_values", sa.JSON(), nullable=True),
        sa.Column("source_modified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("person_id", "system", name=op.f("pk_pending_creates")),
    )


def downgrade() -> None:
    op.drop_table("pending_creates")
