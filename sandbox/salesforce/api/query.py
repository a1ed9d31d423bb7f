"""Query, queryAll and query-more: SOQL compiled to SQLite, paged through server-side cursors.

Like Salesforce's query locators, a cursor is a snapshot of the result's membership and order:
when the query runs, the matching rowids are copied, in order, into one TEMP table in a single
INSERT ... SELECT (positions are consecutive INTEGER PRIMARY KEYs), and each page joins its
position range back to the live table. Writes between pages therefore neither skip nor repeat
records (field values are read when the page is served), and a 1M-row result costs a few bytes
a row in SQLite rather than Python objects. Rowids stay valid because sObject rows are never
removed (deletes are soft) except by a reset, which also clears every cursor.
"""

# ruff: noqa: S608 -- table and column names come from objects.py, never from requests; values are bound.

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from sandbox.salesforce.api.base import Call, Reply
from sandbox.salesforce.api.context import Context
from sandbox.salesforce.errors import SalesforceError, malformed_query
from sandbox.salesforce.objects import SObjectSchema, field_types, schema
from sandbox.salesforce.soql import CompiledQuery, compile_soql
from sandbox.salesforce.store import Store, make_id, quote

DEFAULT_BATCH = 2000
MIN_BATCH, MAX_BATCH = 200, 2000
CURSOR_TTL_S = 15 * 60  # Salesforce drops a locator after 15 minutes of inactivity
# Salesforce keeps 10 open locators per user and releases the oldest; the sandbox serves every
# client through one integration user, so it keeps more, plus a cap on captured rows.
MAX_CURSORS = 50
MAX_CAPTURED_ROWS = 5_000_000
ROWS_TABLE = "temp.query_cursor_rows"
_BATCH = re.compile(r"batchSize\s*=\s*(\d+)", re.IGNORECASE)
_LOCATOR = re.compile(r"^(01g[0-9A-Za-z]{15})-(\d+)$")


def invalid_locator() -> SalesforceError:
    return SalesforceError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")


@dataclass(frozen=True)
class Capture:
    """Rows of ROWS_TABLE tagged `tag` at positions `first .. first + total - 1` hold the
    result's rowids in order."""

    tag: int
    first: int
    total: int


