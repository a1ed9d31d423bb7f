"""Batch writes to HubSpot with one outcome per record.

- Creates go to `batch/create` with a unique `objectWriteTraceId` per input: that is what makes
  HubSpot answer a partial failure with 207 and per-input errors instead of failing the whole
  batch (hubspot-api.md §4). Creates without an external id are not idempotent, so the retry
  layer resends them only when HubSpot certainly did not act (429, lock, no connection).
- Updates go to `batch/update` by record id; upserts (`RecordPatch.match_on`, e.g. `email` or a
  unique property such as `baton_id`) to `batch/upsert`, idempotent by construction, with a
  trace id per input too, so each error of a 207 lands on its own input (by trace id, else by
  the id value it names); an error naming no input is given to a failed input only when it is
  the batch's one error and that input its one failure, never to the others by guess.
- Deletes go to `batch/archive` (204): HubSpot ignores ids unknown or already archived, so a
  delete repeated after a crash succeeds (idempotent).
- A whole-batch refusal (400/409: HubSpot validates every input before writing any) is split in
  halves until the offending records stand alone, so one bad record never sinks 99 good ones;
  each lone refusal becomes an outcome with HubSpot's category, code and message (within a
  budget of halvings: a batch refused for every record is not sent 199 times, see
  `connectors.halving`).
- Lifecycle stage only moves forward in HubSpot. A backward move is *not* refused: it is ignored
  (the answer echoes the old stage). The writer notices from the answer and moves such records
  back in two further writes: clear (`""`), then set (hubspot-api.md §8).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import orjson

from connectors.errors import ConnectorError, PermanentError
from connectors.halving import halving
from connectors.http.classify import parse_vendor_error
from connectors.hubspot.objects import BATCH_SIZE, ObjectSpec
from connectors.hubspot.sdk import HubSpotSdk
from connectors.records import FieldValue, RecordKey, RecordPatch, System, WriteOutcome

LIFECYCLE = "lifecyclestage"
_SPLITTABLE = (400, 409)


def _wire(value: FieldValue) -> str:
    """HubSpot takes every property value as a string; None clears (sent as "")."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _props(fields: Mapping[str, FieldValue]) -> dict[str, str]:
    return {name: _wire(value) for name, value in fields.items()}


def _norm(value: object, *, field: str) -> str:
    text = "" if value is None else str(value).strip()
    return text.lower() if field == "email" else text


@dataclass(frozen=True, slots=True)
class _Refusal:
    code: str | None
    message: str | None
    fields: tuple[str, ...]
    retryable: bool = False


def _refusal_from_error(item: Mapping[str, Any]) -> _Refusal:
    vendor = parse_vendor_error(dict(item))
    details = [d for d in item.get("errors") or [] if isinstance(d, Mapping)]
    code = next((str(d["code"]) for d in details if d.get("code")), None)
    return _Refusal(
        code=code or vendor.code or "ERROR",
        message=vendor.message,
        fields=vendor.fields,
    )


def _refusal_from_exception(exc: ConnectorError) -> _Refusal:
    """The refusal a whole-request error stands for, with HubSpot's detail codes when the
    SDK's exception (chained as the cause) carries the body."""
    body = getattr(exc.__cause__, "body", None)
    if isinstance(body, str | bytes):
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            parsed = None
        if isinstance(parsed, Mapping):
            return replace(_refusal_from_error(parsed), retryable=exc.retryable)
    return _Refusal(
        code=exc.vendor_code or type(exc).__name__,
        message=exc.vendor_message or exc.message,
        fields=(),
        retryable=exc.retryable,
    )


# An outcome and the properties HubSpot echoed for it (None for refusals).
_Result = tuple[WriteOutcome, Mapping[str, Any] | None]
_NO_RESULT = _Refusal("NO_RESULT", "HubSpot returned no result for this input", ())
_UNATTRIBUTED = "UNATTRIBUTED_ERROR"


def _trace(value: object) -> int | None:
    """The input position a trace id we sent (the position, as a string) stands for."""
    text = str(value)
    return int(text) if text.isdigit() else None


def _attribute(
    errors: Sequence[Mapping[str, Any]],
    failed: Sequence[int],
    keys: Mapping[int, tuple[str, str]] | None = None,
) -> dict[int, _Refusal]:
    """The refusal of each failed input (its position): the error whose context names its trace
    id, else the one naming its id value (`keys`: the input's id property and value, as `_norm`
    gives it). An input no error names takes the batch's one error when it is the one failure;
    otherwise a refusal quoting the errors that name no input, none of them pinned on it."""
    mine: dict[int, _Refusal] = {}
    loose: list[_Refusal] = []
    for item in errors:
        context = item.get("context") or {}
        named = {_trace(t) for t in context.get("objectWriteTraceId") or []}
        ids = [str(i) for i in context.get("ids") or []]
        for n, (field, key) in (keys or {}).items():
            if any(_norm(i, field=field) == key for i in ids):
                named.add(n)
        refusal = _refusal_from_error(item)
        hit = [n for n in failed if n in named]
        for n in hit:
            mine.setdefault(n, refusal)
        if not hit:
            loose.append(refusal)
    left = [n for n in failed if n not in mine]
    if not (left and loose):
        return mine
    if len(errors) == 1 and len(failed) == 1:
        mine[left[0]] = loose[0]
        return mine
    said = "; ".join(dict.fromkeys(f"{r.code}: {r.message}" for r in loose))
    unknown = _Refusal(
        _UNATTRIBUTED,
        f"HubSpot refused inputs of this batch without saying which; its errors: {said}",
        (),
    )
    return mine | dict.fromkeys(left, unknown)


