"""The worklist of ambiguous people (`baton status --ambiguous`), from what the engine logged:
each person's email, current records and the records it refused them with why, the newest
first, bounded; people and records counted apart (a pair of twins is one person, two records)."""

from __future__ import annotations

from connectors.records import RecordKey, System
from sync.queries.ambiguous import ambiguous
from sync.queries.status import status
from tests.unit.sync.conftest import World
from tests.unit.sync.test_engine import HS_CONTACT, SF_LEAD

BOB = {**SF_LEAD, "Email": "bob@example.com", "FirstName": "Bob"}


def test_the_newest_people_first_with_their_candidates(world: World) -> None:
    first = RecordKey(System.SALESFORCE, "Lead", world.sf.put("Lead", {**SF_LEAD}))
    second = RecordKey(
        System.SALESFORCE, "Lead", world.sf.put("Lead", {**SF_LEAD, "FirstName": "Anne"})
    )
    contact = RecordKey(System.HUBSPOT, "contacts", world.hs.put("contacts", {**HS_CONTACT}))
    bobs = RecordKey(System.SALESFORCE, "Lead", world.sf.put("Lead", BOB))
    world.clock.advance(10)
    engine = world.engine()
    engine.poll()  # ann's twins met; bob linked to his Lead
    world.clock.advance(60)
    again = RecordKey(System.SALESFORCE, "Lead", world.sf.put("Lead", {**BOB, "Title": "CEO"}))
    world.clock.advance(10)
    engine.poll()  # bob's second Lead: his person has one already

    listed = ambiguous(world.read())
    assert (listed.total, listed.records) == (2, 3)
    assert listed.total == status(world.read(), now=world.clock()).ambiguous_people
    bob, ann = listed.people
    assert (bob.email, ann.email) == ("bob@example.com", "ann@example.com")
    assert bob.noted_at > ann.noted_at
    assert bobs in bob.records  # with the contact made for him
    [refused] = bob.candidates
    assert (refused.key, refused.owner) == (again, None)
    assert refused.why == f"{bobs} already has the email bob@example.com"
    assert {c.key for c in ann.candidates} == {first, second}
    assert {c.why for c in ann.candidates} == {
        "more than one salesforce record has the email ann@example.com"
    }
    assert ann.records == (contact,)
    assert [p.person_id for p in ambiguous(world.read(), limit=1).people] == [bob.person_id]

    # A user settles one twin: it carries the person's cross-system id now.
    world.sf.put("Lead", {"Baton_Id__c": str(ann.person_id)}, id=first.id)
    world.clock.advance(10)
    engine.poll()
    settled = {c.key: c.owner for p in ambiguous(world.read()).people for c in p.candidates}
    assert settled[first] == ann.person_id
    assert settled[second] is None
