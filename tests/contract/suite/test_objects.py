"""The object table end to end, batch sizes, merges and hostile values, for both connectors."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from connectors.records import RecordKey, RecordPatch
from tests.contract.suite.sides import Side

HOSTILE = "O'Brien \\ \"q\" -- ' OR Id != ' ünï 🎻 %27;DROP"


def _new(side: Side, obj: str, fields: dict[str, Any]) -> RecordPatch:
    return RecordPatch(RecordKey(side.system, obj, ""), fields)


def test_given_each_object_in_the_table_then_write_read_changes_and_read_by_ids_agree(
    side: Side, connector: Any
) -> None:
    for obj, fields in side.objects.items():
        start = side.slot()
        (outcome,) = connector.write(obj, [_new(side, obj, fields)])
        assert outcome.ok, (obj, outcome)
        assert outcome.created

        changed = list(connector.read_changes(obj, start, start + timedelta(minutes=5)))
        assert [r.key.id for r in changed] == [outcome.id], obj

        (record,) = connector.read_by_ids(obj, [outcome.id])
        assert record.key == RecordKey(side.system, obj, str(outcome.id))
        assert {name: record.get(name) for name in fields} == fields, obj
        described = {f.name for f in connector.describe(obj)}
        assert set(fields) <= described, obj


def test_given_more_records_than_a_batch_then_one_call_per_full_batch(
    side: Side, connector: Any
) -> None:
    count = side.write_batch + side.write_batch // 2
    patches = [
        _new(side, side.person, side.new_fields(f"Many{uuid.uuid4().hex[:8]}"))
        for _ in range(count)
    ]
    side.reset_stats()
    outcomes = connector.write(side.person, patches)
    assert all(o.ok for o in outcomes)
    assert side.calls() == 2

    ids = [str(o.id) for o in outcomes]
    side.reset_stats()
    records = connector.read_by_ids(side.person, ids)
    assert sorted(r.key.id for r in records) == sorted(ids)
    assert side.calls() == -(-count // side.read_batch)


def test_given_a_merge_in_the_ui_then_changes_show_the_loser_merged_into_the_winner(
    side: Side, connector: Any
) -> None:
    start = side.slot()
    winner = side.create(f"Winner{uuid.uuid4().hex[:6]}")
    loser = side.create(f"Loser{uuid.uuid4().hex[:6]}")
    side.clock.advance(1)
    side.box.merge(side.person, winner, loser)
    side.clock.advance(1)

    records = {r.key.id: r for r in connector.read_changes(side.person, start, side.slot())}

    assert records[loser].deleted
    assert records[loser].merged_into == winner
    assert not records[winner].deleted
    assert records[winner].merged_into is None
    # A merged-away id never reads as a live record of its own.
    assert all(r.key.id == winner or r.deleted for r in connector.read_by_ids(side.person, [loser]))


def test_given_hostile_text_then_it_round_trips_unchanged(side: Side, connector: Any) -> None:
    start = side.slot()
    fields = {**side.new_fields(f"Hostile{uuid.uuid4().hex[:6]}"), side.writable: HOSTILE}
    (outcome,) = connector.write(side.person, [_new(side, side.person, fields)])
    assert outcome.ok

    (record,) = connector.read_by_ids(side.person, [outcome.id])
    assert record.get(side.writable) == HOSTILE
    (changed,) = connector.read_changes(side.person, start, side.slot())
    assert changed.get(side.writable) == HOSTILE


def test_given_hostile_ids_then_they_are_left_out_not_injected(side: Side, connector: Any) -> None:
    real = side.create(f"Real{uuid.uuid4().hex[:6]}")
    hostile = ["x' OR Id != '", "1 OR 1=1", "00Q\\'", "🎻"]

    records = connector.read_by_ids(side.person, [real, *hostile])

    assert [r.key.id for r in records] == [real]
