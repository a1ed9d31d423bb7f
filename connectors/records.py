"""Frozen value types that cross layers.

Connectors produce them, mappings read them, the sync engine stores their keys. They carry the
systems' raw field values (HubSpot: strings or None; Salesforce: JSON scalars) so that nothing
below the mapping layer interprets the funnel.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType

FieldValue = str | int | float | bool | None


class System(StrEnum):
    HUBSPOT = "hubspot"
    SALESFORCE = "salesforce"


@dataclass(frozen=True, slots=True, order=True)
class RecordKey:
    """One record in one system, e.g. ("salesforce", "Lead", "00Q...")."""

    system: System
    object: str
    id: str

    def __str__(self) -> str:
        return f"{self.system}:{self.object}:{self.id}"


def _frozen(values: Mapping[str, FieldValue]) -> Mapping[str, FieldValue]:
    return MappingProxyType(dict(values))


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """A record as read from a system, with the modification time its cursor is built on.

    `deleted` marks a record seen in the recycle bin (Salesforce IsDeleted, HubSpot archived);
    `merged_into` names the surviving id when the system merged this record away.
    """

    key: RecordKey
    fields: Mapping[str, FieldValue]
    modified_at: datetime
    deleted: bool = False
    merged_into: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", _frozen(self.fields))

    def get(self, name: str) -> FieldValue:
        return self.fields.get(name)


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
