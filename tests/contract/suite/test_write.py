"""`write`: creates, updates, idempotent upserts and per-record refusals, for both connectors."""

from __future__ import annotations

import uuid
from typing import Any

from connectors.records import RecordKey, RecordPatch
from tests.contract.suite.sides import Side


def _new(side: Side, fields: dict[str, Any], match_on: str | None = None) -> RecordPatch:
    return RecordPatch(RecordKey(side.system, side.person, ""), fields, match_on=match_on)


def _existing(side: Side, record_id: str, fields: dict[str, Any]) -> RecordPatch:
    return RecordPatch(RecordKey(side.system, side.person, record_id), fields)


def _tag() -> str:
    return "W" + uuid.uuid4().hex[:10]


def test_given_new_records_when_written_then_created_and_readable(
    side: Side, connector: Any
) -> None:
    tags = [_tag() for _ in range(3)]
    patches = [_new(side, {**side.new_fields(t), side.writable: f"Title {t}"}) for t in tags]
    side.reset_stats()

    outcomes = connector.write(side.person, patches)

    assert side.calls() == 1  # one batch for three records
    assert [o.patch for o in outcomes] == patches
    assert all(o.ok and o.created and o.id for o in outcomes)
    read = {r.key.id: r for r in connector.read_by_ids(side.person, [o.id for o in outcomes])}
    assert [read[o.id].get(side.writable) for o in outcomes] == [f"Title {t}" for t in tags]


def test_given_existing_records_when_updated_then_changed_in_place(
    side: Side, connector: Any
) -> None:
    ids = [side.create(_tag()) for _ in range(2)]
    patches = [_existing(side, i, {side.writable: f"Updated {n}"}) for n, i in enumerate(ids)]

    outcomes = connector.write(side.person, patches)

    assert [(o.ok, o.created, o.id) for o in outcomes] == [(True, False, i) for i in ids]
    read = {r.key.id: r.get(side.writable) for r in connector.read_by_ids(side.person, ids)}
    assert read == {ids[0]: "Updated 0", ids[1]: "Updated 1"}


def test_given_an_upsert_by_external_id_sent_twice_then_one_record_exists(
    side: Side, connector: Any
) -> None:
    tag = _tag()
    key = f"bt-{uuid.uuid4()}"
    patch = _new(side, {side.external_id: key, **side.new_fields(tag)}, side.external_id)

    first = connector.write(side.person, [patch])[0]
    again = connector.write(side.person, [patch])[0]  # a retried create: no duplicate
    changed = connector.write(
        side.person,
        [_new(side, {side.external_id: key, side.writable: "Renamed"}, side.external_id)],
    )[0]

    assert (first.ok, first.created) == (True, True)
    assert (again.ok, again.created, again.id) == (True, False, first.id)
    assert (changed.ok, changed.created, changed.id) == (True, False, first.id)
    (record,) = connector.read_by_ids(side.person, [first.id])
    assert record.get(side.writable) == "Renamed"
    assert record.get(side.external_id) == key


def test_given_upserted_records_then_find_by_their_external_id_reads_where_an_upsert_lands(
    side: Side, connector: Any
) -> None:
    """What a replayed create asks before it would write again (`sync.store.pending`)."""
    keys = [f"bt-{uuid.uuid4()}" for _ in range(2)]
    patches = [
        _new(side, {side.external_id: k, **side.new_fields(_tag())}, side.external_id) for k in keys
    ]
    made = connector.write(side.person, patches)
    side.reset_stats()

    found = connector.find_by(side.person, side.external_id, [*keys, f"bt-{uuid.uuid4()}"])

    assert sorted(r.key.id for r in found) == sorted(o.id for o in made)
    assert {r.get(side.external_id) for r in found} == set(keys)
    assert all(not r.deleted and r.get(side.writable) is None for r in found)
    assert side.calls() <= 2  # one lookup (Salesforce: then one read by id)
    assert connector.find_by(side.person, side.external_id, [f"bt-{uuid.uuid4()}"]) == []


def test_given_one_refused_record_in_a_batch_then_only_it_fails_with_the_vendor_code(
    side: Side, connector: Any
) -> None:
    good, bad, also = _tag(), _tag(), _tag()
    existing = side.create(_tag())
    patches = [
        _new(side, side.new_fields(good)),
        _new(side, {**side.new_fields(bad), side.status: side.bad_status}),
        _existing(side, existing, {side.status: side.bad_status}),
        _new(side, side.new_fields(also)),
    ]

    outcomes = connector.write(side.person, patches)

    assert [o.patch for o in outcomes] == patches  # one outcome per patch, in order
    assert [o.ok for o in outcomes] == [True, False, False, True]
    for refused in (outcomes[1], outcomes[2]):
        assert refused.error_code == side.reject_code
        assert side.bad_status in (refused.error_message or "")
        assert not refused.retryable
    assert outcomes[0].id != outcomes[3].id
    assert len(connector.read_by_ids(side.person, [outcomes[0].id, outcomes[3].id])) == 2
    (untouched,) = connector.read_by_ids(side.person, [existing])
    assert untouched.get(side.status) != side.bad_status


def test_given_a_create_repeating_a_unique_value_then_it_is_refused_naming_the_holder(
    side: Side, connector: Any
) -> None:
    key = f"bt-{uuid.uuid4()}"
    (held,) = connector.write(
        side.person, [_new(side, {**side.new_fields(_tag()), side.external_id: key})]
    )
    assert held.ok

    twin = _new(side, {**side.new_fields(_tag()), side.external_id: key})
    (refused,) = connector.write(side.person, [twin])

    assert not refused.ok
    assert refused.error_code == side.duplicate_code
    assert str(held.id) in (refused.error_message or "")
    assert not refused.retryable
