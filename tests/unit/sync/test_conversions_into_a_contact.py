"""Leads converted into a Contact that is, or becomes, a person's record (Salesforce's
"convert into an existing Contact"): each such Lead is that person's former record, never an
email twin, and its Opportunity reaches the person."""

from __future__ import annotations

import uuid

import pytest

from connectors.records import RecordKey, System
from sync.store.decisions import decisions_for
from sync.store.links import LinkReason, find_link
from tests.unit.sync.conftest import World
from tests.unit.sync.test_engine import pair, settle

OPEN = {"StageName": "Needs Analysis", "IsClosed": False, "IsWon": False}
LOST = {"StageName": "Closed Lost", "IsClosed": True, "IsWon": False}
ANN = {
    "Email": "ann@example.com",
    "FirstName": "Ann",
    "LastName": "Lee",
    "Company": "Acme",
    "Status": "Working - Contacted",
    "IsConverted": False,
}


def _lead(ident: str) -> RecordKey:
    return RecordKey(System.SALESFORCE, "Lead", ident)


def _contact(ident: str) -> RecordKey:
    return RecordKey(System.SALESFORCE, "Contact", ident)


def _convert_into(world: World, lead: str, contact: str, opportunity: str) -> None:
    """Salesforce's "convert into an existing Contact", with a new Opportunity."""
    world.sf.put(
        "Lead",
        {
            "IsConverted": True,
            "ConvertedContactId": contact,
            "ConvertedOpportunityId": opportunity,
            "Status": "Closed - Converted",
        },
        id=lead,
    )


def _converted_with(world: World, lead: str, stage: dict[str, object]) -> tuple[str, str]:
    """Convert `lead` as Salesforce does, with a new Opportunity at `stage`: (Contact,
    Opportunity)."""
    opportunity = world.sf.put("Opportunity", stage)
    contact = world.sf.convert(lead)
    world.sf.put("Lead", {"ConvertedOpportunityId": opportunity}, id=lead)
    return contact, opportunity


def _former_record_of(world: World, lead: str, contact: str) -> uuid.UUID:
    """Assert `contact` is a person's record and `lead` that person's former one; the person."""
    conn = world.read()
    contact_link = find_link(conn, _contact(contact))
    lead_link = find_link(conn, _lead(lead))
    assert contact_link is not None
    assert contact_link.active
    assert lead_link is not None
    assert not lead_link.active
    assert lead_link.person_id == contact_link.person_id
    return contact_link.person_id


def _no_ambiguity(world: World, pid: uuid.UUID) -> None:
    assert not [d for d in decisions_for(world.read(), pid) if d.rule.startswith("ambiguous")]


def test_a_lead_converted_into_a_lost_persons_contact_reopens_the_person(world: World) -> None:
    """A lost person comes back as a new Lead, converted into their Contact with a new open
    Opportunity: the Lead is the person's former record, not a twin of the Contact's email,
    and the open Opportunity outranks the lost one (R1)."""
    engine = world.engine()
    hs_id, first = pair(world)
    settle(world, engine)
    contact, opportunity = _converted_with(world, first, OPEN)
    settle(world, engine)
    world.sf.put("Opportunity", LOST, id=opportunity)
    settle(world, engine)
    assert world.hs.get("contacts", hs_id)["funnel_stage"] == "Lost"
    second = world.sf.put("Lead", ANN)
    _convert_into(world, second, contact, world.sf.put("Opportunity", OPEN))
    settle(world, engine)
    assert world.hs.get("contacts", hs_id)["funnel_stage"] == "Opportunity"
    pid = _former_record_of(world, second, contact)
    link = find_link(world.read(), _lead(second))
    assert link is not None
    assert link.reason is LinkReason.CONVERSION
    _no_ambiguity(world, pid)
    assert engine.poll().ambiguous == 0


@pytest.mark.parametrize("page", [1, 100], ids=["a-page-each", "one-page"])
def test_a_backfill_of_two_leads_converted_into_one_contact(world: World, page: int) -> None:
    """A fresh store's first sight: both Leads, in one page or in pages of their own, read
    before the Contact; all three are one person, and the open Opportunity reaches HubSpot."""
    hs_id, first = pair(world)
    contact, _ = _converted_with(world, first, LOST)
    second = world.sf.put("Lead", ANN)
    _convert_into(world, second, contact, world.sf.put("Opportunity", OPEN))
    world.clock.advance(100)
    engine = world.engine(backfill_page_size=page)
    assert engine.backfill().ambiguous == 0
    settle(world, engine)
    assert world.hs.get("contacts", hs_id)["funnel_stage"] == "Opportunity"
    pid = _former_record_of(world, first, contact)
    assert _former_record_of(world, second, contact) == pid
    assert find_link(world.read(), RecordKey(System.HUBSPOT, "contacts", hs_id)) is not None
    _no_ambiguity(world, pid)


@pytest.mark.parametrize("contact_first", [True, False], ids=["contact-first", "leads-first"])
def test_leads_read_with_the_contact_they_were_converted_into_are_one_person(
    world: World, contact_first: bool
) -> None:
    """One unit of work reads both converted Leads and their Contact, in either order, on a
    fresh store: one person, the Contact its record, the Leads its former ones."""
    first = world.sf.put("Lead", ANN)
    contact, _ = _converted_with(world, first, LOST)
    second = world.sf.put("Lead", ANN)
    _convert_into(world, second, contact, world.sf.put("Opportunity", OPEN))
    world.clock.advance(100)
    leads = [_lead(first), _lead(second)]
    keys = [_contact(contact), *leads] if contact_first else [*leads, _contact(contact)]
    report = world.engine().sync_keys(keys, trigger="test")
    assert report.ambiguous == 0
    pid = _former_record_of(world, first, contact)
    assert _former_record_of(world, second, contact) == pid
    [hs_id] = world.hs.find("contacts", "email", "ann@example.com")
    assert world.hs.get("contacts", hs_id)["funnel_stage"] == "Opportunity"
    _no_ambiguity(world, pid)


def test_a_lead_converted_into_a_contact_read_in_an_earlier_unit(world: World) -> None:
    """The Contact became a person's record in an earlier unit of work; the Leads converted
    into it are read later, together: neither is a twin of the other."""
    first = world.sf.put("Lead", ANN)
    contact, _ = _converted_with(world, first, LOST)
    second = world.sf.put("Lead", ANN)
    _convert_into(world, second, contact, world.sf.put("Opportunity", OPEN))
    world.clock.advance(100)
    engine = world.engine()
    assert engine.sync_keys([_contact(contact)], trigger="test").ambiguous == 0
    assert engine.sync_keys([_lead(first), _lead(second)], trigger="test").ambiguous == 0
    pid = _former_record_of(world, first, contact)
    assert _former_record_of(world, second, contact) == pid
    [hs_id] = world.hs.find("contacts", "email", "ann@example.com")
    assert world.hs.get("contacts", hs_id)["funnel_stage"] == "Opportunity"


def test_unconverted_leads_sharing_an_email_are_still_twins(world: World) -> None:
    """Only a conversion says two Leads are one human's: two open Leads with one email stay
    ambiguous."""
    world.sf.put("Lead", ANN)
    world.sf.put("Lead", ANN)
    world.clock.advance(100)
    assert world.engine().backfill().ambiguous == 2
