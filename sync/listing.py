"""A backfill's pages: a listing's records cut to the engine's page size, each page with the
listing position it completes, which the backfill keeps once the page's writes commit."""

from __future__ import annotations

import pickle
from collections import deque
from collections.abc import Generator, Iterable
from dataclasses import dataclass

from connectors import pagecodec
from connectors.readahead import Spill
from connectors.records import ListedPage, SourceRecord


@dataclass(frozen=True, slots=True)
class Page:
    """Records to sync as one unit; `reached` (when not None) is a position every record
    listed before which is in this page or an earlier one."""

    records: list[SourceRecord]
    reached: str | None = None
    ends: bool = False  # the listing's last page: once it commits, the listing is read


def cut(listed: Iterable[ListedPage], size: int) -> Generator[Page]:
    """The listing's records in pages of `size` (the last one shorter). A page carries the
    position of the last listing page it completes, so a listing's pages and the engine's
    need not line up (HubSpot lists 100 records a page, Bulk 2.0 10,000)."""
    buffer: list[SourceRecord] = []
    ends: deque[tuple[int, str | None]] = deque()  # (records listed up to, position) per page
    count = emitted = 0

    def take(count: int) -> Page:
        nonlocal emitted
        records = buffer[:count]
        del buffer[:count]
        emitted += count
        reached, last = None, False
        while ends and ends[0][0] <= emitted:
            reached = ends.popleft()[1]
            last = reached is None  # only the last listing page has no position after it
        return Page(records, reached, last)

    for page in listed:
        buffer.extend(page.records)
        count += len(page.records)
        ends.append((count, page.resume))
        while len(buffer) >= size:
            yield take(size)
    if buffer:
        yield take(len(buffer))


def cut_records(records: Iterable[SourceRecord], size: int) -> Generator[Page]:
    """Records with no listing positions (a change listing) in pages of `size`."""
    page: list[SourceRecord] = []
    for record in records:
        page.append(record)
        if len(page) >= size:
            yield Page(page)
            page = []
    if page:
        yield Page(page)


def _encode(page: Page) -> bytes:
    return pickle.dumps(
        (page.reached, page.ends, pagecodec.encode_page(page.records)),
        protocol=pickle.HIGHEST_PROTOCOL,
    )


def _decode(data: bytes) -> Page:
    reached, ends, records = pickle.loads(data)  # noqa: S301 (our own bytes: connectors.pagecodec)
    return Page(pagecodec.decode_page(records), reached, ends)


def page_spill(limit_bytes: int) -> Spill[Page]:
    """Pages waiting on disk for a read-ahead, at most `limit_bytes` at a time."""
    return Spill(_encode, _decode, limit_bytes)
