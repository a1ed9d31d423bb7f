"""Associations v4 between contacts, companies and deals, with HubSpot-defined type ids.

Every link is stored in both directions (HubSpot shows it from either side), and each side
fires its own `*.associationChange` webhook, as HubSpot does. A link always has the unlabeled
(default) type: HubSpot adds it to any associated pair and lists labels such as Primary
"alongside the unlabeled association type" (its v4 guide), so a link made with a label alone
gets it too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from sandbox.hubspot.catalog import ASSOCIATION_TYPES, ObjectType, association_name
from sandbox.hubspot.crm import Crm
from sandbox.hubspot.errors import (
    HubSpotError,
    batch_response,
    json_response,
    not_found,
    validation,
)
from sandbox.hubspot.parsing import integer, json_body, record_id, resolve_type
from sandbox.hubspot.timefmt import iso

HUBSPOT = "HUBSPOT_DEFINED"
MAX_READ, MAX_CREATE = 1_000, 2_000
PRIMARY_IDS = frozenset(p for _, p in ASSOCIATION_TYPES.values() if p is not None)


def _inverse(from_name: str, to_name: str, type_id: int) -> int:
    """The id the same link has when seen from the other side."""
    forward = ASSOCIATION_TYPES.get((from_name, to_name))
    backward = ASSOCIATION_TYPES.get((to_name, from_name))
    if forward and backward:
        if type_id == forward[0]:
            return backward[0]
        if forward[1] is not None and type_id == forward[1] and backward[1] is not None:
            return backward[1]
    return type_id


def _label(type_id: int) -> str | None:
    return "Primary" if type_id in PRIMARY_IDS else None


def _pair_check(a: ObjectType, b: ObjectType) -> tuple[int, int | None]:
    pair = ASSOCIATION_TYPES.get((a.name, b.name))
    if pair is None:
        raise validation(f"No association types between {a.name} and {b.name}")
    return pair


def _live(crm: Crm, t: ObjectType, key: Any) -> int:
    row = crm.lookup(t, str(key))
    if row is None or row.archived:
        raise not_found(f"No {t.singular} with id {key}", ids=[str(key)])
    return row.id


def link(
    crm: Crm,
    a: ObjectType,
    a_id: int,
    b: ObjectType,
    b_id: int,
    types: list[tuple[str, int]],
    *,
    source: str = "API",
) -> list[str]:
    """Store the link both ways for each `(category, typeId)`, with the unlabeled type first
    when only labels are given (see the module docstring); returns the labels."""
    default = ASSOCIATION_TYPES.get((a.name, b.name), (None, None))[0]
    if default is not None and (HUBSPOT, default) not in types:
        types = [(HUBSPOT, default), *types]
    labels: list[str] = []
    for category, type_id in types:
        added = crm.store.associate(a.name, a_id, b.name, b_id, category, type_id)
        back = _inverse(a.name, b.name, type_id) if category == HUBSPOT else type_id
        crm.store.associate(b.name, b_id, a.name, a_id, category, back)
        label = _label(type_id) if category == HUBSPOT else f"label-{type_id}"
        if label:
            labels.append(label)
        if added:
            _announce(crm, a, a_id, b, b_id, type_id, removed=False, source=source)
    return labels


def _announce(
    crm: Crm,
    a: ObjectType,
    a_id: int,
    b: ObjectType,
    b_id: int,
    type_id: int,
    *,
    removed: bool,
    source: str,
) -> None:
    primary = type_id in PRIMARY_IDS
    for x, x_id, y, y_id in ((a, a_id, b, b_id), (b, b_id, a, a_id)):
        crm.events.emit(
            f"{x.singular}.associationChange",
            x_id,
            change_source=source,
            extra={
                "associationType": association_name(x.name, y.name),
                "fromObjectId": x_id,
                "toObjectId": y_id,
                "associationRemoved": removed,
                "isPrimaryAssociation": primary,
            },
        )


def unlink(crm: Crm, a: ObjectType, a_id: int, b: ObjectType, b_id: int) -> None:
    if crm.store.dissociate(a.name, a_id, b.name, b_id):
        crm.store.dissociate(b.name, b_id, a.name, a_id)
        default, _ = ASSOCIATION_TYPES.get((a.name, b.name), (0, None))
        _announce(crm, a, a_id, b, b_id, default, removed=True, source="API")


Specs = list[tuple[str, int]]


def _parse_specs(raw: Any) -> Specs:
    if not isinstance(raw, list) or not raw:
        raise validation("At least one association type is required")
    out = []
    for spec in raw:
        try:
            out.append((str(spec["associationCategory"]), int(spec["associationTypeId"])))
        except (KeyError, TypeError, ValueError) as exc:
            raise validation("Invalid association type") from exc
    return out


def _specs(raw: Any, a: ObjectType, b: ObjectType) -> Specs:
    """Only the HUBSPOT_DEFINED ids of this direction exist here (no custom labels are made)."""
    allowed = _defined(a, b)
    specs = _parse_specs(raw)
    for category, type_id in specs:
        if category != HUBSPOT or type_id not in allowed:
            raise validation(
                f"Association type {type_id} ({category}) is not defined from {a.singular} "
                f"to {b.singular}",
                context={"associationTypeId": [str(type_id)]},
            )
    return specs


def _defined(a: ObjectType, b: ObjectType) -> list[int]:
    """The HUBSPOT_DEFINED type ids from `a` to `b`: the default, then the primary one."""
    return [i for i in ASSOCIATION_TYPES.get((a.name, b.name), ()) if i is not None]


def _type_target(type_id: int, from_name: str) -> str | None:
    for (a, b), (default, primary) in ASSOCIATION_TYPES.items():
        if a == from_name and type_id in (default, primary):
            return b
    return None


Planned = tuple[ObjectType, int, Specs]


def plan_association(crm: Crm, t: ObjectType, association: Any) -> Planned:
    """Check a v3 create input's `associations` entry before the record is written."""
    raw = association.get("types") if isinstance(association, dict) else None
    first = _parse_specs(raw)[0][1]
    target_name = _type_target(first, t.name)
    if target_name is None:
        raise validation(f"Unknown association type {first} from {t.name}")
    target = resolve_type(target_name)
    specs = _specs(raw, t, target)
    to_id = _live(crm, target, (association.get("to") or {}).get("id"))
    return target, to_id, specs


