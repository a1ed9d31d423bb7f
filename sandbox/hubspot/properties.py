"""Property definitions as data (HubSpot's defaults per object), and the live registry.

The registry starts from HubSpot's default properties and changes through the Properties API
(custom properties, new picklist options), so validation and reads see every change at once.
Baton's own and Salesforce-integration properties are deliberately absent: clients create them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sandbox.hubspot.timefmt import iso

LIFECYCLE_STAGES = (
    ("subscriber", "Subscriber"),
    ("lead", "Lead"),
    ("marketingqualifiedlead", "Marketing Qualified Lead"),
    ("salesqualifiedlead", "Sales Qualified Lead"),
    ("opportunity", "Opportunity"),
    ("customer", "Customer"),
    ("evangelist", "Evangelist"),
    ("other", "Other"),
)


def became_date(stage: str) -> str:
    """HubSpot's read-only "Became a <stage> date", set when a record enters the stage."""
    return f"hs_lifecyclestage_{stage}_date"


READ_ONLY = frozenset(
    {
        "hs_object_id",
        "lastmodifieddate",
        "hs_lastmodifieddate",
        "hs_merged_object_ids",
        *(became_date(stage) for stage, _ in LIFECYCLE_STAGES),
    }
)
LEAD_STATUSES = (
    ("NEW", "New"),
    ("OPEN", "Open"),
    ("IN_PROGRESS", "In Progress"),
    ("OPEN_DEAL", "Open Deal"),
    ("UNQUALIFIED", "Unqualified"),
    ("ATTEMPTED_TO_CONTACT", "Attempted to Contact"),
    ("CONNECTED", "Connected"),
    ("BAD_TIMING", "Bad Timing"),
)
ANALYTICS_SOURCES = (
    ("ORGANIC_SEARCH", "Organic Search"),
    ("PAID_SEARCH", "Paid Search"),
    ("EMAIL_MARKETING", "Email Marketing"),
    ("SOCIAL_MEDIA", "Organic Social"),
    ("REFERRALS", "Referrals"),
    ("OTHER_CAMPAIGNS", "Other Campaigns"),
    ("DIRECT_TRAFFIC", "Direct Traffic"),
    ("OFFLINE", "Offline Sources"),
    ("PAID_SOCIAL", "Paid Social"),
)
DEAL_STAGES = (
    ("appointmentscheduled", "Appointment Scheduled"),
    ("qualifiedtobuy", "Qualified To Buy"),
    ("presentationscheduled", "Presentation Scheduled"),
    ("decisionmakerboughtin", "Decision Maker Bought-In"),
    ("contractsent", "Contract Sent"),
    ("closedwon", "Closed Won"),
    ("closedlost", "Closed Lost"),
)
# Picklist values a real portal grows that no default funnel dictionary knows (planted by seed).
CUSTOM_LIFECYCLE_STAGE = ("51439524", "Partner Lead")
EXTRA_LEAD_STATUSES = (("RECYCLED", "Recycled"), ("NURTURE", "Nurture"))

# Each property type a client may create and the fieldTypes it takes, the one HubSpot's own
# properties of that type use first (the Properties API guide's "Property type and fieldType
# values" table). Its internal types `object_coordinates` and `json` "cannot be created or
# edited", so they are absent; any other pairing is refused.
FIELD_TYPES: dict[str, tuple[str, ...]] = {
    "string": ("text", "textarea", "file", "html", "phonenumber", "calculation_equation"),
    "number": ("number", "calculation_equation"),
    "datetime": ("date",),
    "date": ("date",),
    "enumeration": ("select", "checkbox", "radio", "booleancheckbox", "calculation_equation"),
    "bool": ("booleancheckbox", "calculation_equation"),
}


@dataclass
class Option:
    label: str
    value: str
    display_order: int
    hidden: bool = False
    description: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "value": self.value,
            "displayOrder": self.display_order,
            "hidden": self.hidden,
            "description": self.description,
        }


