"""Query, queryAll and query-more: SOQL compiled to SQLite, paged through server-side cursors.

A cursor stores only the compiled SQL, its parameters and the count; each page is read with
LIMIT/OFFSET, so a 1M-row result never sits in memory.
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
from sandbox.salesforce.store import make_id

DEFAULT_BATCH = 2000
MIN_BATCH, MAX_BATCH = 200, 2000
CURSOR_TTL_S = 15 * 60
MAX_CURSORS = 1000
_BATCH = re.compile(r"batchSize\s*=\s*(\d+)", re.IGNORECASE)
_LOCATOR = re.compile(r"^(01g[0-9A-Za-z]{15})-(\d+)$")


@dataclass
class Cursor:
    sobject: SObjectSchema
    fields: list[str]
    sql: str
    params: list[object]
    start: int  # the SOQL OFFSET
    total: int
    batch: int
    endpoint: str  # "query" or "queryAll"
    last_used: float


class Cursors:
    def __init__(self) -> None:
        self._open: dict[str, Cursor] = {}
        self._counter = 0

    def add(self, cursor: Cursor, now: float) -> str:
        self._expire(now)
        while len(self._open) >= MAX_CURSORS:
            self._open.pop(next(iter(self._open)))
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
            del self._open[key]

    def clear(self) -> None:
        self._open.clear()


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


def page_rows(ctx: Context, sql: str, params: list[object], start: int, size: int) -> list[Any]:
    paged = f"SELECT * FROM ({sql}) LIMIT ? OFFSET ?"
    return ctx.store.execute(paged, [*params, size, start]).fetchall()


class QueryService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.cursors = Cursors()

    def run(self, call: Call, *, include_deleted: bool) -> Reply:
        text = call.query.get("q")
        if not text:
            raise malformed_query("A query string has to be specified")
        compiled = compile_query(self.ctx, text, include_deleted=include_deleted)
        total = count(self.ctx, compiled)
        if compiled.count_only:
            return Reply(200, {"totalSize": total, "done": True, "records": []})
        found = schema(compiled.sobject)
        assert found is not None
        cursor = Cursor(
            sobject=found,
            fields=compiled.fields,
            sql=compiled.sql,
            params=compiled.params,
            start=compiled.offset or 0,
            total=total,
            batch=batch_size(call.headers.get("sforce-query-options")),
            endpoint="queryAll" if include_deleted else "query",
            last_used=self.ctx.clock.now(),
        )
        if total <= cursor.batch:
            return self._page(call.version, cursor, None, 0)
        key = self.cursors.add(cursor, self.ctx.clock.now())
        return self._page(call.version, cursor, key, 0)

    def more(self, call: Call, *, include_deleted: bool) -> Reply:
        match = _LOCATOR.match(call.params["locator"])
        cursor = self.cursors.get(match.group(1), self.ctx.clock.now()) if match else None
        if match is None or cursor is None:
            raise SalesforceError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        served = int(match.group(2))
        if served > cursor.total:
            raise SalesforceError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return self._page(call.version, cursor, match.group(1), served)

    def _page(self, version: str, cursor: Cursor, key: str | None, served: int) -> Reply:
        size = min(cursor.batch, cursor.total - served)
        rows = page_rows(self.ctx, cursor.sql, cursor.params, cursor.start + served, size)
        convert = self.ctx.store.converter(cursor.sobject, cursor.fields, version)
        records = [convert(row) for row in rows]
        done = key is None or served + len(rows) >= cursor.total
        body: dict[str, Any] = {"totalSize": cursor.total, "done": done}
        if not done:
            body["nextRecordsUrl"] = (
                f"/services/data/v{version}/{cursor.endpoint}/{key}-{served + len(rows)}"
            )
        body["records"] = records
        return Reply(200, raw=orjson.dumps(body))

    def iterate(
        self, text: str, *, include_deleted: bool
    ) -> tuple[list[str], Iterator[dict[str, Any]]]:
        """Columns and JSON-valued rows for Bulk 2.0 query jobs, read in chunks."""
        ctx = self.ctx
        compiled = compile_query(ctx, text, include_deleted=include_deleted)
        found = schema(compiled.sobject)
        assert found is not None
        if compiled.count_only:
            raise SalesforceError(
                400, "INVALIDJOB", "Aggregate queries are not supported by Bulk API 2.0"
            )
        total = count(ctx, compiled)
        start = compiled.offset or 0
        booleans = {
            n for n in compiled.fields if (f := found.field(n)) is not None and f.type == "boolean"
        }
        fields = list(compiled.fields)

        def rows() -> Iterator[dict[str, Any]]:
            served = 0
            while served < total:
                chunk = page_rows(
                    ctx,
                    compiled.sql,
                    compiled.params,
                    start + served,
                    min(DEFAULT_BATCH, total - served),
                )
                if not chunk:
                    return
                for row in chunk:
                    record = dict(zip(fields, row, strict=True))
                    for name in booleans:
                        if record[name] is not None:
                            record[name] = bool(record[name])
                    yield record
                served += len(chunk)

        return fields, rows()
