"""Merges on either side: the survivor (HubSpot) or master (Salesforce) becomes the person's
record, starting from what the merged record was last synced with."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.records import RecordKey, System
from sync.store.decisions import decisions_for
from sync.store.links import find_link
from tests.unit.sync.conftest import World
from tests.unit.sync.test_deletes import _synced
from tests.unit.sync.test_engine import pair, quiet, settle


def _copy(world: World, obj: str, ident: str) -> dict[str, Any]:
    """A record's fields less the cross-system id: a duplicate made in the UI."""
    system, bid = (world.hs, "baton_id") if obj == "contacts" else (world.sf, "Baton_Id__c")
    return {k: v for k, v in system.get(obj, ident).items() if k != bid}


def _same_person(world: World, a: RecordKey, b: RecordKey) -> bool:
    la, lb = find_link(world.read(), a), find_link(world.read(), b)
    return (
        la is not None
        and lb is not None
        and la.active
        and lb.active
        and la.person_id == lb.person_id
    )


def _ann_and_bob(world: World) -> tuple[Any, tuple[str, str], tuple[str, str]]:
    """Two synced people, Ann and Bob: the engine, then each one's contact and Lead ids."""
    ann = pair(world)
    bob = pair(
        world,
        hs={"email": "bob@example.com", "firstname": "Bob"},
        sf={"Email": "bob@example.com", "FirstName": "Bob"},
    )
    engine = world.engine()
    settle(world, engine)
    return engine, ann, bob


def test_a_hubspot_merge_survivor_is_synced_with_the_persons_lead(world: World) -> None:
    """Merged away in HubSpot, the person's contact lives on as the survivor: planned with
    the person's Lead, it gets the cross-system id and its new phone reaches the Lead."""
    engine, hs_id, sf_id = _synced(world)
    survivor = world.hs.put(
        "contacts", {**_copy(world, "contacts", hs_id), "phone": "+33 1 23 45 67 89"}
    )
    world.hs.remove("contacts", hs_id, merged_into=survivor)
    settle(world, engine)
    lead = world.sf.get("Lead", sf_id)
    assert world.hs.get("contacts", survivor)["baton_id"] == lead["Baton_Id__c"]
    assert lead["Phone"] == "+33123456789"
    quiet(world, engine)


def test_a_salesforce_merge_master_is_synced_with_the_persons_contact(world: World) -> None:
    engine, hs_id, sf_id = _synced(world)
    master = world.sf.put("Lead", {**_copy(world, "Lead", sf_id), "Title": "Head of Sales"})
    world.sf.remove("Lead", sf_id, merged_into=master)
    settle(world, engine)
    contact = world.hs.get("contacts", hs_id)
    assert world.sf.get("Lead", master)["Baton_Id__c"] == contact["baton_id"]
    assert contact["jobtitle"] == "Head of Sales"
    quiet(world, engine)


def test_chained_merges_in_one_poll_follow_to_the_last_survivor(world: World) -> None:
    """A merged into B, then B into C, read by one poll: the person's contact is C."""
    engine, hs_id, sf_id = _synced(world)
    b = world.hs.put("contacts", _copy(world, "contacts", hs_id))
    world.hs.remove("contacts", hs_id, merged_into=b)
    c = world.hs.put("contacts", {**_copy(world, "contacts", b), "phone": "+33 1 23 45 67 89"})
    world.hs.remove("contacts", b, merged_into=c)
    settle(world, engine)
    survivor = RecordKey(System.HUBSPOT, "contacts", c)
    assert _same_person(world, survivor, RecordKey(System.SALESFORCE, "Lead", sf_id))
    assert world.sf.get("Lead", sf_id)["Phone"] == "+33123456789"
    quiet(world, engine)


def test_two_peoples_contacts_merged_into_one_new_contact(world: World) -> None:
    """Only one person takes the survivor (the other gets a note, as when the survivor was
    already linked): both taking it would write Ann's fields over Bob's Lead."""
    engine, (hs1, sf1), (hs2, sf2) = _ann_and_bob(world)
    c = world.hs.put("contacts", _copy(world, "contacts", hs1))
    world.hs.remove("contacts", hs1, merged_into=c)
    world.hs.remove("contacts", hs2, merged_into=c)
    world.clock.advance(10)
    engine.poll()
    assert world.sf.get("Lead", sf2)["FirstName"] == "Bob"
    assert world.sf.get("Lead", sf1)["Baton_Id__c"] == world.hs.get("contacts", c)["baton_id"]


