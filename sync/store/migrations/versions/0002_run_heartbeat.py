"""Runs get a heartbeat, so a run whose process died can be closed as interrupted.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25

`heartbeat_at` is nullable: runs recorded before this revision have none (their start time
stands in). The index on `status` keeps the "still running?" lookup each run start makes cheap
however many finished runs the table holds.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(op.f("ix_runs_status"), "runs", ["status"])


def downgrade() -> None:
    op.drop_index(op.f("ix_runs_status"), table_name="runs")
    # Not a batch rebuild: on SQLite that drops `runs`, which decisions refer to (foreign keys
    # are on), and fails on any store with data. SQLite drops a column in place since 3.35.
    op.drop_column("runs", "heartbeat_at")
