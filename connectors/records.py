"""Frozen value types that cross layers.

Connectors produce them, mappings read them, the sync engine stores their keys. They carry the
systems' raw field values (HubSpot: strings or None; Salesforce: JSON scalars) so that nothing
below the mapping layer interprets the funnel.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, ClassVar

FieldValue = str | int | float | bool | None


class System(StrEnum):
    HUBSPOT = "hubspot"
    SALESFORCE = "salesforce"


@dataclass(frozen=True, order=True)
class RecordKey:
    """One record in one system, e.g. ("salesforce", "Lead", "00Q...").

    Its hash is computed once, when it is made: the engine looks keys up in dicts and sets
    dozens of times per record, and a dataclass would hash its fields again every time.
    """

    __slots__ = ("_hash", "id", "object", "system")

    system: System
    object: str
    id: str
    if TYPE_CHECKING:
        _hash: ClassVar[int]  # an instance slot in fact, set by __post_init__

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash((self.system, self.object, self.id)))

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: builtins.object) -> bool:
        if type(other) is not RecordKey:
            return NotImplemented
        return self.id == other.id and self.object == other.object and self.system == other.system

    def __reduce__(self) -> tuple[type[RecordKey], tuple[System, str, str]]:
        return RecordKey, (self.system, self.object, self.id)

    def __str__(self) -> str:
        return f"{self.system}:{self.object}:{self.id}"


def _frozen(values: Mapping[str, FieldValue]) -> Mapping[str, FieldValue]:
    return MappingProxyType(dict(values))


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """A record as read from a system, with the modification time its cursor is built on.

    `deleted` marks a record seen in the recycle bin (Salesforce IsDeleted, HubSpot archived);
    `merged_into` names the surviving id when the system merged this record away;
    `other_emails` are the addresses besides its email field that the system finds the record
    by, as written there (HubSpot's additional emails: a merge keeps the merged-away contact's
    address there, and an upsert by it lands on this record).
    """

    key: RecordKey
    fields: Mapping[str, FieldValue]
    modified_at: datetime
    deleted: bool = False
    merged_into: str | None = None
    other_emails: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", _frozen(self.fields))

    def get(self, name: str) -> FieldValue:
        return self.fields.get(name)


@dataclass(frozen=True, slots=True)
class ListedPage:
    """One page of a full listing, and where that listing goes on after it.

    `resume` is an opaque position (the system's own cursor: a HubSpot `after`, a Salesforce
    record id or Bulk 2.0 locator) that a later listing of the same object can start from, so
    an interrupted backfill continues instead of starting over; None after the last page.
    """

    records: list[SourceRecord]
    resume: str | None


@dataclass(frozen=True, slots=True)
class ContactRole:
    """A Contact's part in an Opportunity (a Salesforce OpportunityContactRole): how an
    Opportunity made on an existing Contact, rather than by a Lead's conversion, names its
    people. `created_at` is None when the system did not say."""

    id: str
    opportunity_id: str
    contact_id: str
    primary: bool
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Conversion:
    """A converted Lead and the Opportunity its conversion made or joined (Salesforce's
    `ConvertedOpportunityId`): how an Opportunity names the Lead it came from, which it
    does not say itself."""

    lead_id: str
    opportunity_id: str


@dataclass(frozen=True, slots=True)
class RecordPatch:
    """Field values to write to one record; `key.id` is empty for a create.

    `match_on` names an external-id field/property (with its value in `fields`) for idempotent
    upserts, so a retried create can never make a duplicate.
    """

    key: RecordKey
    fields: Mapping[str, FieldValue]
    match_on: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", _frozen(self.fields))


@dataclass(frozen=True, slots=True)
class WriteOutcome:
    """The per-record result of a batch write: the record's id on success, or the vendor's error."""

    patch: RecordPatch
    id: str | None
    created: bool = False
    error_code: str | None = None
    error_message: str | None = None
    retryable: bool = False
    error_fields: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.error_code is None


@dataclass(frozen=True, slots=True)
class PicklistOption:
    value: str
    label: str
    active: bool = True
    default: bool = False


@dataclass(frozen=True, slots=True)
class FieldSchema:
    """What the mapping layer needs to know about one field: type, length, picklist options."""

    name: str
    type: str
    label: str = ""
    length: int | None = None
    nillable: bool = True
    updateable: bool = True
    options: tuple[PicklistOption, ...] = field(default=())


class ChangeKind(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"
    PURGED = "purged"  # deleted for good (a privacy deletion): in no recycle bin
    RESTORED = "restored"
    MERGED = "merged"


@dataclass(frozen=True, slots=True)
class ChangeHint:
    """A webhook's news that a record changed: a hint to re-read it, never the data itself.

    Webhooks arrive late, twice or out of order; the engine re-reads `key` rather than trusting
    a payload. `fields` names the changed properties when the system says so.
    """

    key: RecordKey
    kind: ChangeKind = ChangeKind.UPDATED
    occurred_at: datetime | None = None
    fields: tuple[str, ...] = ()
    merged_into: str | None = None


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    """An incoming webhook as received, before any parsing: what signatures are computed over."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes
    received_at: datetime

    def __post_init__(self) -> None:
        lowered = {k.lower(): v for k, v in self.headers.items()}
        object.__setattr__(self, "headers", MappingProxyType(lowered))

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass(frozen=True, slots=True)
class WebhookReceipt:
    """A verified webhook: its hints, and the exact response the sender expects back.

    Salesforce Outbound Messages need a SOAP acknowledgement; HubSpot needs any 2xx.
    `skipped` counts the events or notifications it carried that could not be read (the
    connector logs each; the polls read what they were about).
    """

    hints: tuple[ChangeHint, ...]
    status_code: int = 200
    response_body: bytes = b""
    media_type: str = "text/plain"
    skipped: int = 0
