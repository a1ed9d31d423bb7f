"""Reading Salesforce records: incremental by queryAll, full by REST or Bulk 2.0, by ids.

Incremental reads (`changes`) ask one queryAll for the half-open window `[since, until)` on
`SystemModstamp`, `ORDER BY SystemModstamp, Id`, and follow `nextRecordsUrl` through the shared
paginator. queryAll (not query) so that recycle-bin rows come back: `IsDeleted` rows become
deletes, and a merged-away row's `MasterRecordId` becomes `merged_into`. Window bounds are
rounded up to the millisecond (the field's precision), which keeps the window exactly
half-open. Cost: one call per 2,000 records, the minimum the API allows.

Full reads (`all`) look at the first REST page's `totalSize` and switch to a Bulk 2.0 query
job above `bulk_threshold`, parsing its CSV pages.

By-id reads query `Id IN (...)` with as many ids as the URL holds: a REST query is a GET, so
its size limit is the request URI's (objects.MAX_URI_BYTES), and each batch is packed to
`url_budget` bytes of the exact request target: ~500 ids beside the default fields, not a
fixed 200. A batch's result pages through `nextRecordsUrl` like any query's.

When a field list is too long for one URL, the first chunk carries the cursor and each
further chunk is fetched by the page's ids and joined on `Id`.

Contact roles (`contact_roles`) are read for a batch of Opportunities by one query
(`OpportunityId IN (...)`, packed to the URL like by-id reads), live rows only; so are the
Leads converted with them (`conversions`: `ConvertedOpportunityId IN (...)`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from itertools import chain
from typing import Any

from connectors.errors import PermanentError
from connectors.http.pagination import NextRecordsUrl, paginate
from connectors.records import ContactRole, Conversion, ListedPage, SourceRecord, System
from connectors.salesforce.convert import ceil_ms, csv_records, parse_datetime, to_record
from connectors.salesforce.objects import ID_FIELD, QUERY_URL_BUDGET, ObjectSpec, spec_for
from connectors.salesforce.sdk import BulkQueryPage, SalesforceSdk
from connectors.salesforce.soql import SoqlError, chunk_fields, quote, soql, url_length

# Bulk 2.0 result rows fetched per call (`maxRecords`): a page is parsed whole, so its size is
# the read's memory; 10,000 rows (~35 MB parsed) costs one call per 10,000 records.
BULK_PAGE = 10_000
# A record id is 15 or 18 letters and digits; anything else cannot exist, and one such value in
# an `Id IN (...)` list makes the org refuse the whole query (INVALID_QUERY_FILTER_OPERATOR).
_ID_SHAPE = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")
# Stands in for any id when measuring a by-id query (all 18-char ids encode to one length).
_ANY_ID = "0" * 18
# The two kinds of listing position `pages` hands out: after a record id, or a Bulk 2.0 job's
# next locator.
_ID_POSITION = "id"
_BULK_POSITION = "bulk"

# Values per `by_field` query: 100 of the longest upsert keys (a uuid, an email) keep it far
# inside the URL limit.
_FIND_BATCH = 100

# A full listing's SOQL by (from a record id on, in `Id` order).
_LISTINGS = {
    (False, False): "SELECT {:fields} FROM {:object}",
    (False, True): "SELECT {:fields} FROM {:object} ORDER BY Id",
    (True, False): "SELECT {:fields} FROM {:object} WHERE Id > {}",
    (True, True): "SELECT {:fields} FROM {:object} WHERE Id > {} ORDER BY Id",
}

# The contact roles of a batch of Opportunities (`Reader.contact_roles`).
CONTACT_ROLE = "OpportunityContactRole"
_CONTACT_ROLE_FIELDS = ("Id", "OpportunityId", "ContactId", "IsPrimary", "CreatedDate")
_CONTACT_ROLES = "SELECT {:fields} FROM {:object} WHERE OpportunityId IN {}"
# The Leads converted with a batch of Opportunities (`Reader.conversions`).
_CONVERSION_FIELDS = ("Id", "ConvertedOpportunityId")
_CONVERSIONS = "SELECT {:fields} FROM {:object} WHERE ConvertedOpportunityId IN {}"

log = logging.getLogger(__name__)


def _role(row: Mapping[str, Any]) -> ContactRole | None:
    """One OpportunityContactRole row, or None for one naming no Contact or Opportunity."""
    role_id, opportunity, contact = row.get("Id"), row.get("OpportunityId"), row.get("ContactId")
    if not (isinstance(role_id, str) and isinstance(opportunity, str) and isinstance(contact, str)):
        return None
    created = row.get("CreatedDate")
    return ContactRole(
        id=role_id,
        opportunity_id=opportunity,
        contact_id=contact,
        primary=row.get("IsPrimary") is True,
        created_at=parse_datetime(created) if isinstance(created, str) else None,
    )


def plan_window(
    cursor: datetime | None,
    *,
    now: datetime,
    lookback: timedelta = timedelta(minutes=2),
    settle: timedelta = timedelta(seconds=15),
) -> tuple[datetime | None, datetime]:
    """The window one run reads: `[cursor - lookback, now - settle)`.

    `settle` keeps the upper bound in the past so transactions still committing at `now`
    (SystemModstamp is stamped at commit start) fall into the next run; `lookback` re-reads a
    margin below the cursor for the same reason. Fixed for the run (the "signpost").
    """
    until = now - settle
    since = None if cursor is None else min(cursor - lookback, until)
    return since, until


def _listing_query(spec: ObjectSpec, fields: list[str], after: str | None, *, ordered: bool) -> str:
    """A full listing's SOQL, from the record after `after` on when given, in `Id` order when
    `ordered` (REST pages, whose positions are ids)."""
    template = _LISTINGS[(after is not None, ordered)]
    return soql(template, fields, spec.name, *(() if after is None else (after,)))


_WINDOWS = {  # (recycle-bin rows only, a lower bound): the change listing's SOQL
    (False, False): "SELECT {:fields} FROM {:object} WHERE SystemModstamp < {} "
    "ORDER BY SystemModstamp, Id",
    (False, True): "SELECT {:fields} FROM {:object} WHERE SystemModstamp >= {} "
    "AND SystemModstamp < {} ORDER BY SystemModstamp, Id",
    (True, False): "SELECT {:fields} FROM {:object} WHERE IsDeleted = {} "
    "AND SystemModstamp < {} ORDER BY SystemModstamp, Id",
    (True, True): "SELECT {:fields} FROM {:object} WHERE IsDeleted = {} "
    "AND SystemModstamp >= {} AND SystemModstamp < {} ORDER BY SystemModstamp, Id",
}


def _window_query(
    spec: ObjectSpec, since: datetime | None, until: datetime, *, deleted_only: bool
) -> Callable[[list[str]], str]:
    """The SOQL of the records modified in `[since, until)`; `deleted_only`: the recycle
    bin's rows only (deleted and merged-away records)."""
    template = _WINDOWS[(deleted_only, since is not None)]
    bounds = (*((True,) if deleted_only else ()), *(() if since is None else (ceil_ms(since),)))
    upper = ceil_ms(until)
    return lambda fields: soql(template, fields, spec.name, *bounds, upper)


