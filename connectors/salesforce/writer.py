"""Writing Salesforce records: sObject Collections per 200, Bulk API 2.0 above a threshold.

Each patch is one of three writes, decided by the patch itself:

- upsert (`match_on` set): `PATCH composite/sobjects/{SObject}/{ExtIdField}`; idempotent, so
  a retried call can never create a duplicate;
- update (`key.id` set): `PATCH composite/sobjects` with the record's `id`;
- create (neither): `POST composite/sobjects`; not idempotent, so it is retried only when the
  org certainly did not act (a rate limit, a connection never made).

Calls carry at most 200 records with `allOrNone: false`, and the per-record results (input
order, salesforce-api.md §3.3) become `WriteOutcome`s in the patches' order. A record refused
with UNABLE_TO_LOCK_ROW is sent again (another transaction held the row); anything else
refused (validation rules, duplicates, required fields) is an outcome carrying the vendor's
`statusCode`, message and fields; a whole call refused with 400 (a value that does not parse)
is halved and sent again, down to the record it is about. Batches of upserts or updates
larger than `bulk_threshold` go through one Bulk 2.0 upsert job instead, its failedResults
parsed into the same outcomes; a job that ended Failed or Aborted is read the same way (what
it wrote stays written), its unprocessed rows sent again later under the job's own error.

Deletes go to `DELETE composite/sobjects?ids=...&allOrNone=false` per 200 ids (to the recycle
bin). A record already deleted (ENTITY_IS_DELETED) or gone for good (NOT_FOUND) counts as
deleted, so a delete repeated after a crash succeeds.
"""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from connectors.errors import PermanentError
from connectors.halving import halving
from connectors.records import FieldValue, RecordKey, RecordPatch, System, WriteOutcome
from connectors.salesforce.objects import COLLECTION_SIZE, ID_FIELD, ObjectSpec
from connectors.salesforce.sdk import WRITE_KIND, SalesforceSdk
from connectors.salesforce.soql import identifier

LOCKED = "UNABLE_TO_LOCK_ROW"
NOT_WRITABLE = "BATON_FIELD_NOT_WRITABLE"  # refused before any call: not in the object table
UNPROCESSED = "UNPROCESSED"  # a completed Bulk job's row in neither result file
BULK_NULL = "#N/A"  # Bulk API 2.0: an empty cell leaves a field alone, #N/A sets it to null
_QUOTE_WHEN = frozenset(',"\r\n')  # a Bulk CSV field holding any of these is quoted
_TRANSIENT_CODES = frozenset({LOCKED})
_GONE_CODES = frozenset({"ENTITY_IS_DELETED", "NOT_FOUND"})  # a delete finds nothing to do
_RECORD_ID = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")
# Whole-request refusals that may be about one record (a value that does not parse, an id that
# is not one): the request is halved until the record is found (`_halving`).
_WRITE_SPLITTABLE = frozenset({400})
_DELETE_SPLITTABLE = frozenset({400, 404})

_Send = Callable[[list[RecordPatch]], list[WriteOutcome]]


@dataclass(frozen=True, slots=True)
class _Group:
    """Patches sharing one endpoint: (method, path) and how to shape each record."""

    method: str
    path: str
    match_on: str | None
    idempotent: bool


def _group_of(spec: ObjectSpec, patch: RecordPatch) -> _Group:
    if patch.match_on:
        ext = identifier(patch.match_on)
        return _Group("PATCH", f"composite/sobjects/{spec.name}/{ext}", ext, True)
    if patch.key.id:
        return _Group("PATCH", "composite/sobjects", None, True)
    return _Group("POST", "composite/sobjects", None, False)


def _body(spec: ObjectSpec, patch: RecordPatch, group: _Group) -> dict[str, Any]:
    record: dict[str, Any] = {"attributes": {"type": spec.name}}
    if group.method == "PATCH" and group.match_on is None:
        record["id"] = patch.key.id
    record.update(patch.fields)
    return record


def _refused(
    patch: RecordPatch, code: str, message: str, fields: Sequence[str] = ()
) -> WriteOutcome:
    return WriteOutcome(
        patch=patch,
        id=patch.key.id or None,
        error_code=code,
        error_message=message,
        retryable=code in _TRANSIENT_CODES,
        error_fields=tuple(fields),
    )


