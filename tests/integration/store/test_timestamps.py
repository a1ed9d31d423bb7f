"""Timestamps go in aware, are stored as UTC, and come back aware in UTC on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Connection
from sqlalchemy.exc import StatementError

from connectors.records import RecordKey, System
from sync.store.checkpoints import advance_checkpoint, get_checkpoint
from sync.store.snapshots import get_snapshot, put_snapshot

PARIS_SUMMER = timezone(timedelta(hours=2))


def test_aware_times_round_trip_as_utc(db: Connection) -> None:
    local = datetime(2026, 7, 1, 12, 30, 15, 123456, tzinfo=PARIS_SUMMER)
    key = RecordKey(System.SALESFORCE, "Lead", "00Q1")
    put_snapshot(db, key, {"a": 1}, source_modified_at=local, at=local)
    snapshot = get_snapshot(db, key)
    assert snapshot is not None
    for value in (snapshot.updated_at, snapshot.source_modified_at):
        assert value == local
        assert value is not None
        assert value.tzinfo == UTC
        assert value.utcoffset() == timedelta(0)
        assert value.hour == 10
        assert value.microsecond == 123456


def test_ordering_uses_the_instant_not_the_wall_clock(db: Connection) -> None:
    utc_time = datetime(2026, 7, 1, 11, 0, tzinfo=UTC)
    earlier_but_later_on_the_wall = datetime(2026, 7, 1, 12, 30, tzinfo=PARIS_SUMMER)  # 10:30Z
    assert advance_checkpoint(db, System.HUBSPOT, "contacts", utc_time, "5")
    assert not advance_checkpoint(
        db, System.HUBSPOT, "contacts", earlier_but_later_on_the_wall, "9"
    )
    checkpoint = get_checkpoint(db, System.HUBSPOT, "contacts")
    assert checkpoint is not None
    assert checkpoint.cursor == utc_time


def test_naive_times_are_refused(db: Connection) -> None:
    with pytest.raises(StatementError, match="naive datetime"):
        put_snapshot(
            db, RecordKey(System.HUBSPOT, "contacts", "1"), {}, at=datetime(2026, 7, 1, 12, 0)
        )
