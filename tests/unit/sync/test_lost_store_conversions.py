"""A lost store rebuilt from the cross-system id: a converted Lead read after its Contact."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from connectors.records import RecordKey, System
from sync.store.decisions import decisions_for
from sync.store.links import LinkReason, find_link
from tests.unit.sync.conftest import World
from tests.unit.sync.test_engine import pair, settle


def _converted(lead_id: str, contact_id: str) -> tuple[RecordKey, RecordKey]:
    return (
        RecordKey(System.SALESFORCE, "Lead", lead_id),
        RecordKey(System.SALESFORCE, "Contact", contact_id),
    )


def test_a_converted_lead_read_after_its_contact_is_the_persons_former_record(
    world: World, lose_store: Callable[[], None]
) -> None:
    hs_id, lead_id = pair(world)
    settle(world, world.engine())
    contact_id = world.sf.convert(lead_id)
    settle(world, world.engine())
    lose_store()
    engine = world.engine()
    lead, contact = _converted(lead_id, contact_id)
    world.clock.advance(10)
    first = engine.sync_keys([contact], trigger="webhook")  # the Contact first: it takes the person
    assert first.ambiguous == 0
    world.clock.advance(10)
    report = engine.poll()  # then the converted Lead
    assert report.ambiguous == 0
    conn = world.read()
    contact_link = find_link(conn, contact)
    lead_link = find_link(conn, lead)
    hs_link = find_link(conn, RecordKey(System.HUBSPOT, "contacts", hs_id))
    assert contact_link is not None
    assert lead_link is not None
    assert hs_link is not None
    assert contact_link.active
    assert not lead_link.active
    assert lead_link.reason is LinkReason.CONVERSION
    assert lead_link.person_id == contact_link.person_id == hs_link.person_id
    notes = decisions_for(conn, contact_link.person_id)
    assert not [d for d in notes if d.field == "identity"], notes
    settle(world, engine)


@pytest.mark.parametrize("contact_first", [True, False])
def test_a_converted_persons_opportunity_is_followed_after_a_lost_store(
    world: World, lose_store: Callable[[], None], contact_first: bool
) -> None:
    hs_id, lead_id = pair(world)
    settle(world, world.engine())
    opp_id = world.sf.put("Opportunity", {"StageName": "Needs Analysis", "IsClosed": False})
    contact_id = world.sf.convert(lead_id)
    world.sf.put("Lead", {"ConvertedOpportunityId": opp_id}, id=lead_id)
    settle(world, world.engine())
    assert world.hs.get("contacts", hs_id)["lifecyclestage"] == "opportunity"
    lose_store()
    engine = world.engine()
    lead, contact = _converted(lead_id, contact_id)
    world.clock.advance(10)
    engine.sync_keys([contact] if contact_first else [lead], trigger="webhook")
    world.clock.advance(10)
    assert engine.poll().ambiguous == 0
    opportunity = find_link(world.read(), RecordKey(System.SALESFORCE, "Opportunity", opp_id))
    assert opportunity is not None
    assert not opportunity.active
    world.sf.put(
        "Opportunity", {"StageName": "Closed Won", "IsClosed": True, "IsWon": True}, id=opp_id
    )
    world.clock.advance(10)
    report = engine.poll()
    assert world.hs.get("contacts", hs_id)["lifecyclestage"] == "customer"
    assert report.stage_moves == {"opportunity->customer": 1}
    assert report.ambiguous == 0
    settle(world, engine)


def test_a_converted_lead_naming_another_contact_is_still_ambiguous(world: World) -> None:
    _hs_id, lead_id = pair(world)
    engine = world.engine()
    settle(world, engine)
    world.sf.convert(lead_id)
    settle(world, engine)
    baton_id = world.sf.get("Lead", lead_id)["Baton_Id__c"]
    other = world.sf.put("Contact", {"Email": "other@example.com", "LastName": "Other"})
    copy = world.sf.put(
        "Lead",
        {
            "Email": "copy@example.com",
            "LastName": "Copy",
            "Company": "Acme",
            "Baton_Id__c": baton_id,
            "IsConverted": True,
            "ConvertedContactId": other,
        },
    )
    world.clock.advance(10)
    report = engine.poll()
    assert report.ambiguous == 1
    assert find_link(world.read(), RecordKey(System.SALESFORCE, "Lead", copy)) is None
