"""Dead letters: records a system refused permanently, with its own error code and message.

Lifecycle: `add_dead_letter` opens one (or, for a record already there in the same direction,
counts another attempt, refreshes payload and error, and reopens it: a new refusal is news even
after a drop). `open_dead_letters` hands open ones to the engine to retry, and `close_retried`
marks them retried once the retry's outcome is committed, only those no new refusal counted
meanwhile: a retry that crashed or was refused again leaves its letters open. A later cycle's
write that reaches the record (another payload: the data was fixed at its source) marks its
letter retried too (`settle_dead_letters`).
`drop_dead_letters` closes them for good. Backs `baton errors list|retry|drop`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, bindparam, func, select, update

from connectors.records import FieldValue, RecordKey, System
from sync.store._bulk import Lookup
from sync.store._sql import Db, chunked, connection, keys_by_object, upsert
from sync.store.schema import DeadLetter as DeadLetterRow
from sync.store.types import utcnow


class Direction(StrEnum):
    TO_HUBSPOT = "to_hubspot"
    TO_SALESFORCE = "to_salesforce"


class DeadLetterStatus(StrEnum):
    OPEN = "open"
    RETRIED = "retried"
    DROPPED = "dropped"


@dataclass(frozen=True, slots=True)
class NewDeadLetter:
    """A refusal to record: the record key, the payload we tried, and the vendor's words."""

    key: RecordKey
    direction: Direction
    payload: Mapping[str, FieldValue]
    vendor_code: str | None
    vendor_message: str | None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    id: int
    key: RecordKey
    direction: Direction
    payload: Mapping[str, FieldValue]
    vendor_code: str | None
    vendor_message: str | None
    attempts: int
    first_seen_at: datetime
    last_seen_at: datetime
    status: DeadLetterStatus


COLUMNS = (
    DeadLetterRow.id,
    DeadLetterRow.system,
    DeadLetterRow.object,
    DeadLetterRow.record_id,
    DeadLetterRow.direction,
    DeadLetterRow.payload,
    DeadLetterRow.vendor_code,
    DeadLetterRow.vendor_message,
    DeadLetterRow.attempts,
    DeadLetterRow.first_seen_at,
    DeadLetterRow.last_seen_at,
    DeadLetterRow.status,
)


def add_dead_letter(
    db: Db,
    key: RecordKey,
    direction: Direction,
    payload: Mapping[str, FieldValue],
    vendor_code: str | None,
    vendor_message: str | None,
    *,
    at: datetime | None = None,
) -> None:
    add_dead_letters(
        db, [NewDeadLetter(key, direction, payload, vendor_code, vendor_message)], at=at
    )


def add_dead_letters(
    db: Db, letters: Sequence[NewDeadLetter], *, at: datetime | None = None
) -> None:
    """Upsert by (record key, direction): attempts += 1, latest payload and error, reopened."""
    if not letters:
        return
    when = at or utcnow()
    conn = connection(db)
    stmt = upsert(conn, DeadLetterRow)
    stmt = stmt.on_conflict_do_update(
        index_elements=[
            DeadLetterRow.system,
            DeadLetterRow.object,
            DeadLetterRow.record_id,
            DeadLetterRow.direction,
        ],
        set_={
            "payload": stmt.excluded.payload,
            "vendor_code": stmt.excluded.vendor_code,
            "vendor_message": stmt.excluded.vendor_message,
            "attempts": DeadLetterRow.attempts + 1,
            "last_seen_at": stmt.excluded.last_seen_at,
            "status": DeadLetterStatus.OPEN.value,
        },
    )
    conn.execute(stmt, [_row(letter, when) for letter in letters])


def list_dead_letters(
    db: Db, status: DeadLetterStatus | None = DeadLetterStatus.OPEN, *, limit: int = 100
) -> list[DeadLetter]:
    """Dead letters in one status (None: all), oldest first."""
    query = select(*COLUMNS).order_by(DeadLetterRow.first_seen_at, DeadLetterRow.id)
    if status is not None:
        query = query.where(DeadLetterRow.status == status.value)
    return [letter_from_row(row) for row in connection(db).execute(query.limit(limit))]


def count_dead_letters(db: Db) -> dict[DeadLetterStatus, int]:
    rows = connection(db).execute(
        select(DeadLetterRow.status, func.count()).group_by(DeadLetterRow.status)
    )
    counts = dict.fromkeys(DeadLetterStatus, 0)
    for status, count in rows:
        counts[DeadLetterStatus(status)] = count
    return counts


def count_dead_letters_by_system(db: Db) -> dict[tuple[System, DeadLetterStatus], int]:
    """Dead letters by the system of their record and status, every pair present (0 when
    none): `/metrics` says which system refuses, as `baton status` does."""
    rows = connection(db).execute(
        select(DeadLetterRow.system, DeadLetterRow.status, func.count()).group_by(
            DeadLetterRow.system, DeadLetterRow.status
        )
    )
    counts = dict.fromkeys(itertools.product(System, DeadLetterStatus), 0)
    for system, status, count in rows:
        counts[System(system), DeadLetterStatus(status)] = count
    return counts


