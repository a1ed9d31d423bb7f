"""Snapshots remember a digest of the source fields they were mapped from.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25

`source_digest` lets a poll recognise a record whose mapped fields did not change (only a field
Baton does not sync was edited) without mapping it again. Nullable: snapshots of our own writes,
and those taken before this revision, have none until their record is next read.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("snapshots", sa.Column("source_digest", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("snapshots") as batch:
        batch.drop_column("source_digest")
