"""Pending creates: creates sent whose unit has not committed yet.

A create is an upsert on the cross-system id (or email), so replaying it after a crash makes no
duplicate, but it carries every field the source had when it was planned, and a replay would
write those over edits made to the new record since. So the unit keeps each create here, in a
transaction of its own, before sending it (`hold_creates`), and drops the rows in its commit
(`forget_creates`). A row found when a person is synced again means that unit died in between:
the record it made is found by `match_on` and taken as created, with `values` as its snapshot.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select

from connectors.records import FieldValue, System
from sync.store._sql import Db, chunked, connection, upsert
from sync.store.schema import PendingCreate as Row


@dataclass(frozen=True, slots=True)
class PendingCreate:
    """One create sent for `person_id`: where its upsert lands, and what it wrote."""

    person_id: uuid.UUID
    system: System
    object: str
    match_on: str
    match_value: str
    values: dict[str, FieldValue]


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
            "field_values": c.values,
            "sent_at": at,
        }
        for c in creates
    ]
    statement = upsert(conn, Row)
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=[Row.person_id, Row.system],
            set_={
                name: statement.excluded[name]
                for name in ("object", "match_on", "match_value", "field_values", "sent_at")
            },
        ),
        rows,
    )


def pending_creates(db: Db, person_ids: Collection[uuid.UUID]) -> list[PendingCreate]:
    """The creates left uncommitted for these people."""
    conn = connection(db)
    found: list[PendingCreate] = []
    columns = (Row.person_id, Row.system, Row.object, Row.match_on, Row.match_value)
    for chunk in chunked(list(person_ids)):
        query = select(*columns, Row.field_values).where(Row.person_id.in_(chunk))
        for pid, system, obj, match_on, value, values in conn.execute(query):
            found.append(PendingCreate(pid, System(system), obj, match_on, value, values))
    return found


def forget_creates(db: Db, person_ids: Collection[uuid.UUID]) -> None:
    """Drop these people's pending creates: their unit committed what came of them."""
    conn = connection(db)
    for chunk in chunked(list(person_ids)):
        conn.execute(delete(Row).where(Row.person_id.in_(chunk)))