def _halving(send: _Send, statuses: frozenset[int]) -> _Send:
    """`send`, with a whole-request refusal (one of `statuses`) halved down to the records it
    is about (`connectors.halving`), each refused with the vendor's code and message: one bad
    record costs only itself, not the other 199 of its call.

    Safe for creates too: a whole-request 400 means the org acted on none of them."""

    def refuse(patch: RecordPatch, exc: PermanentError) -> WriteOutcome:
        code = exc.vendor_code or "UNKNOWN_EXCEPTION"
        return _refused(patch, code, exc.vendor_message or exc.message)

    return halving(send, splits=lambda exc: exc.status in statuses, refuse=refuse)


def outcome_from_result(patch: RecordPatch, result: Any, *, create: bool = False) -> WriteOutcome:
    """One collections result (`{id, success, errors:[{statusCode, message, fields}]}`).

    Only upsert results say `created`; a successful create (`create=True`) made the record.
    """
    if not isinstance(result, dict):
        return _refused(patch, "UNEXPECTED_RESULT", f"unexpected result {result!r}")
    record_id = result.get("id") or patch.key.id or None
    if result.get("success") is True:
        created = bool(result.get("created", create))
        return WriteOutcome(patch=patch, id=record_id, created=created)
    errors = result.get("errors") or [{}]
    first = errors[0] if isinstance(errors[0], dict) else {}
    fields = first.get("fields") or ()
    outcome = _refused(
        patch,
        str(first.get("statusCode") or "UNKNOWN_EXCEPTION"),
        str(first.get("message") or ""),
        [str(f) for f in fields],
    )
    return replace(outcome, id=record_id)


def parse_bulk_error(text: str) -> tuple[str, str, tuple[str, ...]]:
    """`CODE:message:Field1,Field2 --` (Bulk `sf__Error`) -> (code, message, fields)."""
    code, _, rest = text.partition(":")
    message, fields = rest, ""
    stripped = rest.rstrip()
    if stripped.endswith("--") and ":" in stripped:
        message, _, fields = stripped.rpartition(":")
    names = tuple(f.strip() for f in fields.removesuffix("--").split(",") if f.strip())
    return code.strip() or "UNKNOWN_EXCEPTION", message.strip(), names