class HubSpotWriter:
    """Creates, updates, upserts and deletes (archives) one portal's records, 100 a batch."""

    def __init__(self, sdk: HubSpotSdk, *, batch_size: int = BATCH_SIZE) -> None:
        self.sdk = sdk
        self.batch_size = batch_size

    def write(self, spec: ObjectSpec, patches: Sequence[RecordPatch]) -> list[WriteOutcome]:
        """One outcome per patch, in order: creates, updates and upserts batched separately."""
        results: dict[int, _Result] = {}
        creates = [(i, p) for i, p in enumerate(patches) if not p.key.id and not p.match_on]
        updates = [(i, p) for i, p in enumerate(patches) if p.key.id and not p.match_on]
        upserts = [(i, p) for i, p in enumerate(patches) if p.match_on]
        for group, send in (
            (creates, self._create),
            (updates, self._update),
            (upserts, self._upsert),
        ):
            for start in range(0, len(group), self.batch_size):
                chunk = group[start : start + self.batch_size]
                answered = self._split_on_refusal(spec, [p for _, p in chunk], send)
                results.update(zip((i for i, _ in chunk), answered, strict=True))
        ordered = [results[i] for i in range(len(patches))]
        return self._move_lifecycle_back(spec, ordered)

    def delete(self, spec: ObjectSpec, ids: Sequence[str]) -> list[WriteOutcome]:
        """Archive records (HubSpot's recycling bin) in batches; one outcome per id, in order.

        `batch/archive` answers 204 and ignores ids that are unknown or already archived, so a
        repeated delete succeeds. A whole-batch refusal is split like a write's, down to the
        lone id it is about.
        """
        wanted = list(dict.fromkeys(str(i) for i in ids))
        patches = [RecordPatch(RecordKey(System.HUBSPOT, spec.name, i), {}) for i in wanted]
        done: dict[str, WriteOutcome] = {}
        for start in range(0, len(patches), self.batch_size):
            chunk = patches[start : start + self.batch_size]
            for outcome, _ in self._split_on_refusal(spec, chunk, self._archive):
                done[outcome.patch.key.id] = outcome
        return [done[str(i)] for i in ids]

    # One batch, split on whole-batch refusal

    def _split_on_refusal(
        self, spec: ObjectSpec, patches: list[RecordPatch], send: _Sender
    ) -> list[_Result]:
        def refuse(patch: RecordPatch, exc: PermanentError) -> _Result:
            return (self._refused(patch, _refusal_from_exception(exc)), None)

        halved = halving(
            lambda some: send(spec, some),
            splits=lambda exc: exc.status in _SPLITTABLE,
            refuse=refuse,
        )
        return halved(patches)

    @staticmethod
    def _refused(patch: RecordPatch, refusal: _Refusal, ident: str | None = None) -> WriteOutcome:
        return WriteOutcome(
            patch=patch,
            id=ident or patch.key.id or None,
            error_code=refusal.code,
            error_message=refusal.message,
            retryable=refusal.retryable,
            error_fields=refusal.fields,
        )

    def _batch(
        self, spec: ObjectSpec, verb: str, body: Mapping[str, Any], *, idempotent: bool
    ) -> Mapping[str, Any]:
        reply = self.sdk.call(
            f"{spec.sdk_attr}.batch_api",
            verb,
            dict(body),
            operation=f"{spec.name}.batch_{verb}",
            idempotent=idempotent,
        )
        result: Mapping[str, Any] = reply.body or {}
        return result

    # The three verbs

    def _create(self, spec: ObjectSpec, patches: list[RecordPatch]) -> list[_Result]:
        inputs = [
            {"properties": _props(p.fields), "objectWriteTraceId": str(n)}
            for n, p in enumerate(patches)
        ]
        body = self._batch(spec, "create", {"inputs": inputs}, idempotent=False)
        done: dict[int, _Result] = {}
        for position, raw in enumerate(body.get("results") or []):
            n = _trace(raw.get("objectWriteTraceId", position))
            n = position if n is None else n
            if 0 <= n < len(patches):
                outcome = WriteOutcome(patch=patches[n], id=str(raw["id"]), created=True)
                done[n] = (outcome, raw.get("properties"))
        failed = [n for n in range(len(patches)) if n not in done]
        refused = _attribute(body.get("errors") or [], failed)
        for n in failed:
            done[n] = (self._refused(patches[n], refused.get(n, _NO_RESULT)), None)
        return [done[n] for n in range(len(patches))]

    def _update(self, spec: ObjectSpec, patches: list[RecordPatch]) -> list[_Result]:
        inputs = [{"id": p.key.id, "properties": _props(p.fields)} for p in patches]
        body = self._batch(spec, "update", {"inputs": inputs}, idempotent=True)
        by_id = {str(raw["id"]): raw for raw in body.get("results") or []}
        refused: dict[str, _Refusal] = {}
        for item in body.get("errors") or []:
            for ident in (item.get("context") or {}).get("ids") or []:
                refused[str(ident)] = _refusal_from_error(item)
        out: list[_Result] = []
        for p in patches:
            raw = by_id.get(p.key.id)
            if raw is not None:
                out.append((WriteOutcome(patch=p, id=p.key.id), raw.get("properties")))
            else:
                out.append((self._refused(p, refused.get(p.key.id, _NO_RESULT)), None))
        return out

    def _upsert(self, spec: ObjectSpec, patches: list[RecordPatch]) -> list[_Result]:
        inputs: list[dict[str, Any]] = []
        for n, p in enumerate(patches):
            assert p.match_on is not None
            value = _wire(p.fields.get(p.match_on))
            properties = _props(p.fields)
            if p.match_on == "email":
                # "Partial upserts are not supported when using email as the idProperty".
                properties.setdefault("email", value)
            inputs.append(
                {
                    "id": value,
                    "idProperty": p.match_on,
                    "properties": properties,
                    "objectWriteTraceId": str(n),
                }
            )
        body = self._batch(spec, "upsert", {"inputs": inputs}, idempotent=True)
        keys = {
            n: (field, _norm(p.fields.get(field), field=field))
            for n, p in enumerate(patches)
            for field in [p.match_on or ""]
        }
        done: dict[int, _Result] = {}
        for raw in body.get("results") or []:
            props = raw.get("properties") or {}
            traced = _trace(raw.get("objectWriteTraceId"))
            if traced is not None and traced < len(patches):
                found = [traced]
            else:  # HubSpot need not echo the trace id: the id value it now holds
                found = [
                    n
                    for n, (field, key) in keys.items()
                    if field in props and _norm(props[field], field=field) == key
                ]
            for n in found:
                if n not in done:
                    outcome = WriteOutcome(
                        patch=patches[n], id=str(raw["id"]), created=bool(raw.get("new"))
                    )
                    done[n] = (outcome, raw.get("properties"))
        failed = [n for n in range(len(patches)) if n not in done]
        refused = _attribute(body.get("errors") or [], failed, keys)
        for n in failed:
            done[n] = (self._refused(patches[n], refused.get(n, _NO_RESULT)), None)
        return [done[n] for n in range(len(patches))]

    def _archive(self, spec: ObjectSpec, patches: list[RecordPatch]) -> list[_Result]:
        self._batch(
            spec, "archive", {"inputs": [{"id": p.key.id} for p in patches]}, idempotent=True
        )
        return [(WriteOutcome(patch=p, id=p.key.id), None) for p in patches]

    # Lifecycle stage: forward only, so a backward move is clear-then-set

    def _move_lifecycle_back(self, spec: ObjectSpec, results: list[_Result]) -> list[WriteOutcome]:
        ignored: list[tuple[int, WriteOutcome, str]] = []
        for n, (outcome, echoed) in enumerate(results):
            wanted = outcome.patch.fields.get(LIFECYCLE)
            if not outcome.ok or echoed is None or wanted in (None, "") or outcome.id is None:
                continue
            if LIFECYCLE in echoed and _wire(wanted) != _wire(echoed.get(LIFECYCLE)):
                ignored.append((n, outcome, _wire(wanted)))
        outcomes = [outcome for outcome, _ in results]
        for start in range(0, len(ignored), self.batch_size):
            chunk = ignored[start : start + self.batch_size]
            for step in ("", None):
                patches = [
                    RecordPatch(
                        key=replace(o.patch.key, id=str(o.id)),
                        fields={LIFECYCLE: stage if step is None else step},
                    )
                    for _, o, stage in chunk
                ]
                answered = self._split_on_refusal(spec, patches, self._update)
                for (n, original, _), (second, _echo) in zip(chunk, answered, strict=True):
                    if not second.ok:
                        outcomes[n] = replace(
                            second, patch=original.patch, created=original.created
                        )
        return outcomes


class _Sender(Protocol):
    def __call__(self, spec: ObjectSpec, patches: list[RecordPatch], /) -> list[_Result]: ...
