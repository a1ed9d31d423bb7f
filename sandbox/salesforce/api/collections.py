"""sObject Collections (`/composite/sobjects`): up to 200 records per call, one API request.

Results come back in input order with per-record `statusCode` errors. With `allOrNone`, any
failure rolls the whole set back and every other record reports
ALL_OR_NONE_OPERATION_ROLLED_BACK. A record the `row_lock` fault draws is refused
UNABLE_TO_LOCK_ROW, as a record another transaction holds is. The body is deserialized whole
before any record is written, so one value its field's type cannot be read from (a string for
a number) refuses the whole call: 400 JSON_PARSER_ERROR, nothing written.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sandbox.salesforce import rules
from sandbox.salesforce.api.base import Call, Reply
from sandbox.salesforce.api.context import Context
from sandbox.salesforce.api.rowlock import locked_row, row_lock
from sandbox.salesforce.api.sobjects import record_json, save_result, select_fields
from sandbox.salesforce.errors import SalesforceError
from sandbox.salesforce.objects import by_key_prefix, schema
from sandbox.salesforce.records import (
    MultipleMatches,
    duplicate_key,
    folded_key,
    repeated_keys,
    sobject_or_error,
)
from sandbox.salesforce.store import normalize_id

MAX_RECORDS = 200
# "If the request body includes objects of more than one type, they are processed as chunks
# ... A single request can process up to 10 chunks" (sObject Collections create and update,
# salesforce-api.md §3.3). The REST docs name no error for an 11th chunk: the message is the
# platform's own for it ("Cannot have more than 10 chunks in a single operation. Please
# rearrange the data to reduce chunking.", as Apex DML and SOAP create report it), the code
# EXCEEDED_MAX_TYPES_LIMIT the API's StatusCode for too many object types in one call.
MAX_CHUNKS = 10
TOO_MANY_CHUNKS = SalesforceError(
    400,
    "EXCEEDED_MAX_TYPES_LIMIT",
    f"Cannot have more than {MAX_CHUNKS} chunks in a single operation. Please rearrange the "
    "data to reduce chunking.",
)
ROLLED_BACK = SalesforceError(
    400,
    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "Record rolled back because not all records were valid and the request was using AllOrNone "
    "header",
)

Result = dict[str, Any]


class _RollBack(Exception):
    pass


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def failure(exc: SalesforceError, record_id: str | None = None) -> Result:
    out: Result = {"success": False, "errors": [exc.record_error()]}
    if record_id:
        out = {"id": record_id, **out}
    return out


def _records(call: Call) -> tuple[list[Any], bool]:
    body = call.body
    if not isinstance(body, dict) or not isinstance(body.get("records"), list):
        raise SalesforceError(400, "JSON_PARSER_ERROR", "The request body must contain records")
    records = body["records"]
    if len(records) > MAX_RECORDS:
        raise SalesforceError(
            400,
            "EXCEEDED_ID_LIMIT",
            f"Maximum number of records in a collection is {MAX_RECORDS}",
        )
    for record in records:
        attributes = record.get("attributes") if isinstance(record, dict) else None
        kind = attributes.get("type") if isinstance(attributes, dict) else None
        sobject = schema(kind) if isinstance(kind, str) else None
        if sobject is not None:
            rules.check_json_values(sobject, record)
    return records, bool(body.get("allOrNone", False))


def _check_chunks(records: list[Any]) -> None:
    """Refuse a mixed-type body past 10 chunks (a chunk: a run of records of one type)."""
    chunks, previous = 0, object()
    for record in records:
        attributes = record.get("attributes") if isinstance(record, dict) else None
        kind = attributes.get("type") if isinstance(attributes, dict) else None
        key = kind.lower() if isinstance(kind, str) else kind
        if key != previous:
            chunks, previous = chunks + 1, key
    if chunks > MAX_CHUNKS:
        raise TOO_MANY_CHUNKS


def _type_of(record: Any) -> str:
    if not isinstance(record, dict):
        raise SalesforceError(400, "JSON_PARSER_ERROR", "Each record must be a JSON object")
    attributes = record.get("attributes")
    kind = attributes.get("type") if isinstance(attributes, dict) else None
    if not kind:
        raise SalesforceError(
            400,
            "INVALID_TYPE",
            "When using sObject Collections, the type of each record is required in its attributes",
        )
    return str(kind)


def _id_key(record: dict[str, Any]) -> str | None:
    return next((k for k in record if k.lower() == "id"), None)


def _path(call: Call) -> str:
    """The request path a collections call came in on (for the faults' `path_prefix`)."""
    path = f"/services/data/v{call.version}/composite/sobjects"
    if "sobject" in call.params and "field" in call.params:
        path += f"/{call.params['sobject']}/{call.params['field']}"
    return path


class CollectionsService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def _locked(self, record: Any) -> Result:
        return failure(row_lock(locked_row(self.ctx, record)))

    def _run(
        self,
        path: str,
        items: list[Any],
        all_or_none: bool,
        one: Callable[[Any], Result],
        locked: Callable[[Any], Result],
    ) -> list[Result]:
        """`one(item)` per item in order; an item the `row_lock` fault draws is `locked(item)`
        instead, not written."""
        results: list[Result] = []
        try:
            with self.ctx.org.batch():
                for item in items:
                    if self.ctx.faults.draw_row_lock(path):
                        results.append(locked(item))
                        continue
                    try:
                        results.append(one(item))
                    except SalesforceError as exc:
                        results.append(failure(exc))
                if all_or_none and any(not r["success"] for r in results):
                    raise _RollBack
        except _RollBack:
            return [r if not r["success"] else failure(ROLLED_BACK) for r in results]
        self.ctx.stats.add_writes(sum(1 for r in results if r["success"]))
        return results

    def create(self, call: Call) -> Reply:
        records, all_or_none = _records(call)
        _check_chunks(records)

        def one(record: Any) -> Result:
            kind = _type_of(record)
            key = _id_key(record)
            if key and record[key]:
                raise SalesforceError(
                    400, "INVALID_FIELD", "cannot specify Id in an insert call", ["Id"]
                )
            return save_result(self.ctx.org.create(kind, record))

        return Reply(200, self._run(_path(call), records, all_or_none, one, self._locked))

    def update(self, call: Call) -> Reply:
        records, all_or_none = _records(call)
        _check_chunks(records)

        def one(record: Any) -> Result:
            kind = _type_of(record)
            key = _id_key(record)
            if not key or not record[key]:
                raise SalesforceError(
                    400, "MISSING_ARGUMENT", "Id not specified in an update call", ["Id"]
                )
            fields = {k: v for k, v in record.items() if k != key}
            return save_result(self.ctx.org.update(kind, str(record[key]), fields))

        return Reply(200, self._run(_path(call), records, all_or_none, one, self._locked))

    def upsert(self, call: Call) -> Reply:
        records, all_or_none = _records(call)
        sobject = sobject_or_error(call.params["sobject"])
        ext = sobject.field(call.params["field"])
        if ext is None or not ext.id_lookup:
            raise SalesforceError(
                404,
                "NOT_FOUND",
                "Provided external ID field does not exist or is not accessible: "
                + call.params["field"],
            )

        def key_of(record: Any) -> Any:
            items = record.items() if isinstance(record, dict) else ()
            return next((v for k, v in items if k.lower() == ext.name.lower()), None)

        repeated = repeated_keys(ext.name, [key_of(r) for r in records])

        def one(record: Any) -> Result:
            kind = _type_of(record)
            if kind.lower() != sobject.name.lower():
                raise SalesforceError(
                    400, "INVALID_TYPE", f"Record type {kind} does not match {sobject.name}"
                )
            value = key_of(record)
            if value in (None, "") and ext.name != "Id":
                raise SalesforceError(
                    400, "MISSING_ARGUMENT", f"{ext.name} not specified", [ext.name]
                )
            if folded_key(value) in repeated:
                raise duplicate_key(ext.name, value)
            try:
                record_id, created = self.ctx.org.upsert(
                    sobject.name, ext.name, str(value or ""), record
                )
            except MultipleMatches as exc:
                raise SalesforceError(
                    300,
                    "DUPLICATE_EXTERNAL_ID",
                    f"{ext.name}: more than one record found for external id field: "
                    + ", ".join(exc.urls),
                    [ext.name],
                ) from None
            return save_result(record_id, created)

        def locked(record: Any) -> Result:
            return failure(row_lock(locked_row(self.ctx, record, sobject=sobject, ext=ext.name)))

        return Reply(200, self._run(_path(call), records, all_or_none, one, locked))

    def delete(self, call: Call) -> Reply:
        ids = [i for i in call.query.get("ids", "").split(",") if i]
        if not ids:
            raise SalesforceError(400, "MISSING_ARGUMENT", "ids parameter is required", ["ids"])
        if len(ids) > MAX_RECORDS:
            raise SalesforceError(
                400, "EXCEEDED_ID_LIMIT", f"Maximum number of ids is {MAX_RECORDS}"
            )
        all_or_none = call.query.get("allOrNone", "false").lower() == "true"

        def one(record_id: Any) -> Result:
            normal = normalize_id(record_id)
            sobject = by_key_prefix(normal) if normal else None
            if sobject is None:
                raise SalesforceError(400, "MALFORMED_ID", f"malformed id {record_id}", [])
            try:
                return save_result(self.ctx.org.delete(sobject.name, record_id))
            except SalesforceError as exc:
                return failure(exc, record_id)

        def locked(record_id: Any) -> Result:
            return failure(row_lock(normalize_id(record_id) or str(record_id)), record_id)

        return Reply(200, self._run(_path(call), ids, all_or_none, one, locked))

    def retrieve(self, call: Call) -> Reply:
        """GET `?ids=...&fields=...`: records in input order, null where none is readable."""
        ids = [i for i in call.query.get("ids", "").split(",") if i]
        return self._retrieve(call, ids, call.query.get("fields"))

    def retrieve_post(self, call: Call) -> Reply:
        """The same read with the lists in a JSON body (`{"ids": [...], "fields": [...]}`),
        for id lists a GET URL cannot carry."""
        body = call.body
        ids: Any = body.get("ids") if isinstance(body, dict) else None
        fields: Any = body.get("fields") if isinstance(body, dict) else None
        if not _strings(ids) or not _strings(fields):
            raise SalesforceError(
                400, "JSON_PARSER_ERROR", "The request body must contain ids and fields lists"
            )
        return self._retrieve(call, ids, ",".join(fields))

    def _retrieve(self, call: Call, ids: list[str], fields: str | None) -> Reply:
        sobject = sobject_or_error(call.params["sobject"])
        names = select_fields(sobject, fields)
        if not ids or not names:
            raise SalesforceError(400, "MISSING_ARGUMENT", "ids and fields parameters are required")
        if len(ids) > 2000:
            raise SalesforceError(400, "EXCEEDED_ID_LIMIT", "Maximum number of ids is 2000")
        out: list[Any] = []
        for record_id in ids:
            normal = normalize_id(record_id)
            row = self.ctx.store.get(sobject, normal) if normal else None
            if row is None or row["IsDeleted"]:
                out.append(None)
            else:
                out.append(record_json(self.ctx, sobject, row, call.version, names))
        return Reply(200, out)
