"""The `row_lock` fault: one record of an sObject Collections write refused UNABLE_TO_LOCK_ROW.

Salesforce refuses a record whose row, or a row its write must lock (the parent it hangs
from), another transaction holds; the other records of the call are written, and the refused
one succeeds when sent again once the lock clears (salesforce-api.md §4: "transient, retry").
The message names the locked record, so a record being created reports the record it hangs
from (its first lookup given, else its owner, the running user).
"""

from __future__ import annotations

from typing import Any

from sandbox.salesforce.api.context import Context
from sandbox.salesforce.errors import SalesforceError
from sandbox.salesforce.objects import SObjectSchema, schema
from sandbox.salesforce.store import normalize_id


def row_lock(record_id: str) -> SalesforceError:
    return SalesforceError(
        400,
        "UNABLE_TO_LOCK_ROW",
        f"unable to obtain exclusive access to this record or 1 records: {record_id}",
        [],
    )


def locked_row(
    ctx: Context, record: Any, *, sobject: SObjectSchema | None = None, ext: str | None = None
) -> str:
    """The id of the row a write of `record` would lock: the record's own (its `Id`, or the
    row `ext` matches when upserting), else the row it hangs from."""
    if not isinstance(record, dict):
        return ctx.org.user_id
    values = {k.lower(): v for k, v in record.items()}
    own = _record_id(values.get("id"))
    if own:
        return own
    attributes = values.get("attributes")
    kind = attributes.get("type") if isinstance(attributes, dict) else None
    found = sobject or (schema(kind) if isinstance(kind, str) else None)
    if found is None:
        return ctx.org.user_id
    if ext is not None and values.get(ext.lower()) not in (None, ""):
        rows = ctx.store.find(found, {ext: values[ext.lower()]}, limit=1)
        if rows:
            return str(rows[0]["Id"])
    for field in found.fields:
        if field.type == "reference":
            parent = _record_id(values.get(field.name.lower()))
            if parent:
                return parent
    return ctx.org.user_id


def _record_id(value: Any) -> str | None:
    return normalize_id(value) if isinstance(value, str) else None
