"""Cutting a listing into the engine's pages keeps only positions a page truly completes."""

from __future__ import annotations

from datetime import UTC, datetime

from connectors.records import ListedPage, RecordKey, SourceRecord, System
from sync.listing import Page, cut, cut_records, page_spill

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _records(*ids: int) -> list[SourceRecord]:
    return [SourceRecord(RecordKey(System.HUBSPOT, "contacts", str(i)), {"n": i}, T0) for i in ids]


def _listing(sizes: list[int]) -> list[ListedPage]:
    pages, start = [], 0
    for n, size in enumerate(sizes):
        last = n == len(sizes) - 1
        pages.append(ListedPage(_records(*range(start, start + size)), None if last else f"p{n}"))
        start += size
    return pages


def _shape(pages: list[Page]) -> list[tuple[int, str | None]]:
    return [(len(page.records), page.reached) for page in pages]


def test_pages_that_line_up_carry_each_listing_pages_position() -> None:
    assert _shape(list(cut(_listing([2, 2, 2]), 2))) == [(2, "p0"), (2, "p1"), (2, None)]


def test_a_page_carries_the_last_listing_page_it_completes_or_none() -> None:
    # Listing pages end at 3, 6, 9; engine pages at 2, 4, 6, 8, 9.
    pages = list(cut(_listing([3, 3, 3]), 2))
    assert _shape(pages) == [(2, None), (2, "p0"), (2, "p1"), (2, None), (1, None)]
    assert [r.key.id for p in pages for r in p.records] == [str(i) for i in range(9)]


def test_big_listing_pages_are_cut_and_only_their_last_cut_has_the_position() -> None:
    pages = list(cut(_listing([5, 5]), 2))
    assert _shape(pages) == [(2, None), (2, None), (2, "p0"), (2, None), (2, None)]


def test_an_empty_listing_gives_no_pages() -> None:
    assert list(cut([ListedPage([], None)], 2)) == []


def test_records_without_positions_are_cut_alike() -> None:
    assert _shape(list(cut_records(_records(*range(5)), 2))) == [(2, None), (2, None), (1, None)]


def test_a_page_waiting_on_disk_comes_back_with_its_position() -> None:
    spill = page_spill(1 << 20)
    page = Page(_records(1, 2), "p7", ends=True)
    assert spill.decode(spill.encode(page)) == page


def test_the_page_that_completes_the_listing_says_so() -> None:
    assert [p.ends for p in cut(_listing([2, 2, 2]), 2)] == [False, False, True]
    assert [p.ends for p in cut(_listing([3, 3, 3]), 2)] == [False] * 4 + [True]
    assert [p.ends for p in cut(_listing([5, 5]), 2)] == [False] * 4 + [True]
    assert not any(p.ends for p in cut_records(_records(*range(5)), 2))
