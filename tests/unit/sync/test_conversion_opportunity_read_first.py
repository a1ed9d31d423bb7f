"""A converted Lead's Opportunity read before the Lead (its webhook or poll page first) joins
the Lead's person, not the person of its contact role's Contact: an Opportunity made by a
conversion keeps its link (README), and one deal never makes two customers."""

from __future__ import annotations

from connectors.records import RecordKey, System
from sync.store.decisions import decisions_for
from sync.store.links import LinkReason, find_link
from tests.unit.sync.conftest import World
from tests.unit.sync.test_conversions_into_a_contact import (
    _convert_into,
    _lead,
)
from tests.unit.sync.test_conversions_wrong_contact import ANN_C, BOB_HS, BOB_LEAD, ann_converted
from tests.unit.sync.test_engine import settle
from tests.unit.sync.test_opportunity_contact_roles import ROLE, WON


def _opportunity(ident: str) -> RecordKey:
    return RecordKey(System.SALESFORCE, "Opportunity", ident)


def _converted_beside_anns_role(world: World, lead_bob: str, anns_contact: str) -> str:
    """Bob's Lead converted into a new Contact of his with a won Opportunity whose primary
    contact role is Ann's Contact: the Opportunity's id."""
    bob_contact = world.sf.put("Contact", {**ANN_C, "Email": "bob@example.com"})
    opp = world.sf.put("Opportunity", WON)
    world.sf.put(ROLE, {"OpportunityId": opp, "ContactId": anns_contact, "IsPrimary": True})
    _convert_into(world, lead_bob, bob_contact, opp)
    return opp


def test_a_conversions_opportunity_read_before_its_lead_joins_the_leads_person(
    world: World,
) -> None:
    """Bob's Lead is converted into a new Contact with a won Opportunity whose primary contact
    role is Ann's Contact, and the Opportunity's webhook comes before the Lead's. The
    conversion wins over the contact role: the deal is Bob's, Ann stays Lost."""
    engine = world.engine()
    hs_ann, _, contact = ann_converted(world, engine)
    hs_bob = world.hs.put("contacts", BOB_HS)
    lead_bob = world.sf.put("Lead", BOB_LEAD)
    settle(world, engine)
    opp = _converted_beside_anns_role(world, lead_bob, contact)
    world.clock.advance(100)
    asked = world.sf.conversion_reads
    engine.sync_keys([_opportunity(opp)], trigger="webhook")
    assert world.sf.conversion_reads == asked + 1  # one query for the unit
    settle(world, engine)
    link = find_link(world.read(), _opportunity(opp))
    bob = find_link(world.read(), _lead(lead_bob))
    assert link is not None
    assert bob is not None
    assert (link.person_id, link.reason) == (bob.person_id, LinkReason.CONVERSION)
    assert world.hs.get("contacts", hs_ann)["funnel_stage"] == "Lost"
    assert world.hs.get("contacts", hs_bob)["funnel_stage"] == "Customer"
    rules = {d.rule for d in decisions_for(world.read(), bob.person_id)}
    assert "contact_role" not in rules


def test_a_lead_converted_into_another_persons_opportunity_is_reported_not_shared(
    world: World,
) -> None:
    """Bob's Lead is converted into a new Contact and into an existing Opportunity (Salesforce
    lets a rep pick one) that is already Ann's by its contact role. The Opportunity stays
    Ann's; Bob is not made a customer by it, and a `conversion` note says why."""
    engine = world.engine()
    hs_ann, _, contact = ann_converted(world, engine)
    hs_bob = world.hs.put("contacts", BOB_HS)
    lead_bob = world.sf.put("Lead", BOB_LEAD)
    opp = world.sf.put("Opportunity", WON)
    world.sf.put(ROLE, {"OpportunityId": opp, "ContactId": contact, "IsPrimary": True})
    settle(world, engine)
    ann = find_link(world.read(), _opportunity(opp))
    assert ann is not None
    assert ann.reason is LinkReason.CONTACT_ROLE
    assert world.hs.get("contacts", hs_ann)["funnel_stage"] == "Customer"
    bob_contact = world.sf.put("Contact", {**ANN_C, "Email": "bob@example.com"})
    _convert_into(world, lead_bob, bob_contact, opp)
    settle(world, engine)
    link = find_link(world.read(), _opportunity(opp))
    bob = find_link(world.read(), _lead(lead_bob))
    assert link is not None
    assert bob is not None
    assert link.person_id == ann.person_id
    assert world.hs.get("contacts", hs_bob)["funnel_stage"] != "Customer"
    notes = [
        d
        for d in decisions_for(world.read(), bob.person_id)
        if d.rule == "conversion" and d.salesforce_old == str(_opportunity(opp))
    ]
    assert len(notes) == 1


def test_a_conversions_opportunity_whose_lead_is_no_ones_yet_waits_for_the_lead(
    world: World,
) -> None:
    """Bob's Lead is made and converted before Baton reads it, and the Opportunity's webhook
    comes first: the Opportunity is the conversion's, so its contact role (Ann's Contact) does
    not place it; it stays unlinked until the Lead's own read links it to Bob."""
    engine = world.engine()
    hs_ann, _, contact = ann_converted(world, engine)
    lead_bob = world.sf.put("Lead", BOB_LEAD)
    opp = _converted_beside_anns_role(world, lead_bob, contact)
    world.clock.advance(100)
    roles = world.sf.role_reads
    engine.sync_keys([_opportunity(opp)], trigger="webhook")
    assert find_link(world.read(), _opportunity(opp)) is None
    assert world.sf.role_reads == roles  # a conversion's: its roles are not asked for
    assert world.hs.get("contacts", hs_ann)["funnel_stage"] == "Lost"
    settle(world, engine)
    link = find_link(world.read(), _opportunity(opp))
    bob = find_link(world.read(), _lead(lead_bob))
    assert link is not None
    assert bob is not None
    assert (link.person_id, link.reason) == (bob.person_id, LinkReason.CONVERSION)
    assert world.hs.get("contacts", hs_ann)["funnel_stage"] == "Lost"
