"""Updates sent but not committed are kept, so a replay knows their echo for Baton's own.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07

One row per record of a person from sending its updates until a commit stored the person's
snapshots (`sync.store.pending`): after a crash in between, the replay takes the landed write
as written instead of as an edit newer than the one the other side made meanwhile.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pending_updates",
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("system", sa.String(length=16), nullable=False),
        sa.Column("object", sa.String(length=64), nullable=False),
        sa.Column("record_id", sa.String(length=64), nullable=False),
        sa.Column("field_values", sa.JSON(), nullable=False),
        sa.Column("source_modified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("written", sa.JSON(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "person_id", "system", "object", "record_id", name=op.f("pk_pending_updates")
        ),
    )


def downgrade() -> None:
    op.drop_table("pending_updates")
