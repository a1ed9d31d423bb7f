"""`delete`: one outcome per id in order, idempotent, batched, for both connectors."""

from __future__ import annotations

import uuid
from typing import Any

from connectors.records import SourceRecord
from tests.contract.suite.sides import Side


def _tag() -> str:
    return "D" + uuid.uuid4().hex[:10]


def _live(records: list[SourceRecord]) -> list[str]:
    """Ids still live (a Salesforce read by id also returns recycle-bin rows, as deleted)."""
    return [r.key.id for r in records if not r.deleted]


def test_given_live_gone_and_unknown_ids_when_deleted_then_each_succeeds_in_order(
    side: Side, connector: Any
) -> None:
    live = [side.create(_tag()) for _ in range(2)]
    gone = side.create(_tag())
    side.delete(gone)  # a user deleted it first
    unknown = side.missing_id()[:15]  # well formed, never there (Salesforce: the 15-char form)
    ids = [live[0], gone, unknown, live[1], live[0]]
    side.reset_stats()

    outcomes = connector.delete(side.person, ids)

    assert side.calls() == 1  # one batch
    assert [o.patch.key.id for o in outcomes] == ids
    assert [(o.ok, o.id) for o in outcomes] == [(True, i) for i in ids]
    assert all(o.patch.key.system is side.system for o in outcomes)
    assert _live(connector.read_by_ids(side.person, [*live, gone])) == []
    again = connector.delete(side.person, live)  # repeated after a crash: still a success
    assert [(o.ok, o.error_code) for o in again] == [(True, None), (True, None)]


def test_given_more_ids_than_a_batch_when_deleted_then_split_into_batches(
    side: Side, connector: Any
) -> None:
    ids = [side.create(_tag()) for _ in range(side.write_batch + 1)]
    side.reset_stats()

    outcomes = connector.delete(side.person, ids)

    assert side.calls() == 2
    assert all(o.ok for o in outcomes)
    assert len(outcomes) == len(ids)
    assert _live(connector.read_by_ids(side.person, ids)) == []


def test_given_a_server_error_when_deleting_then_the_retry_layer_sends_again(
    side: Side, connector: Any
) -> None:
    record_id = side.create(_tag())
    side.faults(next_server_error=1, server_error_status=503, path_prefix=side.api_prefix)
    side.reset_stats()

    outcomes = connector.delete(side.person, [record_id])

    assert [(o.ok, o.id) for o in outcomes] == [(True, record_id)]
    assert side.calls() == 2  # the refused call and its retry
    assert _live(connector.read_by_ids(side.person, [record_id])) == []
