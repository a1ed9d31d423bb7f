"""Identity as records change under it: an email edited in HubSpot, a Lead converted into a
Contact that is already someone else's. Ambiguity is reported, never settled by overwriting
another person's record."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.records import RecordKey, System
from sync.store.dead_letters import list_dead_letters
from sync.store.decisions import decisions_for
from sync.store.links import find_link
from tests.unit.sync.conftest import World
from tests.unit.sync.test_engine import pair, settle

LEAD = {"Company": "X", "Status": "Open - Not Contacted", "IsConverted": False}


def _person(world: World, key: RecordKey) -> object:
    link = find_link(world.read(), key)
    assert link is not None
    return link.person_id


def test_a_lead_with_the_new_email_of_a_contact_joins_that_contacts_person(world: World) -> None:
    """Ann's email changes in HubSpot; a rep then adds a Lead with the new address. Matching
    by email must see the new address, or the Lead gets a person of its own whose HubSpot
    create (an upsert on email) lands on Ann's contact."""
    hs_id = world.hs.put(
        "contacts", {"email": "old@example.com", "firstname": "Ann", "lastname": "Lee"}
    )
    engine = world.engine()
    settle(world, engine)
    ann = _person(world, RecordKey(System.HUBSPOT, "contacts", hs_id))
    world.hs.put("contacts", {"email": "new@example.com"}, id=hs_id)
    settle(world, engine)
    lead = world.sf.put("Lead", {**LEAD, "Email": "new@example.com", "LastName": "Lee"})
    settle(world, engine)
    assert _person(world, RecordKey(System.SALESFORCE, "Lead", lead)) == ann
    assert list(world.hs.live("contacts")) == [hs_id]
    assert world.hs.get("contacts", hs_id)["baton_id"] == str(ann)


def _bob_beside_anns_new_email(world: World) -> tuple[str, str, Any]:
    """Ann's contact takes a new address in HubSpot, not polled yet, and a Lead (Bob) with it
    is added: (Ann's contact, Bob's Lead, the engine)."""
    hs_id = world.hs.put(
        "contacts", {"email": "old@example.com", "firstname": "Ann", "lastname": "Lee"}
    )
    engine = world.engine()
    settle(world, engine)
    world.hs.put("contacts", {"email": "new@example.com"}, id=hs_id)  # not polled yet
    world.clock.advance(10)
    lead = world.sf.put(
        "Lead", {**LEAD, "Email": "new@example.com", "FirstName": "Bob", "LastName": "Other"}
    )
    world.clock.advance(10)
    return hs_id, lead, engine


