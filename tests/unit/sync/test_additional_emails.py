"""An address HubSpot keeps as a contact's additional email (a merge keeps the merged-away
contact's there) names that contact: a Salesforce record with it pairs with the contact's
person, as HubSpot resolves it, instead of getting a create whose upsert by email would land
on the contact and overwrite it; where that cannot be (the person has a Salesforce record,
or two people claim the address) nothing is made and the reason is logged."""

from __future__ import annotations

from typing import Any

from connectors.records import RecordKey, System
from sync.queries.why import why
from sync.store.addresses import holders_of
from sync.store.decisions import decisions_for
from sync.store.links import LinkReason, find_link
from tests.unit.sync.conftest import World
from tests.unit.sync.fakes import ADDITIONAL
from tests.unit.sync.test_engine import quiet, settle

ALICE = {"email": "alice@example.com", "firstname": "Alice", "lastname": "Adams"}
BOB_LEAD = {
    "Email": "Bob@Example.com",
    "FirstName": "Bob",
    "LastName": "Brown",
    "Company": "Beta",
    "Status": "Open - Not Contacted",
    "IsConverted": False,
}


def _contact(world: World, key: str) -> RecordKey:
    return RecordKey(System.HUBSPOT, "contacts", key)


def _lead(key: str) -> RecordKey:
    return RecordKey(System.SALESFORCE, "Lead", key)


def _alice_synced(world: World, lead: bool = False) -> tuple[Any, str]:
    """Alice's contact synced (with a Lead of hers, `lead`): the engine and her contact."""
    alice = world.hs.put("contacts", {**ALICE, "lifecyclestage": "lead"})
    if lead:
        world.sf.put("Lead", {**BOB_LEAD, "Email": "alice@example.com", "FirstName": "Alice"})
    engine = world.engine()
    settle(world, engine)
    return engine, alice


def _merge_bob_into(world: World, alice: str, *, bob: str | None = None) -> str:
    """Bob's contact merged into Alice's in HubSpot: the survivor keeps his address among its
    additional emails (made here when Baton never saw him)."""
    bob = bob or world.hs.put("contacts", {"email": "bob@example.com", "firstname": "Bob"})
    world.hs.remove("contacts", bob, merged_into=alice)
    world.hs.put("contacts", {ADDITIONAL: "bob@example.com"}, id=alice)
    return bob


def _person(world: World, key: RecordKey) -> Any:
    link = find_link(world.read(), key)
    assert link is not None, key
    assert link.active, key
    return link


def _rules(world: World, pid: Any) -> list[str]:
    return [d.rule for d in decisions_for(world.read(), pid, "identity")]


def _contacts_made(world: World, before: set[str]) -> set[str]:
    return set(world.hs.live("contacts")) - before


def test_a_lead_for_a_merged_away_address_pairs_with_the_survivor_in_one_poll(
    world: World,
) -> None:
    """The merge and the rep's Lead read by one poll (Salesforce first, so the Lead is
    linked before the survivor's addresses are known): the Lead moves to the survivor's
    person before any contact is made, and the pair is planned by the field rules."""
    engine, alice = _alice_synced(world)
    _merge_bob_into(world, alice)
    contacts = set(world.hs.live("contacts"))
    lead = world.sf.put("Lead", BOB_LEAD)
    world.clock.advance(10)
    engine.poll()

    assert not _contacts_made(world, contacts)
    survivor = world.hs.get("contacts", alice)
    assert survivor["email"] == "alice@example.com"  # not the Lead's address over hers
    assert world.sf.get("Lead", lead)["Email"] == "Bob@Example.com"  # nor hers over the rep's
    link = _person(world, _lead(lead))
    assert link.reason is LinkReason.ADDITIONAL_EMAIL
    assert _person(world, _contact(world, alice)).person_id == link.person_id
    assert world.sf.get("Lead", lead)["Baton_Id__c"] == survivor["baton_id"]
    assert "additional_email" in _rules(world, link.person_id)
    # The field rules decided (a first sync of the pair: the later edit wins a two_way field)
    names = decisions_for(world.read(), link.person_id, "first_name")
    assert [(d.rule, d.winner) for d in names] == [("two_way", "salesforce")]
    # `baton why` finds the person by the address, and tells why the Lead is theirs
    [story] = why(world.read(), "Bob@Example.com").people
    assert story.person_id == link.person_id
    [note] = [d for d in story.decisions if d.rule == "additional_email"]
    assert "keeps as an additional email" in str(note.salesforce_new)
    quiet(world, engine)


def test_a_lead_read_after_the_survivor_is_linked_to_it_at_once(world: World) -> None:
    engine, alice = _alice_synced(world)
    _merge_bob_into(world, alice)
    settle(world, engine)  # the survivor is read, with its additional email
    assert holders_of(world.read(), ["bob@example.com"]) == {
        "bob@example.com": [_contact(world, alice)]
    }
    contacts = set(world.hs.live("contacts"))
    lead = world.sf.put("Lead", BOB_LEAD)
    world.clock.advance(10)
    engine.poll()

    assert not _contacts_made(world, contacts)
    assert world.hs.get("contacts", alice)["email"] == "alice@example.com"
    link = _person(world, _lead(lead))
    assert link.reason is LinkReason.ADDITIONAL_EMAIL
    assert _person(world, _contact(world, alice)).person_id == link.person_id
    quiet(world, engine)


