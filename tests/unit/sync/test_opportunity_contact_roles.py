"""An Opportunity made on an existing Contact (a Contact created in Salesforce, a converted
person's second deal) names its person only by an OpportunityContactRole: the Opportunity
joins the person of its primary role's Contact, so won and lost reach HubSpot as a converted
Lead's Opportunity's do."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from connectors.records import ContactRole, FieldValue, RecordKey, System
from sync.following import _chosen_contacts
from sync.store.decisions import decisions_for
from sync.store.links import LinkReason, find_link
from tests.unit.sync.conftest import World
from tests.unit.sync.test_engine import pair, quiet, settle

OPEN: dict[str, FieldValue] = {"StageName": "Needs Analysis", "IsClosed": False, "IsWon": False}
WON: dict[str, FieldValue] = {"StageName": "Closed Won", "IsClosed": True, "IsWon": True}
LOST: dict[str, FieldValue] = {"StageName": "Closed Lost", "IsClosed": True, "IsWon": False}
ROLE = "OpportunityContactRole"
BOB = {"Email": "bob@example.com", "FirstName": "Bob", "LastName": "Ray"}


def opportunity(world: World, contact: str, stage: dict[str, FieldValue]) -> str:
    """A rep's new Opportunity on an existing Contact: the Contact is its primary role."""
    opp = world.sf.put("Opportunity", stage)
    world.sf.put(ROLE, {"OpportunityId": opp, "ContactId": contact, "IsPrimary": True})
    return opp


def reads_lifecycle(world: World) -> None:
    """HubSpot contacts read with `lifecyclestage`, as the real connector reads them (the
    fake's defaults are the dictionary's mapped fields only): a contact Baton made without a
    stage can then be given one."""
    world.hs.known = {"contacts": (*world.hs.known["contacts"], "lifecyclestage")}


def link_of(world: World, opp: str) -> tuple[uuid.UUID, bool, LinkReason] | None:
    with world.db.connect() as conn:
        found = find_link(conn, RecordKey(System.SALESFORCE, "Opportunity", opp))
    return None if found is None else (found.person_id, found.active, found.reason)


def test_an_opportunity_of_a_contact_made_in_salesforce_reaches_hubspot(world: World) -> None:
    reads_lifecycle(world)
    engine = world.engine(lookback=timedelta(0))  # a poll reads only what changed since
    contact = world.sf.put("Contact", BOB)
    settle(world, engine)
    [hs_id] = world.hs.find("contacts", "email", "bob@example.com")
    opp = opportunity(world, contact, OPEN)
    settle(world, engine)
    assert world.hs.get("contacts", hs_id)["lifecyclestage"] == "opportunity"
    person = link_of(world, opp)
    assert person is not None
    assert person[1:] == (False, LinkReason.CONTACT_ROLE)
    with world.db.connect() as conn:
        notes = [d for d in decisions_for(conn, person[0]) if d.rule == "contact_role"]
    assert len(notes) == 1
    asked = world.sf.role_reads
    world.clock.advance(3600)  # the Contact falls out of every later poll's window
    world.sf.put("Opportunity", WON, id=opp)
    world.clock.advance(10)
    report = engine.poll()
    assert report.read == {"salesforce:Opportunity": 1}  # the Opportunity alone was read
    contact_hs = world.hs.get("contacts", hs_id)
    assert contact_hs["lifecyclestage"] == "customer"
    assert contact_hs["funnel_stage"] == "Customer"
    assert world.sf.get("Contact", contact)["Funnel_Stage__c"] == "Customer"
    assert report.stage_moves == {"opportunity->customer": 1}
    assert world.sf.role_reads == asked  # linked now: its roles are not asked for again
    settle(world, engine)
    quiet(world, engine)


def test_a_converted_persons_second_opportunity_reopens_them_after_the_first_was_lost(
    world: World,
) -> None:
    hs_id, sf_id = pair(world)
    engine = world.engine(lookback=timedelta(0))
    settle(world, engine)
    first = world.sf.put("Opportunity", OPEN)
    contact = world.sf.convert(sf_id)
    world.sf.put("Lead", {"ConvertedOpportunityId": first}, id=sf_id)
    settle(world, engine)
    world.sf.put("Opportunity", LOST, id=first)
    settle(world, engine)
    assert world.hs.get("contacts", hs_id)["funnel_stage"] == "Lost"
    # The conversion's Opportunity is linked by the conversion: no contact role is asked for.
    assert world.sf.role_reads == 0
    first_link = link_of(world, first)
    assert first_link is not None
    assert first_link[2] is LinkReason.CONVERSION
    world.clock.advance(3600)
    second = opportunity(world, contact, OPEN)  # an upsell, made from the Account
    settle(world, engine)
    hubspot = world.hs.get("contacts", hs_id)
    assert hubspot["funnel_stage"] == "Opportunity"
    assert hubspot["lifecyclestage"] == "opportunity"
    assert world.sf.get("Contact", contact)["Funnel_Stage__c"] == "Opportunity"
    second_link = link_of(world, second)
    assert second_link == (first_link[0], False, LinkReason.CONTACT_ROLE)
    world.sf.put("Opportunity", WON, id=second)
    settle(world, engine)
    assert world.hs.get("contacts", hs_id)["lifecyclestage"] == "customer"
    quiet(world, engine)


