"""Describe, limits, versions and resource listings, all derived from objects.py."""

# ruff: noqa: S608 -- table and column names come from objects.py, never from requests; values are bound.

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sandbox.salesforce.api import conditional
from sandbox.salesforce.api.base import Call, Reply
from sandbox.salesforce.api.context import Context
from sandbox.salesforce.objects import SOAP_TYPES, Field, SObjectSchema, schemas
from sandbox.salesforce.records import sobject_or_error

VERSIONS = (
    ("55.0", "Summer '22"),
    ("56.0", "Winter '23"),
    ("57.0", "Spring '23"),
    ("58.0", "Summer '23"),
    ("59.0", "Winter '24"),
    ("60.0", "Spring '24"),
    ("61.0", "Summer '24"),
    ("62.0", "Winter '25"),
)
_NO_OWNER_DELETE = frozenset({"User"})


def versions() -> list[dict[str, str]]:
    return [{"label": label, "url": f"/services/data/v{v}", "version": v} for v, label in VERSIONS]


def resources(call: Call) -> Reply:
    base = f"/services/data/v{call.version}"
    names = ("sobjects", "query", "queryAll", "limits", "composite", "jobs")
    return Reply(200, {name: f"{base}/{name}" for name in names})


def _urls(sobject: SObjectSchema, version: str) -> dict[str, str]:
    base = f"/services/data/v{version}/sobjects/{sobject.name}"
    return {
        "sobject": base,
        "describe": f"{base}/describe",
        "rowTemplate": f"{base}/{{ID}}",
    }


def object_summary(sobject: SObjectSchema, version: str) -> dict[str, Any]:
    system_managed = sobject.name == "User"
    return {
        "name": sobject.name,
        "label": sobject.label,
        "labelPlural": sobject.label_plural,
        "keyPrefix": sobject.key_prefix,
        "custom": False,
        "customSetting": False,
        "activateable": False,
        "createable": sobject.createable,
        "updateable": sobject.createable,
        "deletable": sobject.createable and sobject.name not in _NO_OWNER_DELETE,
        "undeletable": not system_managed,
        "mergeable": sobject.field("MasterRecordId") is not None,
        "replicateable": True,
        "triggerable": True,
        "queryable": True,
        "retrieveable": True,
        "searchable": True,
        "layoutable": True,
        "feedEnabled": False,
        "mruEnabled": True,
        "deprecatedAndHidden": False,
        "urls": _urls(sobject, version),
    }


def field_describe(field: Field) -> dict[str, Any]:
    numeric = field.type in ("int", "double", "currency", "percent")
    byte_length = field.length * 3 if field.type not in ("boolean", "date", "datetime") else 0
    return {
        "name": field.name,
        "type": field.type,
        "label": field.display_label,
        "length": 0 if numeric else field.length,
        "byteLength": 0 if numeric else byte_length,
        "precision": 18 if field.type in ("double", "currency", "percent") else 0,
        "scale": 2 if field.type in ("double", "currency", "percent") else 0,
        "digits": 9 if field.type == "int" else 0,
        "nillable": field.nillable,
        "unique": field.unique,
        "externalId": field.external_id,
        "idLookup": field.id_lookup,
        "createable": field.createable,
        "updateable": field.updateable,
        "defaultedOnCreate": field.defaulted,
        "defaultValue": field.default_choice() if field.type == "picklist" else None,
        "calculated": False,
        "calculatedFormula": None,
        "custom": field.custom,
        "caseSensitive": False,
        "filterable": field.type != "textarea",
        "sortable": field.type != "textarea",
        "groupable": field.type not in ("textarea", "double", "currency", "percent", "datetime"),
        "picklistValues": [
            {
                "active": True,
                "defaultValue": choice.default,
                "label": choice.value,
                "validFor": None,
                "value": choice.value,
            }
            for choice in field.choices
        ],
        "restrictedPicklist": field.restricted,
        "dependentPicklist": False,
        "controllerName": None,
        "referenceTo": [t for t in field.reference_to if t],
        "relationshipName": (
            field.name[:-2] if field.type == "reference" and field.name.endswith("Id") else None
        ),
        "soapType": SOAP_TYPES.get(field.type, "xsd:string"),
        "nameField": field.name == "Name",
        "autoNumber": False,
        "htmlFormatted": False,
        "writeRequiresMasterRead": False,
        "permissionable": field.nillable,
        "deprecatedAndHidden": False,
    }


class DescribeService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def global_describe(self, call: Call) -> Reply:
        return Reply(
            200,
            {
                "encoding": "UTF-8",
                "maxBatchSize": 200,
                "sobjects": [object_summary(s, call.version) for s in schemas().values()],
            },
        )

    def root(self, call: Call) -> Reply:
        sobject = sobject_or_error(call.params["sobject"])
        rows = self.ctx.store.execute(
            f'SELECT Id FROM "{sobject.name}" WHERE IsDeleted = 0 '
            "ORDER BY LastModifiedDate DESC LIMIT 5"
        ).fetchall()
        recent = [
            {
                "attributes": {
                    "type": sobject.name,
                    "url": self.ctx.store.record_url(sobject.name, rid),
                },
                "Id": rid,
            }
            for (rid,) in rows
        ]
        return Reply(
            200, {"objectDescribe": object_summary(sobject, call.version), "recentItems": recent}
        )

    def describe(self, call: Call) -> Reply:
        sobject = sobject_or_error(call.params["sobject"])
        not_modified = conditional.check(call.headers, self._schema_changed())
        if not_modified is not None:
            return not_modified
        body = object_summary(sobject, call.version)
        body["fields"] = [field_describe(f) for f in sobject.fields]
        body["childRelationships"] = []
        body["recordTypeInfos"] = [
            {
                "active": True,
                "available": True,
                "defaultRecordTypeMapping": True,
                "developerName": "Master",
                "master": True,
                "name": "Master",
                "recordTypeId": "012000000000000AAA",
            }
        ]
        body["urls"] = _urls(sobject, call.version)
        return Reply(200, body)

    def _schema_changed(self) -> datetime:
        """Schemas are fixed for the org's life, so they last changed when it came up."""
        return datetime.fromtimestamp(self.ctx.started_at, tz=UTC)

    def limits(self, call: Call) -> Reply:
        limits = self.ctx.limits
        return Reply(
            200,
            {
                "DailyApiRequests": {
                    "Max": limits.max,
                    "Remaining": max(limits.max - limits.used, 0),
                },
                "DailyAsyncApexExecutions": {"Max": 250000, "Remaining": 250000},
                "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000},
                "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000},
                "DailyBulkV2QueryFileStorageMB": {"Max": 1048576, "Remaining": 1048576},
                "DataStorageMB": {"Max": 1024, "Remaining": 1024},
                "FileStorageMB": {"Max": 1024, "Remaining": 1024},
                "SingleEmail": {"Max": 5000, "Remaining": 5000},
            },
        )
