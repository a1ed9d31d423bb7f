"""The custom fields the dictionary expects each system to have, as the connectors describe them.

HubSpot has no `baton_id`, `funnel_stage` or `rejection_reason` property until someone creates
it, and Salesforce no `Funnel_Stage__c` until an admin adds it; setup code and the person
installing Baton need the list with types and picklist values. Pure: derived from the
dictionary, returned as `connectors.records.FieldSchema`.
"""

from __future__ import annotations

from connectors.records import FieldSchema, PicklistOption
from mappings.dictionary import Dictionary, FieldMap, OutcomeSpec, StageSpec
from mappings.model import FUNNEL_STAGE
from mappings.transforms import PICKLIST_PREFIX

# Contact properties every HubSpot portal defines itself (the ones field maps commonly name).
HUBSPOT_DEFINED = frozenset(
    {
        "email", "firstname", "lastname", "company", "jobtitle", "phone", "mobilephone",
        "country", "state", "city", "zip", "address", "website", "industry", "hubspotscore",
        "hubspot_owner_id", "hs_lead_status", "lifecyclestage", "hs_analytics_source",
        "createdate", "lastmodifieddate",
    }
)  # fmt: skip
HUBSPOT_DEFINED_PREFIXES = ("hs_",)

# transform -> (HubSpot property type, Salesforce field type)
_TYPES: dict[str, tuple[str, str]] = {
    "integer": ("number", "double"),
    "number": ("number", "double"),
    "boolean": ("bool", "boolean"),
    "datetime": ("datetime", "datetime"),
    "date": ("date", "date"),
    "reason": ("enumeration", "picklist"),
}


def _options(values: list[str]) -> tuple[PicklistOption, ...]:
    return tuple(PicklistOption(value=v, label=v) for v in dict.fromkeys(values))


def _label(field: str) -> str:
    """`MQL_Date__c` -> "MQL Date", `funnel_stage` -> "Funnel Stage"."""
    words = field.removesuffix("__c").split("_")
    return " ".join(w if w.isupper() else w.capitalize() for w in words)


def _hubspot_defined(name: str) -> bool:
    return name in HUBSPOT_DEFINED or name.startswith(HUBSPOT_DEFINED_PREFIXES)


def _shape(d: Dictionary, name: str, fmap: FieldMap, system: str) -> tuple[str, list[str]]:
    """The field type and picklist values a field map needs in `system`."""
    if name == FUNNEL_STAGE:
        specs: list[StageSpec | OutcomeSpec] = [*d.stages.values(), *d.outcomes.values()]
        labels = [spec.label for spec in specs]
        return ("enumeration" if system == "hubspot" else "picklist"), labels
    kind = "string"
    values: list[str] = []
    for transform in fmap.transforms:
        if transform == "reason":
            values = [getattr(r, system).rejection_reason for r in d.rejection_reasons]
        elif transform.startswith(PICKLIST_PREFIX):
            rows = d.picklists[transform.removeprefix(PICKLIST_PREFIX)]
            values = [v for r in rows if (v := getattr(r, system)) is not None]
            kind = "enumeration" if system == "hubspot" else "picklist"
        types = _TYPES.get(transform)
        if types is not None:
            kind = types[0] if system == "hubspot" else types[1]
    return kind, values


def custom_fields(d: Dictionary) -> dict[tuple[str, str], list[FieldSchema]]:
    """(system, object) -> the custom fields the field maps name there: Salesforce `__c`
    fields and HubSpot properties that HubSpot does not define itself."""
    out: dict[tuple[str, str], list[FieldSchema]] = {}
    for name, fmap in d.fields.items():
        if fmap.hubspot and not _hubspot_defined(fmap.hubspot):
            kind, values = _shape(d, name, fmap, "hubspot")
            out.setdefault(("hubspot", "contacts"), []).append(
                FieldSchema(fmap.hubspot, kind, _label(fmap.hubspot), options=_options(values))
            )
        for obj, remote in fmap.salesforce.items():
            if remote.endswith("__c"):
                kind, values = _shape(d, name, fmap, "salesforce")
                length = fmap.max_length if kind == "string" else None
                out.setdefault(("salesforce", obj), []).append(
                    FieldSchema(
                        remote, kind, _label(remote), length=length, options=_options(values)
                    )
                )
    return out
