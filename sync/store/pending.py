"""Pending creates and updates: writes sent whose outcome no commit has settled yet.

A create is an upsert on the cross-system id (or email), so replaying it after a crash makes no
duplicate, but it carries every field the source had when it was planned, and a replay would
write those over edits made to the new record since. So the unit keeps each create here, in a
transaction of its own, before sending it (`hold_creates`), and its commit drops the rows once
the person's snapshots are stored (`forget_creates`). A row found when a person is synced again
means that never happened (the process died, or the person's writes failed): the record is
found by `match_on` and taken as created, with `values` as its snapshot, and the source record,
should it have no snapshot of its own (a person first seen by the lost unit), gets `source`.

Updates are kept the same way (`hold_updates`, `forget_updates`), as the snapshots the commit
would have stored for the person's records: a replay whose written records hold what was
written takes them as the lost commit's (`Gatherer`), so the echo of the write is Baton's own
and an edit made on the other side while it was in flight is still the newer change.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, select

from connectors.records import FieldValue, RecordKey, System
from sync.store._sql import Db, chunked, connection, upsert
from sync.store.schema import PendingCreate as Row
from sync.store.schema import PendingUpdate as UpdateRow


@dataclass(frozen=True, slots=True)
class Baseline:
    """A record as a unit read it: the snapshot its commit would have stored."""

    key: RecordKey
    values: Mapping[str, FieldValue]
    modified_at: datetime | None


@dataclass(frozen=True, slots=True)
class PendingCreate:
    """One create sent for `person_id`: where its upsert lands, what it wrote, and the record
    it was made from."""

    person_id: uuid.UUID
    system: System
    object: str
    match_on: str
    match_value: str
    values: Mapping[str, FieldValue]
    source: Baseline | None = None


_SET_ON_CONFLICT = (
    "object",
    "match_on",
    "match_value",
    "field_values",
    "source_system",
    "source_object",
    "source_record_id",
    "source_values",
    "source_modified_at",
    "sent_at",
)


def hold_creates(db: Db, creates: Sequence[PendingCreate], *, at: datetime) -> None:
    """Keep these creates as sent (one per person and system: a later one replaces it)."""
    if not creates:
        return
    conn = connection(db)
    rows = [
        {
            "person_id": c.person_id,
            "system": c.system.value,
            "object": c.object,
            "match_on": c.match_on,
            "match_value": c.match_value,
            "field_values": dict(c.values),
            "source_system": c.source.key.system.value if c.source else None,
            "source_object": c.source.key.object if c.source else None,
            "source_record_id": c.source.key.id if c.source else None,
            "source_values": dict(c.source.values) if c.source else None,
            "source_modified_at": c.source.modified_at if c.source else None,
            "sent_at": at,
        }
        for c in creates
    ]
    statement = upsert(conn, Row)
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=[Row.person_id, Row.system],
            set_={name: statement.excluded[name] for name in _SET_ON_CONFLICT},
        ),
        rows,
    )


_ANY_PENDING = "SELECT 1 FROM pending_creates LIMIT 1"  # Row.__tablename__


def pending_creates(db: Db, person_ids: Collection[uuid.UUID]) -> list[PendingCreate]:
    """The creates left unsettled for these people. The table is empty nearly always (a row
    outlives its unit only after a crash or a failed write): one probe says so, instead of a
    search per chunk of people on every unit."""
    conn = connection(db)
    found: list[PendingCreate] = []
    if not person_ids or conn.exec_driver_sql(_ANY_PENDING).first() is None:
        return found
    columns = (
        Row.person_id,
        Row.system,
        Row.object,
        Row.match_on,
        Row.match_value,
        Row.field_values,
        Row.source_system,
        Row.source_object,
        Row.source_record_id,
        Row.source_values,
        Row.source_modified_at,
    )
    for chunk in chunked(list(person_ids)):
        for row in conn.execute(select(*columns).where(Row.person_id.in_(chunk))):
            pid, system, obj, match_on, value, values, *source = row
            source_system, source_object, source_id, source_values, source_at = source
            baseline = (
                Baseline(
                    RecordKey(System(source_system), source_object, source_id),
                    source_values or {},
                    source_at,
                )
                if source_system and source_object and source_id
                else None
            )
            found.append(PendingCreate(pid, System(system), obj, match_on, value, values, baseline))
    return found


def forget_creates(db: Db, person_ids: Collection[uuid.UUID]) -> None:
    """Drop these people's pending creates: a commit stored what came of them."""
    conn = connection(db)
    for chunk in chunked(list(person_ids)):
        conn.execute(delete(Row).where(Row.person_id.in_(chunk)))


@dataclass(frozen=True, slots=True)
class PendingUpdate:
    """A record of `person_id` as its unsettled updates' commit would have stored it: `written`
    names the canonical fields an update set on it (None: a record only read)."""

    person_id: uuid.UUID
    baseline: Baseline
    written: tuple[str, ...] | None = None


def hold_updates(db: Db, updates: Sequence[PendingUpdate], *, at: datetime) -> None:
    """Keep these people's updates as sent, in place of any kept for them before."""
    if not updates:
        return
    conn = connection(db)
    forget_updates(conn, {u.person_id for u in updates})
    conn.execute(
        insert(UpdateRow),
        [
            {
                "person_id": u.person_id,
                "system": u.baseline.key.system.value,
                "object": u.baseline.key.object,
                "record_id": u.baseline.key.id,
                "field_values": dict(u.baseline.values),
                "source_modified_at": u.baseline.modified_at,
                "written": list(u.written) if u.written is not None else None,
                "sent_at": at,
            }
            for u in updates
        ],
    )


_ANY_PENDING_UPDATE = "SELECT 1 FROM pending_updates LIMIT 1"  # UpdateRow.__tablename__


def pending_updates(
    db: Db, person_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, list[PendingUpdate]]:
    """The unsettled updates of these people, by person (one probe when there are none, as
    for creates)."""
    conn = connection(db)
    found: dict[uuid.UUID, list[PendingUpdate]] = {}
    if not person_ids or conn.exec_driver_sql(_ANY_PENDING_UPDATE).first() is None:
        return found
    columns = (
        UpdateRow.person_id,
        UpdateRow.system,
        UpdateRow.object,
        UpdateRow.record_id,
        UpdateRow.field_values,
        UpdateRow.source_modified_at,
        UpdateRow.written,
    )
    for chunk in chunked(list(person_ids)):
        for pid, system, obj, record_id, values, at, written in conn.execute(
            select(*columns).where(UpdateRow.person_id.in_(chunk))
        ):
            key = RecordKey(System(system), obj, record_id)
            kept = tuple(written) if written is not None else None
            found.setdefault(pid, []).append(PendingUpdate(pid, Baseline(key, values, at), kept))
    return found


def forget_updates(db: Db, person_ids: Collection[uuid.UUID]) -> None:
    """Drop these people's pending updates: a commit stored what came of them."""
    conn = connection(db)
    for chunk in chunked(list(person_ids)):
        conn.execute(delete(UpdateRow).where(UpdateRow.person_id.in_(chunk)))