def associate_planned(crm: Crm, t: ObjectType, record_id: int, planned: Planned) -> None:
    target, to_id, specs = planned
    link(crm, t, record_id, target, to_id, specs)


def v3_type_name(a: ObjectType, b: ObjectType, type_id: int) -> str:
    """How v3 reads name a link's type: a pair with a Primary type calls it `contact_to_company`
    and its unlabeled type `contact_to_company_unlabeled` (a primary company is listed once for
    each, as HubSpot's example shows); a pair without one calls the unlabeled type
    `deal_to_contact`."""
    default, primary = ASSOCIATION_TYPES.get((a.name, b.name), (0, None))
    plain = f"{a.singular}_to_{b.singular}"
    if type_id == primary or (type_id == default and primary is None):
        return plain
    return f"{plain}_unlabeled" if type_id == default else str(type_id)


def v3_associations(crm: Crm, t: ObjectType, record_id: int, to: list[str]) -> dict[str, Any]:
    """The v3 `associations` block on a record read (`?associations=companies`)."""
    out: dict[str, Any] = {}
    for name in to:
        target = resolve_type(name)
        rows = crm.store.associations(t.name, record_id, target.name, limit=500)
        results = [
            {"id": str(to_id), "type": v3_type_name(t, target, type_id)}
            for to_id, _category, type_id in rows
        ]
        if results:
            out[target.name] = {"results": results}
    return out


