"""Single-record sObject resources: create, get, update, delete, upsert, updated/deleted."""

# ruff: noqa: S608 -- table and column names come from objects.py, never from requests; values are bound.

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sandbox.salesforce.api import conditional
from sandbox.salesforce.api.base import Call, Reply
from sandbox.salesforce.api.context import Context
from sandbox.salesforce.errors import SalesforceError, invalid_field, not_found
from sandbox.salesforce.objects import SObjectSchema
from sandbox.salesforce.records import MultipleMatches, sobject_or_error
from sandbox.salesforce.store import format_datetime, parse_datetime

UPDATED_WINDOW_DAYS = 30
DELETED_WINDOW_DAYS = 15
MAX_REPLICATION_IDS = 600_000


def body_fields(call: Call) -> dict[str, Any]:
    if not isinstance(call.body, dict):
        raise SalesforceError(
            400, "JSON_PARSER_ERROR", "Cannot deserialize instance of sObject from request body"
        )
    return call.body


def refuse_keys_in_body(fields: dict[str, Any], key: str = "Id") -> None:
    """An upsert takes its key from the URL alone: "Do not specify Id or an external ID field in
    the request body or an error is generated" (REST API guide, sObject Rows by External ID).
    Salesforce answers INVALID_FIELD "The <field> field should not be specified in the sobject
    data." whatever value the body gives, the URL's or another (as clients report it). A create
    or update names no key field but refuses `Id` alike (REST guide, Create a Record;
    force-rest-api#69 for an update)."""
    for name in fields:
        if name.lower() in ("id", key.lower()):
            spelled = "Id" if name.lower() == "id" else key
            raise invalid_field(f"The {spelled} field should not be specified in the sobject data.")


def select_fields(sobject: SObjectSchema, spec: str | None) -> list[str] | None:
    if not spec:
        return None
    names = []
    for raw in spec.split(","):
        field = sobject.field(raw.strip())
        if field is None:
            raise SalesforceError(
                400,
                "INVALID_FIELD",
                f"No such column '{raw.strip()}' on sobject of type {sobject.name}",
            )
        names.append(field.name)
    return names


def record_json(
    ctx: Context, sobject: SObjectSchema, row: dict[str, Any], version: str, names: list[str] | None
) -> dict[str, Any]:
    convert = ctx.store.converter(sobject, names or sobject.names, version)
    return convert([row[n] for n in (names or sobject.names)])


def save_result(record_id: str, created: bool | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"id": record_id, "success": True, "errors": []}
    if created is not None:
        out["created"] = created
    return out


