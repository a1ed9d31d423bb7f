"""`read_changes`, `read_all` and `read_by_ids`, the same contract for both connectors."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from connectors.protocol import Connector
from tests.contract.suite.sides import Side


def test_the_connector_satisfies_the_protocol(side: Side, connector: Any) -> None:
    assert isinstance(connector, Connector)
    assert connector.system is side.system


def test_given_a_seeded_system_when_reading_all_changes_then_each_record_once_in_order(
    side: Side, connector: Any
) -> None:
    until = side.slot()
    records = list(connector.read_changes(side.person, None, until))
    assert len(records) >= 400
    assert len({r.key.id for r in records}) == len(records)
    assert [side.order(r) for r in records] == sorted(side.order(r) for r in records)
    assert all(r.key.system is side.system and r.key.object == side.person for r in records)
    assert all(r.modified_at.tzinfo is not None and r.modified_at < until for r in records)


def test_given_ties_when_reading_windows_then_half_open_and_ties_broken_by_id(
    side: Side, connector: Any
) -> None:
    t1 = side.slot()
    tied = [side.create(f"Tie{i}") for i in range(5)]  # one instant: the clock stands still
    side.clock.advance(1.5)
    t2 = side.now()
    later = [side.create(f"Late{i}") for i in range(3)]
    side.clock.advance(1.5)
    t3 = side.now()

    first = list(connector.read_changes(side.person, t1, t2))
    assert {r.key.id for r in first} == set(tied)
    assert all(r.modified_at == t1 for r in first)
    assert [side.order(r) for r in first] == sorted(side.order(r) for r in first)

    rest = list(connector.read_changes(side.person, t2, t3))
    assert {r.key.id for r in rest} == set(later)
    assert all(r.modified_at == t2 for r in rest)

    # [since, until): the upper bound is exclusive, the lower inclusive.
    assert list(connector.read_changes(side.person, t1 - timedelta(seconds=1), t1)) == []
    narrow = list(connector.read_changes(side.person, t1, t1 + timedelta(milliseconds=1)))
    assert [r.key for r in narrow] == [r.key for r in first]
    assert list(connector.read_changes(side.person, t2, t2)) == []
    assert list(connector.read_changes(side.person, t3, t3 + timedelta(hours=1))) == []


def test_given_a_deleted_record_when_reading_its_window_then_it_is_flagged_deleted(
    side: Side, connector: Any
) -> None:
    start = side.slot()
    kept = side.create("Kept")
    gone = side.create("Gone")
    side.clock.advance(1)
    side.delete(gone)
    side.clock.advance(1)

    records = {r.key.id: r for r in connector.read_changes(side.person, start, side.slot())}

    assert records[gone].deleted
    assert records[gone].merged_into is None
    assert not records[kept].deleted
    # The protocol leaves this open: HubSpot cannot read an archived id (left out), Salesforce
    # reads it from the recycle bin. Either way it is never passed off as live.
    assert all(r.deleted for r in connector.read_by_ids(side.person, [gone]))


def test_given_a_deleted_record_when_reading_deletions_then_only_it_in_its_window(
    side: Side, connector: Any
) -> None:
    """A backfill's read of what its listing cannot see: the deletions, no live record."""
    start = side.slot()
    side.create("LiveBeside")
    gone = side.create("BinnedAlone")
    side.clock.advance(1)
    side.delete(gone)
    side.clock.advance(1)
    end = side.slot()

    side.reset_stats()
    stream = connector.read_deletions(side.person, start, end)
    assert side.calls() == 0  # building the iterator calls nothing
    records = list(stream)

    assert [r.key.id for r in records] == [gone]
    assert records[0].deleted
    assert records[0].merged_into is None
    assert start <= records[0].modified_at < end
    assert list(connector.read_deletions(side.person, end, side.slot())) == []


def test_given_a_stopped_iteration_then_no_further_pages_are_fetched(
    side: Side, connector: Any
) -> None:
    until = side.slot()
    side.reset_stats()
    full = sum(1 for _ in connector.read_changes(side.person, None, until))
    whole = side.calls()
    assert whole >= 2  # the seeded window needs several pages

    side.reset_stats()
    stream = connector.read_changes(side.person, None, until)
    assert side.calls() == 0  # building the iterator calls nothing
    taken = [next(stream) for _ in range(3)]
    early = side.calls()
    stream.close()
    assert len(taken) == 3
    assert full > len(taken)
    assert 1 <= early < whole
    assert side.calls() == early


def test_given_a_backfill_then_read_all_lists_every_live_record_lazily(
    side: Side, connector: Any
) -> None:
    until = side.slot()
    live = {r.key.id for r in connector.read_changes(side.person, None, until) if not r.deleted}

    side.reset_stats()
    stream = connector.read_all(side.person)
    first = next(stream)
    first_page = side.calls()
    records = [first, *stream]

    ids = [r.key.id for r in records]
    assert len(set(ids)) == len(ids)
    assert set(ids) == live  # listing order is unspecified; membership is not
    assert not any(r.deleted for r in records)
    assert all(r.key.system is side.system and r.key.object == side.person for r in records)
    assert first_page < side.calls()  # later pages were fetched only as they were consumed


def test_given_ids_then_read_by_ids_returns_the_found_ones_and_leaves_out_missing_ones(
    side: Side, connector: Any
) -> None:
    wanted = [side.create(f"ById{i}") for i in range(3)]
    side.reset_stats()

    records = connector.read_by_ids(side.person, [*wanted, side.missing_id()])

    assert sorted(r.key.id for r in records) == sorted(wanted)
    assert all(r.key.object == side.person and not r.deleted for r in records)
    assert side.calls() == 1  # one batch read for four ids
    assert connector.read_by_ids(side.person, [side.missing_id()]) == []


def test_given_a_listing_position_then_a_new_listing_continues_after_that_page(
    side: Side, connector: Any
) -> None:
    pages = list(connector.list_all(side.person))
    assert len(pages) >= 2
    assert all(page.resume for page in pages[:-1])
    assert pages[-1].resume is None
    listed = [r.key.id for page in pages for r in page.records]
    assert set(listed) == {r.key.id for r in connector.read_all(side.person)}

    side.reset_stats()
    rest = list(connector.list_all(side.person, start=pages[0].resume))

    # What the first page listed is not listed again; everything after it is, once.
    after_first = [r.key.id for page in pages[1:] for r in page.records]
    assert sorted(r.key.id for page in rest for r in page.records) == sorted(after_first)
    assert rest[-1].resume is None
    assert side.calls() == len(pages) - 1  # it started at the position: one call per page left
