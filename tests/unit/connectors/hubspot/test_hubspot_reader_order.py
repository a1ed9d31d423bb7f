"""The incremental reader against a fake search that orders ties *arbitrarily*.

HubSpot search sorts on one property only, so records sharing a modification time may come
back in any order (the imitation happens to break ties by id; real HubSpot promises nothing).
The reader must still yield every record of the window exactly once, in (modified_at, id)
order, and never page into the 10,000-result cap.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.errors import PermanentError
from connectors.hubspot.convert import from_ms
from connectors.hubspot.objects import CONTACTS
from connectors.hubspot.reader import HubSpotReader
from connectors.hubspot.sdk import Reply

BASE_MS = 1_700_000_000_000


class ShuffledSearch:
    """Implements just enough of `HubSpotSdk.call` for `do_search` over (id, ms) rows."""

    def __init__(self, rows: list[tuple[int, int]], seed: int, cap: int = 10_000) -> None:
        self.rows = rows
        self.random = random.Random(seed)
        self.cap = cap
        self.calls = 0

    def _match(self, row: tuple[int, int], f: dict[str, str]) -> bool:
        ident, ms = row
        value = ident if f["propertyName"] == "hs_object_id" else ms
        target = int(f["value"])
        return {
            "EQ": value == target,
            "GT": value > target,
            "GTE": value >= target,
            "LT": value < target,
        }[f["operator"]]

    def call(self, path: str, method: str, body: dict[str, Any], **_: Any) -> Reply:
        assert method == "do_search"
        self.calls += 1
        filters = body["filterGroups"][0]["filters"]
        found = [r for r in self.rows if all(self._match(r, f) for f in filters)]
        sort = body["sorts"][0]["propertyName"]
        self.random.shuffle(found)  # ties stay shuffled: sorted() is stable
        found.sort(key=(lambda r: r[0]) if sort == "hs_object_id" else (lambda r: r[1]))
        offset, limit = int(body.get("after") or 0), int(body["limit"])
        if offset >= self.cap:
            raise PermanentError("paged into the cap", status=400)
        page = found[offset : min(offset + limit, self.cap)]
        results = [
            {
                "id": str(i),
                "properties": {"lastmodifieddate": from_ms(ms).isoformat()},
                "archived": False,
            }
            for i, ms in page
        ]
        answer: dict[str, Any] = {"total": len(found), "results": results}
        if offset + len(page) < len(found):
            answer["paging"] = {"next": {"after": str(offset + len(page))}}
        return Reply(200, {}, answer)


def _read(rows: list[tuple[int, int]], seed: int, page: int = 200) -> tuple[list, ShuffledSearch]:
    fake = ShuffledSearch(rows, seed)
    reader = HubSpotReader(fake, search_page=page)  # type: ignore[arg-type]
    out = list(reader.changes(CONTACTS, from_ms(BASE_MS), from_ms(BASE_MS + 10_000)))
    return out, fake


def _check(rows: list[tuple[int, int]], out: list) -> None:
    expected = sorted((ms, i) for i, ms in rows if BASE_MS <= ms < BASE_MS + 10_000)
    got = [(int(r.modified_at.timestamp() * 1000 + 0.5), int(r.key.id)) for r in out]
    assert got == expected


@pytest.mark.parametrize("seed", range(5))
def test_given_ties_across_page_boundaries_in_random_order_then_all_in_order(seed: int) -> None:
    rng = random.Random(seed)
    rows = [(i, BASE_MS + rng.randrange(0, 40)) for i in range(1, 1_001)]
    out, _ = _read(rows, seed, page=50)
    _check(rows, out)


def test_given_more_records_at_one_instant_than_a_page_then_listed_by_id() -> None:
    rows = [(i, BASE_MS + 5) for i in range(1, 731)] + [(i, BASE_MS + 3) for i in range(731, 760)]
    rows += [(i, BASE_MS + 9) for i in range(760, 800)]
    out, fake = _read(rows, 1, page=100)
    _check(rows, out)
    assert fake.calls < 20


def test_given_a_window_larger_than_the_cap_then_it_is_read_without_hitting_it() -> None:
    rows = [(i, BASE_MS + i % 9_000) for i in range(1, 12_001)]
    fake = ShuffledSearch(rows, 3, cap=1_000)  # a tiny cap makes the point cheaply
    reader = HubSpotReader(fake)  # type: ignore[arg-type]
    out = list(reader.changes(CONTACTS, from_ms(BASE_MS), from_ms(BASE_MS + 10_000)))
    _check(rows, out)


@settings(max_examples=40, deadline=None)
@given(
    stamps=st.lists(st.integers(min_value=-3, max_value=12_000), min_size=0, max_size=300),
    seed=st.integers(0, 10),
    page=st.sampled_from([1, 2, 3, 7, 50]),
)
def test_any_mix_of_ties_and_page_sizes_yields_the_window_exactly_once_in_order(
    stamps: list[int], seed: int, page: int
) -> None:
    rows = [(i + 1, BASE_MS + s) for i, s in enumerate(stamps)]
    out, _ = _read(rows, seed, page=page)
    _check(rows, out)


def test_given_too_many_properties_for_a_search_body_then_config_error_before_any_call() -> None:
    from connectors.errors import ConfigError

    fake = ShuffledSearch([(1, BASE_MS)], 0)
    many = [f"custom_property_number_{i}" for i in range(200)]
    reader = HubSpotReader(fake, extra_properties={"contacts": many})  # type: ignore[arg-type]
    with pytest.raises(ConfigError) as err:
        list(reader.changes(CONTACTS, from_ms(BASE_MS), from_ms(BASE_MS + 1)))
    assert err.value.setting == "extra_properties"
    assert "3000" in str(err.value)
    assert fake.calls == 0