class SObjectService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def create(self, call: Call) -> Reply:
        sobject = sobject_or_error(call.params["sobject"])
        fields = body_fields(call)
        refuse_keys_in_body(fields)
        record_id = self.ctx.org.create(sobject.name, fields)
        self.ctx.stats.add_writes(1)
        location = f"/services/data/v{call.version}/sobjects/{sobject.name}/{record_id}"
        return Reply(201, save_result(record_id), headers={"Location": location})

    def get(self, call: Call) -> Reply:
        sobject = sobject_or_error(call.params["sobject"])
        try:
            row = self.ctx.org.load(sobject, call.params["record_id"])
        except SalesforceError as exc:
            if exc.code == "ENTITY_IS_DELETED":
                raise not_found() from None
            raise
        stamp = row.get("LastModifiedDate")
        not_modified = conditional.check(call.headers, parse_datetime(stamp) if stamp else None)
        if not_modified is not None:
            return not_modified
        names = select_fields(sobject, call.query.get("fields"))
        return Reply(200, record_json(self.ctx, sobject, row, call.version, names))

    def update(self, call: Call) -> Reply:
        sobject = sobject_or_error(call.params["sobject"])
        fields = body_fields(call)
        refuse_keys_in_body(fields)
        self.ctx.org.update(sobject.name, call.params["record_id"], fields)
        self.ctx.stats.add_writes(1)
        return Reply(204)

    def delete(self, call: Call) -> Reply:
        sobject = sobject_or_error(call.params["sobject"])
        self.ctx.org.delete(sobject.name, call.params["record_id"])
        self.ctx.stats.add_writes(1)
        return Reply(204)

    def upsert(self, call: Call) -> Reply:
        sobject = sobject_or_error(call.params["sobject"])
        ext_field, value = call.params["field"], call.params["value"]
        fields = body_fields(call)
        key = sobject.field(ext_field)
        if key is not None and key.id_lookup:  # else the 404 for the field comes first
            refuse_keys_in_body(fields, key.name)
        if call.query.get("updateOnly", "").lower() == "true":
            self._require_match(sobject, ext_field, value)
        try:
            record_id, created = self.ctx.org.upsert(sobject.name, ext_field, value, fields)
        except MultipleMatches as exc:
            return Reply(300, exc.urls)
        self.ctx.stats.add_writes(1)
        if created:
            return Reply(201, save_result(record_id, True))
        if float(call.version) >= 46:
            return Reply(200, save_result(record_id, False))
        return Reply(204)

    def _require_match(self, sobject: SObjectSchema, ext_field: str, value: str) -> None:
        field = sobject.field(ext_field)
        if field is not None and not self.ctx.store.find(sobject, {field.name: value}, limit=1):
            raise not_found()

    def get_by_external_id(self, call: Call) -> Reply:
        sobject = sobject_or_error(call.params["sobject"])
        field = sobject.field(call.params["field"])
        if field is None or not field.id_lookup:
            raise SalesforceError(
                404,
                "NOT_FOUND",
                "Provided external ID field does not exist or is not accessible: "
                + call.params["field"],
            )
        matches = self.ctx.store.find(sobject, {field.name: call.params["value"]}, limit=2)
        if not matches:
            raise not_found()
        if len(matches) > 1:
            return Reply(300, [self.ctx.store.record_url(sobject.name, m["Id"]) for m in matches])
        names = select_fields(sobject, call.query.get("fields"))
        return Reply(200, record_json(self.ctx, sobject, matches[0], call.version, names))

    # replication

    def _window(self, call: Call, days: int) -> tuple[datetime, datetime, datetime]:
        now = self.ctx.clock.now_dt().replace(second=0, microsecond=0)
        bounds = []
        for name in ("start", "end"):
            raw = call.query.get(name)
            if not raw:
                raise SalesforceError(
                    400, "MISSING_ARGUMENT", f"{name} parameter is required", [name]
                )
            parsed = parse_datetime(raw)
            if parsed is None:
                raise SalesforceError(
                    400,
                    "INVALID_REPLICATION_DATE",
                    f"Unable to parse {name} date: '{raw}'. Expected an ISO 8601 date and time "
                    "with a time zone offset, e.g. 2024-01-01T00:00:00+00:00",
                    [name],
                )
            bounds.append(parsed.replace(second=0, microsecond=0))
        start, end = bounds
        if start >= end:
            raise SalesforceError(
                400, "INVALID_REPLICATION_DATE", "startDate must chronologically precede endDate"
            )
        if start < now - timedelta(days=days):
            raise SalesforceError(
                400,
                "INVALID_REPLICATION_DATE",
                f"startDate cannot be more than {days} days ago",
            )
        return start, min(end, now), now

    def updated(self, call: Call) -> Reply:
        sobject = sobject_or_error(call.params["sobject"])
        start, covered, _ = self._window(call, UPDATED_WINDOW_DAYS)
        cursor = self.ctx.store.execute(
            f'SELECT Id FROM "{sobject.name}" WHERE IsDeleted = 0 AND SystemModstamp >= ? '
            "AND SystemModstamp < ? ORDER BY SystemModstamp, Id LIMIT ?",
            [format_datetime(start), format_datetime(covered), MAX_REPLICATION_IDS + 1],
        )
        ids = [row[0] for row in cursor.fetchall()]
        if len(ids) > MAX_REPLICATION_IDS:
            raise SalesforceError(
                400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 600000 ids"
            )
        return Reply(200, {"ids": ids, "latestDateCovered": format_datetime(covered)})

    def deleted(self, call: Call) -> Reply:
        sobject = sobject_or_error(call.params["sobject"])
        start, covered, now = self._window(call, DELETED_WINDOW_DAYS)
        cursor = self.ctx.store.execute(
            f'SELECT Id, SystemModstamp FROM "{sobject.name}" WHERE IsDeleted = 1 '
            "AND SystemModstamp >= ? AND SystemModstamp < ? ORDER BY SystemModstamp, Id",
            [format_datetime(start), format_datetime(covered)],
        )
        deleted = [{"id": rid, "deletedDate": stamp} for rid, stamp in cursor.fetchall()]
        horizon = max(
            datetime.fromtimestamp(self.ctx.started_at, tz=now.tzinfo),
            now - timedelta(days=DELETED_WINDOW_DAYS),
        ).replace(second=0, microsecond=0)
        return Reply(
            200,
            {
                "deletedRecords": deleted,
                "earliestDateAvailable": format_datetime(horizon),
                "latestDateCovered": format_datetime(covered),
            },
        )
