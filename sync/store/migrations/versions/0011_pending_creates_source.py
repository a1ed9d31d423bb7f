"""Pending creates carry their source record on every store.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-08

Revision 0007 was amended after it was first committed: a store migrated by that first draft
is at 0007 without the `source_*` columns, and every create then fails on the insert into
`pending_creates`. Adds whichever of them a store lacks; a no-op on every other store.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SOURCE_COLUMNS = (
    ("source_system", sa.String(length=16)),
    ("source_object", sa.String(length=64)),
    ("source_record_id", sa.String(length=64)),
    ("source_values", sa.JSON()),
    ("source_modified_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    present = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("pending_creates")}
    for name, type_ in SOURCE_COLUMNS:
        if name not in present:
            op.add_column("pending_creates", sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    """Nothing to undo: 0007 as it stands has these columns."""