def open_dead_letters(db: Db, ids: Iterable[int] | None = None) -> list[DeadLetter]:
    """Open dead letters (these ids, or all), by id, for the engine to retry."""
    conn = connection(db)
    if ids is None:
        filters: list[tuple[ColumnElement[bool], ...]] = [()]
    else:
        filters = [(DeadLetterRow.id.in_(chunk),) for chunk in chunked(sorted(set(ids)))]
    found: list[DeadLetter] = []
    for extra in filters:
        query = select(*COLUMNS).where(DeadLetterRow.status == DeadLetterStatus.OPEN.value, *extra)
        found.extend(letter_from_row(row) for row in conn.execute(query.order_by(DeadLetterRow.id)))
    return found


def close_retried(db: Db, letters: Sequence[DeadLetter]) -> None:
    """Mark `letters` retried, except those refused again since they were read (a new attempt
    was counted) or no longer open."""
    if not letters:
        return
    connection(db).execute(
        update(DeadLetterRow)
        .where(
            DeadLetterRow.id == bindparam("letter_id"),
            DeadLetterRow.attempts == bindparam("seen_attempts"),
            DeadLetterRow.status == DeadLetterStatus.OPEN.value,
        )
        .values(status=DeadLetterStatus.RETRIED.value),
        [{"letter_id": x.id, "seen_attempts": x.attempts} for x in letters],
    )


def settle_dead_letters(db: Db, ids: Sequence[int]) -> None:
    """Mark these open letters retried: a later write to their record went through (the data
    was fixed where it came from), so the refusal they keep is no longer news."""
    for chunk in chunked(sorted(set(ids))):
        connection(db).execute(
            update(DeadLetterRow)
            .where(
                DeadLetterRow.id.in_(chunk),
                DeadLetterRow.status == DeadLetterStatus.OPEN.value,
            )
            .values(status=DeadLetterStatus.RETRIED.value)
        )


def drop_dead_letters(db: Db, ids: Iterable[int] | None = None) -> list[DeadLetter]:
    """Close dead letters (these ids, or all open ones) for good; returns those dropped."""
    return _move(db, ids, DeadLetterStatus.OPEN, DeadLetterStatus.DROPPED)


def _move(
    db: Db, ids: Iterable[int] | None, source: DeadLetterStatus, target: DeadLetterStatus
) -> list[DeadLetter]:
    conn = connection(db)
    filters: list[list[ColumnElement[bool]]]
    if ids is None:
        filters = [[]]
    else:
        filters = [[DeadLetterRow.id.in_(chunk)] for chunk in chunked(sorted(set(ids)))]
    moved: list[DeadLetter] = []
    for extra in filters:
        where = (DeadLetterRow.status == source.value, *extra)
        rows = conn.execute(select(*COLUMNS).where(*where).order_by(DeadLetterRow.id))
        letters = [letter_from_row(row) for row in rows]
        if not letters:
            continue
        conn.execute(
            update(DeadLetterRow)
            .where(DeadLetterRow.id.in_([letter.id for letter in letters]))
            .values(status=target.value)
        )
        moved.extend(replace(letter, status=target) for letter in letters)
    return moved


def letter_from_row(row: Any) -> DeadLetter:
    """A `DeadLetter` from a row selected with `COLUMNS` (the read side selects its own)."""
    id_, system, obj, record_id, direction, payload, code, message, attempts, first, last, st = row
    return DeadLetter(
        id_,
        RecordKey(System(system), obj, record_id),
        Direction(direction),
        payload,
        code,
        message,
        attempts,
        first,
        last,
        DeadLetterStatus(st),
    )


def _row(letter: NewDeadLetter, at: datetime) -> dict[str, Any]:
    return {
        "system": letter.key.system.value,
        "object": letter.key.object,
        "record_id": letter.key.id,
        "direction": letter.direction.value,
        "payload": dict(letter.payload),
        "vendor_code": letter.vendor_code,
        "vendor_message": letter.vendor_message,
        "attempts": 1,
        "first_seen_at": at,
        "last_seen_at": at,
        "status": DeadLetterStatus.OPEN.value,
    }


def open_payloads(db: Db, keys: Iterable[RecordKey]) -> dict[RecordKey, Mapping[str, FieldValue]]:
    """The payloads of the open dead letters of these record keys (either direction), so the
    engine can hold back a write the system already refused until the data changes."""
    return {key: payload for key, (_, payload) in open_letters(db, keys).items()}


def open_letters(
    db: Db, keys: Iterable[RecordKey]
) -> dict[RecordKey, tuple[int, Mapping[str, FieldValue]]]:
    """The id and payload of the open dead letter of each of these record keys that has one
    (either direction): what a write held back waits for, and how to send it anyway."""
    conn = connection(db)
    found: dict[RecordKey, tuple[int, Mapping[str, FieldValue]]] = {}
    for (system, obj), ids in keys_by_object(keys).items():
        for record_id, payload, letter_id in _OPEN.rows(
            conn, list(ids), system=system.value, object=obj
        ):
            found[ids[record_id]] = (letter_id, payload)
    return found


_OPEN = Lookup.by_record_ids(
    DeadLetterRow,
    DeadLetterRow.record_id,
    DeadLetterRow.payload,
    DeadLetterRow.id,
    where=(DeadLetterRow.status == DeadLetterStatus.OPEN.value,),
)
