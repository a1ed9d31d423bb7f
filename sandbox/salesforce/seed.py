"""Seed data for the imitated org, streamed in chunks so large volumes cost disk, not RAM.

Leads are the shared people at `salesforce_lead_indexes` (half of them are also HubSpot
contacts); a quarter as many Contacts come from the people just before them, on Accounts
named after their companies. Seeded records keep the mess real orgs have (junk phones the
validation rule would refuse, mixed-case emails, converted leads); seeding bypasses the rules,
as an import does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from itertools import islice
from typing import Any

from sandbox.salesforce.objects import REJECTION_REASONS, SObjectSchema, schema
from sandbox.salesforce.store import Store, format_datetime
from sandbox.shared.clock import Clock
from sandbox.shared.people import CAMPAIGNS, Person, person, salesforce_lead_indexes

CHUNK = 5_000
REPS = (("Sam", "Seller"), ("Riley", "Rep"), ("Alex", "Closer"))
NO_COMPANY = "[not provided]"
# One lead in 25 arrives already converted (at most this many, so huge seeds stay fast).
CONVERTED_SHARE, MAX_CONVERTED = 25, 2_000


def _schema(name: str) -> SObjectSchema:
    found = schema(name)
    assert found is not None
    return found


class Seeder:
    def __init__(self, store: Store, clock: Clock, owner_id: str) -> None:
        self.store = store
        self.clock = clock
        self.owner_id = owner_id
        self.accounts: dict[str, str] = {}

    def _stamps(self, who: Person) -> tuple[str, str]:
        now = self.clock.now_dt()
        created = now - timedelta(days=who.age_days, minutes=who.index % 1440)
        modified = created + (now - created) * ((who.index * 7919 % 100) / 100)
        return format_datetime(created), format_datetime(modified)

    def _insert(self, sobject: SObjectSchema, rows: Iterator[dict[str, Any]]) -> None:
        names = sobject.names
        while chunk := list(islice(rows, CHUNK)):
            with self.store.transaction():
                self.store.insert_many(
                    sobject, names, ([row.get(n) for n in names] for row in chunk)
                )

    def _base(self, sobject: SObjectSchema, who: Person, owner: str) -> dict[str, Any]:
        created, modified = self._stamps(who)
        return {
            "Id": self.store.new_id(sobject),
            "IsDeleted": 0,
            "CreatedDate": created,
            "CreatedById": self.owner_id,
            "LastModifiedDate": modified,
            "LastModifiedById": self.owner_id,
            "SystemModstamp": modified,
            "OwnerId": owner,
        }

    def users(self) -> list[str]:
        user = _schema("User")
        ids = []
        for first, last in REPS:
            values = self._simple(user)
            values |= {
                "FirstName": first,
                "LastName": last,
                "Name": f"{first} {last}",
                "Username": f"{first.lower()}.{last.lower()}@baton.sandbox",
                "Email": f"{first.lower()}.{last.lower()}@baton.sandbox",
                "Alias": (first[:1] + last[:4]).lower(),
                "IsActive": 1,
            }
            self.store.insert(user, values)
            ids.append(values["Id"])
        return ids

    def _simple(self, sobject: SObjectSchema) -> dict[str, Any]:
        now = format_datetime(self.clock.now_dt())
        values: dict[str, Any] = {
            "Id": self.store.new_id(sobject),
            "IsDeleted": 0,
            "CreatedDate": now,
            "CreatedById": self.owner_id,
            "LastModifiedDate": now,
            "LastModifiedById": self.owner_id,
            "SystemModstamp": now,
        }
        if sobject.field("OwnerId"):
            values["OwnerId"] = self.owner_id
        return values

    def campaigns(self) -> None:
        campaign = _schema("Campaign")
        for name in CAMPAIGNS:
            values = self._simple(campaign) | {
                "Name": name,
                "Type": "Webinar" if "Webinar" in name else "Other",
                "Status": "In Progress",
                "IsActive": 1,
            }
            self.store.insert(campaign, values)

    def leads(self, indexes: range, seed: int, owners: Sequence[str]) -> None:
        lead = _schema("Lead")

        def rows() -> Iterator[dict[str, Any]]:
            for index in indexes:
                who = person(seed, index)
                roll = (index * 2654435761) % 100
                status = "Open - Not Contacted"
                reason = None
                if roll >= 85:
                    status, reason = "Closed - Not Converted", REJECTION_REASONS[roll % 9]
                elif roll >= 60:
                    status = "Working - Contacted"
                first = who.first_name or None
                yield self._base(lead, who, owners[index % len(owners)]) | {
                    "FirstName": first,
                    "LastName": who.last_name,
                    "Name": " ".join(p for p in (first, who.last_name) if p),
                    "Company": who.company or NO_COMPANY,
                    "Title": who.title,
                    "Email": who.email or None,
                    "Phone": who.phone or None,
                    "Country": who.country or None,
                    "State": who.state or None,
                    "LeadSource": who.lead_source,
                    "Status": status,
                    "Rejection_Reason__c": reason,
                    "Rating": ("Hot", "Warm", "Cold")[who.score % 3],
                    "Marketing_Score__c": float(who.score),
                    "IsConverted": 0,
                    "IsUnreadByOwner": 0,
                }

        self._insert(lead, rows())

    def contacts(self, indexes: range, seed: int, owners: Sequence[str]) -> None:
        contact = _schema("Contact")

        def rows() -> Iterator[dict[str, Any]]:
            for index in indexes:
                who = person(seed, index)
                first = who.first_name or None
                yield self._base(contact, who, owners[index % len(owners)]) | {
                    "AccountId": self._account(who.company or NO_COMPANY),
                    "FirstName": first,
                    "LastName": who.last_name,
                    "Name": " ".join(p for p in (first, who.last_name) if p),
                    "Title": who.title,
                    "Email": who.email or None,
                    "Phone": who.phone or None,
                    "MailingCountry": who.country or None,
                    "MailingState": who.state or None,
                    "LeadSource": who.lead_source,
                    "Marketing_Score__c": float(who.score),
                }

        self._insert(contact, rows())

    def _account(self, company: str) -> str:
        found = self.accounts.get(company)
        if found is None:
            account = _schema("Account")
            values = self._simple(account) | {"Name": company, "Type": "Prospect"}
            self.store.insert(account, values)
            found = self.accounts[company] = values["Id"]
        return found


def seed_org(
    store: Store, clock: Clock, owner_id: str, *, contacts: int, leads: int, seed: int
) -> None:
    seeder = Seeder(store, clock, owner_id)
    owners = [owner_id, *seeder.users()]
    seeder.campaigns()
    lead_indexes = salesforce_lead_indexes(contacts=contacts, leads=leads)
    seeder.leads(lead_indexes, seed, owners)
    start = lead_indexes.start
    count = min(leads // 4, start)
    seeder.contacts(range(start - count, start), seed, owners)


def convert_some_leads(store: Store, convert: Callable[[str, bool], object], *, leads: int) -> None:
    """Convert a deterministic share of the worked leads, as the org's history would have.

    `convert(lead_id, create_opportunity)` is the org's own conversion, so the Lead gets
    IsConverted, ConvertedDate and the Converted*Id fields and the Account, Contact and (for
    two in three) Opportunity exist. Every third one skips the opportunity, as reps often do.
    """
    wanted = min(leads // CONVERTED_SHARE, MAX_CONVERTED)
    if wanted <= 0:
        return
    lead = _schema("Lead")
    rows = store.find(lead, {"Status": "Working - Contacted"}, limit=wanted)
    for number, row in enumerate(rows):
        convert(str(row["Id"]), number % 3 != 2)