class Writer:
    """Writes one org's records through `SalesforceSdk`.

    Args:
        sdk: the one request path.
        bulk_threshold: batches of upserts/updates larger than this use Bulk API 2.0.
        lock_retries: how many more times a record refused for a row lock is sent.
        sleep: waits between lock retries (injectable for tests).
    """

    def __init__(
        self,
        sdk: SalesforceSdk,
        *,
        bulk_threshold: int,
        lock_retries: int = 3,
        lock_wait_s: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._sdk = sdk
        self._bulk_threshold = bulk_threshold
        self._lock_retries = lock_retries
        self._lock_wait_s = lock_wait_s
        self._sleep = sleep

    def write(self, spec: ObjectSpec, patches: Sequence[RecordPatch]) -> list[WriteOutcome]:
        """One outcome per patch, in order."""
        outcomes: list[WriteOutcome | None] = [None] * len(patches)
        groups: dict[_Group, list[int]] = {}
        for index, patch in enumerate(patches):
            refused = self._check(spec, patch)
            if refused is not None:
                outcomes[index] = refused
                continue
            groups.setdefault(_group_of(spec, patch), []).append(index)
        for group, indexes in groups.items():
            sends = [(indexes, self._collections)]
            if group.idempotent and len(indexes) > self._bulk_threshold:
                # Bulk reads a "#N/A" cell as null: text that says it goes by Collections.
                literal = {i for i in indexes if _says_bulk_null(patches[i])}
                bulk = [i for i in indexes if i not in literal]
                sends = [(bulk, self._bulk), (sorted(literal), self._collections)]
            for chosen, send in sends:
                if not chosen:
                    continue
                results = send(spec, group, [patches[i] for i in chosen])
                for index, outcome in zip(chosen, results, strict=True):
                    outcomes[index] = outcome
        return [o for o in outcomes if o is not None]

    def delete(self, spec: ObjectSpec, ids: Sequence[str]) -> list[WriteOutcome]:
        """One outcome per id, in order; an id that is not a record id is refused up front."""
        wanted = list(dict.fromkeys(ids))
        patches = [RecordPatch(RecordKey(System.SALESFORCE, spec.name, i), {}) for i in wanted]
        done: dict[str, WriteOutcome] = {}
        valid: list[RecordPatch] = []
        for patch in patches:
            if _RECORD_ID.fullmatch(patch.key.id):
                valid.append(patch)
            else:
                done[patch.key.id] = _refused(patch, "MALFORMED_ID", "not a record id", ["Id"])
        for start in range(0, len(valid), COLLECTION_SIZE):
            chunk = valid[start : start + COLLECTION_SIZE]
            send = _halving(lambda p: self._send_delete(spec, p), _DELETE_SPLITTABLE)
            for outcome in self._with_lock_retries(chunk, send):
                done[outcome.patch.key.id] = outcome
        return [done[i] for i in ids]

    def _send_delete(self, spec: ObjectSpec, patches: list[RecordPatch]) -> list[WriteOutcome]:
        """One collections delete."""
        ids = ",".join(p.key.id for p in patches)
        reply = self._sdk.restful(
            f"composite/sobjects?ids={ids}&allOrNone=false",
            method="DELETE",
            operation=f"{spec.name}.collections.delete",
            kind=WRITE_KIND,
            idempotent=True,
        )
        rows = reply if isinstance(reply, list) else []
        if len(rows) != len(patches):
            return [
                _refused(p, "UNEXPECTED_RESULT", "collections answered with the wrong count")
                for p in patches
            ]
        outcomes = [outcome_from_result(p, r) for p, r in zip(patches, rows, strict=True)]
        return [
            WriteOutcome(patch=o.patch, id=o.patch.key.id) if o.error_code in _GONE_CODES else o
            for o in outcomes
        ]

    def _check(self, spec: ObjectSpec, patch: RecordPatch) -> WriteOutcome | None:
        allowed = {*spec.writable, *((spec.external_id,) if spec.external_id else ())}
        extra = sorted(f for f in patch.fields if f not in allowed)
        if extra:
            return _refused(
                patch,
                NOT_WRITABLE,
                f"not writable on {spec.name} per Baton's object table: {', '.join(extra)}",
                extra,
            )
        if patch.match_on and patch.match_on != spec.external_id:
            return _refused(
                patch,
                NOT_WRITABLE,
                f"{spec.name} has no external id {patch.match_on} in Baton's object table",
                [patch.match_on],
            )
        if patch.match_on and patch.fields.get(patch.match_on) in (None, ""):
            return _refused(
                patch,
                "MISSING_ARGUMENT",
                f"upsert on {patch.match_on} needs a value for it",
                [patch.match_on],
            )
        return None

    # sObject Collections

    def _collections(
        self, spec: ObjectSpec, group: _Group, patches: list[RecordPatch]
    ) -> list[WriteOutcome]:
        outcomes: list[WriteOutcome] = []
        for start in range(0, len(patches), COLLECTION_SIZE):
            outcomes.extend(self._batch(spec, group, patches[start : start + COLLECTION_SIZE]))
        return outcomes

    def _batch(
        self, spec: ObjectSpec, group: _Group, patches: list[RecordPatch]
    ) -> list[WriteOutcome]:
        send = _halving(lambda p: self._send(spec, group, p), _WRITE_SPLITTABLE)
        return self._with_lock_retries(patches, send)

    def _with_lock_retries(self, patches: list[RecordPatch], send: _Send) -> list[WriteOutcome]:
        """Send, then send again the records refused for a row lock (with backoff)."""
        results: list[WriteOutcome] = send(patches)
        for attempt in range(self._lock_retries):
            locked = [i for i, o in enumerate(results) if o.error_code == LOCKED]
            if not locked:
                break
            self._sleep(self._lock_wait_s * 2**attempt)
            again = send([patches[i] for i in locked])
            for i, outcome in zip(locked, again, strict=True):
                results[i] = outcome
        return results

    def _send(
        self, spec: ObjectSpec, group: _Group, patches: list[RecordPatch]
    ) -> list[WriteOutcome]:
        body = {"allOrNone": False, "records": [_body(spec, p, group) for p in patches]}
        verb = "upsert" if group.match_on else ("update" if group.method == "PATCH" else "create")
        reply = self._sdk.restful(
            group.path,
            method=group.method,
            json=body,
            operation=f"{spec.name}.collections.{verb}",
            kind=WRITE_KIND,
            idempotent=group.idempotent,
        )
        rows = reply if isinstance(reply, list) else []
        if len(rows) != len(patches):
            return [
                _refused(p, "UNEXPECTED_RESULT", "collections answered with the wrong count")
                for p in patches
            ]
        create = group.method == "POST" and group.match_on is None
        return [
            outcome_from_result(p, r, create=create) for p, r in zip(patches, rows, strict=True)
        ]

    # Bulk API 2.0

    def _bulk(
        self, spec: ObjectSpec, group: _Group, patches: list[RecordPatch]
    ) -> list[WriteOutcome]:
        match_on = group.match_on or ID_FIELD
        columns = list(dict.fromkeys(f for p in patches for f in p.fields))
        if match_on not in columns:
            columns.insert(0, match_on)
        text = _to_csv(columns, (_row(p, match_on) for p in patches))
        result = self._sdk.bulk_ingest(
            spec.name,
            text,
            operation_name="upsert",
            external_id=match_on,
            operation=f"{spec.name}.bulkUpsert",
        )
        left = result.ended or (UNPROCESSED, "Bulk API 2.0 did not process it")
        return _bulk_outcomes(patches, match_on, result.successful_csv, result.failed_csv, left)


def _says_bulk_null(patch: RecordPatch) -> bool:
    """Whether a value is text a Bulk job would take for its null marker (and clear)."""
    return any(isinstance(v, str) and v.strip() == BULK_NULL for v in patch.fields.values())


def _row(patch: RecordPatch, match_on: str) -> dict[str, FieldValue]:
    row = dict(patch.fields)
    if match_on == ID_FIELD:
        row[ID_FIELD] = patch.key.id
    return row


def _cell(value: FieldValue) -> str:
    if value is None:
        return BULK_NULL
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _quoted(text: str) -> str:
    """A CSV field, quoted when it holds the delimiter, a quote or either line-break character.
    Written by hand: the csv module quotes only its own line terminator's characters, so with
    LF rows a lone CR went out bare, and Salesforce's parser ends a row at it."""
    if _QUOTE_WHEN.isdisjoint(text):
        return text
    return '"' + text.replace('"', '""') + '"'


def _to_csv(columns: list[str], rows: Iterator[dict[str, FieldValue]]) -> str:
    """The job's CSV: comma-delimited (the job's default), LF rows (`lineEnding` LF)."""
    lines = [",".join(_quoted(c) for c in columns)]
    for row in rows:
        lines.append(",".join(_quoted(_cell(row[c])) if c in row else "" for c in columns))
    return "\n".join(lines) + "\n"


def _bulk_outcomes(
    patches: list[RecordPatch],
    match_on: str,
    successful: str,
    failed: str,
    unprocessed: tuple[str, str],
) -> list[WriteOutcome]:
    """Join Bulk result rows back to patches by the match value (results are unordered).

    A patch in neither file was not processed: sent again later (an upsert, so repeating it
    is safe), carrying `unprocessed` (code, message) -- the job's own error when it ended
    Failed or Aborted."""

    def key(patch: RecordPatch) -> str:
        return str(patch.key.id if match_on == ID_FIELD else patch.fields.get(match_on))

    by_key: dict[str, WriteOutcome] = {}
    for row in csv.DictReader(io.StringIO(successful, newline="")):
        by_key[row.get(match_on, "")] = WriteOutcome(
            patch=patches[0], id=row.get("sf__Id") or None, created=row.get("sf__Created") == "true"
        )
    for row in csv.DictReader(io.StringIO(failed, newline="")):
        code, message, fields = parse_bulk_error(row.get("sf__Error") or "")
        by_key[row.get(match_on, "")] = WriteOutcome(
            patch=patches[0],
            id=row.get("sf__Id") or None,
            error_code=code,
            error_message=message,
            retryable=code in _TRANSIENT_CODES,
            error_fields=fields,
        )
    outcomes: list[WriteOutcome] = []
    for patch in patches:
        found = by_key.get(key(patch))
        if found is None:
            outcomes.append(replace(_refused(patch, *unprocessed), retryable=True))
        else:
            outcomes.append(replace(found, patch=patch))
    return outcomes
