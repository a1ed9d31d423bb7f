"""Leads read already converted into a Contact that is another person's, or rebuilt after a
lost store in one page: a converted Lead is its Contact's person's former record only when its
email is no one else's, and a Lead resolved by its cross-system id stands for its Contact."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from connectors.records import RecordKey, System
from sync.store.engine import make_engine, sqlite_url
from sync.store.links import find_link
from tests.unit.sync.conftest import World
from tests.unit.sync.test_conversions_into_a_contact import (
    ANN,
    LOST,
    OPEN,
    _contact,
    _convert_into,
    _converted_with,
    _lead,
)
from tests.unit.sync.test_engine import HS_CONTACT, pair, settle

BOB_HS = {**HS_CONTACT, "email": "bob@example.com", "firstname": "Bob", "lastname": "Ray"}
BOB_LEAD = {**ANN, "Email": "bob@example.com", "FirstName": "Bob", "LastName": "Ray"}
ANN_C = {"Email": "ann@example.com", "FirstName": "Ann", "LastName": "Lee"}


def ann_converted(world: World, engine: Any) -> tuple[str, str, str]:
    """Ann, paired and converted with a lost Opportunity: (HubSpot id, Lead, Contact)."""
    hs_ann, lead_ann = pair(world)
    settle(world, engine)
    contact, _ = _converted_with(world, lead_ann, LOST)
    settle(world, engine)
    return hs_ann, lead_ann, contact


def test_another_persons_lead_read_already_converted_into_a_contact_stays_theirs(
    world: World,
) -> None:
    """Bob (HubSpot only) gets a Lead that a rep converts into Ann's Contact before Baton reads
    it. Had Baton read the Lead before the conversion, Bob keeps it and a `conversion` note
    reports it (README); read already converted, the same: the Lead's email is Bob's."""
    engine = world.engine()
    hs_ann, _, contact = ann_converted(world, engine)
    hs_bob = world.hs.put("contacts", BOB_HS)
    settle(world, engine)
    lead_bob = world.sf.put("Lead", BOB_LEAD)
    _convert_into(world, lead_bob, contact, world.sf.put("Opportunity", OPEN))
    settle(world, engine)
    bob = find_link(world.read(), RecordKey(System.HUBSPOT, "contacts", hs_bob))
    lead = find_link(world.read(), _lead(lead_bob))
    assert bob is not None
    assert lead is not None
    assert world.hs.get("contacts", hs_ann)["funnel_stage"] == "Lost"
    assert lead.person_id == bob.person_id


@pytest.mark.parametrize("page", [1, 100])
def test_a_lost_store_rebuilt_in_one_page_keeps_both_converted_leads_one_person(
    world: World, migrated: Path, tmp_path: Path, page: int
) -> None:
    """The commit's own shape (a second Lead converted into a person's Contact), rebuilt after
    a lost store: the first Lead now carries its Baton_Id__c, and, its person's current record
    by it, stands for the Contact, so the second Lead is that person's former record in any
    page size (not a new person, with Ann's contact back at Lost)."""
    engine = world.engine()
    hs_ann, _, contact = ann_converted(world, engine)
    second = world.sf.put("Lead", ANN)
    _convert_into(world, second, contact, world.sf.put("Opportunity", OPEN))
    settle(world, engine)
    assert world.hs.get("contacts", hs_ann)["funnel_stage"] == "Opportunity"
    fresh = tmp_path / "fresh.db"
    fresh.write_bytes(migrated.read_bytes())
    world.db = make_engine(sqlite_url(fresh))
    world.clock.advance(100)
    engine = world.engine(backfill_page_size=page)
    engine.backfill()
    settle(world, engine)
    conn = world.read()
    c_link, l_link = find_link(conn, _contact(contact)), find_link(conn, _lead(second))
    assert c_link is not None
    assert l_link is not None
    assert (l_link.person_id, l_link.active) == (c_link.person_id, False)
    assert world.hs.get("contacts", hs_ann)["funnel_stage"] == "Opportunity"
