"""The imitated org's object schema, as data in one place.

Everything else (storage columns, validation, describe, SOQL field types) is derived from the
tables below, so adding a field is a one-line change here.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "boolean": "xsd:boolean",
    "int": "xsd:int",
    "double": "xsd:double",
    "currency": "xsd:double",
    "percent": "xsd:double",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
}
NUMERIC_TYPES = frozenset({"int", "double", "currency", "percent"})
TEXT_TYPES = frozenset({"string", "picklist", "email", "phone", "textarea", "url"})


@dataclass(frozen=True, slots=True)
class Choice:
    """One picklist value; `meta` carries what the org attaches to it (IsConverted, IsWon...)."""

    value: str
    default: bool = False
    meta: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, eq=False)  # identity hash: fields key dicts
class Field:
    name: str
    type: str
    label: str = ""
    length: int = 0
    required: bool = False  # not nillable and not defaulted: must be given on create
    defaulted: bool = False
    createable: bool = True
    updateable: bool = True
    external_id: bool = False
    unique: bool = False
    choices: tuple[Choice, ...] = ()
    restricted: bool = False
    reference_to: tuple[str, ...] = ()

    @property
    def custom(self) -> bool:
        return self.name.endswith("__c")

    @property
    def nillable(self) -> bool:
        return (
            not self.required
            and self.type not in ("boolean", "id")
            and not (self.defaulted and self.type == "picklist" and self.restricted)
        )

    @property
    def id_lookup(self) -> bool:
        """Whether the field identifies records: upsert and get-by-key accept it as the key.

        Salesforce allows Id, External ID fields and the standard fields it marks idLookup, of
        which this org has the email fields (Lead, Contact and User Email; its REST guide
        upserts on `sobjects/Lead/Email/<address>`). Describe reports the same flag.
        """
        return self.name == "Id" or self.external_id or self.type == "email"

    @property
    def display_label(self) -> str:
        return self.label or self.name.removesuffix("__c").replace("_", " ")

    def default_choice(self) -> str | None:
        return next((c.value for c in self.choices if c.default), None)

    def choice(self, value: str) -> Choice | None:
        return next((c for c in self.choices if c.value == value), None)


@dataclass(frozen=True)
class SObjectSchema:
    name: str
    label: str
    label_plural: str
    key_prefix: str
    fields: tuple[Field, ...]
    createable: bool = True  # False: org metadata, readable (SOQL, describe) but not writable

    @functools.cached_property
    def by_lower(self) -> Mapping[str, Field]:
        return MappingProxyType({f.name.lower(): f for f in self.fields})

    def field(self, name: str) -> Field | None:
        return self.by_lower.get(name.lower())

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.fields]


# Field builders: short, so the tables below read like a describe listing.


def text(name: str, length: int = 255, **kw: object) -> Field:
    return Field(name, "string", length=length, **kw)  # type: ignore[arg-type]


def typed(name: str, type_: str, **kw: object) -> Field:
    lengths = {"email": 80, "phone": 40, "url": 255, "textarea": 32000}
    kw.setdefault("length", lengths.get(type_, 0))
    return Field(name, type_, **kw)  # type: ignore[arg-type]


def readonly(name: str, type_: str, **kw: object) -> Field:
    return typed(name, type_, createable=False, updateable=False, **kw)


def picklist(name: str, values: tuple[str, ...] | tuple[Choice, ...], **kw: object) -> Field:
    choices = tuple(v if isinstance(v, Choice) else Choice(v) for v in values)
    return Field(name, "picklist", length=255, choices=choices, **kw)  # type: ignore[arg-type]


def ref(name: str, *targets: str, **kw: object) -> Field:
    return Field(name, "reference", length=18, reference_to=targets, **kw)  # type: ignore[arg-type]


LEAD_STATUSES = (
    Choice("Open - Not Contacted", default=True, meta={"IsConverted": False}),
    Choice("Working - Contacted", meta={"IsConverted": False}),
    Choice("Closed - Converted", meta={"IsConverted": True}),
    Choice("Closed - Not Converted", meta={"IsConverted": False}),
)
CONVERTED_STATUS = "Closed - Converted"


def _stage(
    name: str, probability: int, forecast: str, closed: bool = False, won: bool = False
) -> Choice:
    meta = {"Probability": probability, "ForecastCategoryName": forecast}
    return Choice(name, meta=meta | {"IsClosed": closed, "IsWon": won})


OPPORTUNITY_STAGES = (
    _stage("Prospecting", 10, "Pipeline"),
    _stage("Qualification", 10, "Pipeline"),
    _stage("Needs Analysis", 20, "Pipeline"),
    _stage("Value Proposition", 50, "Pipeline"),
    _stage("Id. Decision Makers", 60, "Pipeline"),
    _stage("Perception Analysis", 70, "Pipeline"),
    _stage("Proposal/Price Quote", 75, "Pipeline"),
    _stage("Negotiation/Review", 90, "Commit"),
    _stage("Closed Won", 100, "Closed", closed=True, won=True),
    _stage("Closed Lost", 0, "Omitted", closed=True),
)
# "Partner Portal" and "Webinar" are values a default funnel dictionary will not know.
LEAD_SOURCES = (
    "Web",
    "Phone Inquiry",
    "Partner Referral",
    "Purchased List",
    "Other",
    "Webinar",
    "Partner Portal",
)
INDUSTRIES = (
    "Agriculture",
    "Banking",
    "Consulting",
    "Education",
    "Finance",
    "Healthcare",
    "Manufacturing",
    "Media",
    "Retail",
    "Technology",
    "Other",
)
FUNNEL_STAGES = (
    "Subscriber",
    "Inquiry",
    "MQL",
    "SAL",
    "SQL",
    "Opportunity",
    "Customer",
    "Recycled",
    "Disqualified",
    "Lost",
)
# "Duplicate" is the reason the default funnel dictionary will not know.
REJECTION_REASONS = (
    "No Budget",
    "No Authority",
    "No Need",
    "Bad Timing",
    "Competitor",
    "Bad Data",
    "Unresponsive",
    "Not a Fit",
    "Duplicate",
)


def _system(*, owner: bool = True, merge: bool = False) -> tuple[Field, ...]:
    fields = [
        readonly("Id", "id", length=18),
        readonly("IsDeleted", "boolean", defaulted=True, label="Deleted"),
    ]
    if merge:
        fields.append(ref("MasterRecordId", "", createable=False, updateable=False))
    fields += [
        readonly("CreatedDate", "datetime", defaulted=True),
        ref("CreatedById", "User", createable=False, updateable=False, defaulted=True),
        readonly("LastModifiedDate", "datetime", defaulted=True),
        ref("LastModifiedById", "User", createable=False, updateable=False, defaulted=True),
        readonly("SystemModstamp", "datetime", defaulted=True),
    ]
    if owner:
        fields.append(ref("OwnerId", "User", defaulted=True, label="Owner ID"))
    return tuple(fields)


def _funnel_fields() -> tuple[Field, ...]:
    return (
        text("Baton_Id__c", 64, external_id=True, unique=True, label="Baton Id"),
        typed("MQL_Date__c", "datetime", label="MQL Date"),
        typed("Marketing_Score__c", "double", label="Marketing Score"),
        text("Original_Campaign__c", 255, label="Original Campaign"),
        # Custom picklists are restricted, as Setup creates them by default.
        picklist("Funnel_Stage__c", FUNNEL_STAGES, restricted=True, label="Funnel Stage"),
        picklist(
            "Rejection_Reason__c", REJECTION_REASONS, restricted=True, label="Rejection Reason"
        ),
    )


def _with_master(name: str, fields: tuple[Field, ...]) -> tuple[Field, ...]:
    """MasterRecordId refers to the object's own type (merge winners)."""
    return tuple(
        ref(f.name, name, createable=False, updateable=False) if f.name == "MasterRecordId" else f
        for f in fields
    )


