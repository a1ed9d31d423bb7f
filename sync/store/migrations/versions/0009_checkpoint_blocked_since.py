"""Checkpoints remember since when a write refused "for now" has held them.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07

A page whose write the system refuses for now (a 5xx, a lock) keeps its object's checkpoint
where it is, so the page is read and the write sent again. One that is refused every time would
hold every later change of the object back for good; `blocked_since` lets the engine see how
long, and keep such writes as dead letters once it is too long (`SyncPolicy.wait_limit`).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("checkpoints", sa.Column("blocked_since", sa.DateTime(timezone=True)))


def downgrade() -> None:
    op.drop_column("checkpoints", "blocked_since")