@dataclass
class PropertyDef:
    name: str
    label: str
    type: str = "string"
    field_type: str = ""
    group: str = "contactinformation"
    options: list[Option] = field(default_factory=list)
    unique: bool = False
    hubspot_defined: bool = True
    description: str = ""
    display_order: int = -1
    created_ms: int = 0
    updated_ms: int = 0
    archived: bool = False

    def __post_init__(self) -> None:
        self.field_type = self.field_type or FIELD_TYPES.get(self.type, ("text",))[0]

    @property
    def read_only(self) -> bool:
        return self.name in READ_ONLY

    @property
    def multi(self) -> bool:
        return self.type == "enumeration" and self.field_type == "checkbox"

    def option_rank(self, value: str) -> int | None:
        """Position of `value` in display order (the lifecycle stage rule reads this)."""
        ranked = sorted(self.options, key=lambda o: (o.display_order, self.options.index(o)))
        for index, option in enumerate(ranked):
            if option.value == value:
                return index
        return None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "fieldType": self.field_type,
            "description": self.description,
            "groupName": self.group,
            "options": [o.to_json() for o in self.options],
            "displayOrder": self.display_order,
            "calculated": self.read_only,
            "externalOptions": False,
            "hasUniqueValue": self.unique,
            "hidden": False,
            "hubspotDefined": self.hubspot_defined,
            "modificationMetadata": {
                "archivable": not self.hubspot_defined,
                "readOnlyDefinition": self.hubspot_defined,
                "readOnlyValue": self.read_only,
            },
            "formField": not self.read_only,
            "archived": self.archived,
        }
        if self.created_ms:
            body["createdAt"] = iso(self.created_ms)
        if self.updated_ms:
            body["updatedAt"] = iso(self.updated_ms)
        return body


def _enum(name: str, label: str, pairs: tuple[tuple[str, str], ...], group: str) -> PropertyDef:
    options = [Option(label=lbl, value=val, display_order=i) for i, (val, lbl) in enumerate(pairs)]
    return PropertyDef(name, label, "enumeration", "select", group, options)


def _common(group: str) -> list[PropertyDef]:
    return [
        PropertyDef("createdate", "Create Date", "datetime", group=group),
        PropertyDef("hs_lastmodifieddate", "Last Modified Date", "datetime", group=group),
        PropertyDef("hs_object_id", "Record ID", "number", group=group),
        PropertyDef("hs_merged_object_ids", "Merged Record IDs", "enumeration", "checkbox", group),
        PropertyDef("hubspot_owner_id", "Owner", "enumeration", group=group),
    ]


def _contacts() -> list[PropertyDef]:
    g = "contactinformation"
    text = [
        ("email", "Email"),
        ("firstname", "First Name"),
        ("lastname", "Last Name"),
        ("phone", "Phone Number"),
        ("mobilephone", "Mobile Phone Number"),
        ("company", "Company Name"),
        ("jobtitle", "Job Title"),
        ("website", "Website URL"),
        ("address", "Street Address"),
        ("city", "City"),
        ("state", "State/Region"),
        ("zip", "Postal Code"),
        ("country", "Country/Region"),
        ("hs_additional_emails", "Additional email addresses"),
        ("hs_analytics_source_data_1", "Original Source Drill-Down 1"),
    ]
    defs = [PropertyDef(n, lbl, group=g) for n, lbl in text]
    defs[0].unique = True
    return [
        *defs,
        *_common(g),
        PropertyDef("lastmodifieddate", "Last Modified Date", "datetime", group=g),
        _enum("lifecyclestage", "Lifecycle Stage", LIFECYCLE_STAGES, g),
        *(
            PropertyDef(became_date(stage), f"Became a {label} date", "datetime", group=g)
            for stage, label in LIFECYCLE_STAGES
        ),
        _enum("hs_lead_status", "Lead Status", LEAD_STATUSES, "sales_properties"),
        _enum("hs_analytics_source", "Original Source", ANALYTICS_SOURCES, "analyticsinformation"),
        PropertyDef("hubspotscore", "HubSpot Score", "number", group=g),
        PropertyDef("num_associated_deals", "Number of Associated Deals", "number", group=g),
        PropertyDef("hs_email_optout", "Unsubscribed from all email", "bool", group=g),
    ]


