"""Query locators are snapshots: writes between pages neither skip nor repeat records, through
the real simple-salesforce over HTTPS; unknown and expired locators answer like Salesforce."""

from __future__ import annotations

from typing import Any

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from sandbox.salesforce.api.query import MAX_CURSORS
from sandbox.salesforce.objects import field_types, schema
from sandbox.salesforce.soql import compile_soql
from tests.sandbox.salesforce.conftest import Served

SOQL = "SELECT Id, LastName FROM Contact WHERE LastName LIKE 'Snap%' ORDER BY LastName, Id"
BATCH = {"Sforce-Query-Options": "batchSize=200"}
SNAPSHOT_SIZE = 650  # four pages of 200


def _follow(sf: Salesforce, first: dict[str, Any], between: Any) -> tuple[list[str], list[str]]:
    """Ids of every page and the page links followed, calling `between(page_no)` before each."""
    ids = [r["Id"] for r in first["records"]]
    links: list[str] = []
    page = first
    while not page["done"]:
        between(len(links) + 1)
        links.append(page["nextRecordsUrl"])
        page = sf.query_more(page["nextRecordsUrl"], identifier_is_url=True)
        assert page["totalSize"] == first["totalSize"]
        ids += [r["Id"] for r in page["records"]]
    return ids, links


@pytest.fixture(scope="module")
def snap_contacts(served: Served) -> None:
    for i in range(SNAPSHOT_SIZE):
        served.box.create("Contact", {"LastName": f"Snap {i:04d}", "Email": f"snap{i}@x.test"})


def test_writes_between_pages_neither_skip_nor_repeat(sf: Salesforce, snap_contacts: None) -> None:
    expected = [r["Id"] for r in sf.query_all(SOQL)["records"]]
    assert len(expected) == SNAPSHOT_SIZE
    first = sf.query(SOQL, headers=BATCH)
    assert first["totalSize"] == SNAPSHOT_SIZE
    assert len(first["records"]) == 200
    created: list[str] = []

    def write(page_no: int) -> None:
        # New matches that sort before everything, a later-page record moved to the front
        # (offset paging would skip it) and a served record moved to the back (repeat it).
        for n in range(3):
            body = {"LastName": f"Snap 0000 new {page_no}-{n}"}
            created.append(sf.Contact.create(body)["id"])
        sf.Contact.update(expected[-page_no], {"LastName": "Snap 0000 moved up"})
        sf.Contact.update(expected[page_no], {"LastName": "Snap 9999 moved down"})

    ids, links = _follow(sf, first, write)
    assert len(links) == 3
    assert len(set(links)) == len(links)
    assert ids == expected  # membership and order fixed when the query ran
    assert not set(created) & set(ids)
    # A fresh query sees the writes.
    assert sf.query(SOQL, headers=BATCH)["totalSize"] == SNAPSHOT_SIZE + len(created)


def test_page_link_can_be_read_again_with_the_same_records(
    sf: Salesforce, snap_contacts: None
) -> None:
    first = sf.query(SOQL, headers=BATCH)
    link = first["nextRecordsUrl"]
    again = [sf.query_more(link, identifier_is_url=True) for _ in range(2)]
    assert [r["Id"] for r in again[0]["records"]] == [r["Id"] for r in again[1]["records"]]
    assert again[0]["nextRecordsUrl"] == again[1]["nextRecordsUrl"] != link


def test_unknown_locator_is_invalid(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.query_more("/services/data/v59.0/query/01g8d0000000ZZZZAAA-200", identifier_is_url=True)
    assert info.value.content[0]["errorCode"] == "INVALID_QUERY_LOCATOR"
    assert info.value.content[0]["message"] == "invalid query locator"


def test_locator_expires_after_fifteen_idle_minutes(
    served: Served, sf: Salesforce, snap_contacts: None
) -> None:
    first = sf.query(SOQL, headers=BATCH)
    served.admin("POST", "/clock/advance", json={"seconds": 15 * 60 + 1}).raise_for_status()
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    assert info.value.content[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


def test_limit_and_offset_page_through_the_captured_slice(
    sf: Salesforce, snap_contacts: None
) -> None:
    everything = [r["Id"] for r in sf.query_all(SOQL)["records"]]
    first = sf.query(f"{SOQL} LIMIT 450 OFFSET 10", headers=BATCH)
    assert first["totalSize"] == 450
    ids, links = _follow(sf, first, lambda _page: None)
    assert len(links) == 2
    assert ids == everything[10:460]


def _captured_rows(served: Served) -> int:
    store = served.box.rest.query.snapshots.store
    (rows,) = store.execute("SELECT COUNT(*) FROM temp.query_cursor_rows").fetchone()
    return int(rows)


def test_single_page_results_keep_no_capture(served: Served, sf: Salesforce) -> None:
    sf.query("SELECT Id FROM Contact LIMIT 5")
    before = _captured_rows(served)
    assert len(sf.query("SELECT Id FROM Contact LIMIT 150")["records"]) == 150
    assert _captured_rows(served) == before


def test_oldest_open_locator_is_released_beyond_the_cap(
    sf: Salesforce, snap_contacts: None
) -> None:
    oldest = sf.query(SOQL, headers=BATCH)["nextRecordsUrl"]
    for _ in range(MAX_CURSORS):
        sf.query(SOQL, headers=BATCH)
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.query_more(oldest, identifier_is_url=True)
    assert info.value.content[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


def test_a_capture_rolled_back_by_a_savepoint_cannot_touch_a_later_one(
    served: Served, snap_contacts: None
) -> None:
    """Composite allOrNone rolls back a query's capture; its positions are then reused."""
    box = served.box
    snapshots = box.rest.query.snapshots
    compiled = compile_soql(
        SOQL, field_types=field_types, include_deleted=False, now=box.clock.now_dt()
    )
    box.store.execute("SAVEPOINT rolled")
    stale = snapshots.capture(compiled)
    box.store.execute("ROLLBACK TO rolled")
    box.store.execute("RELEASE rolled")
    fresh = snapshots.capture(compiled)
    assert fresh.first == stale.first  # the positions were reused
    snapshots.release(stale)
    found = schema("Contact")
    assert found is not None
    rows = snapshots.rows(found, ["Id"], fresh, 0, fresh.total)
    assert len(rows) == fresh.total > 0
    assert snapshots.rows(found, ["Id"], stale, 0, stale.total) == []
    snapshots.release(fresh)
