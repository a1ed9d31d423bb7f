"""Salesforce wire values -> `SourceRecord`s: timestamps, CSV text, deletes and merges."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.records import FieldValue, RecordKey, SourceRecord, System
from connectors.salesforce.objects import (
    DELETED_FIELD,
    ID_FIELD,
    MASTER_FIELD,
    MODIFIED_FIELD,
)

_NUMBER_TYPES = frozenset({"double", "currency", "percent"})


def parse_datetime(text: str) -> datetime:
    """`2024-05-01T12:00:00.000+0000` (REST) or `...Z` (Bulk CSV) -> aware UTC datetime."""
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    elif len(value) > 5 and value[-5] in "+-" and value[-4:].isdigit():
        value = value[:-2] + ":" + value[-2:]
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def ceil_ms(value: datetime) -> datetime:
    """Round up to the millisecond: SystemModstamp has millisecond precision, so for a
    millisecond timestamp `t`, `t >= x` iff `t >= ceil_ms(x)` (and likewise for `<`)."""
    extra = value.microsecond % 1000
    return value if extra == 0 else value + timedelta(microseconds=1000 - extra)


def _scalar(value: Any) -> FieldValue | None:
    return value if isinstance(value, str | int | float | bool) or value is None else None


def to_record(sobject: str, row: Mapping[str, Any]) -> SourceRecord:
    """A REST query row (attributes dropped; relationship objects are not scalars, dropped)."""
    fields = {
        name: _scalar(value)
        for name, value in row.items()
        if name != "attributes" and not isinstance(value, dict | list)
    }
    return _record(sobject, fields)


def _record(sobject: str, fields: dict[str, FieldValue]) -> SourceRecord:
    record_id = fields.get(ID_FIELD)
    modified = fields.get(MODIFIED_FIELD)
    if not isinstance(record_id, str) or not isinstance(modified, str):
        raise ValueError(f"a {sobject} row needs {ID_FIELD} and {MODIFIED_FIELD}")
    deleted = fields.get(DELETED_FIELD) is True
    master = fields.get(MASTER_FIELD)
    return SourceRecord(
        key=RecordKey(System.SALESFORCE, sobject, record_id),
        fields=fields,
        modified_at=parse_datetime(modified),
        deleted=deleted,
        merged_into=master if deleted and isinstance(master, str) and master else None,
    )


def coerce_csv(value: str, field_type: str | None) -> FieldValue:
    """A Bulk 2.0 CSV cell in the JSON type REST would have given (empty cell = null)."""
    if value == "":
        return None
    if field_type == "boolean":
        return value.lower() == "true"
    if field_type == "int":
        try:
            return int(value)
        except ValueError:
            return value
    if field_type in _NUMBER_TYPES:
        try:
            return float(value)
        except ValueError:
            return value
    if field_type == "datetime":
        # REST's shape, so records read either way compare equal.
        parsed = parse_datetime(value)
        return parsed.strftime("%Y-%m-%dT%H:%M:%S.") + f"{parsed.microsecond // 1000:03d}+0000"
    return value


def csv_records(sobject: str, text: str, field_types: Mapping[str, str]) -> Iterator[SourceRecord]:
    """Records of one Bulk 2.0 result page (each page is a standalone CSV with a header row)."""
    for row in csv.DictReader(io.StringIO(text, newline="")):
        fields = {
            name: coerce_csv(value or "", field_types.get(name)) for name, value in row.items()
        }
        yield _record(sobject, fields)
