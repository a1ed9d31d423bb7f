"""Change detection against per-side snapshots, and the snapshot a write leaves behind.

A snapshot holds the canonical values last seen on, or written to, one record. A field is
*changed* on a side when its value differs from that side's snapshot; only changed fields can
win a rule, so a stale value never overwrites a fresh one just because its record was touched
later. After we write a record, its snapshot becomes what the record will say once the write
lands (`Mapper.remap`: what we wrote, read back through the same mapper), so the system's echo
of our own write compares equal and proposes nothing: no ping-pong.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from connectors.records import FieldValue, RecordKey, SourceRecord
from sync.values import Values

EPOCH = datetime.fromtimestamp(0, UTC)
#: HubSpot stamps a contact's "Became a <stage> date" itself when a write moves it into a
#: lifecycle stage for the first time (a stage skipped over gets none). The stamp is the write's
#: own time, unknown until read back: a snapshot holds this marker instead, and any value read
#: there later is the echo of our write, not a change to carry to the other side.
STAMPED = "<stamped by HubSpot on write>"
LIFECYCLE_FIELD = "lifecyclestage"


def became_date(lifecycle_value: str) -> str:
    """HubSpot's read-only property stamped on entering a lifecycle stage."""
    return f"hs_lifecyclestage_{lifecycle_value}_date"


def stamped(
    expected: Values,
    record: SourceRecord | None,
    fields: Mapping[str, FieldValue],
    canonical_of: Mapping[str, str],
) -> Values:
    """`expected` with the marker on the canonical field of the date HubSpot will stamp when
    `fields` move a contact (`record`, None for a create) into a lifecycle stage."""
    stage = fields.get(LIFECYCLE_FIELD)
    if not isinstance(stage, str) or not stage:
        return expected
    prop = became_date(stage)
    name = canonical_of.get(prop)
    if name is None or (record is not None and record.fields.get(prop) not in (None, "")):
        return expected
    return {**expected, name: STAMPED}


def changed_fields(current: Values, snapshot: Values | None) -> frozenset[str]:
    """Fields whose value differs from the snapshot (every field when there is none)."""
    if snapshot is None:
        return frozenset(current)
    return frozenset(
        name
        for name, value in current.items()
        if (was := snapshot.get(name)) != value and not (was == STAMPED and value is not None)
    )


def field_changed(name: str, current: Values, snapshot: Values | None) -> bool:
    """Whether `name` is in `changed_fields(current, snapshot)`, without the other fields."""
    if snapshot is None:
        return name in current
    if name not in current:
        return False
    value = current[name]
    was = snapshot.get(name)
    return was != value and not (was == STAMPED and value is not None)


def any_changed(current: Values, snapshot: Values) -> bool:
    """Whether `changed_fields(current, snapshot)` is not empty; stops at the first change."""
    get = snapshot.get
    for name, value in current.items():
        was = get(name)
        if was != value and not (was == STAMPED and value is not None):
            return True
    return False


def overlay(record: SourceRecord, fields: Mapping[str, FieldValue], key: RecordKey) -> SourceRecord:
    """`record` as it will read after `fields` are written to it (as `key`, for creates)."""
    return SourceRecord(
        key, {**record.fields, **fields}, record.modified_at, other_emails=record.other_emails
    )
