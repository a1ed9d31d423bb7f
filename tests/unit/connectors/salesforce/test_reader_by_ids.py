"""By-id reads: id batches packed to the URL budget exactly, and result pages followed."""

from __future__ import annotations

import re
from typing import Any

import pytest

from connectors.salesforce.objects import OBJECTS, QUERY_URL_BUDGET
from connectors.salesforce.reader import Reader
from connectors.salesforce.soql import SoqlError, url_length

PATH = "/services/data/v59.0/queryAll/?q="
_QUOTED_ID = re.compile(r"'([A-Za-z0-9]{18})'")


class PagingSdk:
    """Answers `Id IN (...)` queries with one row per id, `page` rows per response."""

    def __init__(self, page: int = 2000) -> None:
        self.page = page
        self.queries: list[str] = []
        self.more_calls = 0
        self._locators = 0
        self._pending: dict[str, list[dict[str, Any]]] = {}

    def query_path(self, *, include_deleted: bool) -> str:
        return PATH if include_deleted else PATH.replace("queryAll", "query")

    def query(self, soql: str, *, include_deleted: bool, operation: str) -> dict[str, Any]:
        assert include_deleted
        self.queries.append(soql)
        rows = [
            {"attributes": {"type": "Lead"}, "Id": i, "SystemModstamp": "2026-01-01T00:00:00Z"}
            for i in _QUOTED_ID.findall(soql)
        ]
        return self._answer(rows)

    def query_more(self, next_records_url: str, *, operation: str) -> dict[str, Any]:
        self.more_calls += 1
        return self._answer(self._pending.pop(next_records_url))

    def _answer(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        page, rest = rows[: self.page], rows[self.page :]
        if not rest:
            return {"totalSize": len(rows), "done": True, "records": page}
        self._locators += 1
        locator = f"/services/data/v59.0/query/01g000000000001AAA-{self._locators}"
        self._pending[locator] = rest
        return {"done": False, "nextRecordsUrl": locator, "records": page}


def _reader(sdk: PagingSdk, budget: int = QUERY_URL_BUDGET) -> Reader:
    return Reader(sdk, bulk_threshold=1, field_types=lambda _n: {}, url_budget=budget)  # type: ignore[arg-type]


def _ids(count: int) -> list[str]:
    return [f"00Q{n:015d}" for n in range(count)]


def test_batches_fill_the_url_budget_exactly_as_the_request_target_measures() -> None:
    sdk = PagingSdk()

    records = _reader(sdk).by_ids(OBJECTS["Lead"], _ids(1_200))

    assert [r.key.id for r in records] == _ids(1_200)
    assert len(sdk.queries) == 3
    sizes = [len(PATH) + url_length(q) for q in sdk.queries]
    one_more = url_length(", '00Q000000000000000'")
    assert all(size <= QUERY_URL_BUDGET for size in sizes)
    assert all(size + one_more > QUERY_URL_BUDGET for size in sizes[:-1])


def test_result_pages_are_followed_by_next_records_url() -> None:
    sdk = PagingSdk(page=100)

    records = _reader(sdk).by_ids(OBJECTS["Lead"], _ids(1_200))

    assert [r.key.id for r in records] == _ids(1_200)
    assert len(sdk.queries) == 3
    pages = [-(-len(_QUOTED_ID.findall(q)) // 100) for q in sdk.queries]
    assert sdk.more_calls == sum(pages) - len(pages) > 0


def test_no_valid_id_costs_no_call() -> None:
    sdk = PagingSdk()

    assert _reader(sdk).by_ids(OBJECTS["Lead"], ["not-an-id", ""]) == []
    assert sdk.queries == []


def test_a_budget_too_small_for_any_field_is_refused() -> None:
    with pytest.raises(SoqlError):
        _reader(PagingSdk(), budget=100).by_ids(OBJECTS["Lead"], _ids(3))
