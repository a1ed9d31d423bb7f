"""`to_jsonable`: the JSON conventions `--json` output promises."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from connectors.records import RecordKey, System
from sync.queries.export import to_jsonable


@dataclass(frozen=True, slots=True)
class Row:
    id: uuid.UUID
    key: RecordKey
    at: datetime
    took: timedelta
    tags: tuple[str, ...]
    counts: dict[System, int]
    nothing: None = None


def test_dataclasses_become_plain_json() -> None:
    ident = uuid.UUID(int=7)
    row = Row(
        ident,
        RecordKey(System.SALESFORCE, "Lead", "00Q1"),
        datetime(2026, 3, 1, 9, 30, tzinfo=UTC),
        timedelta(minutes=1, seconds=30),
        ("a", "b"),
        {System.HUBSPOT: 2},
    )
    data = to_jsonable(row)
    assert data == {
        "id": str(ident),
        "key": {"system": "salesforce", "object": "Lead", "id": "00Q1"},
        "at": "2026-03-01T09:30:00+00:00",
        "took": 90.0,
        "tags": ["a", "b"],
        "counts": {"hubspot": 2},
        "nothing": None,
    }
    assert json.loads(json.dumps(data)) == data


def test_unknown_types_are_refused() -> None:
    with pytest.raises(TypeError, match="object"):
        to_jsonable(object())
