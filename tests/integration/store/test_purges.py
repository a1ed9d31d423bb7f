"""Purge hints on SQLite and PostgreSQL: kept once however often hinted, listed oldest first,
dropped when synced."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection

from connectors.records import RecordKey, System
from sync.store.purges import forget_purges, keep_purges, kept_purges

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
ANN = RecordKey(System.HUBSPOT, "contacts", "101")
BOB = RecordKey(System.HUBSPOT, "contacts", "102")


def test_purge_hints_are_kept_once_oldest_first_until_forgotten(db: Connection) -> None:
    keep_purges(db, [BOB], at=T0 + timedelta(seconds=5))
    keep_purges(db, [ANN, ANN], at=T0)
    keep_purges(db, [BOB], at=T0 + timedelta(seconds=9))  # HubSpot sent it twice

    assert kept_purges(db) == [ANN, BOB]

    forget_purges(db, [BOB, RecordKey(System.HUBSPOT, "contacts", "999")])

    assert kept_purges(db) == [ANN]
