"""CRM v3 object routes: list, get, create, update, archive, merge, GDPR delete, search."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from sandbox.hubspot.associations import associate_planned, plan_association, v3_associations
from sandbox.hubspot.catalog import ObjectType
from sandbox.hubspot.crm import Crm
from sandbox.hubspot.errors import json_response, not_found, object_not_found, validation
from sandbox.hubspot.parsing import (
    flag,
    integer,
    json_body,
    listed,
    names,
    record_id,
    resolve_type,
)
from sandbox.hubspot.search import SearchEngine, refuse_unbuildable_filters
from sandbox.hubspot.store import Row

BASE = "/crm/v3/objects/{object_type}"
MAX_PAGE = 100
MAX_HISTORY_PAGE = 50  # pages carrying property history are smaller (the SDK asks for 50)
MAX_SEARCH_BODY = 3_000  # characters; HubSpot answers 400 past this


def written(t: ObjectType, properties: Any) -> list[str]:
    """A write's answer shows the defaults plus every property the request named."""
    return list(dict.fromkeys([*t.defaults, *(properties or {})]))


def _link(request: Request, after: str) -> str:
    return str(request.url.include_query_params(after=after))


def objects_router(crm: Crm, engine: SearchEngine) -> APIRouter:
    router = APIRouter()

    def with_associations(t: ObjectType, row: Row, body: dict[str, Any], to: list[str]) -> None:
        found = v3_associations(crm, t, row.id, to)
        if found:
            body["associations"] = found

    @router.get(BASE)
    async def list_objects(object_type: str, request: Request) -> Response:
        t = resolve_type(object_type)
        history = listed(request, "propertiesWithHistory")
        limit = max(
            1, min(integer(request, "limit", 10), MAX_HISTORY_PAGE if history else MAX_PAGE)
        )
        after = request.query_params.get("after") or "0"
        start = record_id(after)
        if start is None:
            raise validation(f"Invalid 'after' value: {after}")
        rows = crm.store.page(t.name, start, limit + 1, archived=flag(request, "archived"))
        props = listed(request, "properties") or None
        to = listed(request, "associations")
        results = []
        for row in rows[:limit]:
            body = crm.render(t, row, props, history)
            if to:
                with_associations(t, row, body, to)
            results.append(body)
        answer: dict[str, Any] = {"results": results}
        if len(rows) > limit:
            nxt = str(rows[limit].id)
            answer["paging"] = {"next": {"after": nxt, "link": _link(request, nxt)}}
        return json_response(answer)

    @router.post(BASE, status_code=201)
    async def create_object(object_type: str, request: Request) -> Response:
        t = resolve_type(object_type)
        body = await json_body(request)
        plans = [plan_association(crm, t, a) for a in body.get("associations") or []]
        row = crm.create(t, body.get("properties") or {})
        for planned in plans:
            associate_planned(crm, t, row.id, planned)
        return json_response(crm.render(t, row, written(t, body.get("properties"))), 201)

    @router.post(BASE + "/search")
    async def search_objects(object_type: str, request: Request) -> Response:
        t = resolve_type(object_type)
        raw = await request.body()
        if len(raw) > MAX_SEARCH_BODY:
            raise validation(
                f"There was a problem with the request. The request body is over the "
                f"{MAX_SEARCH_BODY}-character limit for search requests."
            )
        body = await json_body(request)
        refuse_unbuildable_filters(raw, body)
        page = engine.search(t, body)
        props = names(body.get("properties"))
        answer: dict[str, Any] = {
            "total": page.total,
            "results": [crm.render(t, row, props) for row in page.rows],
        }
        if page.next_after is not None:
            answer["paging"] = {"next": {"after": str(page.next_after)}}
        return json_response(answer)

    @router.post(BASE + "/merge")
    async def merge_objects(object_type: str, request: Request) -> Response:
        t = resolve_type(object_type)
        body = await json_body(request)
        primary, other = body.get("primaryObjectId"), body.get("objectIdToMerge")
        if primary is None or other is None:
            raise validation("primaryObjectId and objectIdToMerge are required")
        row = crm.merge(t, str(primary), str(other))
        return json_response(crm.render(t, row, None))

    @router.post(BASE + "/gdpr-delete", status_code=204)
    async def gdpr_delete(object_type: str, request: Request) -> Response:
        t = resolve_type(object_type)
        body = await json_body(request)
        key = str(body.get("objectId", ""))
        row = crm.lookup(t, key, id_property=body.get("idProperty"))
        if row is None:
            raise not_found()
        crm.gdpr_delete(t, row)
        return Response(status_code=204)

    @router.get(BASE + "/{object_id}")
    async def get_object(object_type: str, object_id: str, request: Request) -> Response:
        t = resolve_type(object_type)
        row = crm.lookup(t, object_id, id_property=request.query_params.get("idProperty"))
        if row is None or row.archived != flag(request, "archived"):
            raise object_not_found(object_id)
        history = listed(request, "propertiesWithHistory")
        body = crm.render(t, row, listed(request, "properties") or None, history)
        to = listed(request, "associations")
        if to:
            with_associations(t, row, body, to)
        return json_response(body)

    @router.patch(BASE + "/{object_id}")
    async def update_object(object_type: str, object_id: str, request: Request) -> Response:
        t = resolve_type(object_type)
        row = crm.require(t, object_id, id_property=request.query_params.get("idProperty"))
        body = await json_body(request)
        properties = body.get("properties")
        if not isinstance(properties, dict):
            raise validation("Invalid input JSON: 'properties' is required")
        row = crm.update(t, row, properties)
        return json_response(crm.render(t, row, written(t, properties)))

    @router.delete(BASE + "/{object_id}", status_code=204)
    async def archive_object(object_type: str, object_id: str) -> Response:
        t = resolve_type(object_type)
        row = crm.lookup(t, object_id)
        if row is not None and not row.archived:
            crm.archive(t, row)
        return Response(status_code=204)

    return router
