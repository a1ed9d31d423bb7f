"""Create the state store.

Revision ID: 0001
Revises:
Create Date: 2026-11-25

Types are spelled out here rather than imported from the models, so this revision stays what
it was when later revisions change the models. Timestamps are timezone-aware (TIMESTAMPTZ on
PostgreSQL; UTC text on SQLite, normalised by sync.store.types.UtcDateTime).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> sa.Column[int]:
    kind = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    return sa.Column("id", kind, autoincrement=True, nullable=False)


def _at(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _str(name: str, length: int, *, nullable: bool = False) -> sa.Column[str]:
    return sa.Column(name, sa.String(length=length), nullable=nullable)


def _record_key() -> list[sa.Column[str]]:
    return [_str("system", 16), _str("object", 64), _str("record_id", 64)]


def _fk_person(table: str, column: str = "person_id") -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], ["people.baton_id"], name=op.f(f"fk_{table}_{column}_people")
    )


def upgrade() -> None:
    op.create_table(
        "people",
        sa.Column("baton_id", sa.Uuid(), nullable=False),
        _str("email_normalized", 320, nullable=True),
        _at("created_at"),
        sa.PrimaryKeyConstraint("baton_id", name=op.f("pk_people")),
    )
    op.create_index(op.f("ix_people_email_normalized"), "people", ["email_normalized"])

    op.create_table(
        "identity_links",
        _id(),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        *_record_key(),
        sa.Column("active", sa.Boolean(), nullable=False),
        _str("reason", 16),
        _at("linked_at"),
        _at("unlinked_at", nullable=True),
        _fk_person("identity_links"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_links")),
        sa.UniqueConstraint(
            "system", "object", "record_id", name=op.f("uq_identity_links_system_object_record_id")
        ),
    )
    op.create_index(op.f("ix_identity_links_person_id"), "identity_links", ["person_id"])
    op.create_index(
        "uq_identity_links_person_id_system_active",
        "identity_links",
        ["person_id", "system"],
        unique=True,
        sqlite_where=sa.text("active = 1"),
        postgresql_where=sa.text("active"),
    )

    op.create_table(
        "link_history",
        _id(),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        *_record_key(),
        _str("previous_object", 64, nullable=True),
        _str("previous_record_id", 64, nullable=True),
        sa.Column("previous_person_id", sa.Uuid(), nullable=True),
        _str("reason", 16),
        _at("at"),
        _fk_person("link_history"),
        _fk_person("link_history", "previous_person_id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_history")),
    )
    op.create_index(op.f("ix_link_history_person_id"), "link_history", ["person_id"])

    op.create_table(
        "snapshots",
        *_record_key(),
        sa.Column("field_values", sa.JSON(), nullable=False),
        _str("hash", 32),
        sa.Column("written_by_us", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        _at("source_modified_at", nullable=True),
        _at("updated_at"),
        sa.PrimaryKeyConstraint("system", "object", "record_id", name=op.f("pk_snapshots")),
    )

    op.create_table(
        "checkpoints",
        _str("system", 16),
        _str("object", 64),
        _at("cursor_modified_at", nullable=True),
        _str("last_id", 64, nullable=True),
        _at("run_upper_bound", nullable=True),
        _at("updated_at"),
        sa.PrimaryKeyConstraint("system", "object", name=op.f("pk_checkpoints")),
    )

    op.create_table(
        "runs",
        sa.Column("id", sa.Uuid(), nullable=False),
        _str("kind", 16),
        _str("status", 16),
        _at("started_at"),
        _at("finished_at", nullable=True),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runs")),
    )
    op.create_index(op.f("ix_runs_started_at"), "runs", ["started_at"])

    op.create_table(
        "decisions",
        _id(),
        sa.Column("run_id", sa.Uuid(), nullable=True),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        _str("field", 64),
        *(
            sa.Column(name, sa.JSON(none_as_null=True), nullable=True)
            for name in ("hubspot_old", "hubspot_new", "salesforce_old", "salesforce_new")
        ),
        _str("winner", 16, nullable=True),
        _str("rule", 48),
        _at("hubspot_modified_at", nullable=True),
        _at("salesforce_modified_at", nullable=True),
        _str("trigger", 32),
        _at("decided_at"),
        _fk_person("decisions"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_decisions_run_id_runs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decisions")),
    )
    op.create_index("ix_decisions_person_id_field", "decisions", ["person_id", "field"])
    op.create_index(op.f("ix_decisions_run_id"), "decisions", ["run_id"])

    op.create_table(
        "dead_letters",
        _id(),
        *_record_key(),
        _str("direction", 16),
        sa.Column("payload", sa.JSON(), nullable=False),
        _str("vendor_code", 128, nullable=True),
        sa.Column("vendor_message", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _at("first_seen_at"),
        _at("last_seen_at"),
        _str("status", 8),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dead_letters")),
        sa.UniqueConstraint(
            "system",
            "object",
            "record_id",
            "direction",
            name=op.f("uq_dead_letters_system_object_record_id_direction"),
        ),
    )
    op.create_index(op.f("ix_dead_letters_status"), "dead_letters", ["status"])

    op.create_table(
        "funnel_transitions",
        _id(),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        _str("stage", 16),
        _at("entered_at"),
        _str("source_system", 16),
        sa.Column("reason", sa.Text(), nullable=True),
        _at("recorded_at"),
        _fk_person("funnel_transitions"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_funnel_transitions")),
        sa.UniqueConstraint(
            "person_id", "stage", name=op.f("uq_funnel_transitions_person_id_stage")
        ),
    )

    op.create_table(
        "api_budget",
        _str("system", 16),
        _str("window", 32),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.Column("remaining", sa.Integer(), nullable=False),
        _at("observed_at"),
        sa.PrimaryKeyConstraint("system", "window", name=op.f("pk_api_budget")),
    )


def downgrade() -> None:
    for table in (
        "api_budget",
        "funnel_transitions",
        "dead_letters",
        "decisions",
        "runs",
        "checkpoints",
        "snapshots",
        "link_history",
        "identity_links",
        "people",
    ):
        op.drop_table(table)
