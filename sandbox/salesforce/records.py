"""Record operations every entry point shares: REST, collections, composite, Bulk, actors.

`Org` applies rules, stamps system fields from the sandbox clock and tells the outbound
messenger about Lead/Contact changes. It never counts API writes: callers that are the API do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any

from sandbox.salesforce import rules
from sandbox.salesforce.errors import SalesforceError, not_found
from sandbox.salesforce.objects import CONVERTED_STATUS, SObjectSchema, schema, schemas
from sandbox.salesforce.store import Row, Store, format_datetime, normalize_id
from sandbox.shared.clock import Clock

NOTIFIED = frozenset({"Lead", "Contact"})
Notify = Callable[[str, Mapping[str, Any]], None]


def sobject_or_error(name: str) -> SObjectSchema:
    found = schema(name)
    if found is None:
        raise SalesforceError(
            404, "NOT_FOUND", f"The requested resource does not exist: sObject type '{name}'"
        )
    return found


def writable_or_error(sobject: SObjectSchema, verb: str) -> None:
    if not sobject.createable:
        raise SalesforceError(
            400,
            "INVALID_TYPE_FOR_OPERATION",
            f"entity type cannot be {verb}: {sobject.label}",
        )


def end_of_quarter(day: date) -> date:
    quarter_end_month = ((day.month - 1) // 3 + 1) * 3
    first_of_next = date(day.year + quarter_end_month // 12, quarter_end_month % 12 + 1, 1)
    return first_of_next - timedelta(days=1)


class Org:
    def __init__(self, store: Store, clock: Clock, *, user_id: str, notify: Notify) -> None:
        self.store = store
        self.clock = clock
        self.user_id = user_id
        self.notify = notify
        self._pending: list[tuple[SObjectSchema, str]] | None = None

    # helpers

    def now(self) -> str:
        return format_datetime(self.clock.now_dt())

    def _stamp(self, values: dict[str, Any], *, creating: bool) -> None:
        now = self.now()
        if creating:
            values["CreatedDate"] = now
            values["CreatedById"] = self.user_id
            values["IsDeleted"] = 0
        values["LastModifiedDate"] = now
        values["LastModifiedById"] = self.user_id
        values["SystemModstamp"] = now

    @contextmanager
    def batch(self) -> Iterator[None]:
        """All-or-nothing writes: a savepoint, with outbound notifications held until commit."""
        outermost = self._pending is None
        if outermost:
            self._pending = []
        pending = self._pending
        assert pending is not None
        mark = len(pending)
        try:
            with self.store.transaction():
                yield
        except BaseException:
            del pending[mark:]
            if outermost:
                self._pending = None
            raise
        if outermost:
            self._pending = None
            for sobject, record_id in pending:
                self._changed(sobject, record_id)

    def _changed(self, sobject: SObjectSchema, record_id: str) -> None:
        if self._pending is not None:
            self._pending.append((sobject, record_id))
            return
        if sobject.name in NOTIFIED:
            row = self.store.get(sobject, record_id)
            if row is not None:
                self.notify(sobject.name, self.store.to_json(sobject, row))

    def load(self, sobject: SObjectSchema, record_id: str, *, deleted_ok: bool = False) -> Row:
        normal = normalize_id(record_id)
        if normal is None or normal[:3] != sobject.key_prefix:
            raise SalesforceError(
                400 if normal is None else 404,
                "MALFORMED_ID" if normal is None else "NOT_FOUND",
                f"{sobject.label} ID: id value of incorrect type: {record_id}"
                if normal is None
                else "The requested resource does not exist",
                ["Id"] if normal is None else None,
            )
        row = self.store.get(sobject, normal)
        if row is None:
            raise not_found()
        if row["IsDeleted"] and not deleted_ok:
            raise SalesforceError(404, "ENTITY_IS_DELETED", "entity is deleted", [])
        return row

    # writes

    def create(self, sobject_name: str, fields: Mapping[str, Any], *, system: bool = False) -> str:
        sobject = sobject_or_error(sobject_name)
        if not system:
            writable_or_error(sobject, "inserted")
        values = rules.prepare(
            sobject, fields, store=self.store, existing=None, owner_id=self.user_id, system=system
        )
        values["Id"] = self.store.new_id(sobject)
        self._stamp(values, creating=True)
        self.store.insert(sobject, values)
        self._changed(sobject, values["Id"])
        return str(values["Id"])

    def update(
        self,
        sobject_name: str,
        record_id: str,
        fields: Mapping[str, Any],
        *,
        system: bool = False,
    ) -> str:
        sobject = sobject_or_error(sobject_name)
        if not system:
            writable_or_error(sobject, "updated")
        row = self.load(sobject, record_id)
        changes = rules.prepare(
            sobject, fields, store=self.store, existing=row, owner_id=self.user_id, system=system
        )
        self._stamp(changes, creating=False)
        self.store.update(sobject, row["Id"], changes)
        self._changed(sobject, row["Id"])
        return str(row["Id"])

    def delete(self, sobject_name: str, record_id: str) -> str:
        sobject = sobject_or_error(sobject_name)
        writable_or_error(sobject, "deleted")
        row = self.load(sobject, record_id)
        now = self.now()
        self.store.update(
            sobject,
            row["Id"],
            {"IsDeleted": 1, "SystemModstamp": now, "LastModifiedDate": now},
        )
        return str(row["Id"])

    def upsert(
        self, sobject_name: str, ext_field: str, value: str, fields: Mapping[str, Any]
    ) -> tuple[str, bool]:
        """(id, created). Id as the field means: update that record, or create when blank."""
        sobject = sobject_or_error(sobject_name)
        field = sobject.field(ext_field)
        if field is None or not field.id_lookup:
            raise SalesforceError(
                404,
                "NOT_FOUND",
                "Provided external ID field does not exist or is not accessible: " + ext_field,
            )
        body = {k: v for k, v in fields.items() if k.lower() != field.name.lower()}
        if field.name == "Id":
            if not value:
                return self.create(sobject.name, body), True
            return self.update(sobject.name, value, body), False
        matches = self.store.find(sobject, {field.name: value}, limit=2)
        if len(matches) > 1:
            raise MultipleMatches([self.store.record_url(sobject.name, m["Id"]) for m in matches])
        if matches:
            return self.update(sobject.name, matches[0]["Id"], body), False
        return self.create(sobject.name, {**body, field.name: value}), True

    # UI-only operations (no REST resource exists for them)

    def convert_lead(
        self,
        lead_id: str,
        *,
        converted_status: str = CONVERTED_STATUS,
        create_opportunity: bool = True,
        account_id: str | None = None,
        contact_id: str | None = None,
        opportunity_name: str | None = None,
    ) -> dict[str, Any]:
        lead_schema = sobject_or_error("Lead")
        lead = self.load(lead_schema, lead_id)
        if lead["IsConverted"]:
            raise rules.error("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead")
        status = lead_schema.field("Status").choice(converted_status)  # type: ignore[union-attr]
        if status is None or not status.meta.get("IsConverted"):
            raise rules.error(
                "INVALID_STATUS", f"invalid convertedStatus: {converted_status}", ["Status"]
            )
        company = lead.get("Company") or lead.get("LastName") or "Unknown"
        with self.batch():
            if account_id is None:
                account_id = self.create("Account", {"Name": company}, system=True)
            else:
                account_id = self.load(sobject_or_error("Account"), account_id)["Id"]
            if contact_id is None:
                contact_id = self.create(
                    "Contact",
                    {
                        "AccountId": account_id,
                        "FirstName": lead.get("FirstName"),
                        "LastName": lead.get("LastName"),
                        "Email": lead.get("Email"),
                        "Phone": lead.get("Phone"),
                        "Title": lead.get("Title"),
                        "LeadSource": lead.get("LeadSource"),
                        # The org maps Baton's custom Lead fields to Contact fields (Setup >
                        # Lead field mapping), as Baton's install guide asks.
                        "Baton_Id__c": lead.get("Baton_Id__c"),
                        "Original_Campaign__c": lead.get("Original_Campaign__c"),
                        "MQL_Date__c": lead.get("MQL_Date__c"),
                        "Marketing_Score__c": lead.get("Marketing_Score__c"),
                        "Funnel_Stage__c": lead.get("Funnel_Stage__c"),
                    },
                    system=True,
                )
            else:
                contact_id = self.load(sobject_or_error("Contact"), contact_id)["Id"]
            opportunity_id = None
            if create_opportunity:
                today = self.clock.now_dt().date()
                opportunity_id = self.create(
                    "Opportunity",
                    {
                        "AccountId": account_id,
                        "Name": opportunity_name or f"{company}-",
                        "StageName": "Prospecting",
                        "CloseDate": end_of_quarter(today).isoformat(),
                        "LeadSource": lead.get("LeadSource"),
                    },
                    system=True,
                )
            self._carry_over(lead["Id"], contact_id)
            self.update(
                "Lead",
                lead["Id"],
                {
                    "Status": status.value,
                    "IsConverted": True,
                    "ConvertedDate": self.clock.now_dt().date().isoformat(),
                    "ConvertedAccountId": account_id,
                    "ConvertedContactId": contact_id,
                    "ConvertedOpportunityId": opportunity_id,
                },
                system=True,
            )
        return {
            "accountId": account_id,
            "contactId": contact_id,
            "leadId": lead["Id"],
            "opportunityId": opportunity_id,
            "relatedPersonAccountId": None,
            "success": True,
            "errors": [],
        }

    def _carry_over(self, lead_id: str, contact_id: str) -> None:
        """Conversion hands the lead's activities and campaign memberships to the contact."""
        now = self.now()
        stamp = {"SystemModstamp": now, "LastModifiedDate": now}
        for name, field in (("Task", "WhoId"), ("CampaignMember", "LeadId")):
            child = sobject_or_error(name)
            target = "WhoId" if name == "Task" else "ContactId"
            for row in self.store.find(child, {field: lead_id}, limit=None):
                self.store.update(child, row["Id"], {target: contact_id, **stamp})

    def merge(self, sobject_name: str, master_id: str, duplicate_id: str) -> dict[str, Any]:
        """Loser to the recycle bin pointing at the winner; its children move to the winner;
        the winner's blank fields are filled from the loser. Returns a MergeResult."""
        sobject = sobject_or_error(sobject_name)
        if sobject.field("MasterRecordId") is None:
            raise rules.error("INVALID_TYPE", f"{sobject.name} records cannot be merged")
        master = self.load(sobject, master_id)
        loser = self.load(sobject, duplicate_id)
        if master["Id"] == loser["Id"]:
            raise rules.error("INVALID_ID_FIELD", "Cannot merge a record with itself")
        fill = {
            f.name: loser[f.name]
            for f in sobject.fields
            if f.updateable
            and not f.unique
            and master.get(f.name) in (None, "")
            and loser.get(f.name) not in (None, "")
        }
        with self.batch():
            if fill:
                self.update(sobject.name, master["Id"], fill, system=True)
            moved = self._reparent(sobject, loser["Id"], master["Id"])
            now = self.now()
            self.store.update(
                sobject,
                loser["Id"],
                {
                    "IsDeleted": 1,
                    "MasterRecordId": master["Id"],
                    "SystemModstamp": now,
                    "LastModifiedDate": now,
                },
            )
        return {
            "id": master["Id"],
            "mergedRecordIds": [loser["Id"]],
            "updatedRelatedIds": moved,
            "success": True,
            "errors": [],
        }

    def _reparent(self, parent: SObjectSchema, old_id: str, new_id: str) -> list[str]:
        """Point every live child record's lookup at the surviving parent."""
        moved: list[str] = []
        now = self.now()
        for child in schemas().values():
            for field in child.fields:
                if parent.name not in field.reference_to or field.name == "MasterRecordId":
                    continue
                ids = [
                    row["Id"] for row in self.store.find(child, {field.name: old_id}, limit=None)
                ]
                for child_id in ids:
                    self.store.update(
                        child,
                        child_id,
                        {field.name: new_id, "SystemModstamp": now, "LastModifiedDate": now},
                    )
                    self._changed(child, child_id)
                moved += ids
        return moved


class MultipleMatches(Exception):
    """Upsert found more than one record: answered with 300 and the candidates' URLs."""

    def __init__(self, urls: list[str]) -> None:
        super().__init__(f"{len(urls)} records match")
        self.urls = urls


def folded_key(value: Any) -> str | None:
    """An external id as an upsert matches it: text compares case-insensitively."""
    return None if value in (None, "") else str(value).lower()


def repeated_keys(field_name: str, values: Sequence[Any]) -> set[str]:
    """The external ids one upsert call (or one 200-row chunk of a Bulk job) names more than
    once. Salesforce matches each key once per call, so every record naming such a key is
    refused, neither inserted nor updated; record ids (`Id`) are not external ids."""
    if field_name == "Id":
        return set()
    seen: set[str] = set()
    twice: set[str] = set()
    for value in values:
        key = folded_key(value)
        if key is not None:
            (twice if key in seen else seen).add(key)
    return twice


def duplicate_key(field_name: str, value: Any) -> SalesforceError:
    return SalesforceError(
        400, "DUPLICATE_VALUE", f"Duplicate external id specified: {value}", [field_name]
    )
