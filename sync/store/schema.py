"""The state store's tables, as typed SQLAlchemy 2 ORM models.

Why ORM models rather than Core tables: `Mapped[...]` annotations give one typed description
that mypy checks, that Alembic autogenerate compares against the migrated database, and whose
column attributes type the `select(...)` results in the repositories. The repositories do not use
the ORM unit of work, though: they run set-based Core statements (upserts, insert-if-absent,
executemany over a page) built from these models on the caller's connection, because an
identity map adds per-object cost the engine's 20,000 records/s target cannot afford and would
hide work from the caller's transaction.

Conventions: record keys are stored as (system, object, record_id) strings; enumerations are
short strings (checked in Python) so adding a value needs no PostgreSQL enum migration; every
timestamp is `UtcDateTime`; constraint names follow `NAMING` so migrations can refer to them.
This schema changes only through a new Alembic revision in `migrations/versions/`.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from sync.store.types import BigId, UtcDateTime

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SYSTEM = 16  # "hubspot" | "salesforce"
OBJECT = 64  # "contacts", "Lead", "Contact"
OWNER = 300  # "host:pid": a host name is at most 253 characters
RECORD_ID = 64  # HubSpot numeric ids, Salesforce 18-character ids

#: A JSON column whose Python None is SQL NULL (a blank value, queryable with IS NULL).
NullableJSON = JSON(none_as_null=True)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UtcDateTime,
        uuid.UUID: Uuid,
        dict[str, Any]: JSON,
    }


#: The longest address there is (64 + "@" + 255, RFC 5321): what the email columns hold.
EMAIL_LENGTH = 320


def storable_address(email: str | None) -> str | None:
    """`email` if an address can be it and the email columns hold it, else None: text longer
    than any address, or holding a NUL (PostgreSQL refuses both), is no address, and must not
    fail every unit that reads the record carrying it."""
    if email is None or len(email) > EMAIL_LENGTH or "\x00" in email:
        return None
    return email


class Person(Base):
    """One human being, as Baton knows them across both systems."""

    __tablename__ = "people"

    baton_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    email_normalized: Mapped[str | None] = mapped_column(String(EMAIL_LENGTH), index=True)
    created_at: Mapped[datetime]


class RecordAddress(Base):
    """An address a system also finds a record by, besides the record's email field: a HubSpot
    contact's additional emails (where a merge keeps the merged-away contact's address). An
    upsert by such an address lands on the record, so identity takes the address as naming it
    (`sync.identity`). One row per record and address, normalised as people's emails are."""

    __tablename__ = "record_addresses"

    system: Mapped[str] = mapped_column(String(SYSTEM), primary_key=True)
    object: Mapped[str] = mapped_column(String(OBJECT), primary_key=True)
    record_id: Mapped[str] = mapped_column(String(RECORD_ID), primary_key=True)
    email_normalized: Mapped[str] = mapped_column(
        String(EMAIL_LENGTH), primary_key=True, index=True
    )


class IdentityLink(Base):
    """A record linked to a person. At most one active link per person per system.

    A record belongs to one person at a time (unique key); a relink moves or deactivates rows
    here and appends a `LinkEvent`, so the current state stays small and the history stays whole.
    Inactive rows keep pointing at their person, so a converted Lead's late echo still resolves.
    """

    __tablename__ = "identity_links"
    __table_args__ = (
        UniqueConstraint("system", "object", "record_id"),
        Index(
            "uq_identity_links_person_id_system_active",
            "person_id",
            "system",
            unique=True,
            sqlite_where=text("active = 1"),
            postgresql_where=text("active"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("people.baton_id"), index=True)
    system: Mapped[str] = mapped_column(String(SYSTEM))
    object: Mapped[str] = mapped_column(String(OBJECT))
    record_id: Mapped[str] = mapped_column(String(RECORD_ID))
    active: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(String(16))
    linked_at: Mapped[datetime]
    unlinked_at: Mapped[datetime | None]


class LinkEvent(Base):
    """Append-only history of links: what a person was linked to before, and why it changed."""

    __tablename__ = "link_history"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("people.baton_id"), index=True)
    system: Mapped[str] = mapped_column(String(SYSTEM))
    object: Mapped[str] = mapped_column(String(OBJECT))
    record_id: Mapped[str] = mapped_column(String(RECORD_ID))
    previous_object: Mapped[str | None] = mapped_column(String(OBJECT))
    previous_record_id: Mapped[str | None] = mapped_column(String(RECORD_ID))
    previous_person_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("people.baton_id"))
    reason: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime]


