"""Records a backfill already read, kept for the passes that would otherwise read them again.

A backfill reads Salesforce first and HubSpot second (see `sync.engine`). On a first backfill
the Salesforce pass meets people with no HubSpot record yet; the HubSpot pass then finds their
contacts and needs those same Salesforce records as the other side of each plan, and the
creation pass needs the ones still alone. Reading them again by id would cost about a fifth of
the backfill's API calls, so the Salesforce pass keeps them here instead.

Two bounds keep this honest:

- `max_age`: a record is only used while younger than this (by the engine's clock); older ones
  are read again, so a plan never rests on a view much older than a read-then-write would. A
  Salesforce edit made after the record was read is newer than the backfill's start, so the
  next poll reads it whatever this cache held.
- `limit`: at most this many records are kept (the newest are dropped when full, and read
  again by id when needed), so memory stays flat however large the org. A record is kept as
  its fields' JSON (about a quarter of the objects' size) when every value is plain JSON, so
  it reads back exactly.

A record the unit wrote to is never kept: what it holds is no longer what the system holds.
The keys a run wrote to are remembered too, so a listing read ahead of the passes (the engine
starts HubSpot's early) has its copies of them read again before they are planned.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson

from connectors.records import RecordKey, SourceRecord


class TwinCache:
    """Records read earlier in one backfill, by key, each with the time it was kept."""

    def __init__(self, *, limit: int, max_age: timedelta, now: Callable[[], datetime]) -> None:
        self.limit = limit
        self.max_age = max_age
        self.now = now
        self._kept: dict[RecordKey, tuple[_Kept, datetime]] = {}
        self.served = 0  # records handed out instead of read again
        self.expired = 0  # records too old when asked for, read again
        self._written: set[RecordKey] = set()

    def __len__(self) -> int:
        return len(self._kept)

    def keep(self, records: Iterable[SourceRecord]) -> None:
        at = self.now()
        for record in records:
            if len(self._kept) >= self.limit and record.key not in self._kept:
                return
            self._kept[record.key] = (_pack(record), at)

    def take(self, keys: Iterable[RecordKey]) -> dict[RecordKey, SourceRecord]:
        """The kept records of `keys` that are fresh enough; each is handed out once."""
        oldest = self.now() - self.max_age
        found: dict[RecordKey, SourceRecord] = {}
        for key in keys:
            entry = self._kept.pop(key, None)
            if entry is None:
                continue
            kept, at = entry
            if at < oldest:
                self.expired += 1
                continue
            found[key] = _unpack(kept)
        self.served += len(found)
        return found

    def mark_written(self, keys: Iterable[RecordKey]) -> None:
        """Records this run wrote to or deleted: a copy read before (a listing read ahead)
        is stale, and any kept copy is dropped."""
        for key in keys:
            self._written.add(key)
            self._kept.pop(key, None)

    def was_written(self, key: RecordKey) -> bool:
        return key in self._written


_JSON_NATIVE = frozenset({str, int, float, bool, type(None)})


@dataclass(frozen=True, slots=True)
class _Packed:
    key: RecordKey
    fields: bytes  # orjson of the record's fields
    modified_at: datetime
    deleted: bool
    merged_into: str | None
    other_emails: tuple[str, ...]


_Kept = SourceRecord | _Packed


def _pack(record: SourceRecord) -> _Kept:
    if any(type(value) not in _JSON_NATIVE for value in record.fields.values()):
        return record  # a datetime would come back a string: keep the record as it is
    # orjson's result keeps its whole output buffer (~16 KB); a copy is sized to the JSON.
    return _Packed(
        record.key,
        bytes(memoryview(orjson.dumps(dict(record.fields)))),
        record.modified_at,
        record.deleted,
        record.merged_into,
        record.other_emails,
    )


def _unpack(kept: _Kept) -> SourceRecord:
    if isinstance(kept, SourceRecord):
        return kept
    return SourceRecord(
        kept.key,
        orjson.loads(kept.fields),
        kept.modified_at,
        deleted=kept.deleted,
        merged_into=kept.merged_into,
        other_emails=kept.other_emails,
    )


#: How a unit reads records by id (`sync.unit.Worker.read`): those `TwinCache` still holds,
#: the rest from their system.
Read = Callable[[Iterable[RecordKey], TwinCache | None], list[SourceRecord]]
