"""Reading HubSpot-style requests: JSON bodies, list-ish query params, object types, bools."""

from __future__ import annotations

import re
from typing import Any

import orjson
from starlette.requests import Request

from sandbox.hubspot.catalog import ObjectType, object_type
from sandbox.hubspot.errors import HubSpotError, validation

MAX_BATCH = 100
RECORD_ID = re.compile(r"[0-9]{1,18}")


def record_id(key: object) -> int | None:
    """An object id as HubSpot spells them (ASCII digits that fit SQLite's integers)."""
    text = str(key)
    return int(text) if RECORD_ID.fullmatch(text) else None


def resolve_type(name: str) -> ObjectType:
    found = object_type(name)
    if found is None:
        raise HubSpotError(400, "VALIDATION_ERROR", f"Unable to infer object type from: {name}")
    return found


async def json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise validation(f"Invalid input JSON on line 1, column {exc.pos + 1}: {exc.msg}") from exc
    if not isinstance(body, dict):
        raise validation("Invalid input JSON: expected an object")
    return body


def listed(request: Request, name: str) -> list[str]:
    """`?p=a&p=b` (the SDK's repeated keys) and `?p=a,b` (the docs' commas) alike."""
    out: list[str] = []
    for value in request.query_params.getlist(name):
        out.extend(part.strip() for part in value.split(",") if part.strip())
    return out


def flag(request: Request, name: str) -> bool:
    values = {v.lower() for v in request.query_params.getlist(name)} or {"false"}
    if not values <= {"true", "false"}:
        raise validation(f"Unable to parse {name}: expected true or false")
    return values == {"true"}


def integer(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise validation(f"Unable to parse {name}: {raw} is not a number") from exc


def inputs(body: dict[str, Any]) -> list[dict[str, Any]]:
    items = body.get("inputs")
    if not isinstance(items, list):
        raise validation("Invalid input JSON: 'inputs' must be a list")
    if len(items) > MAX_BATCH:
        raise validation(
            f"The maximum number of inputs supported in a batch request is {MAX_BATCH}. "
            "Please reduce the number of items and try again",
            context={"maxInputs": [str(MAX_BATCH)]},
        )
    for item in items:
        if not isinstance(item, dict):
            raise validation("Invalid input JSON: every input must be an object")
    return items


def names(value: Any) -> list[str] | None:
    """A body's `properties` list (or None when absent/empty: defaults apply)."""
    if not value:
        return None
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value]
