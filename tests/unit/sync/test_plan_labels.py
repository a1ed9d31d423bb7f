"""The funnel label field (HubSpot `funnel_stage`, Salesforce `Funnel_Stage__c`) says the
position in words. A stale one is rewritten even when no canonical value differs, and alone:
the other funnel fields of that patch say nothing new."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from connectors.records import FieldValue, RecordKey, SourceRecord, System
from mappings.apply import Mapper
from mappings.loader import load_default
from sync.plan import CreationPolicy, PersonPlan, Planner

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PERSON = uuid.UUID("6f1d3c1e-7a52-4d5e-9a0b-2b8f3b0c7d12")


def _record(
    mapper: Mapper, system: System, obj: str, record_id: str, **fields: FieldValue
) -> SourceRecord:
    read = dict.fromkeys(mapper.fields_for(system, obj))  # every mapped field read, blank or not
    read.update(fields)
    return SourceRecord(RecordKey(system, obj, record_id), read, AT)


@pytest.mark.parametrize(
    ("hubspot", "salesforce", "written"),
    [
        (  # a customer whose HubSpot stage went on to evangelist: never moved back
            {"lifecyclestage": "evangelist"},
            ("Contact", {"Funnel_Stage__c": "Customer"}),
            ("hubspot", {"funnel_stage": "Customer"}),
        ),
        (  # SAL, which HubSpot spells marketingqualifiedlead + IN_PROGRESS
            {"lifecyclestage": "marketingqualifiedlead", "hs_lead_status": "IN_PROGRESS"},
            ("Lead", {"Status": "Working - Contacted", "Funnel_Stage__c": "SAL"}),
            ("hubspot", {"funnel_stage": "SAL"}),
        ),
        (  # a lead status outside the picklist stays as the user typed it
            {"lifecyclestage": "marketingqualifiedlead", "hs_lead_status": "FOO"},
            ("Lead", {"Status": "Open - Not Contacted", "Funnel_Stage__c": "MQL"}),
            ("hubspot", {"funnel_stage": "MQL"}),
        ),
        (  # sales accepted the Lead; its label still said MQL
            {
                "lifecyclestage": "marketingqualifiedlead",
                "hs_lead_status": "IN_PROGRESS",
                "funnel_stage": "SAL",
            },
            ("Lead", {"Status": "Working - Contacted", "Funnel_Stage__c": "MQL"}),
            ("salesforce", {"Funnel_Stage__c": "SAL"}),
        ),
    ],
)
def test_a_stale_label_alone_is_written_alone(
    hubspot: dict[str, FieldValue],
    salesforce: tuple[str, dict[str, FieldValue]],
    written: tuple[str, dict[str, FieldValue]],
) -> None:
    plan = _plan_synced(hubspot, salesforce)
    [write] = plan.writes
    system, fields = written
    assert (write.key.system.value, dict(write.fields)) == (system, fields)
    [(label, (old, new))] = write.changes.items()
    assert label == "funnel_stage"
    assert new == next(iter(fields.values()))
    assert old == (hubspot if system == "hubspot" else salesforce[1]).get(next(iter(fields)))


@pytest.mark.parametrize("label", ["SAL", "MQL"])
def test_a_lifecycle_stage_behind_the_stage_is_written_forward_with_the_label(label: str) -> None:
    """A SAL contact whose lifecycle stage was set back to lead: no canonical value differs
    (its lead status says SAL), yet the lifecycle stage is moved forward to SAL's spelling in
    HubSpot, with the label when that is stale too, and nothing else."""
    hubspot = {"lifecyclestage": "lead", "hs_lead_status": "IN_PROGRESS", "funnel_stage": label}
    salesforce = ("Lead", {"Status": "Working - Contacted", "Funnel_Stage__c": "SAL"})
    [write] = _plan_synced(hubspot, salesforce).writes
    relabel = {"funnel_stage": "SAL"} if label != "SAL" else {}
    assert write.key.system is System.HUBSPOT
    assert dict(write.fields) == {"lifecyclestage": "marketingqualifiedlead", **relabel}
    assert write.changes["lifecyclestage"] == ("lead", "marketingqualifiedlead")


def _plan_synced(
    hubspot: dict[str, FieldValue], salesforce: tuple[str, dict[str, FieldValue]]
) -> PersonPlan:
    """The plan for a pair synced before: each side's snapshot holds what it says now."""
    mapper = Mapper(load_default())
    planner = Planner(mapper, CreationPolicy())
    baton_id = str(PERSON)
    hs = _record(
        mapper,
        System.HUBSPOT,
        "contacts",
        "1",
        email="a@x.com",
        baton_id=baton_id,
        **hubspot,
    )
    obj, sf_fields = salesforce
    sf = _record(
        mapper, System.SALESFORCE, obj, "0031", Email="a@x.com", Baton_Id__c=baton_id, **sf_fields
    )

    sides = [planner.side(r, planner.values(mapper.to_person(r).value)) for r in (hs, sf)]
    return planner.plan(PERSON, *sides, now=AT)
