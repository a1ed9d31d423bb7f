"""Paginators over fake fetch callables: each style, lazy fetching, the repeated-cursor guard."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from connectors.errors import PermanentError
from connectors.http.pagination import (
    AfterCursor,
    NextRecordsUrl,
    Offset,
    dig,
    items,
    paginate,
)
from connectors.records import System


class FakeHubSpotList:
    """`GET /crm/v3/objects/contacts`: pages of `size`, `paging.next.after` until the end."""

    def __init__(self, total: int, size: int) -> None:
        self.total = total
        self.size = size
        self.requests: list[str | None] = []

    def __call__(self, after: str | None) -> dict[str, Any]:
        self.requests.append(after)
        start = int(after or 0)
        ids = list(range(start, min(start + self.size, self.total)))
        page: dict[str, Any] = {"results": [{"id": str(i)} for i in ids]}
        if start + self.size < self.total:
            page["paging"] = {"next": {"after": str(start + self.size), "link": "?after=..."}}
        return page


def test_after_cursor_walks_every_page_in_order() -> None:
    fetch = FakeHubSpotList(total=250, size=100)

    pages = paginate(fetch, AfterCursor(), system=System.HUBSPOT, operation="contacts.list")
    ids = [r["id"] for r in items(pages, lambda p: p["results"])]

    assert ids == [str(i) for i in range(250)]
    assert fetch.requests == [None, "100", "200"]


def test_pages_are_fetched_lazily() -> None:
    fetch = FakeHubSpotList(total=1000, size=100)

    pages = paginate(fetch, AfterCursor(), system=System.HUBSPOT, operation="contacts.list")
    next(pages)

    assert fetch.requests == [None]


def test_after_cursor_reads_sdk_model_objects() -> None:
    def page(after: str | None, results: list[int]) -> SimpleNamespace:
        paging = SimpleNamespace(next=SimpleNamespace(after=after)) if after else None
        return SimpleNamespace(results=results, paging=paging)

    responses = {None: page("2", [1, 2]), "2": page(None, [3])}

    pages = paginate(
        lambda after: responses[after], AfterCursor(), system="hubspot", operation="list"
    )

    assert list(items(pages, lambda p: p.results)) == [1, 2, 3]


def test_next_records_url_follows_salesforce_query_more() -> None:
    responses = {
        None: {
            "done": False,
            "nextRecordsUrl": "/services/data/v59.0/query/01g-2000",
            "records": [1],
        },
        "/services/data/v59.0/query/01g-2000": {
            "done": False,
            "nextRecordsUrl": "/services/data/v59.0/query/01g-4000",
            "records": [2],
        },
        "/services/data/v59.0/query/01g-4000": {"done": True, "records": [3]},
    }
    asked: list[str | None] = []

    def fetch(url: str | None) -> dict[str, Any]:
        asked.append(url)
        return responses[url]

    pages = paginate(fetch, NextRecordsUrl(), system=System.SALESFORCE, operation="Lead.queryAll")

    assert list(items(pages, lambda p: p["records"])) == [1, 2, 3]
    assert asked == list(responses)


def test_done_true_stops_even_with_a_stray_next_url() -> None:
    page = {"done": True, "nextRecordsUrl": "/x", "records": []}

    assert NextRecordsUrl().next(page, None) is None


@pytest.mark.parametrize(
    ("page", "offset", "expected"),
    [
        ({"results": [1] * 10, "total": 100}, 0, 10),
        ({"results": [1] * 10, "total": 20}, 10, None),  # total reached
        ({"results": [1] * 7}, 30, None),  # short page
        ({"results": []}, 30, None),  # empty page
        ({"results": [1] * 10}, 30, 40),  # no total: keep going on full pages
    ],
)
def test_offset_paginator_steps(page: dict[str, Any], offset: int, expected: int | None) -> None:
    assert Offset(page_size=10).next(page, offset) == expected


def test_offset_paginator_walks_to_the_end() -> None:
    data = list(range(23))

    def fetch(offset: int) -> dict[str, Any]:
        return {"results": data[offset : offset + 10], "total": len(data)}

    pages = paginate(fetch, Offset(page_size=10), system="hubspot", operation="search")

    assert list(items(pages, lambda p: p["results"])) == data


def test_a_repeated_cursor_is_refused_with_its_name() -> None:
    def fetch(after: str | None) -> dict[str, Any]:
        return {"results": [1], "paging": {"next": {"after": "NTI1Cg=="}}}

    pages = paginate(fetch, AfterCursor(), system=System.HUBSPOT, operation="contacts.list")

    with pytest.raises(PermanentError) as caught:
        list(pages)

    error = caught.value
    assert "'NTI1Cg=='" in str(error)
    assert "hubspot contacts.list" in str(error)


def test_a_cursor_seen_earlier_not_just_last_is_refused() -> None:
    cycle = {None: "a", "a": "b", "b": "a"}

    def fetch(after: str | None) -> dict[str, Any]:
        return {"paging": {"next": {"after": cycle[after]}}}

    with pytest.raises(PermanentError, match="'a' a second time after 3 pages"):
        list(paginate(fetch, AfterCursor(), system="hubspot", operation="list"))


def test_max_pages_stops_early() -> None:
    fetch = FakeHubSpotList(total=1000, size=10)

    pages = list(paginate(fetch, AfterCursor(), system="hubspot", operation="list", max_pages=3))

    assert len(pages) == 3


def test_dig_handles_mappings_attributes_and_gaps() -> None:
    assert dig({"a": SimpleNamespace(b={"c": 1})}, "a", "b", "c") == 1
    assert dig({"a": None}, "a", "b") is None
    assert dig(SimpleNamespace(), "missing") is None