def test_a_survivor_edited_after_the_merge_keeps_its_edit(world: World) -> None:
    """The survivor starts from the merged contact's snapshot, not as a first sync where an
    unrelated, later edit of the Lead would win every differing field."""
    engine, hs_id, sf_id = _synced(world)
    survivor = world.hs.put("contacts", _copy(world, "contacts", hs_id))
    world.hs.remove("contacts", hs_id, merged_into=survivor)
    world.hs.put("contacts", {"jobtitle": "CEO"}, id=survivor)  # edited after the merge
    world.sf.put("Lead", {"Company": "Beta"}, id=sf_id)  # then sales edits another field
    settle(world, engine)
    assert world.hs.get("contacts", survivor)["company"] == "Beta"
    assert world.hs.get("contacts", survivor)["jobtitle"] == "CEO"
    assert world.sf.get("Lead", sf_id)["Title"] == "CEO"
    quiet(world, engine)


def test_a_salesforce_master_keeps_its_title_beside_a_later_hubspot_edit(world: World) -> None:
    engine, hs_id, sf_id = _synced(world)
    master = world.sf.put("Lead", {**_copy(world, "Lead", sf_id), "Title": "Head of Sales"})
    world.sf.remove("Lead", sf_id, merged_into=master)
    world.hs.put("contacts", {"phone": "+33 1 23 45 67 89"}, id=hs_id)  # unrelated, later
    settle(world, engine)
    assert world.sf.get("Lead", master)["Phone"] == "+33123456789"
    assert world.sf.get("Lead", master)["Title"] == "Head of Sales"
    assert world.hs.get("contacts", hs_id)["jobtitle"] == "Head of Sales"
    quiet(world, engine)


def test_survivor_baseline_kept_when_the_merge_unit_is_retried(world: World) -> None:
    """As above, with every write of the unit that follows the merge answered "retry later":
    the link moves all the same, and so the survivor's inherited baseline is stored too; the
    page read again plans the survivor from it, not as a first sync."""
    engine, hs_id, sf_id = _synced(world)
    survivor = world.hs.put("contacts", _copy(world, "contacts", hs_id))
    world.hs.remove("contacts", hs_id, merged_into=survivor)
    world.hs.put("contacts", {"jobtitle": "CEO"}, id=survivor)  # edited after the merge
    world.sf.put("Lead", {"Company": "Beta"}, id=sf_id)  # then sales edits another field
    world.hs.retry_next = world.sf.retry_next = 1  # both answer 'retry later' (an outage)
    world.clock.advance(10)
    engine.poll()  # every write answered "retry later"
    world.hs.retry_next = world.sf.retry_next = 0
    settle(world, engine)
    assert world.hs.get("contacts", survivor)["company"] == "Beta"
    assert world.hs.get("contacts", survivor)["jobtitle"] == "CEO"
    assert world.sf.get("Lead", sf_id)["Title"] == "CEO"


@pytest.mark.parametrize("size", [1, 500])
def test_chain_across_pages_keeps_the_baseline(world: World, size: int) -> None:
    """A merged into B, B into C, on one page or on separate ones (page_size=1, where B, gone
    already, cannot be read on A's page): B keeps A's baseline all the same, and C inherits
    it, so the Lead's later, unrelated edit does not win C's new title."""
    engine, hs_id, sf_id = _synced(world, page_size=size)
    b = world.hs.put("contacts", _copy(world, "contacts", hs_id))
    world.hs.remove("contacts", hs_id, merged_into=b)
    c = world.hs.put("contacts", {**_copy(world, "contacts", b), "jobtitle": "CEO"})
    world.hs.remove("contacts", b, merged_into=c)
    world.sf.put("Lead", {"Company": "Beta"}, id=sf_id)  # later, unrelated edit
    settle(world, engine)
    assert world.hs.get("contacts", c)["company"] == "Beta"
    assert world.hs.get("contacts", c)["jobtitle"] == "CEO"
    assert world.sf.get("Lead", sf_id)["Title"] == "CEO"