def _by_ids_query(spec: ObjectSpec, ids: Sequence[str]) -> Callable[[list[str]], str]:
    return lambda fields: soql(
        "SELECT {:fields} FROM {:object} WHERE Id IN {}", fields, spec.name, list(ids)
    )


def pack_ids(
    spec: ObjectSpec, ids: Sequence[str], fields: list[str], *, budget: int
) -> Iterator[list[str]]:
    """Consecutive runs of `ids` whose `Id IN (...)` query for `fields` encodes to at most
    `budget` URL bytes.

    Percent-encoding is character by character, so each further id lengthens the encoded
    query by exactly its `, '<id>'`: one render per batch, not one per id.
    """
    return _packed(ids, lambda batch: _by_ids_query(spec, batch)(fields), budget=budget)


def _packed(
    ids: Iterable[str], render: Callable[[list[str]], str], *, budget: int
) -> Iterator[list[str]]:
    """Consecutive runs of `ids` whose query, `render`ed with an `IN (...)` list of them,
    encodes to at most `budget` URL bytes (see `pack_ids`)."""
    batch: list[str] = []
    used = 0
    for record_id in ids:
        more = url_length(", " + quote(record_id))
        if batch and used + more <= budget:
            batch.append(record_id)
            used += more
            continue
        if batch:
            yield batch
        batch = [record_id]
        used = url_length(render(batch))
        if used > budget:
            raise SoqlError("the field list leaves no room for an id in the URL budget")
    if batch:
        yield batch


