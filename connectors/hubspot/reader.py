"""Reading HubSpot records: incremental by search, full by listing, targeted by batch read.

Incremental reads (`changes`) walk the half-open window `[since, until)` on the object's
modification property in ascending order, *re-anchoring* after every page instead of paging by
offset:

- each query asks for `modified >= anchor AND modified < until`, sorted ascending, from offset 0;
  the next anchor is the last timestamp of the page. So no query ever pages toward search's
  10,000-result cap (a window of any size is effectively split into one sub-window per page),
  and a record that is modified mid-read (and so leaves the window) cannot shift the offsets of
  the others and make one be skipped;
- records at the anchor timestamp come back again on the next query; they are kept in a
  per-timestamp group keyed by id, so duplicates collapse and each group is released sorted by
  id once a later timestamp shows up: output is in `(modified_at, id)` order even though
  HubSpot sorts on one property only;
- when a whole page shares one timestamp (more records at one instant than a page holds, e.g.
  an import), that instant is listed by id instead: `modified == T AND hs_object_id > last`,
  sorted by `hs_object_id`, each query again from offset 0. This terminates and loses nothing
  however many records (10,000 or more) share the instant.

Cost: one search call per page of 200, plus a one-record overlap per page in the common case
(≈5.03 calls per 1,000 records against the minimum of 5).

Full reads (`all`) use the list endpoint (100 per call, no cap, a separate and larger rate
limit than search), optionally fetching up to `read_ahead` pages ahead in a thread so the rate
limit is spent while the caller computes (off by default: a caller that stops early then has
paid for pages it never used); `by_ids` uses batch read (100 ids per call).
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from connectors.errors import ConfigError
from connectors.http.pagination import AfterCursor, dig, paginate
from connectors.hubspot.convert import merge_stubs, to_ms, to_record
from connectors.hubspot.objects import (
    BATCH_SIZE,
    ID_PROPERTY,
    LIST_PAGE,
    SEARCH_BODY_LIMIT,
    SEARCH_PAGE,
    ObjectSpec,
)
from connectors.hubspot.sdk import SEARCH_KIND, HubSpotSdk
from connectors.readahead import read_ahead
from connectors.records import ListedPage, SourceRecord, System

#: List pages a long full read (a backfill) may fetch ahead: 20 x 100 records, about one
#: unit of work of the engine, so a page's compute hides the next page's budget waits.
READ_AHEAD = 20


def plan_window(
    cursor: datetime | None,
    *,
    now: datetime,
    lookback: timedelta = timedelta(minutes=5),
    settle: timedelta = timedelta(seconds=30),
) -> tuple[datetime | None, datetime]:
    """The window one run reads: `[cursor - lookback, now - settle)`.

    `settle` keeps the upper bound a little in the past, because search answers with a delay
    after writes (hubspot-api.md §5); `lookback` re-reads a margin below the cursor for the same
    reason. The upper bound is fixed for the run: records modified during the run are next
    run's business.
    """
    until = now - settle
    since = None if cursor is None else min(cursor - lookback, until)
    return since, until


def _id_order(record: SourceRecord) -> tuple[int, str]:
    ident = record.key.id
    return (int(ident), ident) if ident.isdigit() else (1 << 62, ident)


def _order(record: SourceRecord) -> tuple[datetime, tuple[int, str]]:
    return record.modified_at, _id_order(record)


@dataclass
class _Group:
    """Records read so far at one timestamp, released together in id order."""

    ms: int | None = None
    records: dict[str, SourceRecord] | None = None

    def add(self, ms: int, record: SourceRecord) -> Iterator[SourceRecord]:
        if self.ms is not None and ms != self.ms:
            yield from self.release()
        if self.records is None:
            self.records = {}
        self.ms = ms
        self.records.setdefault(record.key.id, record)

    def holds(self, ms: int, ident: str) -> bool:
        return self.ms == ms and self.records is not None and ident in self.records

    def release(self) -> Iterator[SourceRecord]:
        found = list((self.records or {}).values())
        self.ms, self.records = None, None
        yield from sorted(with_stubs(found), key=_id_order)


def with_stubs(records: Sequence[SourceRecord]) -> list[SourceRecord]:
    """The records plus a merged-away stub for each id in their `hs_merged_object_ids`."""
    out = list(records)
    live = {r.key.id for r in records}
    for record in records:
        out.extend(stub for stub in merge_stubs(record) if stub.key.id not in live)
    return out


@dataclass(frozen=True, slots=True)
class _KeysetById:
    """Paginator for one instant: the token is the last id read (each query from offset 0)."""

    def first(self) -> str | None:
        return None

    def next(self, page: object, token: str | None) -> str | None:
        results = dig(page, "results") or []
        if not results or not dig(page, "paging", "next", "after"):
            return None
        return str(results[-1]["id"])


class HubSpotReader:
    """Reads one portal's records through `HubSpotSdk`.

    Args:
        sdk: the request path (retries, budget, classification).
        extra_properties: per object name, properties to read besides the table's.
        search_page, list_page, batch_size: page sizes (the API maxima by default).
        read_ahead: list pages a full read fetches ahead of its caller (0: none).
    """

    def __init__(
        self,
        sdk: HubSpotSdk,
        *,
        extra_properties: Mapping[str, Sequence[str]] | None = None,
        search_page: int = SEARCH_PAGE,
        list_page: int = LIST_PAGE,
        batch_size: int = BATCH_SIZE,
        read_ahead: int = 0,
    ) -> None:
        self.sdk = sdk
        self.read_ahead = read_ahead
        self.extra = {k: tuple(v) for k, v in (extra_properties or {}).items()}
        self.search_page = search_page
        self.list_page = list_page
        self.batch_size = batch_size

    def properties(self, spec: ObjectSpec) -> list[str]:
        return spec.read_properties(self.extra.get(spec.name, ()))

    # Incremental

    def _search(self, spec: ObjectSpec, filters: list[dict[str, str]], sort: str) -> Any:
        body = {
            "filterGroups": [{"filters": filters}],
            "sorts": [{"propertyName": sort, "direction": "ASCENDING"}],
            "properties": self.properties(spec),
            "limit": self.search_page,
        }
        size = len(json.dumps(body))  # as the SDK sends it: `json.dumps`, spaces and all
        if size > SEARCH_BODY_LIMIT:
            raise ConfigError(
                f"a {spec.name} search would send {size} characters; HubSpot refuses more "
                f"than {SEARCH_BODY_LIMIT}",
                setting="extra_properties",
                fix=f"read fewer {spec.name} properties incrementally (fetch the rest with "
                "read_by_ids, which has no such limit)",
                system=System.HUBSPOT,
                operation=f"{spec.name}.search",
            )
        reply = self.sdk.call(
            f"{spec.sdk_attr}.search_api",
            "do_search",
            body,
            operation=f"{spec.name}.search",
            kind=SEARCH_KIND,
        )
        return reply.body or {}

    def changes(
        self,
        spec: ObjectSpec,
        since: datetime | None,
        until: datetime,
        *,
        with_deletions: bool = False,
    ) -> Iterator[SourceRecord]:
        """Records modified in `[since, until)`, in `(modified_at, id)` order, lazily.

        Search never returns archived records, so `with_deletions` merges in the recycling
        bin's records archived inside the window (read by listing the whole bin: HubSpot
        offers no time filter on it), as `deleted` records at their `archivedAt`.
        """
        live = self._live_changes(spec, since, until)
        if not with_deletions:
            return live
        return heapq.merge(live, self._archived(spec, since, until), key=_order)

    def deletions(
        self, spec: ObjectSpec, since: datetime | None, until: datetime
    ) -> Iterator[SourceRecord]:
        """The recycling bin's records archived in `[since, until)`, in `(modified_at, id)`
        order, as `deleted` records: `changes(with_deletions=True)` without its searches (a
        backfill lists the live records itself). Lazy: nothing is read until iterated."""
        return self._archived(spec, since, until)

    def _archived(
        self, spec: ObjectSpec, since: datetime | None, until: datetime
    ) -> Iterator[SourceRecord]:
        inside = [
            r
            for r in self.all(spec, archived=True)
            if r.deleted and (since is None or r.modified_at >= since) and r.modified_at < until
        ]
        yield from sorted(inside, key=_order)

    def _live_changes(
        self, spec: ObjectSpec, since: datetime | None, until: datetime
    ) -> Iterator[SourceRecord]:
        anchor = 0 if since is None else to_ms(since)
        end = to_ms(until)
        group = _Group()
        while anchor < end:
            page = self._search(
                spec,
                [
                    {"propertyName": spec.modified, "operator": "GTE", "value": str(anchor)},
                    {"propertyName": spec.modified, "operator": "LT", "value": str(end)},
                ],
                spec.modified,
            )
            records = [to_record(spec, raw) for raw in dig(page, "results") or []]
            if not records:
                break
            more = bool(dig(page, "paging", "next", "after"))
            first, last = to_ms(records[0].modified_at), to_ms(records[-1].modified_at)
            fresh = [r for r in records if not group.holds(to_ms(r.modified_at), r.key.id)]
            if more and (first == last or not fresh):
                # A full page at one instant: re-anchoring cannot move past it; list it by id.
                if group.ms is not None and group.ms != last:
                    yield from group.release()
                group = _Group()
                yield from self._instant(spec, last)
                anchor = last + 1
                continue
            for record in fresh:
                yield from group.add(to_ms(record.modified_at), record)
            if not more:
                break
            anchor = last
        yield from group.release()

    def _instant(self, spec: ObjectSpec, ms: int) -> Iterator[SourceRecord]:
        """Every live record modified exactly at `ms`, in id order, past any result cap."""

        def fetch(after_id: str | None) -> Any:
            filters = [{"propertyName": spec.modified, "operator": "EQ", "value": str(ms)}]
            if after_id is not None:
                filters.append({"propertyName": ID_PROPERTY, "operator": "GT", "value": after_id})
            return self._search(spec, filters, ID_PROPERTY)

        pages = paginate(
            fetch, _KeysetById(), system=System.HUBSPOT, operation=f"{spec.name}.search"
        )
        stubs: list[SourceRecord] = []
        for page in pages:
            for raw in dig(page, "results") or []:
                record = to_record(spec, raw)
                yield record
                stubs.extend(with_stubs([record])[1:])
        # Merged-away stubs of this instant come last (their ids are not in the listing).
        yield from sorted(stubs, key=_id_order)

    # Full and targeted

    def count(self, spec: ObjectSpec) -> int | None:
        """How many live records there are: the `total` of a one-record search (the list
        endpoint gives none). The search index lags writes a little, which a count can bear."""
        reply = self.sdk.call(
            f"{spec.sdk_attr}.search_api",
            "do_search",
            {"limit": 1, "properties": [ID_PROPERTY]},
            operation=f"{spec.name}.count",
            kind=SEARCH_KIND,
        )
        total = (reply.body or {}).get("total")
        return int(total) if isinstance(total, int) else None

    def all(self, spec: ObjectSpec, *, archived: bool = False) -> Iterator[SourceRecord]:
        """Every record by the list endpoint (`after` paging); `archived=True` reads the bin."""
        for page in self.pages(spec, archived=archived):
            yield from page.records

    def pages(
        self, spec: ObjectSpec, *, archived: bool = False, start: str | None = None
    ) -> Iterator[ListedPage]:
        """`all`, page by page; each page resumes at its `paging.next.after`, which the list
        endpoint documents as the id of the next record (ids ascend), so it stays good after
        the run that read it: `start` lists the records from that id on."""
        properties = self.properties(spec)
        cursor = AfterCursor(start=start)

        def fetch(after: str | None) -> Any:
            kwargs: dict[str, Any] = {
                "limit": self.list_page,
                "properties": properties,
                "archived": archived,
            }
            if after is not None:
                kwargs["after"] = after
            reply = self.sdk.call(
                f"{spec.sdk_attr}.basic_api", "get_page", operation=f"{spec.name}.list", **kwargs
            )
            return reply.body or {}

        pages = paginate(fetch, cursor, system=System.HUBSPOT, operation=f"{spec.name}.list")
        # Closed with this generator: a listing given up (an interrupted backfill) must not go
        # on spending the rate limit in its thread until the garbage collector finds it.
        with closing(read_ahead(pages, self.read_ahead, name=f"hubspot-{spec.name}-list")) as ahead:
            for page in ahead:
                records = [to_record(spec, raw) for raw in dig(page, "results") or []]
                yield ListedPage(with_stubs(records), cursor.next(page, None))

    def by_ids(
        self, spec: ObjectSpec, ids: Sequence[str], *, id_property: str | None = None
    ) -> list[SourceRecord]:
        """Live records with these ids (a merged-away id resolves to the survivor, which
        comes with a stub for each id merged into it, as listings give them), or with these
        values of the unique property `id_property`; missing ones are left out. One batch read
        per 100."""
        wanted = list(dict.fromkeys(str(i) for i in ids))
        found: dict[str, SourceRecord] = {}
        for start in range(0, len(wanted), self.batch_size):
            chunk = wanted[start : start + self.batch_size]
            body = {
                "inputs": [{"id": ident} for ident in chunk],
                "properties": self.properties(spec),
                "propertiesWithHistory": [],
            }
            if id_property is not None:
                body["idProperty"] = id_property
            reply = self.sdk.call(
                f"{spec.sdk_attr}.batch_api",
                "read",
                body,
                archived=False,
                operation=f"{spec.name}.batch_read",
            )
            for raw in (reply.body or {}).get("results") or []:
                record = to_record(spec, raw)
                found.setdefault(record.key.id, record)
        return with_stubs(list(found.values())) if id_property is None else list(found.values())
