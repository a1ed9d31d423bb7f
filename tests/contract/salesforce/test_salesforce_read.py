"""Incremental, full and by-id reads through simple-salesforce against the imitation."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from connectors.errors import PermanentError
from connectors.records import System
from connectors.salesforce.connector import SalesforceConnector
from sandbox.salesforce.bulkbackend import BulkBackend
from sandbox.salesforce.errors import SalesforceError
from tests.contract.salesforce.conftest import SEED_LEADS, Served


def _query_calls(stats: dict[str, object]) -> int:
    routes = stats["by_route"]
    assert isinstance(routes, dict)
    return sum(n for route, n in routes.items() if "query" in route.lower())


def test_given_seeded_leads_when_reading_everything_changed_then_pages_follow_next_records_url(
    served: Served, salesforce: SalesforceConnector
) -> None:
    until = served.slot()
    served.reset_stats()

    records = list(salesforce.read_changes("Lead", None, until))

    assert len(records) >= SEED_LEADS
    assert len({r.key.id for r in records}) == len(records)
    order = [(r.modified_at, r.key.id) for r in records]
    assert order == sorted(order)
    assert all(r.key.system is System.SALESFORCE and r.key.object == "Lead" for r in records)
    # 2,000 per page: the minimum number of calls, no more.
    assert _query_calls(served.stats()) == -(-len(records) // 2000)


def test_given_ties_and_a_delete_when_reading_a_window_then_half_open_ordered_and_deleted(
    served: Served, salesforce: SalesforceConnector
) -> None:
    t1 = served.slot()
    tied = [served.box.create("Lead", {"LastName": f"Tie{i}", "Company": "Acme"}) for i in range(5)]
    served.clock.advance(1.5)
    t2 = t1 + timedelta(seconds=1.5)
    later = [
        served.box.create("Lead", {"LastName": f"Late{i}", "Company": "Acme"}) for i in range(3)
    ]
    served.clock.advance(1.5)
    t3 = t2 + timedelta(seconds=1.5)
    gone = served.box.create("Lead", {"LastName": "Gone", "Company": "Acme"})
    served.box.org.delete("Lead", gone)
    served.clock.advance(60)

    first = list(salesforce.read_changes("Lead", t1, t2))
    assert [r.key.id for r in first] == sorted(tied)
    assert all(r.modified_at == t1 for r in first)

    rest = list(salesforce.read_changes("Lead", t2, t3 + timedelta(seconds=1)))
    assert [r.key.id for r in rest] == [*sorted(later), gone]
    assert [r.deleted for r in rest] == [False, False, False, True]

    # The upper bound is exclusive: a window ending at t2 leaves out what was stamped at t2.
    assert list(salesforce.read_changes("Lead", t1, t1 + timedelta(milliseconds=1))) == first
    assert list(salesforce.read_changes("Lead", t2, t2)) == []


def test_given_a_backfill_then_its_count_is_one_count_query(
    served: Served, salesforce: SalesforceConnector
) -> None:
    served.reset_stats()
    counted = salesforce.count_all("Lead")
    assert _query_calls(served.stats()) == 1
    assert counted == sum(1 for _ in salesforce.read_all("Lead"))


def test_given_ids_when_reading_by_ids_then_found_ones_come_back(
    served: Served, salesforce: SalesforceConnector
) -> None:
    served.slot()
    ids = [served.box.create("Contact", {"LastName": f"ById{i}"}) for i in range(3)]
    missing = "003000000000000AAA"

    records = salesforce.read_by_ids("Contact", [*ids, missing, ids[0]])

    assert sorted(r.key.id for r in records) == sorted(ids)
    assert {r.get("LastName") for r in records} == {"ById0", "ById1", "ById2"}


def _merged(served: Served) -> tuple[datetime, str, str]:
    """Two Leads, the second merged into the first: (when it began, winner, loser)."""
    start = served.slot()
    winner = served.box.create("Lead", {"LastName": "Winner", "Company": "Acme"})
    loser = served.box.create("Lead", {"LastName": "Loser", "Company": "Acme"})
    served.clock.advance(1)
    served.box.merge("Lead", winner, loser)
    served.clock.advance(1)
    return start, winner, loser


def test_given_a_merge_when_reading_changes_then_the_loser_points_at_the_survivor(
    served: Served, salesforce: SalesforceConnector
) -> None:
    start, winner, loser = _merged(served)

    records = {r.key.id: r for r in salesforce.read_changes("Lead", start, served.slot())}

    assert records[loser].deleted
    assert records[loser].merged_into == winner
    assert not records[winner].deleted
    assert records[winner].merged_into is None


def test_given_a_merge_when_reading_deletions_then_only_the_loser_points_at_the_survivor(
    served: Served, salesforce: SalesforceConnector
) -> None:
    start, winner, loser = _merged(served)

    records = list(salesforce.read_deletions("Lead", start, served.slot()))

    assert [(r.key.id, r.deleted, r.merged_into) for r in records] == [(loser, True, winner)]


def test_given_a_small_bulk_threshold_when_reading_all_then_bulk_csv_matches_rest(
    served: Served,
) -> None:
    rest = served.connector(bulk_threshold=100_000)
    bulk = served.connector(bulk_threshold=100)
    try:
        by_rest = {r.key.id: r for r in rest.read_all("Contact")}
        served.reset_stats()
        by_bulk = {r.key.id: r for r in bulk.read_all("Contact")}
        routes = served.stats()["by_route"]
    finally:
        rest.close()
        bulk.close()

    assert any("jobs/query" in route for route in routes)
    assert by_bulk.keys() == by_rest.keys()
    for record_id, record in by_rest.items():
        assert dict(by_bulk[record_id].fields) == dict(record.fields)
        assert by_bulk[record_id].modified_at == record.modified_at


def test_given_a_bulk_listing_position_then_the_same_job_is_read_on_from_its_locator(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("connectors.salesforce.reader.BULK_PAGE", 60)
    bulk = served.connector(bulk_threshold=100)
    try:
        pages = list(bulk.list_all("Contact"))
        served.reset_stats()
        rest = list(bulk.list_all("Contact", start=pages[0].resume))
        routes = served.stats()["by_route"]
    finally:
        bulk.close()

    assert len(pages) >= 3
    assert str(pages[0].resume).startswith("bulk:")
    assert pages[-1].resume is None
    # No new job: the rest of the first job's results, page by page, from the locator on.
    assert not any(route.startswith("POST") and "jobs/query" in route for route in routes)
    assert [r.key.id for page in rest for r in page.records] == [
        r.key.id for page in pages[1:] for r in page.records
    ]


def test_given_a_bulk_position_whose_job_is_gone_then_everything_is_listed_again(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    bulk = served.connector(bulk_threshold=100)
    try:
        everything = {r.key.id for r in bulk.read_all("Contact")}
        with caplog.at_level(logging.WARNING, logger="connectors.salesforce.reader"):
            pages = list(bulk.list_all("Contact", start="bulk:750000000000001AAA:x"))
    finally:
        bulk.close()

    again = [r.key.id for page in pages for r in page.records]
    assert set(again) == everything
    assert len(again) == len(everything)
    assert "can no longer be read" in caplog.text
    assert "listing every record again" in caplog.text


def test_given_a_bulk_position_from_another_api_version_then_everything_is_listed_again(
    served: Served, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A job's results are served only under the API version it was created with (else 409,
    # salesforce-api.md §9): a position kept across a version change starts a new listing.
    monkeypatch.setattr("connectors.salesforce.reader.BULK_PAGE", 60)
    before = served.connector(bulk_threshold=100, api_version="58.0")
    after = served.connector(bulk_threshold=100)
    try:
        position = next(iter(before.list_all("Contact"))).resume
        everything = {r.key.id for r in after.read_all("Contact")}
        served.reset_stats()
        with caplog.at_level(logging.WARNING, logger="connectors.salesforce.reader"):
            pages = list(after.list_all("Contact", start=position))
        statuses = served.stats()["by_status"]
    finally:
        before.close()
        after.close()

    assert str(position).startswith("bulk:")
    assert statuses.get("409") == 1  # refused once, not retried
    again = [r.key.id for page in pages for r in page.records]
    assert sorted(again) == sorted(everything)
    assert "listing every record again" in caplog.text


def test_given_a_bulk_query_job_that_fails_then_the_error_has_its_code_and_the_jobs_text(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    listed = BulkBackend.query_pages

    def failing_rows(
        self: BulkBackend, soql: str, *, include_deleted: bool
    ) -> tuple[list[str], Iterator[dict[str, Any]]]:
        columns, rows = listed(self, soql, include_deleted=include_deleted)
        if "LIMIT 0" in soql:
            return columns, rows

        def stop() -> Iterator[dict[str, Any]]:
            yield next(rows)
            raise SalesforceError(400, "QUERY_TIMEOUT", "Your query request was running too long.")

        return columns, stop()

    monkeypatch.setattr(BulkBackend, "query_pages", failing_rows)
    bulk = served.connector(bulk_threshold=100)
    try:
        with pytest.raises(PermanentError) as caught:
            list(bulk.read_all("Contact"))
    finally:
        bulk.close()

    assert caught.value.vendor_code == "BULK_JOB_FAILED"
    assert caught.value.vendor_message == "Your query request was running too long."


def test_given_a_record_id_position_then_rest_lists_the_records_after_it_in_id_order(
    served: Served, salesforce: SalesforceConnector
) -> None:
    ids = sorted(r.key.id for r in salesforce.read_all("Contact"))
    middle = ids[len(ids) // 2]

    rest = [
        r.key.id for p in salesforce.list_all("Contact", start=f"id:{middle}") for r in p.records
    ]

    assert rest == ids[len(ids) // 2 + 1 :]


def test_given_a_tiny_url_budget_when_reading_then_field_chunks_are_joined_on_id(
    served: Served, salesforce: SalesforceConnector
) -> None:
    from connectors.salesforce.reader import Reader

    start = served.slot()
    for i in range(3):
        served.box.create("Lead", {"LastName": f"Chunk{i}", "Company": "C", "Title": "T"})
    until = served.slot()
    whole = list(salesforce.read_changes("Lead", start, until))
    salesforce.reader = Reader(
        salesforce.sdk,
        bulk_threshold=10_000,
        field_types=salesforce.describer.types,
        url_budget=450,
    )
    served.reset_stats()

    chunked = list(salesforce.read_changes("Lead", start, until))

    assert served.api_calls() >= 2  # the window query, then a by-id query per extra chunk
    assert [r.key for r in chunked] == [r.key for r in whole]
    assert [dict(r.fields) for r in chunked] == [dict(r.fields) for r in whole]


def test_given_extra_fields_when_reading_then_they_come_back(served: Served) -> None:
    connector = served.connector(extra_fields={"Lead": ["City", "NumberOfEmployees"]})
    try:
        lead = served.box.create(
            "Lead", {"LastName": "Extra", "Company": "C", "City": "Oslo", "NumberOfEmployees": 12}
        )
        (record,) = connector.read_by_ids("Lead", [lead])
    finally:
        connector.close()
    assert record.get("City") == "Oslo"
    assert record.get("NumberOfEmployees") == 12
