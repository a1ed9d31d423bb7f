"""What the org refuses, and what it derives, when a record is written.

`prepare` turns a REST-style field mapping into validated column values for one create or
update, raising the `SalesforceError` Salesforce would answer with. Org configuration lives
here as data: the phone validation rule, which picklists are restricted (objects.py), and the
values Salesforce derives from others (Name, Opportunity stage, campaign response, task state).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sandbox.salesforce.errors import SalesforceError
from sandbox.salesforce.objects import TEXT_TYPES, Field, SObjectSchema, by_key_prefix
from sandbox.salesforce.store import Row, Store, normalize_id, to_db

PHONE_RULE_OBJECTS = frozenset({"Lead", "Contact"})
PHONE_RULE_MESSAGE = "Phone must be a valid phone number"
PHONE_MIN_DIGITS = 7
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_FULL_NAME_OBJECTS = frozenset({"Lead", "Contact", "User"})


def error(code: str, message: str, fields: list[str] | None = None) -> SalesforceError:
    return SalesforceError(400, code, message, fields)


def canonical_fields(sobject: SObjectSchema, fields: Mapping[str, Any]) -> dict[Field, Any]:
    """Resolve names case-insensitively; `attributes` is envelope, anything unknown is refused."""
    resolved: dict[Field, Any] = {}
    for name, value in fields.items():
        if name == "attributes":
            continue
        field = sobject.field(name)
        if field is None:
            raise error(
                "INVALID_FIELD", f"No such column '{name}' on sobject of type {sobject.name}"
            )
        resolved[field] = value
    return resolved


def check_json_values(sobject: SObjectSchema, fields: Mapping[str, Any]) -> None:
    """Refuse a value its field's type cannot be read from (JSON_PARSER_ERROR), as Salesforce's
    JSON parser does before any record is written; unknown fields are left to `prepare`."""
    for name, value in fields.items():
        field = None if name == "attributes" else sobject.field(name)
        if field is not None and field.name != "Id":
            _convert(field, value)


def _convert(field: Field, value: Any) -> Any:
    if isinstance(value, str) and field.type in TEXT_TYPES:
        value = value.strip() if field.type in ("email", "phone", "url") else value
        if value == "":
            return None
    try:
        return to_db(field.type, value)
    except (ValueError, TypeError):
        kind = {"datetime": "datetime", "date": "date", "boolean": "boolean"}.get(
            field.type, "double" if field.type != "int" else "int"
        )
        if field.type in TEXT_TYPES:
            kind = "String"
        raise error(
            "JSON_PARSER_ERROR",
            f"Cannot deserialize instance of {kind} from VALUE_STRING value {value} or request "
            "may be missing a required field",
        ) from None


def _check_value(sobject: SObjectSchema, field: Field, value: Any, store: Store) -> None:
    if value is None:
        return
    if field.type in TEXT_TYPES and field.length and len(value) > field.length:
        raise error(
            "STRING_TOO_LONG",
            f"{field.display_label}: data value too large: {value[:60]} "
            f"(max length={field.length})",
            [field.name],
        )
    if field.type == "picklist" and field.restricted and field.choice(value) is None:
        raise error(
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            f"{field.display_label}: bad value for restricted picklist field: {value}",
            [field.name],
        )
    if field.type == "email" and not _EMAIL.match(value):
        raise error(
            "INVALID_EMAIL_ADDRESS",
            f"{field.display_label}: invalid email address: {value}",
            [field.name],
        )
    if field.type == "reference":
        normal = normalize_id(value)
        target = by_key_prefix(normal) if normal else None
        if normal is None:
            raise error(
                "MALFORMED_ID",
                f"{field.display_label}: id value of incorrect type: {value}",
                [field.name],
            )
        if (
            target is None
            or (field.reference_to and target.name not in field.reference_to)
            or store.get(target, normal) is None
        ):
            raise error(
                "INVALID_CROSS_REFERENCE_KEY",
                f"invalid cross reference id: {value}"
                if target is None
                else f"{field.display_label}: id value of incorrect type: {value}",
                [field.name],
            )


def _check_unique(
    sobject: SObjectSchema, field: Field, value: Any, store: Store, own_id: str | None
) -> None:
    if value is None or not field.unique:
        return
    for row in store.find(sobject, {field.name: value}, limit=2):
        if row["Id"] != own_id:
            raise error(
                "DUPLICATE_VALUE",
                f"duplicate value found: {field.name} duplicates value on record with id: "
                f"{row['Id']}",
                [field.name],
            )


def _defaults(sobject: SObjectSchema, owner_id: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field in sobject.fields:
        if field.type == "boolean":
            out[field.name] = 1 if field.name == "IsActive" and sobject.name == "User" else 0
        elif field.type == "picklist" and field.defaulted:
            out[field.name] = field.default_choice()
    if sobject.field("OwnerId"):
        out["OwnerId"] = owner_id
    return out


def _derive(sobject: SObjectSchema, record: dict[str, Any], changed: set[str]) -> None:
    """Values Salesforce computes from others on every save."""
    name = sobject.name
    if name in _FULL_NAME_OBJECTS:
        record["Name"] = " ".join(p for p in (record.get("FirstName"), record.get("LastName")) if p)
    if name == "Opportunity" and "StageName" in changed:
        choice = sobject.field("StageName").choice(record["StageName"])  # type: ignore[union-attr]
        if choice is not None:
            meta = choice.meta
            record["IsClosed"] = int(bool(meta["IsClosed"]))
            record["IsWon"] = int(bool(meta["IsWon"]))
            record["ForecastCategoryName"] = meta["ForecastCategoryName"]
            if "Probability" not in changed or record.get("Probability") is None:
                record["Probability"] = float(meta["Probability"])  # type: ignore[arg-type]
    if name == "Task" and "Status" in changed:
        choice = sobject.field("Status").choice(record.get("Status") or "")  # type: ignore[union-attr]
        record["IsClosed"] = int(bool(choice and choice.meta.get("IsClosed")))
    if name == "CampaignMember" and "Status" in changed:
        choice = sobject.field("Status").choice(record.get("Status") or "")  # type: ignore[union-attr]
        responded = bool(choice and choice.meta.get("HasResponded"))
        record["HasResponded"] = int(responded)


def _phone_rule(sobject: SObjectSchema, record: Mapping[str, Any]) -> None:
    if sobject.name not in PHONE_RULE_OBJECTS:
        return
    phone = record.get("Phone")
    if phone and sum(ch.isdigit() for ch in phone) < PHONE_MIN_DIGITS:
        raise error("FIELD_CUSTOM_VALIDATION_EXCEPTION", PHONE_RULE_MESSAGE, ["Phone"])


def prepare(
    sobject: SObjectSchema,
    fields: Mapping[str, Any],
    *,
    store: Store,
    existing: Row | None,
    owner_id: str,
    system: bool = False,
) -> dict[str, Any]:
    """Validated column values to write (a full row for a create, the changes for an update).

    `system` is the org itself writing (lead conversion, merge): read-only fields allowed,
    validation rules and the converted-lead lock skipped.
    """
    resolved = canonical_fields(sobject, fields)
    creating = existing is None
    if not system:
        if not creating and sobject.name == "Lead" and existing and existing.get("IsConverted"):
            raise error("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead")
        blocked = [
            f.name
            for f in resolved
            if f.name != "Id" and not (f.createable if creating else f.updateable)
        ]
        if blocked:
            verb = "create" if creating else "update"
            raise error(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to {verb} fields: {blocked}. Please check the security settings of this "
                "field and verify that it is read/write for your profile or permission set.",
                blocked,
            )
    changes: dict[str, Any] = {}
    for field, value in resolved.items():
        if field.name == "Id":
            continue
        converted = _convert(field, value)
        if converted is None and field.type == "picklist" and field.restricted and field.defaulted:
            converted = field.default_choice() if creating else existing.get(field.name)  # type: ignore[union-attr]
        _check_value(sobject, field, converted, store)
        _check_unique(sobject, field, converted, store, None if creating else existing["Id"])  # type: ignore[index]
        changes[field.name] = converted
    record = _defaults(sobject, owner_id) if creating else dict(existing)  # type: ignore[arg-type]
    if creating:
        derived_from = set(changes) | {f.name for f in sobject.fields if f.defaulted}
    else:
        derived_from = set(changes)
    record.update(changes)
    _derive(sobject, record, derived_from)
    missing = [
        f.name
        for f in sobject.fields
        if f.required and (record.get(f.name) is None or record.get(f.name) == "")
    ]
    if missing:
        raise error(
            "REQUIRED_FIELD_MISSING",
            f"Required fields are missing: [{', '.join(missing)}]",
            missing,
        )
    if not system:
        _phone_rule(sobject, record)
    if creating:
        return record
    return {k: v for k, v in record.items() if existing.get(k) != v}  # type: ignore[union-attr]
