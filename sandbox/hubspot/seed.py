"""Seed contacts from `person(seed, i)`, streamed in chunks so a million fit in little memory.

HubSpot normalises emails (trimmed, lower-case) but the seeded portal keeps the people module's
duplicates: every 97th contact shares an address, as imports and integrations leave behind.
Picklists hold values a default funnel dictionary won't know: a custom lifecycle stage
("51439524", Partner Lead) and extra lead statuses (RECYCLED, NURTURE), all in use.
"""

from __future__ import annotations

from collections.abc import Iterator

from sandbox.hubspot.properties import (
    CUSTOM_LIFECYCLE_STAGE,
    EXTRA_LEAD_STATUSES,
    PropertyRegistry,
    became_date,
)
from sandbox.hubspot.store import Store
from sandbox.hubspot.timefmt import iso
from sandbox.shared.people import person

DAY_MS = 86_400_000
SOURCES = {
    "Web": "ORGANIC_SEARCH",
    "Phone Inquiry": "OFFLINE",
    "Partner Referral": "REFERRALS",
    "Purchased List": "OFFLINE",
    "Other": "OTHER_CAMPAIGNS",
    "Webinar": "EMAIL_MARKETING",
}
LEAD_STATUS_CYCLE = (
    "NEW",
    "OPEN",
    "IN_PROGRESS",
    "ATTEMPTED_TO_CONTACT",
    "CONNECTED",
    "RECYCLED",
    "NURTURE",
    "",
    "UNQUALIFIED",
    "BAD_TIMING",
)


def _stage(index: int, score: int) -> str:
    if index % 50 == 7:
        return CUSTOM_LIFECYCLE_STAGE[0]
    if index % 19 == 3:
        return ""
    for bound, stage in (
        (30, "subscriber"),
        (62, "lead"),
        (75, "marketingqualifiedlead"),
        (85, "salesqualifiedlead"),
        (92, "opportunity"),
        (98, "customer"),
    ):
        if score < bound:
            return stage
    return "evangelist"


def contact_rows(seed: int, count: int, now_ms: int) -> Iterator[tuple[int, int, dict[str, str]]]:
    for index in range(count):
        p = person(seed, index)
        created = now_ms - p.age_days * DAY_MS - (index % 86_400) * 1000
        updated = min(created + (p.score * DAY_MS) // 50 + index % 1000, now_ms)
        values = {
            "email": p.email.strip().lower(),
            "firstname": p.first_name,
            "lastname": p.last_name,
            "company": p.company,
            "jobtitle": p.title,
            "phone": p.phone,
            "country": p.country,
            "state": p.state,
            "hubspotscore": str(p.score),
            "lifecyclestage": _stage(index, p.score),
            "hs_lead_status": LEAD_STATUS_CYCLE[index % len(LEAD_STATUS_CYCLE)],
            "hs_analytics_source": SOURCES.get(p.lead_source, "OTHER_CAMPAIGNS"),
            "hs_analytics_source_data_1": p.campaign,
        }
        stage = values["lifecyclestage"]
        if stage:
            values[became_date(stage)] = iso(created + (updated - created) // 2)
        yield created, updated, {k: v for k, v in values.items() if v}


def plant_options(registry: PropertyRegistry) -> None:
    registry.add_option("contacts", "lifecyclestage", *CUSTOM_LIFECYCLE_STAGE, after="lead")
    for value, label in EXTRA_LEAD_STATUSES:
        registry.add_option("contacts", "hs_lead_status", value, label)


def seed_contacts(
    store: Store, registry: PropertyRegistry, *, contacts: int, seed: int, now_ms: int
) -> None:
    plant_options(registry)
    store.insert_many("contacts", contact_rows(seed, contacts, now_ms))
