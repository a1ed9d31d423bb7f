"""Edits made around a Lead's conversion: the Contact it became starts from what the Lead was
last synced with, so a one-sided edit on either side is carried, as it would have been between
the contact and the Lead, not lost to a first sync the Contact's creation wins."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.records import RecordKey, System
from sync.store.snapshots import snapshot_values
from tests.unit.sync.conftest import World
from tests.unit.sync.test_deletes import _synced
from tests.unit.sync.test_engine import quiet, settle


def _converted_in_sync(world: World, engine: Any, hs_id: str, contact_id: str) -> None:
    """Both sides at SQL (the conversion's own move), and nothing left to write."""
    assert world.hs.get("contacts", hs_id)["funnel_stage"] == "SQL"
    assert world.hs.get("contacts", hs_id)["lifecyclestage"] == "salesqualifiedlead"
    assert world.sf.get("Contact", contact_id)["Funnel_Stage__c"] == "SQL"
    quiet(world, engine)


@pytest.mark.parametrize("contact_first", [False, True])
def test_a_marketing_edit_made_before_a_conversion_reaches_the_contact(
    world: World, contact_first: bool
) -> None:
    """Marketing retitles the contact, then sales converts the Lead before a poll read the
    edit: the Contact carries the Lead's old title from its creation, later than the edit, yet
    only HubSpot changed it, so HubSpot's title wins. Whether the conversion is followed from
    the Lead (a poll) or from the Contact, which carries the Lead's cross-system id (its
    webhook, read first)."""
    engine, hs_id, sf_id = _synced(world)
    world.hs.put("contacts", {"jobtitle": "VP"}, id=hs_id)
    world.clock.advance(10)
    contact_id = world.sf.convert(sf_id)
    if contact_first:
        world.clock.advance(10)
        engine.sync_keys([RecordKey(System.SALESFORCE, "Contact", contact_id)], trigger="webhook")
        assert world.hs.get("contacts", hs_id)["jobtitle"] == "VP"
    settle(world, engine)
    assert world.hs.get("contacts", hs_id)["jobtitle"] == "VP"
    assert world.sf.get("Contact", contact_id)["Title"] == "VP"
    _converted_in_sync(world, engine, hs_id, contact_id)


def test_a_sales_edit_made_before_a_conversion_reaches_hubspot(world: World) -> None:
    """The mirror: sales retitles the Lead, then converts it. The Contact carries the Lead's
    new title, a change since the Lead was synced: HubSpot gets it."""
    engine, hs_id, sf_id = _synced(world)
    world.sf.put("Lead", {"Title": "Head of Sales"}, id=sf_id)
    world.clock.advance(10)
    contact_id = world.sf.convert(sf_id)
    settle(world, engine)
    assert world.hs.get("contacts", hs_id)["jobtitle"] == "Head of Sales"
    assert world.sf.get("Contact", contact_id)["Title"] == "Head of Sales"
    _converted_in_sync(world, engine, hs_id, contact_id)


def test_the_contacts_baseline_is_kept_when_the_conversion_unit_is_retried(
    world: World,
) -> None:
    """Every write of the poll that follows the conversion answered "retry later": the link
    moves all the same, so the Contact's inherited baseline is stored too (the Lead's values,
    less those a Contact does not map), and the poll that reads it again still carries
    marketing's edit rather than planning the Contact as a first sync."""
    engine, hs_id, sf_id = _synced(world)
    world.hs.put("contacts", {"jobtitle": "VP"}, id=hs_id)
    world.clock.advance(10)
    contact_id = world.sf.convert(sf_id)
    world.hs.retry_next = world.sf.retry_next = 100  # both answer 'retry later' (an outage)
    world.clock.advance(10)
    engine.poll()
    contact = RecordKey(System.SALESFORCE, "Contact", contact_id)
    kept, _ = snapshot_values(world.read(), [contact])[contact]
    assert kept["job_title"] == "CTO"  # the Lead's, as last synced
    assert kept.get("company") is None  # a Contact has no company: the Lead's is not kept
    world.hs.retry_next = world.sf.retry_next = 0
    settle(world, engine)
    assert world.hs.get("contacts", hs_id)["jobtitle"] == "VP"
    assert world.sf.get("Contact", contact_id)["Title"] == "VP"
    _converted_in_sync(world, engine, hs_id, contact_id)