def _lead() -> SObjectSchema:
    fields = (
        *_system(merge=True),
        text("FirstName", 40),
        text("LastName", 80, required=True),
        readonly("Name", "string", length=121, label="Full Name"),
        text("Company", 255, required=True),
        text("Title", 128),
        typed("Email", "email"),
        typed("Phone", "phone"),
        typed("MobilePhone", "phone"),
        typed("Website", "url"),
        picklist("Industry", INDUSTRIES),
        picklist("Status", LEAD_STATUSES, defaulted=True, restricted=True, label="Lead Status"),
        picklist("LeadSource", LEAD_SOURCES),
        picklist("Rating", ("Hot", "Warm", "Cold")),
        text("Street", 255),
        text("City", 40),
        text("State", 80),
        text("PostalCode", 20),
        text("Country", 80),
        typed("NumberOfEmployees", "int"),
        typed("AnnualRevenue", "currency"),
        typed("Description", "textarea"),
        readonly("IsConverted", "boolean", defaulted=True, label="Converted"),
        readonly("ConvertedDate", "date"),
        ref("ConvertedAccountId", "Account", createable=False, updateable=False),
        ref("ConvertedContactId", "Contact", createable=False, updateable=False),
        ref("ConvertedOpportunityId", "Opportunity", createable=False, updateable=False),
        typed("IsUnreadByOwner", "boolean", defaulted=True),
        readonly("LastActivityDate", "date"),
        typed("EmailBouncedDate", "datetime"),
        *_funnel_fields(),
    )
    return SObjectSchema("Lead", "Lead", "Leads", "00Q", _with_master("Lead", fields))