class Snapshot(Base):
    """The last canonical values seen on, or written to, one side of a link.

    `hash` lets a page be compared without decoding JSON; `written_by_us` and `version` tell the
    echo of our own write apart from a user's change; `source_digest` fingerprints the source
    fields the values were mapped from (None for our own writes), so an unchanged record is
    recognised without mapping it.
    """

    __tablename__ = "snapshots"

    system: Mapped[str] = mapped_column(String(SYSTEM), primary_key=True)
    object: Mapped[str] = mapped_column(String(OBJECT), primary_key=True)
    record_id: Mapped[str] = mapped_column(String(RECORD_ID), primary_key=True)
    field_values: Mapped[dict[str, Any]]
    hash: Mapped[str] = mapped_column(String(32))
    written_by_us: Mapped[bool] = mapped_column(Boolean)
    version: Mapped[int] = mapped_column(Integer)
    source_modified_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]
    source_digest: Mapped[str | None] = mapped_column(String(32))


class Checkpoint(Base):
    """Per system and object: the cursor (modification time, then id) and the run's upper bound."""

    __tablename__ = "checkpoints"

    system: Mapped[str] = mapped_column(String(SYSTEM), primary_key=True)
    object: Mapped[str] = mapped_column(String(OBJECT), primary_key=True)
    cursor_modified_at: Mapped[datetime | None]
    last_id: Mapped[str | None] = mapped_column(String(RECORD_ID))
    run_upper_bound: Mapped[datetime | None]
    updated_at: Mapped[datetime]
    # when a write refused for now first held the cursor (None: not held); see `SyncPolicy`
    blocked_since: Mapped[datetime | None]


class ListingPosition(Base):
    """Per system and object: how far a backfill's full listing got, so that the next backfill
    after an interruption continues it. Kept until a backfill of the object completes.

    `position` is the listing's own opaque cursor (None: from the start); `run_upper_bound` is
    the signpost of the backfill that began the listing, the checkpoint it ends at, because
    the records listed before the interruption were read as of then. `held` says a page's
    write waits for a retry, so the checkpoint must not move when the listing ends.
    """

    __tablename__ = "listing_positions"

    system: Mapped[str] = mapped_column(String(SYSTEM), primary_key=True)
    object: Mapped[str] = mapped_column(String(OBJECT), primary_key=True)
    position: Mapped[str | None] = mapped_column(Text)
    listed: Mapped[int] = mapped_column(Integer)
    done: Mapped[bool] = mapped_column(Boolean)
    held: Mapped[bool] = mapped_column(Boolean)
    run_upper_bound: Mapped[datetime]
    started_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class PendingCreate(Base):
    """A create sent but not yet settled: where the upsert lands (`match_on` = `match_value`
    in `object`), the values the new record was written with, and the source record as the
    unit read it (`source_*`, the snapshot its commit would have kept).

    Written in its own transaction before the create is sent, deleted once a commit stored the
    person's snapshots. A row left behind means the process died in between (or the person's
    writes failed): the unit syncing the person again finds the record by that key and takes
    it as created, with these values as its snapshot, instead of upserting the source's values
    again over edits made to the record since; a source with no snapshot of its own gets the
    one kept here. No foreign key: the person may be new, added by the unit that never
    committed.
    """

    __tablename__ = "pending_creates"

    person_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    system: Mapped[str] = mapped_column(String(SYSTEM), primary_key=True)
    object: Mapped[str] = mapped_column(String(OBJECT))
    match_on: Mapped[str] = mapped_column(String(OBJECT))
    match_value: Mapped[str] = mapped_column(Text)
    field_values: Mapped[dict[str, Any]]
    source_system: Mapped[str | None] = mapped_column(String(SYSTEM))
    source_object: Mapped[str | None] = mapped_column(String(OBJECT))
    source_record_id: Mapped[str | None] = mapped_column(String(RECORD_ID))
    source_values: Mapped[dict[str, Any] | None] = mapped_column(NullableJSON, nullable=True)
    source_modified_at: Mapped[datetime | None]
    sent_at: Mapped[datetime]


class PendingUpdate(Base):
    """One record of a person whose updates were sent but not yet settled: the snapshot the
    unit's commit would store for it, and, for a record the updates wrote (`written` not NULL),
    the canonical fields they set.

    Written in its own transaction before the updates are sent, deleted once a commit stored
    the person's snapshots. Rows left behind mean the process died in between: when every
    written record now holds what was written, the updates landed, and these values stand in
    for the lost commit's snapshots, so the echo of the write reads as Baton's own and an edit
    made on the other side meanwhile as the change it is (without them, the echo looked like
    the newer edit and overwrote it). No foreign key, as for pending creates.
    """

    __tablename__ = "pending_updates"

    person_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    system: Mapped[str] = mapped_column(String(SYSTEM), primary_key=True)
    object: Mapped[str] = mapped_column(String(OBJECT), primary_key=True)
    record_id: Mapped[str] = mapped_column(String(RECORD_ID), primary_key=True)
    field_values: Mapped[dict[str, Any]]
    source_modified_at: Mapped[datetime | None]
    written: Mapped[list[str] | None] = mapped_column(NullableJSON, nullable=True)
    sent_at: Mapped[datetime]


