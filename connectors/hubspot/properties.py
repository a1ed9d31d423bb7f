"""HubSpot property definitions: read them as `FieldSchema`s, create Baton's own when missing.

Picklist options (lifecyclestage, hs_lead_status, custom enumerations) are read from the
Properties API because portals customise them (custom lifecycle stages have numeric internal
values; hubspot-api.md §8), and `baton mappings check` compares them with the funnel dictionary.

Baton writes a few properties of its own (the caller says which); `ensure` creates whichever
are missing, idempotently (a concurrent creator's 409 "already exists" counts as success), and
adds to an existing one the options it lacks (a stage label renamed in the dictionary would
otherwise be refused on every write as an INVALID_OPTION). Options are only ever added: the
portal's own stay as they are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from connectors.errors import PermanentError
from connectors.hubspot.objects import ObjectSpec
from connectors.hubspot.sdk import HubSpotSdk
from connectors.records import FieldSchema, PicklistOption

# The default property group per object (HubSpot's own names).
DEFAULT_GROUPS: Mapping[str, str] = {
    "contacts": "contactinformation",
    "companies": "companyinformation",
    "deals": "dealinformation",
}


# HubSpot property type -> the form field type it is created with.
FIELD_TYPES: Mapping[str, str] = {
    "string": "text",
    "number": "number",
    "enumeration": "select",
    "bool": "booleancheckbox",
    "date": "date",
    "datetime": "date",
}


@dataclass(frozen=True, slots=True)
class PropertyDefinition:
    """A property to create when missing; `unique` makes it usable as an upsert `idProperty`.

    The connector knows no funnel: which properties Baton needs comes from the composition
    root (derived from the funnel dictionary).
    """

    name: str
    label: str
    type: str = "string"
    unique: bool = False
    description: str = ""
    options: tuple[PicklistOption, ...] = ()

    def body(self, group: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "fieldType": FIELD_TYPES.get(self.type, "text"),
            "groupName": group,
            "hasUniqueValue": self.unique,
            "description": self.description,
        }
        if self.options:
            body["options"] = [
                {"label": o.label or o.value, "value": o.value, "displayOrder": i, "hidden": False}
                for i, o in enumerate(self.options)
            ]
        return body


def to_field_schema(raw: Mapping[str, Any]) -> FieldSchema:
    """One Properties API definition as the mapping layer's `FieldSchema`."""
    meta = raw.get("modificationMetadata") or {}
    options = tuple(
        PicklistOption(
            value=str(o.get("value", "")),
            label=str(o.get("label", "")),
            active=not o.get("hidden", False),
        )
        for o in sorted(raw.get("options") or [], key=lambda o: o.get("displayOrder", 0))
    )
    return FieldSchema(
        name=str(raw["name"]),
        type=str(raw.get("type", "string")),
        label=str(raw.get("label", "")),
        nillable=True,
        updateable=not (raw.get("calculated") or meta.get("readOnlyValue")),
        options=options,
    )


class HubSpotProperties:
    """Property reads and idempotent creates through `HubSpotSdk`."""

    def __init__(self, sdk: HubSpotSdk) -> None:
        self.sdk = sdk

    def describe(self, spec: ObjectSpec) -> list[FieldSchema]:
        reply = self.sdk.call(
            "properties.core_api", "get_all", spec.name, operation=f"{spec.name}.properties"
        )
        return [to_field_schema(raw) for raw in (reply.body or {}).get("results") or []]

    def picklists(
        self, spec: ObjectSpec, names: Sequence[str]
    ) -> dict[str, tuple[PicklistOption, ...]]:
        """Options of the named enumeration properties; others (and unknown names) omitted."""
        wanted = set(names)
        return {
            f.name: f.options
            for f in self.describe(spec)
            if f.name in wanted and f.type in ("enumeration", "bool") and f.options
        }

    def ensure(self, spec: ObjectSpec, definitions: Sequence[PropertyDefinition]) -> list[str]:
        """Create the `definitions` missing from the portal, and add to the existing ones the
        options they lack; returns the names created or given options."""
        existing = {f.name: f for f in self.describe(spec)}
        changed = []
        group = DEFAULT_GROUPS.get(spec.name, f"{spec.singular}information")
        for definition in definitions:
            found = existing.get(definition.name)
            if found is not None:
                if self._add_options(spec, definition, found):
                    changed.append(definition.name)
                continue
            try:
                self.sdk.call(
                    "properties.core_api",
                    "create",
                    spec.name,
                    definition.body(group),
                    operation=f"{spec.name}.properties.create",
                )
            except PermanentError as exc:
                if exc.status != 409:  # 409 OBJECT_ALREADY_EXISTS: someone else made it
                    raise
                continue
            changed.append(definition.name)
        return changed

    def pending(self, spec: ObjectSpec, definitions: Sequence[PropertyDefinition]) -> list[str]:
        """The names `ensure` would create or give options; nothing is changed (a dry run)."""
        existing = {f.name: f for f in self.describe(spec)}
        return [
            d.name
            for d in definitions
            if (found := existing.get(d.name)) is None or _lacking(d, found)
        ]

    def _add_options(
        self, spec: ObjectSpec, definition: PropertyDefinition, found: FieldSchema
    ) -> bool:
        """Append the options `definition` has and the property `found` lacks. An update's
        options replace the whole list, so the portal's own are read again and sent back as
        they are (order, descriptions, hidden flags), the new ones after them."""
        if not _lacking(definition, found):
            return False
        reply = self.sdk.call(
            "properties.core_api",
            "get_by_name",
            spec.name,
            definition.name,
            operation=f"{spec.name}.properties.get",
        )
        current = list((reply.body or {}).get("options") or [])
        have = {str(o.get("value", "")) for o in current}
        missing = [o for o in definition.options if o.value not in have]
        if not missing:  # someone added them since
            return False
        start = max((int(o.get("displayOrder") or 0) for o in current), default=-1) + 1
        options = [
            *current,
            *(
                {"label": o.label or o.value, "value": o.value, "displayOrder": n, "hidden": False}
                for n, o in enumerate(missing, start)
            ),
        ]
        self.sdk.call(
            "properties.core_api",
            "update",
            spec.name,
            definition.name,
            {"options": options},
            operation=f"{spec.name}.properties.update",
        )
        return True


def _lacking(definition: PropertyDefinition, found: FieldSchema) -> list[PicklistOption]:
    """The options of `definition` an existing enumeration property lacks."""
    if found.type != "enumeration":
        return []
    have = {o.value for o in found.options}
    return [o for o in definition.options if o.value not in have]