def test_opportunities_without_a_linked_contact_are_harmless_and_asked_about_once(
    world: World,
) -> None:
    reads_lifecycle(world)
    engine = world.engine(lookback=timedelta(0))
    contact = world.sf.put("Contact", BOB)
    settle(world, engine)
    [hs_id] = world.hs.find("contacts", "email", "bob@example.com")
    before = dict(world.hs.get("contacts", hs_id))
    alone = world.sf.put("Opportunity", OPEN)  # no contact role
    stranger = opportunity(world, "003999999999999999", OPEN)  # a Contact Baton never saw
    world.clock.advance(10)
    writes = world.writes()
    dry = engine.poll(dry_run=True)
    assert dry.planned == []
    report = engine.poll()
    assert report.read == {"salesforce:Opportunity": 2}
    assert world.writes() == writes
    assert world.sf.role_reads == 2  # one query for the page, in each run
    assert link_of(world, alone) is None
    assert link_of(world, stranger) is None
    quiet(world, engine)
    assert world.sf.role_reads == 2  # nothing changed: nothing asked
    # A role added later, the Opportunity untouched: picked up at the Opportunity's next
    # change (README).
    world.sf.put(ROLE, {"OpportunityId": alone, "ContactId": contact, "IsPrimary": False})
    quiet(world, engine)
    assert dict(world.hs.get("contacts", hs_id)) == before
    world.sf.put("Opportunity", WON, id=alone)
    settle(world, engine)
    assert world.hs.get("contacts", hs_id)["lifecyclestage"] == "customer"


def test_a_dry_run_links_nothing(world: World) -> None:
    reads_lifecycle(world)
    engine = world.engine(lookback=timedelta(0))
    contact = world.sf.put("Contact", BOB)
    settle(world, engine)
    opp = opportunity(world, contact, WON)
    world.clock.advance(10)
    writes = world.writes()
    report = engine.poll(dry_run=True)
    assert {(w.system, w.changes.get("stage")) for w in report.planned} == {
        (System.HUBSPOT, (None, "customer")),
        (System.SALESFORCE, (None, "customer")),
    }
    assert world.writes() == writes
    assert link_of(world, opp) is None
    settle(world, engine)  # the live run still finds it
    assert link_of(world, opp) is not None


def test_after_a_backfill_the_first_poll_links_every_opportunity_by_its_contact_role(
    world: World,
) -> None:
    reads_lifecycle(world)
    contact = world.sf.put("Contact", BOB)
    opp = opportunity(world, contact, WON)
    world.sf.put("Opportunity", OPEN)  # without a role
    world.clock.advance(100)
    engine = world.engine()
    engine.backfill()  # lists the person objects; Opportunities have no checkpoint yet
    [hs_id] = world.hs.find("contacts", "email", "bob@example.com")
    assert world.sf.role_reads == 0
    world.clock.advance(10)
    report = engine.poll()  # reads every Opportunity, from the beginning
    assert report.read["salesforce:Opportunity"] == 2
    assert world.sf.role_reads == 1  # one query for the page
    assert world.hs.get("contacts", hs_id)["lifecyclestage"] == "customer"
    assert world.sf.get("Contact", contact)["Funnel_Stage__c"] == "Customer"
    link = link_of(world, opp)
    assert link is not None
    assert link[2] is LinkReason.CONTACT_ROLE
    settle(world, engine)
    quiet(world, engine)


T0 = datetime(2026, 3, 2, tzinfo=UTC)


@pytest.mark.parametrize(
    ("roles", "chosen"),
    [
        ([], None),
        ([ContactRole("00K2", "006A", "003B", False, T0)], "003B"),
        (  # the primary role, however late
            [
                ContactRole("00K1", "006A", "003A", False, T0),
                ContactRole("00K2", "006A", "003B", True, T0 + timedelta(days=1)),
            ],
            "003B",
        ),
        (  # else the earliest, then the first by id
            [
                ContactRole("00K3", "006A", "003C", False, T0 + timedelta(days=1)),
                ContactRole("00K2", "006A", "003B", False, T0),
                ContactRole("00K1", "006A", "003A", False, T0 + timedelta(days=1)),
            ],
            "003B",
        ),
        (
            [
                ContactRole("00K2", "006A", "003B", False, T0),
                ContactRole("00K1", "006A", "003A", False, T0),
                ContactRole("00K0", "006Z", "003Z", True, T0),  # another Opportunity's
            ],
            "003A",
        ),
    ],
)
def test_the_primary_contact_role_is_chosen_else_the_earliest(
    roles: list[ContactRole], chosen: str | None
) -> None:
    assert _chosen_contacts(["006A"], roles) == {"006A": chosen}
