"""Field metadata from `GET sobjects/{SObject}/describe`, as `FieldSchema`s for the mappings.

One describe call per object, cached for the connector's lifetime (picklists change by admin
action, not per sync; `forget` drops the cache when an operator asks for a fresh look).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from connectors.records import FieldSchema, PicklistOption
from connectors.salesforce.sdk import SalesforceSdk
from connectors.salesforce.soql import identifier

PICKLIST_TYPES = frozenset({"picklist", "multipicklist", "combobox"})


def field_schema(raw: Mapping[str, Any]) -> FieldSchema:
    """One describe field entry -> `FieldSchema` (inactive picklist values kept, flagged)."""
    options = tuple(
        PicklistOption(
            value=str(entry.get("value")),
            label=str(entry.get("label") or entry.get("value")),
            active=bool(entry.get("active", True)),
            default=bool(entry.get("defaultValue", False)),
        )
        for entry in raw.get("picklistValues") or ()
        if isinstance(entry, Mapping) and entry.get("value") is not None
    )
    length = raw.get("length")
    return FieldSchema(
        name=str(raw["name"]),
        type=str(raw.get("type") or "string"),
        label=str(raw.get("label") or raw["name"]),
        length=int(length) if isinstance(length, int) and length > 0 else None,
        nillable=bool(raw.get("nillable", True)),
        updateable=bool(raw.get("updateable", False)),
        options=options,
    )


class Describer:
    """Cached describe results for one org."""

    def __init__(self, sdk: SalesforceSdk) -> None:
        self._sdk = sdk
        self._cache: dict[str, tuple[FieldSchema, ...]] = {}
        self._lock = threading.Lock()

    def fields(self, sobject: str) -> tuple[FieldSchema, ...]:
        with self._lock:
            cached = self._cache.get(sobject)
        if cached is not None:
            return cached
        reply = self._sdk.restful(
            f"sobjects/{identifier(sobject)}/describe", operation=f"{sobject}.describe"
        )
        raw_fields = reply.get("fields") if isinstance(reply, Mapping) else None
        schemas = tuple(field_schema(f) for f in raw_fields or () if isinstance(f, Mapping))
        with self._lock:
            self._cache[sobject] = schemas
        return schemas

    def types(self, sobject: str) -> Mapping[str, str]:
        """`{field: Salesforce type}` (to type Bulk 2.0 CSV cells)."""
        return MappingProxyType({f.name: f.type for f in self.fields(sobject)})

    def picklists(
        self, sobject: str, names: Sequence[str]
    ) -> Mapping[str, tuple[PicklistOption, ...]]:
        """Options of each named picklist field; other and unknown fields are omitted."""
        wanted = set(names)
        return MappingProxyType(
            {
                f.name: f.options
                for f in self.fields(sobject)
                if f.name in wanted and f.type in PICKLIST_TYPES
            }
        )

    def forget(self) -> None:
        with self._lock:
            self._cache.clear()