class Reader:
    """Reads one org through `SalesforceSdk`.

    Args:
        sdk: the one request path.
        bulk_threshold: full reads of more records than this use Bulk 2.0.
        field_types: `sobject -> {field: type}` (from describe), to type Bulk CSV cells.
        url_budget: bytes a query's request target (path and `?q=`) may take; field lists
            are chunked and id lists packed to fit.
        extra_fields: per sObject, fields to read besides the object table's (custom fields
            a field map names); validated as API names when queries are built.
    """

    def __init__(
        self,
        sdk: SalesforceSdk,
        *,
        bulk_threshold: int,
        field_types: Callable[[str], Mapping[str, str]],
        url_budget: int = QUERY_URL_BUDGET,
        extra_fields: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self._sdk = sdk
        self._extra = {name: tuple(fields) for name, fields in (extra_fields or {}).items()}
        self._bulk_threshold = bulk_threshold
        self._field_types = field_types
        self._url_budget = url_budget

    def fields(self, spec: ObjectSpec) -> list[str]:
        """The fields read for `spec`: the object table's plus any extra ones."""
        return list(dict.fromkeys((*spec.read_fields, *self._extra.get(spec.name, ()))))

    # queries

    def _query_budget(self, include_deleted: bool) -> int:
        """URL bytes left for the encoded SOQL once the path and `?q=` are counted."""
        return self._url_budget - len(self._sdk.query_path(include_deleted=include_deleted))

    def _field_chunks(
        self,
        spec: ObjectSpec,
        fields: Sequence[str],
        render: Callable[[list[str]], str],
        *,
        include_deleted: bool,
    ) -> list[list[str]]:
        """`fields` split so that a by-id query for each list takes at most half the URL.

        Chunks after the first are fetched by id and joined, and by-id reads fetch every
        chunk by id, so the other half is for ids. `render`'s own query must fit too.
        """
        budget = self._query_budget(include_deleted)
        one_id = _by_ids_query(spec, [_ANY_ID])
        chunks = list(chunk_fields(fields, render=one_id, budget=budget // 2))
        if any(url_length(render(chunk)) > budget for chunk in chunks):
            raise SoqlError("the query does not fit the URL budget; shorten it")
        return chunks

    def _id_batches(
        self, spec: ObjectSpec, ids: Sequence[str], fields: list[str], *, include_deleted: bool
    ) -> Iterator[list[str]]:
        return pack_ids(spec, ids, fields, budget=self._query_budget(include_deleted))

    def _pages(self, query: str, *, include_deleted: bool, operation: str) -> Iterator[Any]:
        def fetch(token: str | None) -> dict[str, Any]:
            if token is None:
                return self._sdk.query(query, include_deleted=include_deleted, operation=operation)
            return self._sdk.query_more(token, operation=operation)

        return paginate(fetch, NextRecordsUrl(), system=System.SALESFORCE, operation=operation)

    def _select(
        self,
        spec: ObjectSpec,
        render: Callable[[list[str]], str],
        *,
        fields: Sequence[str],
        include_deleted: bool,
        operation: str,
    ) -> Iterator[SourceRecord]:
        chunks = self._field_chunks(spec, fields, render, include_deleted=include_deleted)
        pages = self._pages(render(chunks[0]), include_deleted=include_deleted, operation=operation)
        return self._records(
            spec, pages, chunks[1:], include_deleted=include_deleted, operation=operation
        )

    def _records(
        self,
        spec: ObjectSpec,
        pages: Iterable[Any],
        rest: list[list[str]],
        *,
        include_deleted: bool,
        operation: str,
    ) -> Iterator[SourceRecord]:
        for page in pages:
            rows: list[dict[str, Any]] = list(page.get("records") or ())
            if rest and rows:
                self._join(spec, rows, rest, include_deleted=include_deleted, operation=operation)
            for row in rows:
                yield to_record(spec.name, row)

    def _join(
        self,
        spec: ObjectSpec,
        rows: list[dict[str, Any]],
        chunks: list[list[str]],
        *,
        include_deleted: bool,
        operation: str,
    ) -> None:
        by_id = {row[ID_FIELD]: row for row in rows}
        ids = list(by_id)
        for chunk in chunks:
            for batch in self._id_batches(spec, ids, chunk, include_deleted=include_deleted):
                query = _by_ids_query(spec, batch)(chunk)
                for page in self._pages(
                    query, include_deleted=include_deleted, operation=operation
                ):
                    for extra in page.get("records") or ():
                        target = by_id.get(extra.get(ID_FIELD))
                        if target is not None:
                            target.update({k: v for k, v in extra.items() if k != "attributes"})

    # the three reads

    def changes(
        self,
        spec: ObjectSpec,
        since: datetime | None,
        until: datetime,
        *,
        fields: Sequence[str] | None = None,
        deleted_only: bool = False,
    ) -> Iterator[SourceRecord]:
        """Records modified in `[since, until)`, deletes included, in (SystemModstamp, Id) order;
        `deleted_only`: the recycle bin's rows alone (a backfill lists the live ones itself)."""
        if since is not None and since >= until:
            return iter(())
        return self._select(
            spec,
            _window_query(spec, since, until, deleted_only=deleted_only),
            fields=fields or self.fields(spec),
            include_deleted=True,
            operation=f"{spec.name}.queryAll",
        )

    def by_ids(self, spec: ObjectSpec, ids: Sequence[str]) -> list[SourceRecord]:
        """The records with these ids (recycle-bin and merged-away rows flagged), as many ids
        per call as the URL holds.

        Ids that are not shaped like Salesforce ids are left out like any missing id.
        """
        unique = [i for i in dict.fromkeys(ids) if _ID_SHAPE.fullmatch(i)]
        if not unique:
            return []
        operation = f"{spec.name}.byIds"
        chunks = self._field_chunks(
            spec, self.fields(spec), _by_ids_query(spec, [_ANY_ID]), include_deleted=True
        )
        found: list[SourceRecord] = []
        for batch in self._id_batches(spec, unique, chunks[0], include_deleted=True):
            query = _by_ids_query(spec, batch)(chunks[0])
            pages = self._pages(query, include_deleted=True, operation=operation)
            found.extend(
                self._records(spec, pages, chunks[1:], include_deleted=True, operation=operation)
            )
        return found

    def by_field(self, spec: ObjectSpec, field: str, values: Sequence[str]) -> list[SourceRecord]:
        """Live records whose `field` holds one of `values`: their ids by one query per batch
        of values (at most `_FIND_BATCH`, and as many as the URL holds), then the records by
        id (`by_ids` fits the field list to the URL)."""

        def query(batch: list[str]) -> str:
            return soql("SELECT Id FROM {:object} WHERE {:ident} IN {}", spec.name, field, batch)

        budget = self._query_budget(include_deleted=False)
        batches: list[list[str]] = [[]]
        for value in dict.fromkeys(values):
            batch = batches[-1]
            if batch and (len(batch) >= _FIND_BATCH or url_length(query([*batch, value])) > budget):
                batches.append(batch := [])
            batch.append(value)
        operation = f"{spec.name}.byField"
        ids: list[str] = []
        for batch in batches:
            if not batch:
                continue
            for page in self._pages(query(batch), include_deleted=False, operation=operation):
                ids.extend(str(row[ID_FIELD]) for row in page.get("records") or ())
        return [record for record in self.by_ids(spec, ids) if not record.deleted]

    def contact_roles(self, opportunity_ids: Sequence[str]) -> list[ContactRole]:
        """The live OpportunityContactRoles of these Opportunities."""
        rows = self._by_opportunities(
            CONTACT_ROLE, _CONTACT_ROLES, _CONTACT_ROLE_FIELDS, opportunity_ids, "byOpportunity"
        )
        return [role for row in rows if (role := _role(row)) is not None]

    def conversions(self, opportunity_ids: Sequence[str]) -> list[Conversion]:
        """The live Leads converted with these Opportunities (`ConvertedOpportunityId`)."""
        rows = self._by_opportunities(
            "Lead", _CONVERSIONS, _CONVERSION_FIELDS, opportunity_ids, "byConvertedOpportunity"
        )
        return [
            Conversion(lead, opportunity)
            for row in rows
            if isinstance(lead := row.get(ID_FIELD), str)
            and isinstance(opportunity := row.get("ConvertedOpportunityId"), str)
        ]

    def _by_opportunities(
        self,
        sobject: str,
        template: str,
        fields: Sequence[str],
        opportunity_ids: Sequence[str],
        operation: str,
    ) -> Iterator[Mapping[str, Any]]:
        """The live rows of `sobject` that `template` selects by Opportunity id: one query per
        batch of ids, as many as the URL holds (ids not shaped like Salesforce ids are left
        out, as `by_ids` does)."""
        spec = spec_for(sobject)

        def query(batch: list[str]) -> str:
            return soql(template, fields, spec.name, batch)

        unique = [i for i in dict.fromkeys(opportunity_ids) if _ID_SHAPE.fullmatch(i)]
        budget = self._query_budget(include_deleted=False)
        for batch in _packed(unique, query, budget=budget):
            for page in self._pages(
                query(batch), include_deleted=False, operation=f"{spec.name}.{operation}"
            ):
                yield from page.get("records") or ()

    def all(self, spec: ObjectSpec, *, use_bulk: bool | None = None) -> Iterator[SourceRecord]:
        """Every live record: REST query pages, or one Bulk 2.0 job above the threshold."""
        for page in self.pages(spec, use_bulk=use_bulk):
            yield from page.records

    def pages(
        self, spec: ObjectSpec, *, start: str | None = None, use_bulk: bool | None = None
    ) -> Iterator[ListedPage]:
        """`all`, page by page, each with the position to continue from.

        REST pages come in `Id` order, so a page's position is its last id, good for as long
        as the records are (`WHERE Id > …`); the first page says how many records are left
        (`totalSize`), so choosing Bulk 2.0 costs no extra call. A Bulk 2.0 job has no order
        (`ORDER BY` would turn off its PK chunking), so its position is the job and the next
        page's locator, good while the job exists (Salesforce keeps jobs 7 days).
        """
        fields = self.fields(spec)
        after: str | None = None
        if start is not None:
            kind, _, rest = start.partition(":")
            if kind == _BULK_POSITION:
                job_id, _, locator = rest.partition(":")
                resumed = self._bulk_resumed(spec, job_id, locator)
                if resumed is not None:
                    yield from resumed
                    return
            elif kind == _ID_POSITION and _ID_SHAPE.fullmatch(rest):
                after = rest
            else:
                log.warning(
                    "not a %s listing position: %r; listing every record again", spec.name, start
                )
        if use_bulk:
            yield from self._bulk_pages(spec, fields, after)
            return

        def render(chosen: list[str]) -> str:
            return _listing_query(spec, chosen, after, ordered=True)

        operation = f"{spec.name}.query"
        chunks = self._field_chunks(spec, fields, render, include_deleted=False)
        pages = self._pages(render(chunks[0]), include_deleted=False, operation=operation)
        first = next(pages)
        if use_bulk is None and int(first.get("totalSize") or 0) > self._bulk_threshold:
            yield from self._bulk_pages(spec, fields, after)
            return
        for page in chain([first], pages):
            records = list(
                self._records(spec, [page], chunks[1:], include_deleted=False, operation=operation)
            )
            last = page.get("done") is not False or not records
            yield ListedPage(records, None if last else f"{_ID_POSITION}:{records[-1].key.id}")

    def count(self, spec: ObjectSpec) -> int | None:
        """How many live records there are (`SELECT COUNT()`: one call, no rows)."""
        operation = f"{spec.name}.count"
        page = self._sdk.query(
            soql("SELECT COUNT() FROM {:object}", spec.name),
            include_deleted=False,
            operation=operation,
        )
        total = page.get("totalSize")
        return int(total) if isinstance(total, int) else None

    def _bulk_pages(
        self, spec: ObjectSpec, fields: list[str], after: str | None
    ) -> Iterator[ListedPage]:
        # Bulk queries are POSTed, so no URL limit: one job with every field. No `ORDER BY`:
        # it would turn off the job's PK chunking.
        query = _listing_query(spec, fields, after, ordered=False)
        pages = self._sdk.bulk_query(
            spec.name,
            query,
            include_deleted=False,
            page_size=BULK_PAGE,
            operation=f"{spec.name}.bulkQuery",
        )
        return self._bulk_listed(spec, pages)

    def _bulk_listed(
        self, spec: ObjectSpec, pages: Iterable[BulkQueryPage]
    ) -> Iterator[ListedPage]:
        types = self._field_types(spec.name)
        for page in pages:
            resume = (
                None
                if page.following is None
                else f"{_BULK_POSITION}:{page.job_id}:{page.following}"
            )
            yield ListedPage(list(csv_records(spec.name, page.csv, types)), resume)

    def _bulk_resumed(
        self, spec: ObjectSpec, job_id: str, locator: str
    ) -> Iterator[ListedPage] | None:
        """The rest of an earlier Bulk 2.0 job's results, or None when the job can no longer
        be read (deleted, expired, or the locator refused): the caller lists again."""
        pages = self._sdk.bulk_results(
            spec.name,
            job_id,
            locator,
            page_size=BULK_PAGE,
            operation=f"{spec.name}.bulkQuery",
        )
        try:
            first = next(pages)
        except StopIteration:
            return iter(())
        except PermanentError as exc:
            log.warning(
                "the %s Bulk 2.0 job %s can no longer be read (%s); listing every record again",
                spec.name,
                job_id,
                exc,
            )
            return None
        return self._bulk_listed(spec, chain([first], pages))
