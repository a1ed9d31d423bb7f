"""Snapshots: round trip, version counting, echo detection, and pages of 10,000."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import MappingProxyType

import orjson
from sqlalchemy import Connection, Text, cast, select

from connectors.records import FieldValue, RecordKey, System
from sync.store.schema import Snapshot as SnapshotRow
from sync.store.snapshots import (
    SnapshotWrite,
    fingerprint,
    get_snapshot,
    get_snapshots,
    put_snapshot,
    put_snapshots,
    snapshot_states,
    snapshot_values,
    touch_snapshots,
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


# Values whose key order, blanks, types and non-ASCII text an encoding could get wrong.
ODD: dict[str, FieldValue] = {"zeta": "Zoë ✓", "alpha": None, "mid": 2.5, "Beta": 0, "b": True}


def test_put_snapshots_stores_the_sorted_json_its_hash_is_taken_of(db: Connection) -> None:
    lead = RecordKey(System.SALESFORCE, "Lead", "00Q1")
    writes = [SnapshotWrite(ANN, ODD), SnapshotWrite(lead, MappingProxyType({"b": 1, "a": 2}))]
    put_snapshots(db, writes, at=T0)
    rows = db.execute(
        select(SnapshotRow.record_id, cast(SnapshotRow.field_values, Text), SnapshotRow.hash)
    ).all()
    text = {record_id: (stored, digest) for record_id, stored, digest in rows}
    for write in writes:
        stored, digest = text[write.key.id]
        assert digest == fingerprint(write.values)
        assert stored == orjson.dumps(dict(write.values), option=orjson.OPT_SORT_KEYS).decode()
    found = get_snapshots(db, [ANN, lead])
    assert {k: s.values for k, s in found.items()} == {ANN: ODD, lead: {"a": 2, "b": 1}}
    assert {k: s.hash for k, s in found.items()} == {w.key: fingerprint(w.values) for w in writes}
    assert snapshot_values(db, [ANN])[ANN][0] == ODD


def test_snapshot_states_are_the_digests_times_and_values_of_a_page(db: Connection) -> None:
    contacts = [RecordKey(System.HUBSPOT, "contacts", str(n)) for n in range(700)]
    leads = [RecordKey(System.SALESFORCE, "Lead", f"00Q{n}") for n in range(3)]
    sf_contact = RecordKey(System.SALESFORCE, "Contact", "0031")
    put_snapshots(
        db,
        [
            SnapshotWrite(k, ODD | {"n": n}, source_modified_at=T0, source_digest=f"{n:032x}")
            for n, k in enumerate(contacts[::2])
        ]
        + [SnapshotWrite(leads[0], {}, written_by_us=True), SnapshotWrite(sf_contact, ODD)],
        at=T0,
    )
    touch_snapshots(db, [(leads[0], T0 + timedelta(hours=1), "e" * 32)], at=T0)
    missing = RecordKey(System.SALESFORCE, "Contact", "404")
    # Equal copies, not the stored keys' objects: the result must hand back these very ones.
    keys = [RecordKey(k.system, k.object, k.id) for k in [*contacts, *leads, sf_contact, missing]]

    states = snapshot_states(db, keys)

    values = snapshot_values(db, keys)
    stored = get_snapshots(db, keys)
    assert len(states) == 350 + 1 + 1
    assert {k: (s.source_digest, s.source_modified_at) for k, s in states.items()} == {
        k: (s.source_digest, s.source_modified_at) for k, s in stored.items()
    }
    assert {k: (s.values, s.source_modified_at) for k, s in states.items()} == values
    assert states[leads[0]].source_digest == "e" * 32
    assert states[sf_contact].values == ODD
    given = {id(k) for k in keys}
    assert all(id(k) in given for k in states)
    state = states[keys[0]]
    assert state.values is state.values  # decoded once, then kept
