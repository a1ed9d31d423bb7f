"""A Lead converted into a Contact Baton has not linked, whose email is another human's who
has a HubSpot contact: the Lead's person takes the Contact (and its email), so the create of
its HubSpot contact, an upsert on that email, would land on the other human's contact. The
unit resolves that contact itself (it reads what its creates would land on), so the store
alone cannot tell it is taken."""

from __future__ import annotations

from connectors.records import RecordKey, System
from sync.store.decisions import decisions_for
from sync.store.links import find_link
from tests.unit.sync.conftest import World
from tests.unit.sync.test_conversions_into_a_contact import (
    ANN,
    OPEN,
    _contact,
    _convert_into,
    _lead,
)
from tests.unit.sync.test_engine import HS_CONTACT, settle

CAROL_HS = {**HS_CONTACT, "email": "carol@example.com", "firstname": "Carol", "lastname": "Ng"}
CAROL_C = {"Email": "carol@example.com", "FirstName": "Carol", "LastName": "Ng"}


def _hs(ident: str) -> RecordKey:
    return RecordKey(System.HUBSPOT, "contacts", ident)


def test_a_contact_this_unit_resolved_is_not_overwritten_by_a_create(world: World) -> None:
    """HubSpot has Ann (ann@) and Carol (carol@); Salesforce has Carol's Contact, not linked,
    and a rep converts Ann's Lead into it. A webhook's unit for the Lead links Carol's HubSpot
    contact to a person of its own (read as the create's landing spot): the Lead's person is
    then refused a contact (`email_taken`), where it used to upsert onto Carol's (writing its
    baton id and stage there) and then die on an IntegrityError (two links for one contact)."""
    hs_ann = world.hs.put("contacts", HS_CONTACT)
    hs_carol = world.hs.put("contacts", CAROL_HS)
    contact = world.sf.put("Contact", CAROL_C)
    lead = world.sf.put("Lead", ANN)
    _convert_into(world, lead, contact, world.sf.put("Opportunity", OPEN))
    world.clock.advance(100)
    engine = world.engine()
    engine.sync_keys([_lead(lead)], trigger="webhook")
    assert world.hs.get("contacts", hs_carol) == CAROL_HS  # untouched
    conn = world.read()
    carol, mine = find_link(conn, _hs(hs_carol)), find_link(conn, _contact(contact))
    assert carol is not None
    assert mine is not None
    assert carol.person_id != mine.person_id
    rules = [d.rule for d in decisions_for(conn, mine.person_id, "identity")]
    assert rules == ["email_taken"]
    # Later polls read Ann's contact (the Lead's email, the Lead's person's): no twin, no
    # ambiguity, and Carol's contact stays Carol's.
    settle(world, engine)
    conn = world.read()
    ann = find_link(conn, _hs(hs_ann))
    again = find_link(conn, _hs(hs_carol))
    assert ann is not None
    assert ann.person_id == mine.person_id
    assert again is not None
    assert again.person_id == carol.person_id
    assert "baton_id" not in world.hs.get("contacts", hs_carol)
    assert world.engine().poll().ambiguous == 0
