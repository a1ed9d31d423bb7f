"""Runs name their process, and one backfill runs at a time.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06

`runs.owner` says which process runs a run (`sync.store.runs.this_process`), so the next run
can close at once a run whose process is gone. The partial unique index admits one running
backfill per store: two would take over each other's listings and send every write twice, and
checking before inserting is not enough where two processes start together (PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A development store may have it already: an early draft of 0005 added it.
    if "owner" not in {column["name"] for column in sa.inspect(op.get_bind()).get_columns("runs")}:
        op.add_column("runs", sa.Column("owner", sa.String(length=300), nullable=True))
    # Before this revision two backfills could be left `running` (one killed, one after it):
    # all but the latest are closed as interrupted, as the next run start would have.
    op.execute(
        sa.text(
            "UPDATE runs SET status = 'interrupted', finished_at = CURRENT_TIMESTAMP, "
            "error = 'closed by migration 0006: a later backfill was running' "
            "WHERE kind = 'backfill' AND status = 'running' AND started_at < "
            "(SELECT MAX(started_at) FROM runs WHERE kind = 'backfill' AND status = 'running')"
        )
    )
    op.create_index(
        "uq_runs_one_running_backfill",
        "runs",
        ["kind"],
        unique=True,
        sqlite_where=sa.text("kind = 'backfill' AND status = 'running'"),
        postgresql_where=sa.text("kind = 'backfill' AND status = 'running'"),
    )


def downgrade() -> None:
    op.drop_index("uq_runs_one_running_backfill", table_name="runs")
    # Not a batch rebuild: on SQLite that drops `runs`, which decisions refer to (foreign keys
    # are on), and fails on any store with data. SQLite drops a column in place since 3.35.
    op.drop_column("runs", "owner")
