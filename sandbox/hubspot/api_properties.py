"""Properties API v3: list, read (also archived), create, update (e.g. add an option), archive
(one or a batch), batch read.

Changes land in the shared registry, so record validation sees a new option at once.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from sandbox.hubspot.errors import HubSpotError, json_response, not_found, validation
from sandbox.hubspot.parsing import flag, inputs, json_body, resolve_type
from sandbox.hubspot.properties import (
    FIELD_TYPES,
    Option,
    PropertyDef,
    PropertyGroup,
    PropertyRegistry,
)
from sandbox.hubspot.timefmt import iso
from sandbox.shared.clock import Clock

BASE = "/crm/v3/properties/{object_type}"
NAME = re.compile(r"[a-z][a-z0-9_]{0,99}")


def _options(raw: Any) -> list[Option]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise validation("options must be a list")
    out = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict) or "value" not in item or "label" not in item:
            raise validation("Every option needs a label and a value")
        out.append(
            Option(
                label=str(item["label"]),
                value=str(item["value"]),
                display_order=int(item.get("displayOrder", index)),
                hidden=bool(item.get("hidden", False)),
                description=str(item.get("description", "")),
            )
        )
    return out


def _check_types(name: str, type_: str, field_type: str) -> None:
    """HubSpot takes only the type/fieldType pairs its guide lists (`FIELD_TYPES`)."""
    valid = FIELD_TYPES.get(type_)
    if valid is None:
        raise validation(f"Unknown property type {type_}: use one of {', '.join(FIELD_TYPES)}")
    if field_type not in valid:
        raise validation(
            f"Property {name}: fieldType {field_type} is not valid for a property of type "
            f"{type_}; use one of {', '.join(valid)}"
        )


def properties_router(registry: PropertyRegistry, clock: Clock) -> APIRouter:
    router = APIRouter()

    def find(object_name: str, name: str, *, archived: bool = False) -> PropertyDef:
        d = registry.get(object_name, name, archived=archived)
        if d is None:
            raise not_found(f"Unable to find property {name} for object type {object_name}")
        return d

    @router.get(BASE)
    async def list_properties(object_type: str, request: Request) -> Response:
        t = resolve_type(object_type)
        defs = registry.all(t.name, archived=flag(request, "archived"))
        return json_response({"results": [d.to_json() for d in defs]})

    def create(object_name: str, body: Any) -> PropertyDef:
        if not isinstance(body, dict):
            raise validation("Invalid input JSON: a property must be an object")
        required = ("name", "label", "type", "fieldType", "groupName")
        missing = [k for k in required if not body.get(k)]
        if missing:
            raise validation(f"Missing required fields: {', '.join(missing)}")
        name = str(body["name"])
        if not NAME.fullmatch(name):
            raise validation(
                f"Property name '{name}' is invalid: use lower-case letters, digits and "
                "underscores, starting with a letter"
            )
        if registry.exists_anyhow(object_name, name):
            raise HubSpotError(
                409,
                "OBJECT_ALREADY_EXISTS",
                f"Property named '{name}' already exists.",
                sub_category="PropertyValidationError.PROPERTY_EXISTS",
            )
        _check_types(name, str(body["type"]), str(body["fieldType"]))
        group = registry.groups[object_name].get(str(body["groupName"]))
        if group is None or group.archived:
            raise validation(
                f"Property group {body['groupName']} does not exist",
                sub_category="PropertyValidationError.INVALID_GROUP_NAME",
            )
        now = clock.now_ms()
        d = PropertyDef(
            name=name,
            label=str(body["label"]),
            type=str(body["type"]),
            field_type=str(body["fieldType"]),
            group=group.name,
            options=_options(body.get("options")),
            unique=bool(body.get("hasUniqueValue", False)),
            hubspot_defined=False,
            description=str(body.get("description", "")),
            display_order=int(body.get("displayOrder", -1)),
            created_ms=now,
            updated_ms=now,
        )
        registry.add(object_name, d)
        return d

    @router.post(BASE, status_code=201)
    async def create_property(object_type: str, request: Request) -> Response:
        t = resolve_type(object_type)
        return json_response(create(t.name, await json_body(request)).to_json(), 201)

    @router.post(BASE + "/batch/create", status_code=201)
    async def batch_create(object_type: str, request: Request) -> Response:
        t = resolve_type(object_type)
        started = iso(clock.now_ms())
        results, errors = [], []
        for item in inputs(await json_body(request)):
            try:
                results.append(create(t.name, item).to_json())
            except HubSpotError as exc:
                error = exc.batch_error()
                error["context"] = {"name": [str(item.get("name", ""))]}
                errors.append(error)
        answer: dict[str, Any] = {"status": "COMPLETE", "results": results}
        if errors:
            answer["numErrors"] = len(errors)
            answer["errors"] = errors
        answer["startedAt"] = started
        answer["completedAt"] = iso(clock.now_ms())
        return json_response(answer, 207 if errors else 201)

    groups = BASE + "/groups"

    def group_or_404(object_name: str, name: str) -> PropertyGroup:
        group = registry.groups[object_name].get(name)
        if group is None or group.archived:
            raise not_found(f"Unable to find property group {name} for object type {object_name}")
        return group

    @router.get(groups)
    async def list_groups(object_type: str) -> Response:
        t = resolve_type(object_type)
        live = [g.to_json() for g in registry.groups[t.name].values() if not g.archived]
        return json_response({"results": live})

    @router.post(groups, status_code=201)
    async def create_group(object_type: str, request: Request) -> Response:
        t = resolve_type(object_type)
        body = await json_body(request)
        name, label = str(body.get("name") or ""), str(body.get("label") or "")
        if not NAME.fullmatch(name) or not label:
            raise validation("A property group needs a valid name and a label")
        existing = registry.groups[t.name].get(name)
        if existing is not None and not existing.archived:
            raise HubSpotError(409, "OBJECT_ALREADY_EXISTS", f"Group {name} already exists.")
        group = PropertyGroup(name, label, int(body.get("displayOrder", -1)))
        registry.groups[t.name][name] = group
        return json_response(group.to_json(), 201)

    @router.get(groups + "/{group_name}")
    async def get_group(object_type: str, group_name: str) -> Response:
        return json_response(group_or_404(resolve_type(object_type).name, group_name).to_json())

    @router.patch(groups + "/{group_name}")
    async def update_group(object_type: str, group_name: str, request: Request) -> Response:
        group = group_or_404(resolve_type(object_type).name, group_name)
        body = await json_body(request)
        if "label" in body:
            group.label = str(body["label"])
        if "displayOrder" in body:
            group.display_order = int(body["displayOrder"])
        return json_response(group.to_json())

    @router.delete(groups + "/{group_name}", status_code=204)
    async def archive_group(object_type: str, group_name: str) -> Response:
        group_or_404(resolve_type(object_type).name, group_name).archived = True
        return Response(status_code=204)

    @router.post(BASE + "/batch/read")
    async def batch_read(object_type: str, request: Request) -> Response:
        t = resolve_type(object_type)
        started = iso(clock.now_ms())
        body = await json_body(request)
        archived = body.get("archived") is True
        results, missing = [], []
        for item in body.get("inputs") or []:
            name = str((item or {}).get("name", ""))
            d = registry.get(t.name, name, archived=archived)
            if d is None:
                missing.append(name)
            else:
                results.append(d.to_json())
        answer: dict[str, Any] = {"status": "COMPLETE", "results": results}
        if missing:
            answer["numErrors"] = len(missing)
            answer["errors"] = [
                {
                    "status": "error",
                    "category": "OBJECT_NOT_FOUND",
                    "message": f"Unable to find property {n} for object type {t.name}",
                    "context": {"name": [n]},
                    "errors": [],
                    "links": {},
                }
                for n in missing
            ]
        answer["startedAt"] = started
        answer["completedAt"] = iso(clock.now_ms())
        return json_response(answer, 207 if missing else 200)

    @router.get(BASE + "/{name}")
    async def get_property(object_type: str, name: str, request: Request) -> Response:
        t = resolve_type(object_type)
        return json_response(find(t.name, name, archived=flag(request, "archived")).to_json())

    @router.patch(BASE + "/{name}")
    async def update_property(object_type: str, name: str, request: Request) -> Response:
        t = resolve_type(object_type)
        d = find(t.name, name)
        body = await json_body(request)
        if d.hubspot_defined and set(body) - {"options", "label", "description", "displayOrder"}:
            raise validation(f"{name} is a HubSpot-defined property; only options may change")
        if "type" in body or "fieldType" in body:
            _check_types(
                name, str(body.get("type", d.type)), str(body.get("fieldType", d.field_type))
            )
        if "options" in body:
            d.options = _options(body["options"])
        for key, attr in (
            ("label", "label"),
            ("description", "description"),
            ("groupName", "group"),
            ("fieldType", "field_type"),
            ("type", "type"),
        ):
            if key in body:
                setattr(d, attr, str(body[key]))
        if "displayOrder" in body:
            d.display_order = int(body["displayOrder"])
        d.updated_ms = clock.now_ms()
        return json_response(d.to_json())

    def archivable(object_name: str, name: str) -> PropertyDef:
        d = find(object_name, name)
        if d.hubspot_defined:
            raise validation(f"{name} is a HubSpot-defined property and cannot be archived")
        return d

    @router.delete(BASE + "/{name}", status_code=204)
    async def archive_property(object_type: str, name: str) -> Response:
        archivable(resolve_type(object_type).name, name).archived = True
        return Response(status_code=204)

    @router.post(BASE + "/batch/archive", status_code=204)
    async def batch_archive(object_type: str, request: Request) -> Response:
        """204 "regardless of the initial state" (spec): missing or archived names are no-ops,
        but a HubSpot-defined name refuses the whole batch, as the single archive refuses it."""
        t = resolve_type(object_type)
        names = [str(item.get("name", "")) for item in inputs(await json_body(request))]
        doomed = [archivable(t.name, n) for n in names if registry.get(t.name, n) is not None]
        for d in doomed:
            d.archived = True
        return Response(status_code=204)

    return router