class Snapshots:
    """Captures result rowids into ROWS_TABLE and reads them back a page at a time.

    Positions are the table's rowids, so a capture rolled back by an enclosing savepoint
    (composite allOrNone) frees positions a later capture reuses; the per-capture `tag` keeps
    the stale cursor from reading or releasing the newer capture's rows.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._ready = False
        self._tags = 0

    def capture(self, compiled: CompiledQuery) -> Capture:
        self._ensure_table()
        self._tags += 1
        (last,) = self.store.execute(f"SELECT IFNULL(MAX(pos), 0) FROM {ROWS_TABLE}").fetchone()
        limit = -1 if compiled.limit is None else compiled.limit
        # One statement: positions are assigned max+1, max+2, ... in the ORDER BY's order.
        inserted = self.store.execute(
            f"INSERT INTO {ROWS_TABLE} (tag, rid) SELECT ?, rowid {compiled.tail_sql} "
            "LIMIT ? OFFSET ?",
            [self._tags, *compiled.params, limit, compiled.offset or 0],
        )
        return Capture(tag=self._tags, first=int(last) + 1, total=max(inserted.rowcount, 0))

    def rows(
        self, sobject: SObjectSchema, fields: list[str], capture: Capture, start: int, size: int
    ) -> list[Any]:
        """Rows at result positions `start .. start + size - 1` (0-based); a row hard-deleted
        since is absent."""
        columns = ", ".join(f"t.{quote(name)}" for name in fields)
        sql = (
            f"SELECT {columns} FROM {ROWS_TABLE} AS c CROSS JOIN {quote(sobject.name)} AS t "
            "ON t.rowid = c.rid WHERE c.pos BETWEEN ? AND ? AND c.tag = ? ORDER BY c.pos"
        )
        first = capture.first + start
        return self.store.execute(sql, [first, first + size - 1, capture.tag]).fetchall()

    def release(self, capture: Capture) -> None:
        if self._ready and capture.total:
            self.store.execute(
                f"DELETE FROM {ROWS_TABLE} WHERE pos BETWEEN ? AND ? AND tag = ?",
                [capture.first, capture.first + capture.total - 1, capture.tag],
            )

    def clear(self) -> None:
        if self._ready:
            self.store.execute(f"DELETE FROM {ROWS_TABLE}")

    def _ensure_table(self) -> None:
        if not self._ready:
            self.store.execute(
                f"CREATE TABLE IF NOT EXISTS {ROWS_TABLE} "
                "(pos INTEGER PRIMARY KEY, tag INTEGER NOT NULL, rid INTEGER NOT NULL)"
            )
            self._ready = True


@dataclass
class Cursor:
    sobject: SObjectSchema
    fields: list[str]
    capture: Capture
    batch: int
    last_used: float
    exhausted: bool = False  # last page served; kept (a retried last page still works)

    @property
    def total(self) -> int:
        return self.capture.total


class Cursors:
    """Open query locators, expired after inactivity; over the caps, exhausted ones (then the
    oldest) are released first."""

    def __init__(self, snapshots: Snapshots) -> None:
        self.snapshots = snapshots
        self._open: dict[str, Cursor] = {}
        self._counter = 0

    def add(self, cursor: Cursor, now: float) -> str:
        self._expire(now)
        while self._open and (
            len(self._open) >= MAX_CURSORS
            or sum(c.total for c in self._open.values()) + cursor.total > MAX_CAPTURED_ROWS
        ):
            victim = next((k for k, c in self._open.items() if c.exhausted), None)
            self._drop(victim or next(iter(self._open)))
        self._counter += 1
        key = make_id("01g", self._counter)
        self._open[key] = cursor
        return key

    def get(self, key: str, now: float) -> Cursor | None:
        self._expire(now)
        cursor = self._open.get(key)
        if cursor is not None:
            cursor.last_used = now
        return cursor

    def _expire(self, now: float) -> None:
        for key in [k for k, c in self._open.items() if now - c.last_used > CURSOR_TTL_S]:
            self._drop(key)

    def _drop(self, key: str) -> None:
        self.snapshots.release(self._open.pop(key).capture)

    def clear(self) -> None:
        self._open.clear()
        self.snapshots.clear()


def batch_size(header: str | None) -> int:
    if not header:
        return DEFAULT_BATCH
    match = _BATCH.search(header)
    if not match:
        return DEFAULT_BATCH
    return min(max(int(match.group(1)), MIN_BATCH), MAX_BATCH)


def compile_query(ctx: Context, text: str, *, include_deleted: bool) -> CompiledQuery:
    return compile_soql(
        text, field_types=field_types, include_deleted=include_deleted, now=ctx.clock.now_dt()
    )


def count(ctx: Context, compiled: CompiledQuery) -> int:
    (total,) = ctx.store.execute(compiled.count_sql, compiled.params).fetchone()
    total = max(int(total) - (compiled.offset or 0), 0)
    return min(total, compiled.limit) if compiled.limit is not None else total


class QueryService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.snapshots = Snapshots(ctx.store)
        self.cursors = Cursors(self.snapshots)

    def run(self, call: Call, *, include_deleted: bool) -> Reply:
        text = call.query.get("q")
        if not text:
            raise malformed_query("A query string has to be specified")
        compiled = compile_query(self.ctx, text, include_deleted=include_deleted)
        if compiled.count_only:
            total = count(self.ctx, compiled)
            return Reply(200, {"totalSize": total, "done": True, "records": []})
        if compiled.aggregate is not None:
            (counted,) = self.ctx.store.execute(compiled.aggregate_sql, compiled.params).fetchone()
            row = {"attributes": {"type": "AggregateResult"}, compiled.aggregate: int(counted)}
            return Reply(200, {"totalSize": 1, "done": True, "records": [row]})
        found = schema(compiled.sobject)
        assert found is not None
        cursor = Cursor(
            sobject=found,
            fields=compiled.fields,
            capture=self.snapshots.capture(compiled),
            batch=batch_size(call.headers.get("sforce-query-options")),
            last_used=self.ctx.clock.now(),
        )
        if cursor.total <= cursor.batch:
            try:
                return self._page(call.version, cursor, None, 0)
            finally:
                self.snapshots.release(cursor.capture)
        key = self.cursors.add(cursor, self.ctx.clock.now())
        return self._page(call.version, cursor, key, 0)

    def more(self, call: Call, *, include_deleted: bool) -> Reply:
        match = _LOCATOR.match(call.params["locator"])
        cursor = self.cursors.get(match.group(1), self.ctx.clock.now()) if match else None
        if match is None or cursor is None:
            raise invalid_locator()
        served = int(match.group(2))
        if served >= cursor.total:
            raise invalid_locator()
        return self._page(call.version, cursor, match.group(1), served)

    def _page(self, version: str, cursor: Cursor, key: str | None, served: int) -> Reply:
        size = min(cursor.batch, cursor.total - served)
        rows = self.snapshots.rows(cursor.sobject, cursor.fields, cursor.capture, served, size)
        convert = self.ctx.store.converter(cursor.sobject, cursor.fields, version)
        records = [convert(row) for row in rows]
        end = served + size  # positions, not rows: a row hard-deleted since leaves no gap
        done = key is None or end >= cursor.total
        body: dict[str, Any] = {"totalSize": cursor.total, "done": done}
        if done:
            cursor.exhausted = True
        else:
            # Under `query/` for a queryAll cursor too ("contains query instead of queryAll",
            # salesforce-api.md §3.1); the locator keeps the cursor's deleted rows either way.
            body["nextRecordsUrl"] = f"/services/data/v{version}/query/{key}-{end}"
        body["records"] = records
        return Reply(200, raw=orjson.dumps(body))

    def iterate(
        self, text: str, *, include_deleted: bool
    ) -> tuple[list[str], Iterator[dict[str, Any]]]:
        """Columns and JSON-valued rows for Bulk 2.0 query jobs, read in chunks.

        The query is checked now; its result is captured when the rows are first asked for
        (a job runs it at once; a caller only validating never pays for the capture).
        """
        compiled = compile_query(self.ctx, text, include_deleted=include_deleted)
        found = schema(compiled.sobject)
        assert found is not None
        if compiled.count_only or compiled.aggregate is not None:
            raise SalesforceError(
                400, "INVALIDJOB", "Aggregate queries are not supported by Bulk API 2.0"
            )
        booleans = {
            n for n in compiled.fields if (f := found.field(n)) is not None and f.type == "boolean"
        }
        fields = list(compiled.fields)
        snapshots = self.snapshots

        def rows() -> Iterator[dict[str, Any]]:
            capture = snapshots.capture(compiled)
            try:
                for served in range(0, capture.total, DEFAULT_BATCH):
                    size = min(DEFAULT_BATCH, capture.total - served)
                    for row in snapshots.rows(found, fields, capture, served, size):
                        record = dict(zip(fields, row, strict=True))
                        for name in booleans:
                            if record[name] is not None:
                                record[name] = bool(record[name])
                        yield record
            finally:
                snapshots.release(capture)

        return fields, rows()
