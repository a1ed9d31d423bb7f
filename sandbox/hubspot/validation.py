"""Property value checks on writes, in HubSpot's words (codes from its 400 bodies)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sandbox.hubspot.errors import problem, property_errors
from sandbox.hubspot.properties import PropertyDef, PropertyRegistry
from sandbox.hubspot.timefmt import iso, parse_ms

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _check(d: PropertyDef, value: str) -> tuple[str | None, dict[str, Any] | None]:
    """`(normalised value, None)` or `(None, problem)`; an empty string clears (None)."""
    if value == "":
        return None, None
    if d.type == "number":
        try:
            float(value)
        except ValueError:
            return None, problem(d.name, "INVALID_INTEGER", f"{value} was not a valid number.")
        return value, None
    if d.type == "bool":
        if value.lower() not in ("true", "false"):
            return None, problem(d.name, "INVALID_BOOLEAN", f"{value} was not a valid boolean.")
        return value.lower(), None
    if d.type in ("datetime", "date"):
        ms = parse_ms(value)
        if ms is None:
            return None, problem(d.name, "INVALID_DATE", f"{value} was not a valid date.")
        return (iso(ms) if d.type == "datetime" else iso(ms)[:10]), None
    if d.type == "enumeration" and d.options:
        allowed = {o.value for o in d.options}
        parts = value.split(";") if d.multi else [value]
        bad = [p for p in parts if p not in allowed]
        if bad:
            shown = ", ".join(f'"{o.value}"' for o in d.options)
            return None, problem(
                d.name,
                "INVALID_OPTION",
                f"{bad[0]} was not one of the allowed options: [{shown}]",
            )
        return value, None
    if d.name == "email":
        address = value.strip().lower()
        if not EMAIL.match(address):
            return None, problem(d.name, "INVALID_EMAIL", f"Email address {value} is invalid")
        return address, None
    return value, None


def validate(
    registry: PropertyRegistry,
    object_name: str,
    properties: Mapping[str, Any],
    *,
    creating: bool,
) -> dict[str, str | None]:
    """Normalised values (None = clear) or a 400 listing every invalid property."""
    if not isinstance(properties, Mapping):
        raise property_errors([problem("properties", "INVALID_INPUT", "properties must be a map")])
    out: dict[str, str | None] = {}
    problems: list[dict[str, Any]] = []
    for name, raw in properties.items():
        d = registry.get(object_name, name)
        if d is None:
            problems.append(
                problem(name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist')
            )
            continue
        if d.read_only or (d.name == "createdate" and not creating):
            problems.append(
                problem(
                    name,
                    "READ_ONLY_VALUE",
                    f"{name} is a read only property; its value cannot be set.",
                )
            )
            continue
        value, issue = _check(d, _text(raw))
        if issue is not None:
            problems.append(issue)
        else:
            out[name] = value
    if problems:
        raise property_errors(problems)
    return out
