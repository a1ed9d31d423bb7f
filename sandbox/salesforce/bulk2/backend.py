"""What Bulk API 2.0 needs from the org behind it: run SOQL, apply CSV rows."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class IngestResult:
    """One row's outcome; `error` like `REQUIRED_FIELD_MISSING:Required fields ...:Company --`."""

    id: str | None
    created: bool
    error: str | None


class Bulk2Backend(Protocol):
    def query_pages(
        self, soql: str, *, include_deleted: bool
    ) -> tuple[list[str], Iterator[dict[str, Any]]]:
        """Columns and JSON-valued rows; raises SalesforceError at once when the SOQL is bad."""
        ...

    def identifies(self, sobject: str, field: str) -> bool:
        """Whether `field` (known to exist) can key an upsert: Id, External ID or idLookup."""
        ...

    def ingest(
        self,
        sobject: str,
        operation: str,
        external_id_field: str | None,
        rows: list[dict[str, str]],
    ) -> list[IngestResult]:
        """Apply CSV rows (raw strings); one result per row, in order."""
        ...
