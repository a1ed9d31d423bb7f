"""The core's side of Bulk API 2.0: query rows and ingest CSV rows through the same org rules."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sandbox.salesforce.api.context import Context
from sandbox.salesforce.api.query import QueryService
from sandbox.salesforce.bulk2 import IngestResult
from sandbox.salesforce.errors import SalesforceError
from sandbox.salesforce.records import (
    MultipleMatches,
    duplicate_key,
    folded_key,
    repeated_keys,
    sobject_or_error,
)

NULL_MARKER = "#N/A"  # Bulk API's way to set a field to null; an empty cell leaves it alone
# Salesforce applies ingest rows in DML chunks of 200: an external id named twice within one
# fails each of its rows ("Duplicate external id specified"); across two, the later updates.
DML_CHUNK = 200


def bulk_error(exc: SalesforceError) -> str:
    return f"{exc.code}:{exc.message}:{','.join(exc.fields or [])} --"


def _fields(row: dict[str, str]) -> dict[str, Any]:
    return {k: (None if v == NULL_MARKER else v) for k, v in row.items() if v != ""}


class BulkBackend:
    def __init__(self, ctx: Context, query: QueryService) -> None:
        self.ctx = ctx
        self.query = query

    def query_pages(
        self, soql: str, *, include_deleted: bool
    ) -> tuple[list[str], Iterator[dict[str, Any]]]:
        return self.query.iterate(soql, include_deleted=include_deleted)

    def identifies(self, sobject: str, field: str) -> bool:
        found = sobject_or_error(sobject).field(field)
        return found is not None and found.id_lookup

    def ingest(
        self,
        sobject: str,
        operation: str,
        external_id_field: str | None,
        rows: list[dict[str, str]],
    ) -> list[IngestResult]:
        name = sobject_or_error(sobject).name
        ext = external_id_field or "Id"
        keys = [next((v for k, v in row.items() if k.lower() == ext.lower()), "") for row in rows]
        repeated: set[str] = set()
        results = []
        for n, row in enumerate(rows):
            if operation == "upsert" and n % DML_CHUNK == 0:
                repeated = repeated_keys(ext, keys[n : n + DML_CHUNK])
            try:
                if folded_key(keys[n]) in repeated:
                    raise duplicate_key(ext, keys[n])
                results.append(self._one(name, operation, external_id_field, row))
            except SalesforceError as exc:
                results.append(IngestResult(id=None, created=False, error=bulk_error(exc)))
            except MultipleMatches as exc:
                message = f"more than one record found for external id: {', '.join(exc.urls)}"
                results.append(
                    IngestResult(
                        id=None, created=False, error=f"DUPLICATE_EXTERNAL_ID:{message}:--"
                    )
                )
        self.ctx.stats.add_writes(sum(1 for r in results if r.error is None))
        return results

    def _one(
        self, sobject: str, operation: str, ext: str | None, row: dict[str, str]
    ) -> IngestResult:
        org = self.ctx.org
        fields = _fields(row)
        record_id = next((v for k, v in row.items() if k.lower() == "id"), "")
        body = {k: v for k, v in fields.items() if k.lower() != "id"}
        if operation == "insert":
            return IngestResult(id=org.create(sobject, body), created=True, error=None)
        if operation in ("update", "delete", "hardDelete"):
            if not record_id:
                raise SalesforceError(400, "MISSING_ARGUMENT", "Id not specified", ["Id"])
            if operation == "update":
                return IngestResult(
                    id=org.update(sobject, record_id, body), created=False, error=None
                )
            return IngestResult(id=org.delete(sobject, record_id), created=False, error=None)
        if operation == "upsert":
            ext = ext or "Id"
            value = next((v for k, v in row.items() if k.lower() == ext.lower()), "")
            new_id, created = org.upsert(sobject, ext, value, fields)
            return IngestResult(id=new_id, created=created, error=None)
        raise SalesforceError(400, "INVALIDJOB", f"Unsupported operation: {operation}")