def _companies() -> list[PropertyDef]:
    g = "companyinformation"
    text = [
        ("name", "Company name"),
        ("domain", "Company Domain Name"),
        ("website", "Website URL"),
        ("phone", "Phone Number"),
        ("city", "City"),
        ("state", "State/Region"),
        ("country", "Country/Region"),
        ("industry", "Industry"),
        ("description", "Description"),
    ]
    return [
        *(PropertyDef(n, lbl, group=g) for n, lbl in text),
        *_common(g),
        PropertyDef("numberofemployees", "Number of Employees", "number", group=g),
        PropertyDef("annualrevenue", "Annual Revenue", "number", group=g),
        _enum("lifecyclestage", "Lifecycle Stage", LIFECYCLE_STAGES, g),
        PropertyDef("hs_parent_company_id", "Parent Company", "number", group=g),
    ]


def _deals() -> list[PropertyDef]:
    g = "dealinformation"
    return [
        PropertyDef("dealname", "Deal Name", group=g),
        PropertyDef("amount", "Amount", "number", group=g),
        PropertyDef("closedate", "Close Date", "datetime", group=g),
        _enum("pipeline", "Pipeline", (("default", "Sales Pipeline"),), g),
        _enum("dealstage", "Deal Stage", DEAL_STAGES, g),
        _enum(
            "dealtype",
            "Deal Type",
            (("newbusiness", "New Business"), ("existingbusiness", "Existing Business")),
            g,
        ),
        PropertyDef("description", "Deal Description", group=g),
        PropertyDef("closed_lost_reason", "Closed Lost Reason", group=g),
        *_common(g),
    ]


DEFAULTS = {"contacts": _contacts, "companies": _companies, "deals": _deals}
GROUPS = {
    "contacts": (
        ("contactinformation", "Contact information"),
        ("sales_properties", "Sales properties"),
        ("analyticsinformation", "Web analytics history"),
        ("emailinformation", "Email information"),
        ("conversioninformation", "Conversion information"),
    ),
    "companies": (
        ("companyinformation", "Company information"),
        ("analyticsinformation", "Web analytics history"),
    ),
    "deals": (("dealinformation", "Deal information"), ("deal_activity", "Deal activity")),
}


@dataclass
class PropertyGroup:
    name: str
    label: str
    display_order: int = -1
    archived: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "displayOrder": self.display_order,
            "archived": self.archived,
        }


class PropertyRegistry:
    """Every object type's property definitions, as the Properties API currently has them."""

    def __init__(self) -> None:
        self._defs: dict[str, dict[str, PropertyDef]] = {}
        self.groups: dict[str, dict[str, PropertyGroup]] = {}
        self.reset()

    def reset(self) -> None:
        self.groups = {
            object_name: {n: PropertyGroup(n, label, i) for i, (n, label) in enumerate(pairs)}
            for object_name, pairs in GROUPS.items()
        }
        self._defs = {
            object_name: {d.name: d for d in build()} for object_name, build in DEFAULTS.items()
        }
        for defs in self._defs.values():
            for order, d in enumerate(defs.values()):
                d.display_order = order

    def get(self, object_name: str, name: str, *, archived: bool = False) -> PropertyDef | None:
        """A live definition, or with `archived` only an archived one (the API's `?archived`)."""
        found = self._defs[object_name].get(name)
        return None if found is None or found.archived != archived else found

    def all(self, object_name: str, *, archived: bool = False) -> list[PropertyDef]:
        return [d for d in self._defs[object_name].values() if d.archived == archived]

    def names(self, object_name: str) -> list[str]:
        return [d.name for d in self.all(object_name)]

    def add(self, object_name: str, definition: PropertyDef) -> None:
        self._defs[object_name][definition.name] = definition

    def exists_anyhow(self, object_name: str, name: str) -> bool:
        return name in self._defs[object_name]

    def add_option(
        self, object_name: str, name: str, value: str, label: str, *, after: str | None = None
    ) -> None:
        """Seed helper: add an option the way a portal admin would in settings."""
        definition = self._defs[object_name][name]
        if any(o.value == value for o in definition.options):
            return
        ranked = sorted(definition.options, key=lambda o: o.display_order)
        spot = next((i + 1 for i, o in enumerate(ranked) if o.value == after), len(ranked))
        ranked.insert(spot, Option(label=label, value=value, display_order=0))
        for order, option in enumerate(ranked):
            option.display_order = order
        definition.options = ranked