def test_a_webhook_for_the_lead_finds_the_survivor_by_its_lookup(world: World) -> None:
    """A webhook unit reads the Lead by id, with no HubSpot poll since the merge: the lookup
    it makes before a create finds the survivor by the address, and the Lead pairs with it."""
    engine, alice = _alice_synced(world)
    _merge_bob_into(world, alice)
    contacts = set(world.hs.live("contacts"))
    lead = world.sf.put("Lead", BOB_LEAD)
    world.clock.advance(10)
    engine.sync_keys([_lead(lead)], trigger="webhook")

    assert not _contacts_made(world, contacts)
    assert world.hs.get("contacts", alice)["email"] == "alice@example.com"
    link = _person(world, _lead(lead))
    assert link.reason is LinkReason.ADDITIONAL_EMAIL
    assert _person(world, _contact(world, alice)).person_id == link.person_id


def test_a_backfill_pairs_the_lead_with_the_survivor(world: World) -> None:
    alice = world.hs.put("contacts", {**ALICE, "lifecyclestage": "lead"})
    _merge_bob_into(world, alice)
    lead = world.sf.put("Lead", BOB_LEAD)
    contacts = set(world.hs.live("contacts"))
    world.clock.advance(10)
    engine = world.engine()
    engine.backfill()

    assert not _contacts_made(world, contacts)
    assert world.hs.get("contacts", alice)["email"] == "alice@example.com"
    link = _person(world, _lead(lead))
    assert _person(world, _contact(world, alice)).person_id == link.person_id
    quiet(world, engine)


def test_a_survivor_whose_person_has_a_lead_is_not_written_over(world: World) -> None:
    """Alice already has her Lead: Bob's Lead names a contact whose person has one. It makes
    no contact (an upsert would land on Alice's), and the log says why."""
    engine, alice = _alice_synced(world, lead=True)
    _merge_bob_into(world, alice)
    contacts = set(world.hs.live("contacts"))
    before = dict(world.hs.get("contacts", alice))
    lead = world.sf.put("Lead", BOB_LEAD)
    settle(world, engine)

    assert not _contacts_made(world, contacts)
    survivor = world.hs.get("contacts", alice)
    assert (survivor["firstname"], survivor["email"]) == (before["firstname"], before["email"])
    bobs = _person(world, _lead(lead)).person_id  # linked before the address was known
    assert bobs != _person(world, _contact(world, alice)).person_id
    assert "email_taken" in _rules(world, bobs)


def test_a_lead_naming_a_survivor_whose_person_has_a_lead_is_ambiguous(world: World) -> None:
    engine, alice = _alice_synced(world, lead=True)
    _merge_bob_into(world, alice)
    settle(world, engine)  # the survivor's address is known before Bob's Lead is read
    contacts = set(world.hs.live("contacts"))
    lead = world.sf.put("Lead", BOB_LEAD)
    world.clock.advance(10)
    report = engine.poll()

    assert report.ambiguous == 1
    assert find_link(world.read(), _lead(lead)) is None
    assert not _contacts_made(world, contacts)
    assert world.hs.get("contacts", alice)["firstname"] == "Alice"
    ann = _person(world, _contact(world, alice)).person_id
    assert "ambiguous:salesforce" in _rules(world, ann)


def test_a_merge_baton_saw_leaves_two_people_with_the_address_ambiguous(world: World) -> None:
    """Bob was synced as his own person before his contact was merged into Alice's (a merge
    into another person's contact moves no one): his address is his person's email and an
    additional email of Alice's contact, so a Lead with it is reported, and nothing made."""
    engine, alice = _alice_synced(world)
    bob = world.hs.put("contacts", {"email": "bob@example.com", "firstname": "Bob"})
    settle(world, engine)
    _merge_bob_into(world, alice, bob=bob)
    settle(world, engine)
    contacts = set(world.hs.live("contacts"))
    lead = world.sf.put("Lead", BOB_LEAD)
    world.clock.advance(10)
    report = engine.poll()

    assert report.ambiguous == 1
    assert find_link(world.read(), _lead(lead)) is None
    assert not _contacts_made(world, contacts)
    assert world.hs.get("contacts", alice)["firstname"] == "Alice"


def test_an_archived_survivor_frees_its_addresses(world: World) -> None:
    engine, alice = _alice_synced(world)
    _merge_bob_into(world, alice)
    settle(world, engine)
    assert holders_of(world.read(), ["bob@example.com"]) == {
        "bob@example.com": [_contact(world, alice)]
    }
    world.hs.remove("contacts", alice)
    settle(world, engine)
    assert holders_of(world.read(), ["bob@example.com"]) == {}