class Run(Base):
    """One daemon cycle, backfill or `run --once`, with its outcome and counts.

    `heartbeat_at` is bumped while the run commits pages, so a run whose process died (no
    `finish_run`) can be told from a live one; `status` is indexed for that lookup.
    """

    __tablename__ = "runs"
    __table_args__ = (
        Index(  # one running backfill per store (see migration 0006)
            "uq_runs_one_running_backfill",
            "kind",
            unique=True,
            sqlite_where=text("kind = 'backfill' AND status = 'running'"),
            postgresql_where=text("kind = 'backfill' AND status = 'running'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    started_at: Mapped[datetime] = mapped_column(index=True)
    finished_at: Mapped[datetime | None]
    counts: Mapped[dict[str, Any]]
    error: Mapped[str | None] = mapped_column(Text)
    heartbeat_at: Mapped[datetime | None]
    owner: Mapped[str | None] = mapped_column(String(OWNER))  # "host:pid"


class Decision(Base):
    """One field decision: both sides' values before and after, the rule, and why it ran."""

    __tablename__ = "decisions"
    __table_args__ = (Index("ix_decisions_person_id_field", "person_id", "field"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    run_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("runs.id"), index=True)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("people.baton_id"))
    field: Mapped[str] = mapped_column(String(64))
    hubspot_old: Mapped[Any] = mapped_column(NullableJSON, nullable=True)
    hubspot_new: Mapped[Any] = mapped_column(NullableJSON, nullable=True)
    salesforce_old: Mapped[Any] = mapped_column(NullableJSON, nullable=True)
    salesforce_new: Mapped[Any] = mapped_column(NullableJSON, nullable=True)
    winner: Mapped[str | None] = mapped_column(String(SYSTEM))
    rule: Mapped[str] = mapped_column(String(48))
    hubspot_modified_at: Mapped[datetime | None]
    salesforce_modified_at: Mapped[datetime | None]
    trigger: Mapped[str] = mapped_column(String(32))
    decided_at: Mapped[datetime]


class DeadLetter(Base):
    """A record the target system refused permanently, kept with the vendor's own words."""

    __tablename__ = "dead_letters"
    __table_args__ = (UniqueConstraint("system", "object", "record_id", "direction"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    system: Mapped[str] = mapped_column(String(SYSTEM))
    object: Mapped[str] = mapped_column(String(OBJECT))
    record_id: Mapped[str] = mapped_column(String(RECORD_ID))
    direction: Mapped[str] = mapped_column(String(16))
    payload: Mapped[dict[str, Any]]
    vendor_code: Mapped[str | None] = mapped_column(String(128))
    vendor_message: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer)
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(8), index=True)


class FunnelTransition(Base):
    """The first time a person entered a stage or outcome; never rewritten (unique per stage)."""

    __tablename__ = "funnel_transitions"
    __table_args__ = (UniqueConstraint("person_id", "stage"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("people.baton_id"))
    stage: Mapped[str] = mapped_column(String(16))
    entered_at: Mapped[datetime]
    source_system: Mapped[str] = mapped_column(String(SYSTEM))
    reason: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(index=True)  # the SLA timer's recent news


class ApiBudget(Base):
    """The last observed API budget per system and window, shared by every worker."""

    __tablename__ = "api_budget"

    system: Mapped[str] = mapped_column(String(SYSTEM), primary_key=True)
    window: Mapped[str] = mapped_column(String(32), primary_key=True)
    used: Mapped[int] = mapped_column(Integer)
    remaining: Mapped[int] = mapped_column(Integer)
    observed_at: Mapped[datetime]


class PurgeHint(Base):
    """A record a webhook said was deleted for good (HubSpot's privacy deletion), kept from its
    receipt until a webhook unit synced it: nothing else says so (no recycle bin holds it), and
    the sender, answered 200, does not send it again."""

    __tablename__ = "purge_hints"

    system: Mapped[str] = mapped_column(String(SYSTEM), primary_key=True)
    object: Mapped[str] = mapped_column(String(OBJECT), primary_key=True)
    record_id: Mapped[str] = mapped_column(String(RECORD_ID), primary_key=True)
    received_at: Mapped[datetime]
