"""Two processes on one store, one following a conversion: the move of a Lead's person to the
Contact it was converted into is checked at commit like a new link is, against what another
process stored meanwhile."""

from __future__ import annotations

import pytest

from connectors.records import RecordKey, System
from sync.store.links import LinkReason, find_link
from tests.unit.sync.conftest import World
from tests.unit.sync.test_conversions_into_a_contact import (
    ANN,
    OPEN,
    _contact,
    _convert_into,
    _lead,
)
from tests.unit.sync.test_engine import settle
from tests.unit.sync.test_two_processes import first_held_before_sending

ANN_C = {"Email": "ann@example.com", "FirstName": "Ann", "LastName": "Lee"}


def test_a_conversion_move_raced_by_another_process_is_not_stored(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Lead (dan@) converted into a Contact (ann@) no one has: process 1 reads the Lead and
    moves its new person to the Contact; meanwhile process 2 reads the Contact, links it to a
    person of its own and makes its HubSpot contact. Process 1's commit is refused (read
    again), where its relink used to take the Contact from process 2's person: one human as
    two people, one HubSpot-only, one with no contact. Once read again, the Lead is the
    Contact's person's former record and both sides carry that person's id."""
    contact = world.sf.put("Contact", ANN_C)
    lead = world.sf.put("Lead", {**ANN, "Email": "dan@example.com"})
    _convert_into(world, lead, contact, world.sf.put("Opportunity", OPEN))
    world.clock.advance(100)
    report = first_held_before_sending(
        world,
        monkeypatch,
        lambda engine: engine.sync_keys([_lead(lead)], trigger="webhook"),
        lambda engine: engine.sync_keys([_contact(contact)], trigger="webhook"),
    )
    assert report.retry_later == 1
    [hs_id] = world.hs.live("contacts")
    hs_key = RecordKey(System.HUBSPOT, "contacts", hs_id)
    conn = world.read()
    c_link, hs_link = find_link(conn, _contact(contact)), find_link(conn, hs_key)
    assert c_link is not None
    assert hs_link is not None
    assert c_link.person_id == hs_link.person_id
    assert find_link(conn, _lead(lead)) is None  # nothing of process 1's unit stored
    settle(world, world.engine())
    conn = world.read()
    former = find_link(conn, _lead(lead))
    assert former is not None
    assert (former.person_id, former.active, former.reason) == (
        c_link.person_id,
        False,
        LinkReason.CONVERSION,
    )
    assert world.hs.get("contacts", hs_id)["baton_id"] == str(c_link.person_id)
    assert world.sf.get("Contact", contact)["Baton_Id__c"] == str(c_link.person_id)
