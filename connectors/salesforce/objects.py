"""The sObjects Baton reads and writes, as data: one `ObjectSpec` row per sObject.

The generic reader and writer read this table; nothing else names fields. Every object is read
incrementally on `SystemModstamp` (it moves on changes by users *and* automation, and is
indexed; salesforce-api.md §6), and every object carries `IsDeleted` for queryAll.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from connectors.errors import ConfigError
from connectors.records import System

MODIFIED_FIELD = "SystemModstamp"
ID_FIELD = "Id"
DELETED_FIELD = "IsDeleted"
MASTER_FIELD = "MasterRecordId"
EXTERNAL_ID_FIELD = "Baton_Id__c"

# sObject Collections take at most 200 records per call (§3.3).
COLLECTION_SIZE = 200
# A query page holds up to 2,000 records (§3.1).
QUERY_PAGE = 2000
# A REST query travels in a GET URL, and Salesforce refuses a request URI over 16,384 bytes
# (414; URI plus headers over that: 431; §3.2). Queries are sized to QUERY_URL_BUDGET bytes of
# path and `?q=`, which leaves the rest for the headers (the bearer token, user agent...).
# The URL limit binds long before SOQL's own 100,000 characters a statement.
MAX_URI_BYTES = 16_384
QUERY_URL_BUDGET = 15_500

_SYSTEM = (ID_FIELD, DELETED_FIELD, MODIFIED_FIELD, "CreatedDate", "LastModifiedDate")
_FUNNEL = ("Baton_Id__c", "MQL_Date__c", "Marketing_Score__c", "Funnel_Stage__c")
_FUNNEL_WRITES = (*_FUNNEL, "Rejection_Reason__c", "Original_Campaign__c")
_LEAD_ADDRESS = ("Street", "City", "State", "PostalCode", "Country")
_MAILING_ADDRESS = tuple(f"Mailing{part}" for part in _LEAD_ADDRESS)


@dataclass(frozen=True, slots=True)
class ObjectSpec:
    """One sObject: what to read, what may be written, and how upserts match.

    Args:
        name: the API name (`Lead`).
        fields: fields read by default (system fields included).
        writable: fields Baton may write (anything else in a patch is refused up front).
        external_id: the external-id field upserts match on, when the object has one.
        key_prefix: the first three characters of every id of the object (salesforce-api.md
            §7): an id that does not start with them names another object's record.
        mergeable: the object has `MasterRecordId` (merged-away rows point at the survivor).
    """

    name: str
    fields: tuple[str, ...]
    writable: tuple[str, ...]
    key_prefix: str
    external_id: str | None = None
    mergeable: bool = False

    @property
    def read_fields(self) -> tuple[str, ...]:
        """Default fields plus what the reader itself needs, without duplicates."""
        needed = (*_SYSTEM, *((MASTER_FIELD,) if self.mergeable else ()))
        return tuple(dict.fromkeys((*needed, *self.fields)))


def _spec(
    name: str,
    fields: tuple[str, ...],
    writable: tuple[str, ...],
    *,
    key_prefix: str,
    external_id: str | None = None,
    mergeable: bool = False,
) -> ObjectSpec:
    return ObjectSpec(name, (*_SYSTEM, *fields), writable, key_prefix, external_id, mergeable)


_PERSON = ("FirstName", "LastName", "Email", "Phone", "Title", "LeadSource", "OwnerId")

OBJECTS: Mapping[str, ObjectSpec] = MappingProxyType(
    {
        spec.name: spec
        for spec in (
            _spec(
                "Lead",
                (
                    *_PERSON,
                    "Company",
                    "Status",
                    "Rating",
                    "Industry",
                    "IsConverted",
                    "ConvertedDate",
                    "ConvertedAccountId",
                    "ConvertedContactId",
                    "ConvertedOpportunityId",
                    *_LEAD_ADDRESS,
                    *_FUNNEL_WRITES,
                ),
                (
                    *_PERSON,
                    "Company",
                    "Status",
                    "Rating",
                    "Industry",
                    *_LEAD_ADDRESS,
                    *_FUNNEL_WRITES,
                ),
                key_prefix="00Q",
                external_id=EXTERNAL_ID_FIELD,
                mergeable=True,
            ),
            _spec(
                "Contact",
                (*_PERSON, "AccountId", *_MAILING_ADDRESS, *_FUNNEL_WRITES),
                (*_PERSON, "AccountId", *_MAILING_ADDRESS, *_FUNNEL_WRITES),
                key_prefix="003",
                external_id=EXTERNAL_ID_FIELD,
                mergeable=True,
            ),
            _spec(
                "Account",
                ("Name", "Type", "Industry", "AccountSource", "Website", "OwnerId"),
                ("Name", "Type", "Industry", "AccountSource", "Website", "OwnerId"),
                key_prefix="001",
                mergeable=True,
            ),
            _spec(
                "Opportunity",
                (
                    "Name",
                    "AccountId",
                    "StageName",
                    "Amount",
                    "Probability",
                    "CloseDate",
                    "IsClosed",
                    "IsWon",
                    "LeadSource",
                    "CampaignId",
                    "OwnerId",
                ),
                ("Name", "AccountId", "StageName", "Amount", "CloseDate", "LeadSource"),
                key_prefix="006",
            ),
            _spec(
                "OpportunityContactRole",
                ("OpportunityId", "ContactId", "Role", "IsPrimary"),
                ("OpportunityId", "ContactId", "Role", "IsPrimary"),
                key_prefix="00K",
            ),
            _spec(
                "Task",
                ("WhoId", "WhatId", "Subject", "Status", "Priority", "ActivityDate", "IsClosed"),
                ("WhoId", "WhatId", "Subject", "Status", "Priority", "ActivityDate"),
                key_prefix="00T",
            ),
            _spec(
                "Campaign",
                ("Name", "Type", "Status", "IsActive", "ParentId", "StartDate", "EndDate"),
                ("Name", "Type", "Status", "IsActive", "StartDate", "EndDate"),
                key_prefix="701",
            ),
            _spec(
                "CampaignMember",
                ("CampaignId", "LeadId", "ContactId", "Status", "HasResponded"),
                ("CampaignId", "LeadId", "ContactId", "Status"),
                key_prefix="00v",
            ),
        )
    }
)


def spec_for(name: str) -> ObjectSpec:
    """The row for `name`, or a `ConfigError` naming the objects Baton supports."""
    spec = OBJECTS.get(name)
    if spec is None:
        raise ConfigError(
            f"unsupported Salesforce object {name!r}",
            setting="object",
            fix="use one of " + ", ".join(OBJECTS),
            system=System.SALESFORCE,
        )
    return spec
