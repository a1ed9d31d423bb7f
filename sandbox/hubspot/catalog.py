"""The CRM object types this imitation serves, and the facts that differ between them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ObjectType:
    name: str  # path name: contacts
    type_id: str  # objectTypeId: 0-1
    singular: str  # webhook prefix and error wording: contact
    modified: str  # the modification-date property HubSpot maintains besides hs_lastmodifieddate
    defaults: tuple[str, ...]  # properties returned when none are requested
    searchable: tuple[str, ...]  # properties the free-text `query` looks at

    @property
    def always(self) -> tuple[str, ...]:
        """Properties every record comes with, whatever `properties` asks for: HubSpot adds
        its creation date, id and modification date to the ones requested."""
        return ("createdate", "hs_object_id", self.modified)


CONTACTS = ObjectType(
    name="contacts",
    type_id="0-1",
    singular="contact",
    modified="lastmodifieddate",
    defaults=("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"),
    searchable=("firstname", "lastname", "email", "phone", "company", "hs_additional_emails"),
)
COMPANIES = ObjectType(
    name="companies",
    type_id="0-2",
    singular="company",
    modified="hs_lastmodifieddate",
    defaults=("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"),
    searchable=("name", "domain", "website", "phone"),
)
DEALS = ObjectType(
    name="deals",
    type_id="0-3",
    singular="deal",
    modified="hs_lastmodifieddate",
    defaults=(
        "amount",
        "closedate",
        "createdate",
        "dealname",
        "dealstage",
        "hs_lastmodifieddate",
        "hs_object_id",
        "pipeline",
    ),
    searchable=("dealname", "pipeline", "dealstage", "description"),
)
OBJECT_TYPES: tuple[ObjectType, ...] = (CONTACTS, COMPANIES, DEALS)

_BY_ALIAS = {
    alias: t
    for t in OBJECT_TYPES
    for alias in (t.name, t.type_id, t.singular, t.name.upper(), t.singular.upper())
}


def object_type(name: str) -> ObjectType | None:
    """Resolve `contacts`, `contact`, `0-1` (and upper-case forms) to one object type."""
    return _BY_ALIAS.get(name) or _BY_ALIAS.get(name.lower())


# HUBSPOT_DEFINED association type ids: (from, to) -> (default id, primary id or None).
ASSOCIATION_TYPES: dict[tuple[str, str], tuple[int, int | None]] = {
    ("contacts", "companies"): (279, 1),
    ("companies", "contacts"): (280, 2),
    ("contacts", "deals"): (4, None),
    ("deals", "contacts"): (3, None),
    ("deals", "companies"): (341, 5),
    ("companies", "deals"): (342, 6),
}


# Webhook/legacy names for association directions, e.g. CONTACT_TO_COMPANY.
def association_name(from_type: str, to_type: str) -> str:
    a, b = object_type(from_type), object_type(to_type)
    assert a is not None
    assert b is not None
    return f"{a.singular.upper()}_TO_{b.singular.upper()}"
