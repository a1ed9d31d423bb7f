"""Records mapped per second per core, both directions (target >= 50,000/s each).

One process maps seed-like people (the sandbox's own messy data: mixed-case emails, junk
phones, "USA"/"Deutschland") HubSpot contact -> canonical -> Salesforce Lead and back, on one
core. Time is process CPU time, so a busy shared machine does not flatter or punish the figure.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TypeVar

from bench.report import Target, emit, peak_rss_mb
from connectors.records import RecordKey, SourceRecord, System
from mappings.apply import Mapper
from mappings.loader import load_default
from sandbox.shared.people import person

T = TypeVar("T")
RECORDS = 20_000
TARGET = 50_000.0
NOW = datetime(2026, 3, 1, tzinfo=UTC)
LIFECYCLE = ("subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead")
STATUS = ("NEW", "OPEN", "IN_PROGRESS", "ATTEMPTED_TO_CONTACT", "CONNECTED", "UNQUALIFIED")


def hubspot_contacts(count: int) -> list[SourceRecord]:
    out = []
    for i in range(count):
        p = person(7, i)
        fields = {
            "email": p.email,
            "firstname": p.first_name,
            "lastname": p.last_name,
            "company": p.company,
            "jobtitle": p.title,
            "phone": p.phone,
            "country": p.country,
            "state": p.state,
            "lead_source": p.lead_source,
            "original_campaign": p.campaign,
            "hubspotscore": str(p.score),
            "lifecyclestage": LIFECYCLE[i % len(LIFECYCLE)],
            "hs_lead_status": STATUS[i % len(STATUS)],
            "hs_lifecyclestage_marketingqualifiedlead_date": str(1_760_000_000_000 + i * 1000),
        }
        out.append(SourceRecord(RecordKey(System.HUBSPOT, "contacts", str(i + 1)), fields, NOW))
    return out


def _rate(work: Callable[[], object], count: int) -> float:
    began = time.process_time()
    work()
    return count / max(time.process_time() - began, 1e-9)


def _each(fn: Callable[[T], object], items: Sequence[T]) -> Callable[[], None]:
    """Map every item and drop the result, as the engine does page by page."""

    def work() -> None:
        for item in items:
            fn(item)

    return work


def measure(records: Sequence[SourceRecord]) -> dict[str, float | int | str]:
    mapper = Mapper(load_default())
    lead_key = RecordKey(System.SALESFORCE, "Lead", "")
    contact_key = RecordKey(System.HUBSPOT, "contacts", "1")
    # Inputs for each direction, built outside the timed sections.
    people = [mapper.to_person(r).value for r in records]
    leads = [SourceRecord(lead_key, mapper.to_patch(p, lead_key).value.fields, NOW) for p in people]
    n = len(records)
    read_hubspot = _rate(_each(mapper.to_person, records), n)
    write_salesforce = _rate(_each(lambda p: mapper.to_patch(p, lead_key), people), n)
    read_salesforce = _rate(_each(mapper.to_person, leads), n)
    write_hubspot = _rate(_each(lambda p: mapper.to_patch(p, contact_key), people), n)
    warnings = sum(len(mapper.to_person(r).warnings) for r in records)
    return {
        "records": n,
        "hubspot_to_canonical_per_s": round(read_hubspot),
        "canonical_to_salesforce_per_s": round(write_salesforce),
        "salesforce_to_canonical_per_s": round(read_salesforce),
        "canonical_to_hubspot_per_s": round(write_hubspot),
        "round_trip_hubspot_to_salesforce_per_s": round(
            1 / (1 / read_hubspot + 1 / write_salesforce)
        ),
        "warnings_reported": warnings,
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def run() -> bool:
    figures = measure(hubspot_contacts(RECORDS))
    targets = {
        key: Target(TARGET)
        for key in figures
        if key.endswith("_per_s") and not key.startswith("round_trip")
    }
    return emit("mappings", figures, targets)