def _contact() -> SObjectSchema:
    fields = (
        *_system(merge=True),
        ref("AccountId", "Account"),
        text("FirstName", 40),
        text("LastName", 80, required=True),
        readonly("Name", "string", length=121, label="Full Name"),
        typed("Email", "email"),
        typed("Phone", "phone"),
        typed("MobilePhone", "phone"),
        text("Title", 128),
        text("Department", 80),
        picklist("LeadSource", LEAD_SOURCES),
        text("MailingStreet", 255),
        text("MailingCity", 40),
        text("MailingState", 80),
        text("MailingPostalCode", 20),
        text("MailingCountry", 80),
        typed("Description", "textarea"),
        readonly("LastActivityDate", "date"),
        *_funnel_fields(),
    )
    return SObjectSchema("Contact", "Contact", "Contacts", "003", _with_master("Contact", fields))


def _account() -> SObjectSchema:
    fields = (
        *_system(merge=True),
        text("Name", 255, required=True, label="Account Name"),
        picklist(
            "Type", ("Prospect", "Customer - Direct", "Customer - Channel", "Partner", "Other")
        ),
        picklist("Industry", INDUSTRIES),
        picklist("AccountSource", LEAD_SOURCES),
        typed("Website", "url"),
        typed("Phone", "phone"),
        text("BillingCity", 40),
        text("BillingState", 80),
        text("BillingCountry", 80),
        typed("NumberOfEmployees", "int"),
        typed("AnnualRevenue", "currency"),
        typed("Description", "textarea"),
    )
    return SObjectSchema("Account", "Account", "Accounts", "001", _with_master("Account", fields))


def _opportunity() -> SObjectSchema:
    forecast = ("Omitted", "Pipeline", "Best Case", "Commit", "Closed")
    fields = (
        *_system(),
        ref("AccountId", "Account"),
        text("Name", 120, required=True),
        picklist("StageName", OPPORTUNITY_STAGES, required=True, restricted=True, label="Stage"),
        typed("Amount", "currency"),
        typed("Probability", "percent", defaulted=True),
        typed("CloseDate", "date", required=True),
        readonly("IsClosed", "boolean", defaulted=True, label="Closed"),
        readonly("IsWon", "boolean", defaulted=True, label="Won"),
        picklist("ForecastCategoryName", forecast, defaulted=True, restricted=True),
        picklist("Type", ("New Business", "Existing Business")),
        picklist("LeadSource", LEAD_SOURCES),
        ref("CampaignId", "Campaign"),
        text("NextStep", 255),
        typed("Description", "textarea"),
    )
    return SObjectSchema("Opportunity", "Opportunity", "Opportunities", "006", fields)


def _contact_role() -> SObjectSchema:
    roles = ("Business User", "Decision Maker", "Economic Buyer", "Influencer", "Other")
    fields = (
        *_system(owner=False),
        ref("OpportunityId", "Opportunity", required=True, updateable=False),
        ref("ContactId", "Contact", required=True),
        picklist("Role", roles),
        typed("IsPrimary", "boolean", defaulted=True),
    )
    return SObjectSchema(
        "OpportunityContactRole",
        "Opportunity Contact Role",
        "Opportunity Contact Role",
        "00K",
        fields,
    )


def _task() -> SObjectSchema:
    statuses = (
        Choice("Not Started", default=True),
        Choice("In Progress"),
        Choice("Completed", meta={"IsClosed": True}),
        Choice("Waiting on someone else"),
        Choice("Deferred"),
    )
    priorities = (Choice("High"), Choice("Normal", default=True), Choice("Low"))
    fields = (
        *_system(),
        ref("WhoId", "Contact", "Lead"),
        ref("WhatId", "Account", "Opportunity", "Campaign"),
        text("Subject", 255),
        picklist("Status", statuses, defaulted=True, restricted=True),
        picklist("Priority", priorities, defaulted=True, restricted=True),
        typed("ActivityDate", "date", label="Due Date Only"),
        typed("Description", "textarea"),
        readonly("IsClosed", "boolean", defaulted=True, label="Closed"),
        picklist("TaskSubtype", ("Task", "Email", "Call"), createable=True, updateable=False),
    )
    return SObjectSchema("Task", "Task", "Tasks", "00T", fields)


def _campaign() -> SObjectSchema:
    types = ("Webinar", "Conference", "Email", "Advertisement", "Direct Mail", "Other")
    statuses = ("Planned", "In Progress", "Completed", "Aborted")
    fields = (
        *_system(),
        text("Name", 80, required=True),
        picklist("Type", types),
        picklist("Status", statuses),
        typed("IsActive", "boolean", defaulted=True, label="Active"),
        ref("ParentId", "Campaign"),
        typed("StartDate", "date"),
        typed("EndDate", "date"),
        typed("Description", "textarea"),
    )
    return SObjectSchema("Campaign", "Campaign", "Campaigns", "701", fields)


