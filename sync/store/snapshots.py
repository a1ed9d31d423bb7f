"""Per-side snapshots: the last canonical values seen on, or written to, each linked record.

Change detection compares a freshly mapped record with its snapshot; only differing fields are
proposed. When we write, the caller stores what we wrote with `written_by_us=True`, so the
system's echo of that write maps to the same fingerprint and proposes nothing. `version` counts
the snapshot's updates and is returned so callers can tell a stale read.

Values are stored as the JSON their fingerprint is taken of (keys sorted): a page is encoded
once, not once for the hash and again by the column type.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.sql.dml import UpdateBase

from connectors.records import FieldValue, RecordKey
from sync.store._bulk import Batch, Lookup, as_json_text, json_text
from sync.store._sql import Db, chunked, connection, keys_by_object, upsert
from sync.store.schema import Snapshot as SnapshotRow
from sync.store.types import utcnow

#: The source digest of a snapshot whose record could not be read when its person was planned,
#: or whose link ended (`unread_snapshots`): never a real digest, so the record is planned again
#: in full when it is read at last.
UNREAD = "unread"


def fingerprint(values: Mapping[str, FieldValue]) -> str:
    """A stable 32-hex-digit digest of canonical values (key order does not matter)."""
    return _digest(_encode(values))


def _encode(values: Mapping[str, FieldValue]) -> bytes:
    """Values as JSON with sorted keys: what `fingerprint` digests and `put_snapshots` stores."""
    plain = values if type(values) is dict else dict(values)  # orjson takes dicts only
    return orjson.dumps(plain, option=orjson.OPT_SORT_KEYS)


def _digest(encoded: bytes) -> str:
    return hashlib.blake2b(encoded, digest_size=16).hexdigest()


@dataclass(frozen=True, slots=True)
class Snapshot:
    key: RecordKey
    values: Mapping[str, FieldValue]
    hash: str
    written_by_us: bool
    version: int
    source_modified_at: datetime | None
    updated_at: datetime
    source_digest: str | None = None

    def matches(self, values: Mapping[str, FieldValue]) -> bool:
        """Whether `values` are exactly what this snapshot holds (e.g. the echo of our write)."""
        return fingerprint(values) == self.hash


@dataclass(frozen=True, slots=True)
class SnapshotWrite:
    """One snapshot to store: the canonical values, and whether we wrote them ourselves."""

    key: RecordKey
    values: Mapping[str, FieldValue]
    written_by_us: bool = False
    source_modified_at: datetime | None = None
    source_digest: str | None = None  # of the fields read (see Mapper.source_digest)


_COLUMNS = (
    SnapshotRow.system,
    SnapshotRow.object,
    SnapshotRow.record_id,
    SnapshotRow.field_values,
    SnapshotRow.hash,
    SnapshotRow.written_by_us,
    SnapshotRow.version,
    SnapshotRow.source_modified_at,
    SnapshotRow.updated_at,
    SnapshotRow.source_digest,
)


def get_snapshot(db: Db, key: RecordKey) -> Snapshot | None:
    return get_snapshots(db, [key]).get(key)


def get_snapshots(db: Db, keys: Iterable[RecordKey]) -> dict[RecordKey, Snapshot]:
    """Snapshots for a page of keys: one query per (system, object) and chunk of ids."""
    conn = connection(db)
    found: dict[RecordKey, Snapshot] = {}
    for (system, obj), ids in keys_by_object(keys).items():
        for chunk in chunked(list(ids)):
            query = select(*_COLUMNS).where(
                SnapshotRow.system == system.value,
                SnapshotRow.object == obj,
                SnapshotRow.record_id.in_(chunk),
            )
            for row in conn.execute(query):
                _, _, record_id, values, digest, ours, version, modified, updated, source = row
                key = RecordKey(system, obj, record_id)
                found[key] = Snapshot(key, values, digest, ours, version, modified, updated, source)
    return found


def snapshot_values(
    db: Db, keys: Iterable[RecordKey]
) -> dict[RecordKey, tuple[Mapping[str, FieldValue], datetime | None]]:
    """(values, source modification time) per key: the two columns the engine compares, for
    a page of keys (`get_snapshots` without the bookkeeping columns)."""
    conn = connection(db)
    found: dict[RecordKey, tuple[Mapping[str, FieldValue], datetime | None]] = {}
    for (system, obj), ids in keys_by_object(keys).items():
        rows = _VALUES.rows(conn, list(ids), system=system.value, object=obj)
        for record_id, values, modified in rows:
            key = ids.get(record_id) or RecordKey(system, obj, record_id)
            found[key] = (values, modified)
    return found


_VALUES = Lookup.by_record_ids(
    SnapshotRow, SnapshotRow.record_id, SnapshotRow.field_values, SnapshotRow.source_modified_at
)


class SnapshotState:
    """What the engine compares a record read again with: its snapshot's source digest and
    modification time, and its values, decoded only when first read (most records of a poll
    are recognised by their marks alone)."""

    __slots__ = ("_text", "_values", "source_digest", "source_modified_at")

    def __init__(self, digest: str | None, modified: datetime | None, text: str) -> None:
        self.source_digest = digest
        self.source_modified_at = modified
        self._text = text
        self._values: Mapping[str, FieldValue] | None = None

    @property
    def values(self) -> Mapping[str, FieldValue]:
        if self._values is None:
            self._values = orjson.loads(self._text)
        return self._values

    def __repr__(self) -> str:  # without the values: they are people's data
        return f"SnapshotState({self.source_digest!r}, {self.source_modified_at!r})"


_STATES = Lookup.by_record_ids(
    SnapshotRow,
    SnapshotRow.record_id,
    SnapshotRow.source_digest,
    SnapshotRow.source_modified_at,
    as_json_text(SnapshotRow.field_values),
)


def snapshot_states(db: Db, keys: Iterable[RecordKey]) -> dict[RecordKey, SnapshotState]:
    """Per key of a page, its snapshot's source digest and modification time (enough to tell
    a record read again unchanged) and its values, in one query per (system, object) and
    chunk, the values' JSON left undecoded until asked for."""
    conn = connection(db)
    found: dict[RecordKey, SnapshotState] = {}
    for (system, obj), ids in keys_by_object(keys).items():
        rows = _STATES.rows(conn, list(ids), system=system.value, object=obj)
        for record_id, digest, modified, text in rows:
            key = ids.get(record_id) or RecordKey(system, obj, record_id)
            found[key] = SnapshotState(digest, modified, text)
    return found


