"""Funnel transitions are found by when they were recorded.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06

The SLA timer squares its log with the touches recorded since its last tick (`sync.sla.settle`)
every minute; without an index that is a scan of the whole funnel history each time.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_funnel_transitions_recorded_at", "funnel_transitions", ["recorded_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_funnel_transitions_recorded_at", table_name="funnel_transitions")