def _type_spec(type_id: int, category: str = HUBSPOT) -> dict[str, Any]:
    """An `AssociationSpecWithLabel`. The unlabeled type carries `"label": null`: HubSpot's
    associations guides say it is "always returned in responses with a label value of null"
    and show it so, in record reads and label lists alike (the spec just types it a string)."""
    label = _label(type_id) if category == HUBSPOT else None
    return {"category": category, "typeId": type_id, "label": label}


def _grouped(rows: list[tuple[int, str, int]]) -> list[dict[str, Any]]:
    grouped: dict[int, list[dict[str, Any]]] = {}
    for to_id, category, type_id in rows:
        grouped.setdefault(to_id, []).append(_type_spec(type_id, category))
    return [{"toObjectId": str(k), "associationTypes": v} for k, v in grouped.items()]


def _ends(crm: Crm, a: ObjectType, b: ObjectType, item: Any) -> tuple[int, int]:
    if not isinstance(item, dict):
        raise validation("Invalid input JSON: every input must be an object")
    return _live(crm, a, (item.get("from") or {}).get("id")), _live(
        crm, b, (item.get("to") or {}).get("id")
    )


def _create_one(crm: Crm, a: ObjectType, b: ObjectType, item: Any) -> dict[str, Any]:
    """One batch/create input, checked whole before anything is linked."""
    a_id, b_id = _ends(crm, a, b, item)
    labels = link(crm, a, a_id, b, b_id, _specs(item.get("types"), a, b))
    return {
        "fromObjectTypeId": a.type_id,
        "fromObjectId": str(a_id),
        "toObjectTypeId": b.type_id,
        "toObjectId": str(b_id),
        "labels": labels,
    }


def _default_one(crm: Crm, a: ObjectType, b: ObjectType, default: int, item: Any) -> dict[str, Any]:
    a_id, b_id = _ends(crm, a, b, item)
    link(crm, a, a_id, b, b_id, [(HUBSPOT, default)])
    return {
        "from": {"id": str(a_id)},
        "to": {"id": str(b_id)},
        "associationSpec": {"associationCategory": HUBSPOT, "associationTypeId": default},
    }


