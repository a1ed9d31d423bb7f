"""Wire values -> records: timestamps, deletes, merges, CSV typing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connectors.salesforce.convert import (
    ceil_ms,
    coerce_csv,
    csv_records,
    parse_datetime,
    to_record,
)
from connectors.salesforce.reader import plan_window


@pytest.mark.parametrize(
    "text",
    ["2026-03-02T09:00:01.250+0000", "2026-03-02T09:00:01.250Z", "2026-03-02T10:00:01.250+0100"],
)
def test_datetimes_in_every_wire_shape(text: str) -> None:
    assert parse_datetime(text) == datetime(2026, 3, 2, 9, 0, 1, 250_000, tzinfo=UTC)


def test_window_bounds_round_up_to_the_millisecond() -> None:
    assert ceil_ms(datetime(2026, 1, 1, 0, 0, 0, 1, tzinfo=UTC)).microsecond == 1000
    exact = datetime(2026, 1, 1, 0, 0, 0, 2000, tzinfo=UTC)
    assert ceil_ms(exact) == exact


def test_deleted_merged_row_points_at_survivor() -> None:
    row = {
        "attributes": {"type": "Lead", "url": "/x"},
        "Id": "00Q2",
        "IsDeleted": True,
        "MasterRecordId": "00Q1",
        "SystemModstamp": "2026-03-02T09:00:00.000+0000",
        "Owner": {"Name": "nested, dropped"},
    }
    record = to_record("Lead", row)
    assert record.deleted
    assert record.merged_into == "00Q1"
    assert "attributes" not in record.fields
    assert "Owner" not in record.fields


def test_csv_cells_get_rest_types() -> None:
    text = (
        "Id,IsDeleted,NumberOfEmployees,AnnualRevenue,SystemModstamp,Email\n"
        '00Q1,false,12,3.5,2026-03-02T09:00:00.000Z,""\n'
    )
    types = {
        "IsDeleted": "boolean",
        "NumberOfEmployees": "int",
        "AnnualRevenue": "currency",
        "SystemModstamp": "datetime",
    }
    (record,) = csv_records("Lead", text, types)
    assert dict(record.fields) == {
        "Id": "00Q1",
        "IsDeleted": False,
        "NumberOfEmployees": 12,
        "AnnualRevenue": 3.5,
        "SystemModstamp": "2026-03-02T09:00:00.000+0000",
        "Email": None,
    }
    assert coerce_csv("x", "int") == "x"


def test_plan_window_applies_lookback_and_settle() -> None:
    now = datetime(2026, 3, 2, 12, tzinfo=UTC)
    since, until = plan_window(datetime(2026, 3, 2, 11, tzinfo=UTC), now=now)
    assert until < now
    assert since is not None
    assert since < datetime(2026, 3, 2, 11, tzinfo=UTC)
    assert plan_window(None, now=now)[0] is None