def put_snapshot(
    db: Db,
    key: RecordKey,
    values: Mapping[str, FieldValue],
    *,
    written_by_us: bool = False,
    source_modified_at: datetime | None = None,
    at: datetime | None = None,
) -> None:
    put_snapshots(db, [SnapshotWrite(key, values, written_by_us, source_modified_at)], at=at)


def put_snapshots(db: Db, writes: Sequence[SnapshotWrite], *, at: datetime | None = None) -> None:
    """Upsert a page of snapshots in one executemany; an existing row's version goes up by one.

    A key appearing twice in one page is an engine bug (two truths for one record) and fails
    on PostgreSQL; pass each key once.
    """
    if not writes:
        return
    when = at or utcnow()
    _UPSERT.execute(connection(db), [_row(write, when) for write in writes])


def _upsert(conn: Connection) -> UpdateBase:
    # The values come encoded (`_row`): the bytes their hash was taken of, stored as they are.
    stmt = upsert(conn, SnapshotRow).values(field_values=json_text(conn, "field_values"))
    return stmt.on_conflict_do_update(
        index_elements=[SnapshotRow.system, SnapshotRow.object, SnapshotRow.record_id],
        set_={
            "field_values": stmt.excluded.field_values,
            "hash": stmt.excluded.hash,
            "written_by_us": stmt.excluded.written_by_us,
            "version": SnapshotRow.version + 1,
            "source_modified_at": stmt.excluded.source_modified_at,
            "updated_at": stmt.excluded.updated_at,
            "source_digest": stmt.excluded.source_digest,
        },
    )


_UPSERT = Batch(
    _upsert,
    (
        "system",
        "object",
        "record_id",
        "field_values",
        "hash",
        "written_by_us",
        "version",
        "source_modified_at",
        "updated_at",
        "source_digest",
    ),
)


def touch_snapshots(
    db: Db,
    seen: Sequence[tuple[RecordKey, datetime | None, str | None]],
    *,
    at: datetime | None = None,
) -> None:
    """Record that these snapshots' records were read again, unchanged, at a new modification
    time (with the digest of the fields read): what `put_snapshots` of the same values would
    store, without re-encoding them (the steady state of a poll, where records are touched but
    say nothing new)."""
    if not seen:
        return
    when = at or utcnow()
    rows = [
        (key.system.value, key.object, key.id, modified, when, digest)
        for key, modified, digest in seen
    ]
    _TOUCH.execute(connection(db), rows)


_TOUCH = Batch(
    lambda _: (
        update(SnapshotRow)
        .where(
            SnapshotRow.system == bindparam("k_system"),
            SnapshotRow.object == bindparam("k_object"),
            SnapshotRow.record_id == bindparam("k_record_id"),
        )
        .values(
            written_by_us=False,
            version=SnapshotRow.version + 1,
            source_modified_at=bindparam("k_modified"),
            updated_at=bindparam("k_updated"),
            source_digest=bindparam("k_digest"),
        )
    ),
    ("k_system", "k_object", "k_record_id", "k_modified", "k_updated", "k_digest"),
)


def _row(write: SnapshotWrite, at: datetime) -> tuple[Any, ...]:
    encoded = _encode(write.values)  # once, for both the stored JSON (keys sorted) and its hash
    key = write.key
    return (
        key.system.value,
        key.object,
        key.id,
        encoded.decode(),
        _digest(encoded),
        write.written_by_us,
        1,
        write.source_modified_at,
        at,
        write.source_digest,
    )


def unread_snapshots(db: Db, keys: Iterable[RecordKey], *, at: datetime | None = None) -> None:
    """Mark these records' snapshots `UNREAD` (their links ended: a propagated delete). Their
    values stay, what the pair was last synced with, for a record restored later to resume
    from; the mark means none is ever taken for a record read again unchanged."""
    touch_snapshots(db, [(key, None, UNREAD) for key in keys], at=at)