def _campaign_member() -> SObjectSchema:
    statuses = (Choice("Sent", default=True), Choice("Responded", meta={"HasResponded": True}))
    fields = (
        *_system(owner=False),
        ref("CampaignId", "Campaign", required=True, updateable=False),
        ref("LeadId", "Lead", updateable=False),
        ref("ContactId", "Contact", updateable=False),
        picklist("Status", statuses, defaulted=True),
        readonly("HasResponded", "boolean", defaulted=True, label="Responded"),
        readonly("FirstRespondedDate", "date"),
    )
    return SObjectSchema("CampaignMember", "Campaign Member", "Campaign Members", "00v", fields)


def _user() -> SObjectSchema:
    fields = (
        *_system(owner=False),
        text("Username", 80, required=True, unique=True),
        text("FirstName", 40),
        text("LastName", 80, required=True),
        readonly("Name", "string", length=121, label="Full Name"),
        typed("Email", "email", required=True),
        text("Alias", 8),
        typed("IsActive", "boolean", defaulted=True, label="Active"),
        text("Title", 80),
    )
    return SObjectSchema("User", "User", "Users", "005", fields)


def _lead_status() -> SObjectSchema:
    fields = (
        *_system(owner=False),
        readonly("ApiName", "string", length=255),
        readonly("MasterLabel", "string", length=255, label="Master Label"),
        readonly("IsDefault", "boolean", defaulted=True, label="Is Default"),
        readonly("IsConverted", "boolean", defaulted=True, label="Is Converted"),
        readonly("SortOrder", "int"),
    )
    return SObjectSchema("LeadStatus", "Lead Status", "Lead Status", "01J", fields, False)


def _opportunity_stage() -> SObjectSchema:
    fields = (
        *_system(owner=False),
        readonly("ApiName", "string", length=255),
        readonly("MasterLabel", "string", length=255, label="Master Label"),
        readonly("IsActive", "boolean", defaulted=True, label="Is Active"),
        readonly("IsClosed", "boolean", defaulted=True, label="Is Closed"),
        readonly("IsWon", "boolean", defaulted=True, label="Is Won"),
        readonly("DefaultProbability", "percent"),
        readonly("ForecastCategoryName", "string", length=40),
        readonly("SortOrder", "int"),
    )
    return SObjectSchema(
        "OpportunityStage", "Opportunity Stage", "Opportunity Stages", "01K", fields, False
    )


def metadata_rows() -> dict[str, list[dict[str, object]]]:
    """The rows of the metadata objects, straight from the picklists they describe."""
    statuses = [
        {
            "ApiName": c.value,
            "MasterLabel": c.value,
            "IsDefault": int(c.default),
            "IsConverted": int(bool(c.meta.get("IsConverted"))),
            "SortOrder": i + 1,
        }
        for i, c in enumerate(LEAD_STATUSES)
    ]
    stages = [
        {
            "ApiName": c.value,
            "MasterLabel": c.value,
            "IsActive": 1,
            "IsClosed": int(bool(c.meta["IsClosed"])),
            "IsWon": int(bool(c.meta["IsWon"])),
            "DefaultProbability": float(c.meta["Probability"]),  # type: ignore[arg-type]
            "ForecastCategoryName": c.meta["ForecastCategoryName"],
            "SortOrder": i + 1,
        }
        for i, c in enumerate(OPPORTUNITY_STAGES)
    ]
    return {"LeadStatus": statuses, "OpportunityStage": stages}


@functools.cache
def schemas() -> Mapping[str, SObjectSchema]:
    """Every imitated sObject, keyed by lower-case name."""
    built = (
        _lead(),
        _contact(),
        _account(),
        _opportunity(),
        _contact_role(),
        _task(),
        _campaign(),
        _campaign_member(),
        _user(),
        _lead_status(),
        _opportunity_stage(),
    )
    return MappingProxyType({s.name.lower(): s for s in built})


def schema(name: str) -> SObjectSchema | None:
    return schemas().get(name.lower())


def canonical_sobject(name: str) -> str | None:
    found = schema(name)
    return found.name if found else None


@functools.cache
def _types(lower: str) -> Mapping[str, str] | None:
    found = schemas().get(lower)
    if found is None:
        return None
    return MappingProxyType({f.name: f.type for f in found.fields})


def field_types(sobject: str) -> Mapping[str, str] | None:
    """{canonical field API name: Salesforce type}, or None for an unknown sObject."""
    return _types(sobject.lower())


def by_key_prefix(record_id: str) -> SObjectSchema | None:
    prefix = record_id[:3]
    return next((s for s in schemas().values() if s.key_prefix == prefix), None)