def test_two_people_merged_into_one_new_contact_that_is_bobs(world: World) -> None:
    """Ann's and Bob's contacts merged into a new contact HubSpot built from Bob's (its
    primary: his email, name and baton id): it is Bob's, though Ann's merge is read first,
    and Bob's name and email never reach Ann's Lead."""
    engine, (hs1, sf1), (hs2, _sf2) = _ann_and_bob(world)
    c = world.hs.put("contacts", dict(world.hs.get("contacts", hs2)))  # Bob's, baton id too
    world.hs.remove("contacts", hs1, merged_into=c)
    world.hs.remove("contacts", hs2, merged_into=c)
    world.clock.advance(10)
    engine.poll()
    assert world.sf.get("Lead", sf1)["FirstName"] == "Ann"
    assert world.sf.get("Lead", sf1)["Email"].lower() == "ann@example.com"


def test_a_chain_into_a_survivor_another_person_was_merged_into(world: World) -> None:
    """Ann's contact merged into B (new), then B and Bob's contact into C, built from Bob's:
    Ann's claim on C through the chain counts, and C goes to Bob, whose id it carries."""
    engine, (hs1, sf1), (hs2, _sf2) = _ann_and_bob(world)
    b = world.hs.put("contacts", _copy(world, "contacts", hs1))
    world.hs.remove("contacts", hs1, merged_into=b)
    c = world.hs.put("contacts", dict(world.hs.get("contacts", hs2)))  # Bob's, baton id too
    world.hs.remove("contacts", b, merged_into=c)
    world.hs.remove("contacts", hs2, merged_into=c)
    world.clock.advance(10)
    engine.poll()
    assert world.sf.get("Lead", sf1)["FirstName"] == "Ann"
    assert world.sf.get("Lead", sf1)["Email"].lower() == "ann@example.com"


def test_a_merge_read_only_after_its_loser_was_purged_moves_the_person_to_the_master(
    world: World,
) -> None:
    """Merged in Salesforce while Baton was down for longer than the recycle bin keeps the
    loser: no merged-away row will ever be read, but the master kept the loser's Baton id. The
    loser gone for good, the master is the person's Lead (from the loser's snapshot: the
    master's own edit is carried), not an ambiguity logged every cycle."""
    engine, hs_id, sf_id = _synced(world)
    bid = world.sf.get("Lead", sf_id)["Baton_Id__c"]
    master = world.sf.put(
        "Lead", {**_copy(world, "Lead", sf_id), "Title": "VP", "Baton_Id__c": bid}
    )
    world.sf.purge("Lead", sf_id)
    world.clock.advance(20 * 86400)
    report = engine.poll()
    assert report.ambiguous == 0
    link = find_link(world.read(), RecordKey(System.SALESFORCE, "Lead", master))
    assert link is not None
    assert link.active
    assert str(link.person_id) == bid
    assert world.hs.get("contacts", hs_id)["jobtitle"] == "VP"
    [why] = [
        d.salesforce_new
        for d in decisions_for(world.read(), link.person_id, "record")
        if d.rule == "merge"
    ]
    assert (
        why
        == f"salesforce:Lead:{sf_id} is gone; salesforce:Lead:{master} carries its cross-system id"
    )
    world.hs.put("contacts", {"jobtitle": "Head of Ops"}, id=hs_id)
    settle(world, engine)
    assert world.sf.get("Lead", master)["Title"] == "Head of Ops"
    assert not any(
        d.rule == "unreadable" for d in decisions_for(world.read(), link.person_id, "record")
    )
    quiet(world, engine)


def test_a_baton_id_claimed_while_its_lead_lives_stays_ambiguous(world: World) -> None:
    """A copy of a Lead carrying its Baton id (a clone) while the Lead is still there, or two
    copies of a Lead gone for good: which one is the person's is not guessed."""
    engine, _, sf_id = _synced(world)
    bid = world.sf.get("Lead", sf_id)["Baton_Id__c"]
    clone = world.sf.put("Lead", {**_copy(world, "Lead", sf_id), "Baton_Id__c": bid})
    world.clock.advance(10)
    assert engine.poll().ambiguous == 1
    assert find_link(world.read(), RecordKey(System.SALESFORCE, "Lead", clone)) is None
    world.sf.put("Lead", {**_copy(world, "Lead", sf_id), "Baton_Id__c": bid})
    world.sf.put("Lead", {"Title": "Clone"}, id=clone)  # both read by one poll
    world.sf.purge("Lead", sf_id)
    world.clock.advance(10)
    assert engine.poll().ambiguous == 2
    link = find_link(world.read(), RecordKey(System.SALESFORCE, "Lead", sf_id))
    assert link is not None
    assert link.active
