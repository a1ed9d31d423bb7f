"""The HubSpot object table: every per-object fact the connector needs, stated once as data.

Quirk worth the table: contacts carry their modification time in `lastmodifieddate`, companies
and deals in `hs_lastmodifieddate` (filtering contacts on `hs_lastmodifieddate` silently
matches nothing on real portals; hubspot-api.md §5).
"""

from __future__ import annotations

from dataclasses import dataclass

from connectors.errors import ConfigError
from connectors.records import System

BATCH_SIZE = 100  # every CRM object batch endpoint (hubspot-api.md §4)
LIST_PAGE = 100  # GET /crm/v3/objects/{type}?limit=100 (§3)
SEARCH_PAGE = 200  # search `limit` maximum (§5)
SEARCH_CAP = 10_000  # search stops answering past this offset (§5)
SEARCH_BODY_LIMIT = 3_000  # search request bodies above this many characters get a 400 (§5)
ID_PROPERTY = "hs_object_id"
MERGED_IDS = "hs_merged_object_ids"  # ';'-separated ids merged into the survivor (§9)
# A contact's other addresses, ';'-separated: unique like `email`, found by lookups and upserts
# by email, and where a merge keeps the merged-away contact's address (§8, §9)
ADDITIONAL_EMAILS = "hs_additional_emails"


@dataclass(frozen=True, slots=True)
class ObjectSpec:
    """One CRM object type.

    Args:
        name: the path name HubSpot uses (`contacts`).
        type_id: the objectTypeId (`0-1`).
        singular: the webhook prefix (`contact` in `contact.propertyChange`).
        sdk_attr: the attribute of `HubSpot().crm` holding its APIs.
        modified: the modification-time property the cursor is built on.
        properties: what every read asks for (the id and modified time are always added).
    """

    name: str
    type_id: str
    singular: str
    sdk_attr: str
    modified: str
    properties: tuple[str, ...]

    def read_properties(self, extra: tuple[str, ...] = ()) -> list[str]:
        """Properties to request: the table's, `extra`, and the cursor and merge facts."""
        wanted = (*self.properties, *extra, self.modified, ID_PROPERTY, MERGED_IDS)
        return list(dict.fromkeys(wanted))


CONTACTS = ObjectSpec(
    name="contacts",
    type_id="0-1",
    singular="contact",
    sdk_attr="contacts",
    modified="lastmodifieddate",
    properties=(
        "email",
        "firstname",
        "lastname",
        "company",
        "jobtitle",
        "phone",
        "country",
        "lifecyclestage",
        "hs_lead_status",
        "hubspotscore",
        "hs_analytics_source",
        "hs_analytics_source_data_1",
        "createdate",
        "baton_id",
        "baton_funnel_stage",
        "baton_rejection_reason",
        ADDITIONAL_EMAILS,  # read with every listing and search: `SourceRecord.other_emails`
    ),
)
COMPANIES = ObjectSpec(
    name="companies",
    type_id="0-2",
    singular="company",
    sdk_attr="companies",
    modified="hs_lastmodifieddate",
    properties=("name", "domain", "website", "phone", "country", "lifecyclestage", "createdate"),
)
DEALS = ObjectSpec(
    name="deals",
    type_id="0-3",
    singular="deal",
    sdk_attr="deals",
    modified="hs_lastmodifieddate",
    properties=("dealname", "amount", "closedate", "pipeline", "dealstage", "createdate"),
)

OBJECTS: tuple[ObjectSpec, ...] = (CONTACTS, COMPANIES, DEALS)
_BY_NAME = {alias: spec for spec in OBJECTS for alias in (spec.name, spec.type_id, spec.singular)}


def spec_for(name: str) -> ObjectSpec:
    """The table row for `contacts` / `contact` / `0-1`; unknown names are a `ConfigError`."""
    spec = _BY_NAME.get(name) or _BY_NAME.get(name.lower())
    if spec is None:
        known = ", ".join(s.name for s in OBJECTS)
        raise ConfigError(
            f"HubSpot object {name!r} is not supported",
            setting="object",
            fix=f"use one of {known}",
            system=System.HUBSPOT,
        )
    return spec