def _each(
    items: list[Any], one: Callable[[Any], dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Apply every valid input; a failed one becomes a `StandardError`, as HubSpot's 207s do."""
    results, errors = [], []
    for item in items:
        try:
            results.append(one(item))
        except HubSpotError as exc:
            errors.append(exc.batch_error())
    return results, errors


def _strip_labels(
    crm: Crm, a: ObjectType, a_id: int, b: ObjectType, b_id: int, specs: Specs
) -> None:
    """Remove labels from one link; the unlabeled (default) type takes the whole link with it."""
    default, _ = ASSOCIATION_TYPES[(a.name, b.name)]
    if any(type_id == default for _, type_id in specs):
        unlink(crm, a, a_id, b, b_id)
        return
    for category, type_id in specs:
        if crm.store.dissociate_type(a.name, a_id, b.name, b_id, category, type_id):
            back = _inverse(a.name, b.name, type_id)
            crm.store.dissociate_type(b.name, b_id, a.name, a_id, category, back)
            _announce(crm, a, a_id, b, b_id, type_id, removed=True, source="API")


def labels_router(crm: Crm) -> APIRouter:
    """The association schema (v4 labels) routes the SDK's `definitions_api` and
    `batch_api.archive_labels` call. Only HUBSPOT_DEFINED types exist, and they are fixed."""
    router = APIRouter()
    labels = "/crm/v4/associations/{from_type}/{to_type}/labels"

    @router.get(labels)
    async def all_labels(from_type: str, to_type: str) -> Response:
        a, b = resolve_type(from_type), resolve_type(to_type)
        return json_response({"results": [_type_spec(i) for i in _defined(a, b)]})

    @router.delete(labels + "/{type_id}", status_code=204)
    async def remove_label(from_type: str, to_type: str, type_id: str) -> Response:
        a, b = resolve_type(from_type), resolve_type(to_type)
        if record_id(type_id) is not None and int(type_id) in _defined(a, b):
            raise validation(f"Association type {type_id} is HubSpot-defined and cannot be deleted")
        raise not_found(f"No association type {type_id} from {a.singular} to {b.singular}")

    @router.post("/crm/v4/associations/{from_type}/{to_type}/batch/labels/archive")
    async def archive_labels(from_type: str, to_type: str, request: Request) -> Response:
        a, b = resolve_type(from_type), resolve_type(to_type)
        _pair_check(a, b)
        plans = []
        for item in (await json_body(request)).get("inputs") or []:
            if not isinstance(item, dict):
                raise validation("Invalid input JSON: every input must be an object")
            specs = _specs(item.get("types"), a, b)  # every input checked before any change
            a_row = crm.lookup(a, str((item.get("from") or {}).get("id", "")))
            b_row = crm.lookup(b, str((item.get("to") or {}).get("id", "")))
            if a_row is not None and b_row is not None:
                plans.append((a_row.id, b_row.id, specs))
        for a_id, b_id, specs in plans:
            _strip_labels(crm, a, a_id, b, b_id, specs)
        return Response(status_code=204)

    return router


def associations_router(crm: Crm) -> APIRouter:
    router = APIRouter()
    base = "/crm/v4/objects/{object_type}/{object_id}/associations"

    @router.put(base + "/default/{to_type}/{to_id}")
    async def put_default(object_type: str, object_id: str, to_type: str, to_id: str) -> Response:
        a, b = resolve_type(object_type), resolve_type(to_type)
        default, _ = _pair_check(a, b)
        a_id, b_id = _live(crm, a, object_id), _live(crm, b, to_id)
        link(crm, a, a_id, b, b_id, [(HUBSPOT, default)])
        now = iso(crm.clock.now_ms())
        results = [
            {
                "from": {"id": str(x_id)},
                "to": {"id": str(y_id)},
                "associationSpec": {"associationCategory": HUBSPOT, "associationTypeId": tid},
            }
            for x_id, y_id, tid in (
                (a_id, b_id, default),
                (b_id, a_id, _inverse(a.name, b.name, default)),
            )
        ]
        body = {"status": "COMPLETE", "results": results, "startedAt": now, "completedAt": now}
        return json_response(body)

    @router.put(base + "/{to_type}/{to_id}", status_code=201)
    async def put_labelled(
        object_type: str, object_id: str, to_type: str, to_id: str, request: Request
    ) -> Response:
        a, b = resolve_type(object_type), resolve_type(to_type)
        _pair_check(a, b)
        raw = (await request.body()) or b"[]"
        specs = _specs(orjson.loads(raw), a, b)
        a_id, b_id = _live(crm, a, object_id), _live(crm, b, to_id)
        labels = link(crm, a, a_id, b, b_id, specs)
        body = {
            "fromObjectTypeId": a.type_id,
            "fromObjectId": str(a_id),
            "toObjectTypeId": b.type_id,
            "toObjectId": str(b_id),
            "labels": labels,
        }
        return json_response(body, 201)

    @router.delete(base + "/{to_type}/{to_id}", status_code=204)
    async def delete_association(
        object_type: str, object_id: str, to_type: str, to_id: str
    ) -> Response:
        a, b = resolve_type(object_type), resolve_type(to_type)
        a_id, b_id = _live(crm, a, object_id), _live(crm, b, to_id)
        unlink(crm, a, a_id, b, b_id)
        return Response(status_code=204)

    @router.get(base + "/{to_type}")
    async def list_associations(
        object_type: str, object_id: str, to_type: str, request: Request
    ) -> Response:
        a, b = resolve_type(object_type), resolve_type(to_type)
        a_id = _live(crm, a, object_id)
        limit = max(1, min(integer(request, "limit", 500), 500))
        after = integer(request, "after", 0)
        rows = crm.store.associations(a.name, a_id, b.name, after=after, limit=limit + 1)
        grouped = _grouped(rows)
        body: dict[str, Any] = {"results": grouped[:limit]}
        if len(grouped) > limit:
            nxt = grouped[limit]["toObjectId"]
            body["paging"] = {
                "next": {"after": nxt, "link": str(request.url.include_query_params(after=nxt))}
            }
        return json_response(body)

    batch = "/crm/v4/associations/{from_type}/{to_type}/batch"

    @router.post(batch + "/read")
    async def batch_read(from_type: str, to_type: str, request: Request) -> Response:
        a, b = resolve_type(from_type), resolve_type(to_type)
        started = iso(crm.clock.now_ms())
        items = (await json_body(request)).get("inputs") or []
        if len(items) > MAX_READ:
            raise validation(f"The maximum number of inputs is {MAX_READ}")
        results, missing = [], []
        for item in items:
            key = str((item or {}).get("id", ""))
            row = crm.lookup(a, key)
            if row is None or row.archived:
                missing.append(key)
                continue
            grouped = _grouped(crm.store.associations(a.name, row.id, b.name, limit=10_000))
            if not grouped:
                missing.append(key)
                continue
            results.append({"from": {"id": key}, "to": grouped})
        body: dict[str, Any] = {"status": "COMPLETE", "results": results}
        if missing:
            body["numErrors"] = len(missing)
            body["errors"] = [
                {
                    "status": "error",
                    "category": "OBJECT_NOT_FOUND",
                    "message": f"No {b.name} is associated with {a.singular} {key}.",
                    "context": {"fromObjectId": [key]},
                    "errors": [],
                    "links": {},
                }
                for key in missing
            ]
        body["startedAt"] = started
        body["completedAt"] = iso(crm.clock.now_ms())
        return json_response(body, 207 if missing else 200)

    @router.post(batch + "/create", status_code=201)
    async def batch_create(from_type: str, to_type: str, request: Request) -> Response:
        a, b = resolve_type(from_type), resolve_type(to_type)
        _pair_check(a, b)
        started = iso(crm.clock.now_ms())
        items = (await json_body(request)).get("inputs") or []
        if len(items) > MAX_CREATE:
            raise validation(f"The maximum number of inputs is {MAX_CREATE}")
        results, errors = _each(items, lambda item: _create_one(crm, a, b, item))
        completed = iso(crm.clock.now_ms())
        status = 207 if errors else 201
        return batch_response(results, errors, started=started, completed=completed, status=status)

    @router.post(batch + "/associate/default")
    async def batch_default(from_type: str, to_type: str, request: Request) -> Response:
        a, b = resolve_type(from_type), resolve_type(to_type)
        default, _ = _pair_check(a, b)
        started = iso(crm.clock.now_ms())
        items = (await json_body(request)).get("inputs") or []
        results, errors = _each(items, lambda item: _default_one(crm, a, b, default, item))
        completed = iso(crm.clock.now_ms())  # the spec knows only 200, errors or not
        return batch_response(results, errors, started=started, completed=completed, status=200)

    @router.post(batch + "/archive", status_code=204)
    async def batch_archive(from_type: str, to_type: str, request: Request) -> Response:
        a, b = resolve_type(from_type), resolve_type(to_type)
        items = (await json_body(request)).get("inputs") or []
        if not all(isinstance(item, dict) for item in items):  # refuse before unlinking any
            raise validation("Invalid input JSON: every input must be an object")
        for item in items:
            a_row = crm.lookup(a, str((item.get("from") or {}).get("id", "")))
            if a_row is None:
                continue
            for target in item.get("to") or []:
                b_row = crm.lookup(b, str((target or {}).get("id", "")))
                if b_row is not None:
                    unlink(crm, a, a_row.id, b, b_row.id)
        return Response(status_code=204)

    router.include_router(labels_router(crm))
    return router
