"""Addresses a system also finds a record by (HubSpot's additional emails).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08

HubSpot finds a contact by any of its additional emails, where a merge keeps the merged-away
contact's address, and an upsert by one lands on that contact. Identity keeps them here
(`sync.store.addresses`) so a Salesforce record with such an address pairs with that contact
instead of getting a HubSpot create that would overwrite it. Starts empty: a contact's
addresses are kept when it is next read (its digest differs from one taken without them).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "record_addresses",
        sa.Column("system", sa.String(length=16), nullable=False),
        sa.Column("object", sa.String(length=64), nullable=False),
        sa.Column("record_id", sa.String(length=64), nullable=False),
        sa.Column("email_normalized", sa.String(length=320), nullable=False),
        sa.PrimaryKeyConstraint(
            "system", "object", "record_id", "email_normalized", name=op.f("pk_record_addresses")
        ),
    )
    op.create_index(
        op.f("ix_record_addresses_email_normalized"),
        "record_addresses",
        ["email_normalized"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_record_addresses_email_normalized"), table_name="record_addresses")
    op.drop_table("record_addresses")
