"""Snapshots: round trip, version counting, echo detection, and pages of 10,000."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection

from connectors.records import RecordKey, System
from sync.store.snapshots import (
    SnapshotWrite,
    fingerprint,
    get_snapshot,
    get_snapshots,
    put_snapshot,
    put_snapshots,
)

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
ANN = RecordKey(System.HUBSPOT, "contacts", "101")


def test_put_then_get_round_trips_values_and_counts_versions(db: Connection) -> None:
    values = {"email": "ann@example.com", "score": 42, "mql": True, "phone": None, "ratio": 0.5}
    put_snapshot(db, ANN, values, source_modified_at=T0, at=T0)
    first = get_snapshot(db, ANN)
    assert first is not None
    assert (first.values, first.version, first.written_by_us) == (values, 1, False)
    assert (first.source_modified_at, first.updated_at) == (T0, T0)
    assert first.hash == fingerprint(values)

    written = values | {"score": 50}
    put_snapshot(db, ANN, written, written_by_us=True, at=T0 + timedelta(minutes=1))
    second = get_snapshot(db, ANN)
    assert second is not None
    assert (second.values, second.version, second.written_by_us) == (written, 2, True)
    assert second.updated_at == T0 + timedelta(minutes=1)
    assert get_snapshot(db, RecordKey(System.HUBSPOT, "contacts", "404")) is None


def test_the_echo_of_our_write_matches_the_snapshot(db: Connection) -> None:
    written = {"lead_status": "Working", "score": 50}
    put_snapshot(db, ANN, written, written_by_us=True, at=T0)
    snapshot = get_snapshot(db, ANN)
    assert snapshot is not None
    assert snapshot.matches({"score": 50, "lead_status": "Working"})  # key order is irrelevant
    assert not snapshot.matches({"score": 51, "lead_status": "Working"})


def test_bulk_upsert_of_ten_thousand_rows_inserts_then_updates(db: Connection) -> None:
    keys = [RecordKey(System.SALESFORCE, "Lead", f"00Q{i:015d}") for i in range(10_000)]
    put_snapshots(db, [SnapshotWrite(k, {"n": i, "stage": "mql"}) for i, k in enumerate(keys)])
    changed = [SnapshotWrite(k, {"n": -i}, written_by_us=True) for i, k in enumerate(keys[::2])]
    put_snapshots(db, changed, at=T0)
    found = get_snapshots(db, keys)
    assert len(found) == 10_000
    assert found[keys[0]].values == {"n": 0}
    assert found[keys[0]].version == 2
    assert found[keys[2]].values == {"n": -1}
    assert found[keys[2]].written_by_us
    assert found[keys[1]].values == {"n": 1, "stage": "mql"}
    assert found[keys[1]].version == 1
    assert sum(s.version for s in found.values()) == 15_000


def test_snapshots_are_per_side(db: Connection) -> None:
    lead = RecordKey(System.SALESFORCE, "Lead", "101")
    put_snapshots(db, [SnapshotWrite(ANN, {"side": "hs"}), SnapshotWrite(lead, {"side": "sf"})])
    found = get_snapshots(db, [ANN, lead])
    assert {k: s.values["side"] for k, s in found.items()} == {ANN: "hs", lead: "sf"}
