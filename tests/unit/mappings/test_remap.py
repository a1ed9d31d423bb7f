"""`Mapper.remap` is `to_person` of the written record, field by field, whichever path it takes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connectors.records import FieldValue, RecordKey, SourceRecord, System
from mappings.apply import Mapper
from mappings.loader import load_default

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
BASES: list[tuple[System, str, dict[str, FieldValue]]] = [
    (
        System.HUBSPOT,
        "contacts",
        {
            "email": "b@x.com",
            "firstname": "Bea",
            "hubspotscore": "77",
            "lifecyclestage": "marketingqualifiedlead",
            "hs_lead_status": "OPEN",
            "phone": "+1 415 555 0101",
            "country": "Australia",
            "state": "WA",
        },
    ),
    (
        System.SALESFORCE,
        "Lead",
        {
            "Email": "c@x.com",
            "LastName": "Cole",
            "Company": "Acme",
            "Status": "Working - Contacted",
            "IsConverted": False,
            "Country": "Mexico",
            "State": "NL",
        },
    ),
    (System.SALESFORCE, "Contact", {"Email": "d@x.com", "LastName": "Dee"}),
]
#: Values of every shape a write carries: blank, text, number-like, date-like, a picklist
#: value, state codes and the countries they depend on (WA: Washington or Western Australia).
SAMPLES: tuple[FieldValue, ...] = (
    None,
    "",
    "Changed",
    "42",
    "2026-03-01T10:00:00.000+0000",
    "1772323200000",
    "Closed - Not Converted",
    "salesqualifiedlead",
    "WA",
    "NL",
    "Australia",
    "USA",
)


@pytest.mark.parametrize(("system", "obj", "base"), BASES)
def test_remap_equals_mapping_the_written_record(
    system: System, obj: str, base: dict[str, FieldValue]
) -> None:
    mapper = Mapper(load_default())
    fields = {name: None for name in mapper.fields_for(system, obj)} | base
    record = SourceRecord(RecordKey(system, obj, "1"), fields, AT)
    person = mapper.to_person(record).value
    for remote in mapper.fields_for(system, obj):
        for value in SAMPLES:
            written = {remote: value}
            expected = mapper.to_person(
                SourceRecord(record.key, {**record.fields, **written}, AT)
            ).value
            assert mapper.remap(person, record, written) == expected, (remote, value)


def test_a_write_of_several_fields_at_once_is_remapped_alike() -> None:
    mapper = Mapper(load_default())
    system, obj, base = BASES[0]
    fields = {name: None for name in mapper.fields_for(system, obj)} | base
    record = SourceRecord(RecordKey(system, obj, "1"), fields, AT)
    person = mapper.to_person(record).value
    written: dict[str, FieldValue] = {"jobtitle": "CTO", "company": "Acme", "phone": "n/a"}
    merged = SourceRecord(record.key, {**record.fields, **written}, AT)
    assert mapper.remap(person, record, written) == mapper.to_person(merged).value