def test_a_salesforce_person_whose_hubspot_create_met_someone_elses_contact_stops_creating(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The upsert on email matched a contact already linked to another person (HubSpot's email
    changed after Baton last read it, and HubSpot's search, which lags its writes, did not find
    it by the new address yet): reported, and not sent again while the address is that
    person's, so the contact is not overwritten on every cycle; once the rep corrects the
    Lead's address, the person gets a contact of its own."""
    _, lead, engine = _bob_beside_anns_new_email(world)
    key = RecordKey(System.SALESFORCE, "Lead", lead)
    with monkeypatch.context() as lagging:
        lagging.setattr(world.hs, "find_by", lambda obj, name, values: [])
        engine.sync_keys([key], trigger="webhook")  # the Lead is read before the contact's change
    bob = _person(world, key)
    writes = world.hs.writes
    for _ in range(3):
        world.clock.advance(10)
        engine.poll()
    assert world.hs.writes - writes <= 1  # at most the contact's own cross-id repair
    rules = [d.rule for d in decisions_for(world.read(), bob, "identity")]
    assert rules.count("ambiguous:hubspot") == 1  # the upsert that met Ann's contact
    assert rules.count("email_taken") == 1  # and why none is made meanwhile, said once
    world.sf.put("Lead", {"Email": "bob@example.com"}, id=lead)
    settle(world, engine)
    emails = sorted(str(c["email"]) for c in world.hs.live("contacts").values())
    assert emails == ["bob@example.com", "new@example.com"]


def test_a_salesforce_persons_create_found_landing_on_someone_elses_contact_is_not_sent(
    world: World,
) -> None:
    """The same, with HubSpot's search up to date: the webhook's unit looks up what its create
    would land on, finds Ann's contact under the new address (Ann's, in this unit), and makes
    none (`email_taken`) rather than overwrite it once."""
    hs_id, lead, engine = _bob_beside_anns_new_email(world)
    key = RecordKey(System.SALESFORCE, "Lead", lead)
    engine.sync_keys([key], trigger="webhook")
    bob = _person(world, key)
    assert world.hs.get("contacts", hs_id)["firstname"] == "Ann"  # not overwritten
    for _ in range(3):
        world.clock.advance(10)
        engine.poll()
    rules = [d.rule for d in decisions_for(world.read(), bob, "identity")]
    assert rules == ["email_taken"]
    assert list(world.hs.live("contacts")) == [hs_id]
    assert world.hs.get("contacts", hs_id)["firstname"] == "Ann"


def test_a_lead_converted_into_another_persons_contact_does_not_take_it(world: World) -> None:
    """Salesforce lets a rep convert a Lead into an existing Contact. When that Contact is
    another person's, Baton cannot tell which of the two HubSpot contacts is the human: the
    Contact stays with its person and the conversion is reported."""
    hs_ann, lead = pair(world)
    hs_bob = world.hs.put(
        "contacts", {"email": "bob@example.com", "firstname": "Bob", "lastname": "B"}
    )
    contact = world.sf.put(
        "Contact", {"Email": "bob@example.com", "FirstName": "Bob", "LastName": "B"}
    )
    engine = world.engine()
    settle(world, engine)
    ann = _person(world, RecordKey(System.HUBSPOT, "contacts", hs_ann))
    bob = _person(world, RecordKey(System.HUBSPOT, "contacts", hs_bob))
    world.sf.put(
        "Lead",
        {"IsConverted": True, "ConvertedContactId": contact, "Status": "Closed - Converted"},
        id=lead,
    )
    for _ in range(3):
        world.clock.advance(10)
        engine.poll()
    assert _person(world, RecordKey(System.SALESFORCE, "Contact", contact)) == bob
    assert world.hs.get("contacts", hs_ann)["email"] == "ann@example.com"
    assert world.sf.get("Contact", contact)["Baton_Id__c"] == str(bob)
    notes = [d for d in decisions_for(world.read(), ann, "record") if d.rule == "conversion"]
    assert len(notes) == 1
    assert "already" in (notes[0].salesforce_new or "")
    # Ann stays on her converted Lead, which Salesforce keeps read-only: her later edits are
    # not sent to it (each would be refused), and nothing piles up as dead letters.
    sent = world.sf.writes
    for title in ("CEO", "CFO"):
        world.hs.put("contacts", {"jobtitle": title}, id=hs_ann)
        world.clock.advance(10)
        report = engine.poll()
        assert report.stage_moves == {}  # nor is a move reported that no write carries
    assert world.sf.writes == sent
    assert list_dead_letters(world.read()) == []


def test_two_leads_converted_into_one_contact_leave_it_to_the_first(world: World) -> None:
    """A rep converts Ann's Lead into a new Contact, then Bob's duplicate Lead into the same
    Contact, before Baton's next poll: the Contact is Ann's, Bob's conversion is reported,
    and neither HubSpot contact takes the other's address."""
    hs_ann, lead_ann = pair(world)
    hs_bob = world.hs.put(
        "contacts", {"email": "bob@example.com", "firstname": "Bob", "lastname": "B"}
    )
    lead_bob = world.sf.put(
        "Lead", {**LEAD, "Email": "bob@example.com", "FirstName": "Bob", "LastName": "B"}
    )
    engine = world.engine()
    settle(world, engine)
    ann = _person(world, RecordKey(System.HUBSPOT, "contacts", hs_ann))
    bob = _person(world, RecordKey(System.HUBSPOT, "contacts", hs_bob))
    contact = world.sf.put(
        "Contact",
        {
            "Email": "ann@example.com",
            "FirstName": "Ann",
            "LastName": "Lee",
            "Baton_Id__c": str(ann),
        },
    )
    for lead in (lead_ann, lead_bob):
        world.sf.put(
            "Lead",
            {"IsConverted": True, "ConvertedContactId": contact, "Status": "Closed - Converted"},
            id=lead,
        )
    for _ in range(3):
        world.clock.advance(10)
        engine.poll()
    assert _person(world, RecordKey(System.SALESFORCE, "Contact", contact)) == ann
    assert world.hs.get("contacts", hs_bob)["email"] == "bob@example.com"
    assert world.sf.get("Contact", contact)["Baton_Id__c"] == str(ann)
    [refused] = [d for d in decisions_for(world.read(), bob, "record") if d.rule == "conversion"]
    assert "already" in (refused.salesforce_new or "")


def _ann_and_bob(world: World) -> tuple[Any, tuple[str, str], tuple[str, str]]:
    ann = pair(world)
    bob = pair(
        world,
        hs={"email": "bob@example.com", "firstname": "Bob"},
        sf={"Email": "bob@example.com", "FirstName": "Bob"},
    )
    engine = world.engine()
    settle(world, engine)
    return engine, ann, bob


def test_two_people_whose_leads_swapped_emails_swap_them_in_hubspot(world: World) -> None:
    """A HubSpot email is one contact's only, checked before a batch writes anything: the
    swap is written in steps, one contact cleared of its email first, and no letter is left."""
    engine, ann, bob = _ann_and_bob(world)
    world.sf.put("Lead", {"Email": "bob@example.com"}, id=ann[1])
    world.sf.put("Lead", {"Email": "ann@example.com"}, id=bob[1])
    settle(world, engine)
    assert world.hs.get("contacts", ann[0])["email"] == "bob@example.com"
    assert world.hs.get("contacts", bob[0])["email"] == "ann@example.com"
    assert list_dead_letters(world.read()) == []


def test_an_email_another_contact_gives_up_in_the_same_unit_is_taken_after(world: World) -> None:
    """Bob's Lead takes a new address and Ann's Lead Bob's old one: Bob's contact is written
    first (no email cleared: nothing goes round)."""
    engine, ann, bob = _ann_and_bob(world)
    world.sf.put("Lead", {"Email": "bob@example.com"}, id=ann[1])
    world.sf.put("Lead", {"Email": "robert@example.com"}, id=bob[1])
    cleared: list[str] = []
    world.hs.rules.append(
        lambda _, fields: cleared.append("x") if fields == {"email": None} else None
    )
    settle(world, engine)
    assert world.hs.get("contacts", ann[0])["email"] == "bob@example.com"
    assert world.hs.get("contacts", bob[0])["email"] == "robert@example.com"
    assert list_dead_letters(world.read()) == []
    assert cleared == []


def test_a_cleared_contact_whose_new_email_is_refused_gets_its_email_back(world: World) -> None:
    """The swap's first update refused for good (a validation rule): the second one is refused
    too (its email is still taken), and the contact cleared for it gets its email back rather
    than being left without one."""
    engine, ann, bob = _ann_and_bob(world)
    world.sf.put("Lead", {"Email": "bob@example.com"}, id=ann[1])
    world.sf.put("Lead", {"Email": "ann@example.com"}, id=bob[1])
    refused: list[object] = []

    def refuse_the_first(_: str, fields: Any) -> tuple[str, str] | None:
        if refused or fields.get("email") not in ("ann@example.com", "bob@example.com"):
            return None
        refused.append(fields["email"])
        return ("INVALID_EMAIL", "not today")

    world.hs.rules.append(refuse_the_first)
    world.clock.advance(10)
    engine.poll()
    assert refused
    assert world.hs.get("contacts", ann[0])["email"] == "ann@example.com"
    assert world.hs.get("contacts", bob[0])["email"] == "bob@example.com"
    assert len(list_dead_letters(world.read())) == 2


def test_a_swap_read_in_two_units_is_written_by_the_retry_of_its_letters(world: World) -> None:
    """Each Lead's webhook alone meets the other contact's email (two letters); retried
    together, the letters' people are one unit, and the swap is written in steps."""
    engine, ann, bob = _ann_and_bob(world)
    world.sf.put("Lead", {"Email": "bob@example.com"}, id=ann[1])
    world.sf.put("Lead", {"Email": "ann@example.com"}, id=bob[1])
    world.clock.advance(10)
    for lead in (ann[1], bob[1]):
        engine.sync_keys([RecordKey(System.SALESFORCE, "Lead", lead)], trigger="webhook")
    assert len(list_dead_letters(world.read())) == 2
    engine.retry_dead_letters()
    assert world.hs.get("contacts", ann[0])["email"] == "bob@example.com"
    assert world.hs.get("contacts", bob[0])["email"] == "ann@example.com"
    assert list_dead_letters(world.read()) == []
