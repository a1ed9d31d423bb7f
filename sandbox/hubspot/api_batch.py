"""CRM v3 batch routes: read, create, update, upsert, archive (≤100 inputs each).

Partial failures answer 207 with `numErrors`/`errors`. Batch create is all-or-nothing (400/409)
unless every input carries an `objectWriteTraceId`, in which case failures are reported per
input in a 207, as HubSpot's error-handling guide describes: each error's
`context.objectWriteTraceId` names its input, and each result echoes its trace id. Batch upsert
is treated alike: the guide describes only create, but the spec gives upsert inputs and results
the same `objectWriteTraceId` and upsert the same 207 `...WithErrors` answer.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from sandbox.hubspot.api_objects import BASE, written
from sandbox.hubspot.associations import Planned, associate_planned, plan_association
from sandbox.hubspot.catalog import ObjectType
from sandbox.hubspot.crm import Crm
from sandbox.hubspot.errors import (
    HubSpotError,
    batch_response,
    not_found,
    validation,
)
from sandbox.hubspot.parsing import flag, inputs, json_body, names, record_id, resolve_type
from sandbox.hubspot.store import Row
from sandbox.hubspot.timefmt import iso
from sandbox.hubspot.validation import validate

MAX_HISTORY_INPUTS = 50


def _batch(
    results: list[dict[str, Any]],
    errors: list[dict[str, Any]],
    started: str,
    completed: str,
    ok_status: int = 200,
) -> Response:
    status = 207 if errors else ok_status
    return batch_response(results, errors, started=started, completed=completed, status=status)


def _missing(t: ObjectType, ids: list[str], verb: str = "get") -> dict[str, Any]:
    return {
        "status": "error",
        "category": "OBJECT_NOT_FOUND",
        "message": f"Could not {verb} some {t.singular.upper()} objects, they may be deleted or "
        "not exist. Check that ids are valid.",
        "context": {"ids": ids},
        "errors": [],
        "links": {},
    }


def _unique_ids(items: list[dict[str, Any]]) -> None:
    """HubSpot refuses a batch update or upsert that names one record twice, before touching
    any (an address named twice in different cases is one record)."""
    seen: set[tuple[str, str]] = set()
    repeated: list[str] = []
    for item in items:
        id_property = str(item.get("idProperty") or "hs_object_id")
        raw = str(item.get("id", ""))
        value = raw.strip().lower() if id_property == "email" else raw
        key = (id_property, value)
        if key in seen and value not in repeated:
            repeated.append(value)
        seen.add(key)
    if repeated:
        raise validation(
            f"Duplicate IDs found in batch input: [{', '.join(repeated)}]. IDs must be unique",
            context={"ids": repeated},
        )


def batch_router(crm: Crm) -> APIRouter:
    router = APIRouter()

    def now() -> str:
        return iso(crm.clock.now_ms())

    @router.post(BASE + "/batch/read")
    async def batch_read(object_type: str, request: Request) -> Response:
        t = resolve_type(object_type)
        started = now()
        body = await json_body(request)
        items = inputs(body)
        id_property = body.get("idProperty")
        props = names(body.get("properties"))
        history = names(body.get("propertiesWithHistory")) or []
        if history and len(items) > MAX_HISTORY_INPUTS:
            raise validation(
                "The maximum number of inputs supported in a batch request for property "
                f"histories is {MAX_HISTORY_INPUTS}. Please reduce the number of items and "
                "try again"
            )
        archived = flag(request, "archived")
        rows: dict[str, Row] = {}
        if not id_property or id_property == "hs_object_id":
            keys = [str(i.get("id", "")) for i in items]
            numbers = {k: record_id(k) for k in keys}
            found = crm.store.get_many(t.name, [n for n in numbers.values() if n is not None])
            for key in keys:
                number = numbers[key]
                row = found.get(number) if number is not None else None
                if row is not None and row.merged_into is not None:
                    row = crm.resolve(t, row.id)
                if row is not None and row.archived == archived:
                    rows[key] = row
        else:
            keys = [str(i.get("id", "")) for i in items]
            for key in keys:
                row = crm.lookup(t, key, id_property=id_property)
                if row is not None and row.archived == archived:
                    rows[key] = row
        seen: set[int] = set()
        results = []
        for key in keys:
            row = rows.get(key)
            if row is not None and row.id not in seen:
                seen.add(row.id)
                results.append(crm.render(t, row, props, history))
        missing = [k for k in keys if k not in rows]
        errors = [_missing(t, missing)] if missing else []
        return _batch(results, errors, started, now())

    @router.post(BASE + "/batch/create", status_code=201)
    async def batch_create(object_type: str, request: Request) -> Response:
        t = resolve_type(object_type)
        started = now()
        items = inputs(await json_body(request))
        traced = bool(items) and all(i.get("objectWriteTraceId") for i in items)
        failures: list[dict[str, Any]] = []
        good: list[tuple[dict[str, Any], list[Planned]]] = []
        emails: set[str] = set()
        for item in items:
            try:
                values = validate(crm.registry, t.name, item.get("properties") or {}, creating=True)
                crm.check_unique(t, values, None)
                email = values.get("email")
                if email:
                    if email in emails:
                        raise validation(f"Duplicate email in batch: {email}")
                    emails.add(email)
                plans = [plan_association(crm, t, a) for a in item.get("associations") or []]
                good.append((item, plans))
            except HubSpotError as exc:
                if not traced:
                    raise
                failures.append(_traced_error(exc, item))
        results = []
        for item, plans in good:
            row = crm.create(t, item.get("properties") or {})
            for planned in plans:
                associate_planned(crm, t, row.id, planned)
            rendered = crm.render(t, row, written(t, item.get("properties")))
            if item.get("objectWriteTraceId"):
                rendered["objectWriteTraceId"] = str(item["objectWriteTraceId"])
            results.append(rendered)
        return _batch(results, failures, started, now(), ok_status=201)

    @router.post(BASE + "/batch/update")
    async def batch_update(object_type: str, request: Request) -> Response:
        t = resolve_type(object_type)
        started = now()
        items = inputs(await json_body(request))
        _unique_ids(items)
        targets: list[tuple[Row, dict[str, Any]]] = []
        missing: list[str] = []
        for item in items:
            key = str(item.get("id", ""))
            props = item.get("properties")
            if not isinstance(props, dict):
                raise validation("Invalid input JSON: every input needs 'properties'")
            validate(crm.registry, t.name, props, creating=False)
            id_property = item.get("idProperty")
            if id_property:
                row = crm.lookup(t, key, id_property=id_property)
            else:  # batch update takes live ids only, not merged-away ones
                number = record_id(key)
                row = crm.store.get(t.name, number) if number is not None else None
            if row is None or row.archived or row.merged_into is not None:
                missing.append(key)
            else:
                targets.append((row, props))
        results = [
            crm.render(t, crm.update(t, row, props), written(t, props)) for row, props in targets
        ]
        errors = [_missing(t, missing, "update")] if missing else []
        return _batch(results, errors, started, now())

    @router.post(BASE + "/batch/upsert")
    async def batch_upsert(object_type: str, request: Request) -> Response:
        t = resolve_type(object_type)
        started = now()
        items = inputs(await json_body(request))
        _unique_ids(items)
        traced = bool(items) and all(i.get("objectWriteTraceId") for i in items)
        if not traced:  # all or nothing: validate every input before writing any
            for item in items:
                validate(crm.registry, t.name, item.get("properties") or {}, creating=True)
        results = []
        failures: list[dict[str, Any]] = []
        for item in items:
            try:
                results.append(upsert_one(t, item))
            except HubSpotError as exc:
                if not traced:
                    raise
                failures.append(_traced_error(exc, item))
        return _batch(results, failures, started, now())

    def upsert_one(t: ObjectType, item: dict[str, Any]) -> dict[str, Any]:
        key = str(item.get("id", ""))
        id_property = item.get("idProperty") or "hs_object_id"
        props = dict(item.get("properties") or {})
        validate(crm.registry, t.name, props, creating=True)
        row = crm.lookup(t, key, id_property=id_property)
        if row is not None and row.archived:
            row = None
        if row is None:
            if id_property == "hs_object_id":
                raise not_found(f"Object not found. objectId: {key}")
            props.setdefault(id_property, key)
            row, new = crm.create(t, props), True
        else:
            row, new = crm.update(t, row, props), False
        rendered = crm.render(t, row, written(t, props))
        # SimplePublicUpsertObject's property values are not nullable: unset ones are left out
        rendered["properties"] = {k: v for k, v in rendered["properties"].items() if v is not None}
        rendered["new"] = new
        if item.get("objectWriteTraceId"):
            rendered["objectWriteTraceId"] = str(item["objectWriteTraceId"])
        return rendered

    @router.post(BASE + "/batch/archive", status_code=204)
    async def batch_archive(object_type: str, request: Request) -> Response:
        t = resolve_type(object_type)
        for item in inputs(await json_body(request)):
            key = str(item.get("id", ""))
            row = crm.lookup(t, key)
            if row is not None and not row.archived:
                crm.archive(t, row)
        return Response(status_code=204)

    return router


def _traced_error(exc: HubSpotError, item: dict[str, Any]) -> dict[str, Any]:
    """One input's failure in a 207, named by the trace id the input carried."""
    error = exc.batch_error()
    error["context"] = {"objectWriteTraceId": [str(item["objectWriteTraceId"])]}
    return error
