"""Change detection against per-side snapshots, and the snapshot a write leaves behind.

A snapshot holds the canonical values last seen on, or written to, one record. A field is
*changed* on a side when its value differs from that side's snapshot; only changed fields can
win a rule, so a stale value never overwrites a fresh one just because its record was touched
later. After we write a record, its snapshot becomes what the record will say once the write
lands (`expected_after`), so the system's echo of our own write compares equal and proposes
nothing: no ping-pong.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from connectors.records import FieldValue, RecordKey, SourceRecord
from mappings.apply import Mapper
from mappings.model import Person
from sync.values import Values

EPOCH = datetime.fromtimestamp(0, UTC)


def changed_fields(current: Values, snapshot: Values | None) -> frozenset[str]:
    """Fields whose value differs from the snapshot (every field when there is none)."""
    if snapshot is None:
        return frozenset(current)
    return frozenset(name for name, value in current.items() if snapshot.get(name) != value)


def overlay(record: SourceRecord, fields: Mapping[str, FieldValue], key: RecordKey) -> SourceRecord:
    """`record` as it will read after `fields` are written to it (as `key`, for creates)."""
    return SourceRecord(key, {**record.fields, **fields}, record.modified_at)


def expected_after(
    mapper: Mapper, record: SourceRecord | None, fields: Mapping[str, FieldValue], key: RecordKey
) -> Person:
    """The person a record will map to after we write `fields` to it (or create it with them).

    Reading what we wrote through the same mapper, rather than copying the values we meant,
    makes the snapshot equal to what the echo will map to, transforms and fallbacks included.
    """
    if record is None:
        record = SourceRecord(key, {}, EPOCH)
    return mapper.to_person(overlay(record, fields, key)).value
