"""The engine's hot-path shortcuts say exactly what the plain code says."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connectors.records import RecordKey, SourceRecord, System
from mappings.apply import Mapper
from mappings.loader import load_default
from sync.store.snapshots import get_snapshot
from sync.values import CanonicalView, canonical
from tests.unit.sync.conftest import World

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("system", "obj", "fields"),
    [
        (System.HUBSPOT, "contacts", {"email": "A@x.com", "lifecyclestage": "lead"}),
        (
            System.HUBSPOT,
            "contacts",
            {
                "email": "b@x.com",
                "hubspotscore": "77",
                "lifecyclestage": "marketingqualifiedlead",
                "hs_lifecyclestage_marketingqualifiedlead_date": "1772323200000",
                "hs_lead_status": "UNQUALIFIED",
                "rejection_reason": "Competitor",
            },
        ),
        (
            System.SALESFORCE,
            "Lead",
            {
                "Email": "c@x.com",
                "Status": "Closed - Not Converted",
                "Rejection_Reason__c": "No Budget",
                "MQL_Date__c": "2026-03-01T10:00:00.000+0000",
                "Phone": "n/a",
            },
        ),
        (System.SALESFORCE, "Contact", {"Email": "d@x.com", "Funnel_Stage__c": "SQL"}),
    ],
)
def test_the_compiled_canonical_view_matches_canonical(
    system: System, obj: str, fields: dict[str, object]
) -> None:
    dictionary = load_default()
    mapper = Mapper(dictionary)
    record = SourceRecord(RecordKey(system, obj, "1"), fields, AT)  # type: ignore[arg-type]
    person = mapper.to_person(record).value
    labels = mapper.vocabulary.labels
    view = CanonicalView(dictionary, labels)(person)
    plain = canonical(person, dictionary, labels)
    assert view == plain
    assert list(view) == list(plain)  # same key order: snapshots and plans read alike


def test_a_record_read_again_unchanged_only_moves_its_snapshots_time(world: World) -> None:
    hs_id = world.hs.put("contacts", {"email": "ann@example.com", "lifecyclestage": "lead"})
    world.clock.advance(10)
    engine = world.engine()
    engine.poll()
    key = RecordKey(System.HUBSPOT, "contacts", hs_id)
    first = get_snapshot(world.read(), key)
    assert first is not None
    world.hs.put("contacts", {}, id=hs_id)  # touched, nothing changed
    world.clock.advance(10)
    report = engine.poll()
    again = get_snapshot(world.read(), key)
    assert again is not None
    assert report.writes == 0
    assert again.values == first.values
    assert again.hash == first.hash
    assert again.version == first.version + 1
    assert again.source_modified_at == world.hs.objects["contacts"][hs_id].modified_at
    assert again.source_modified_at != first.source_modified_at
