"""A unit of records read by id (a webhook, a retry) has not listed the other system: before it
creates a person's counterpart, it looks up what that create would land on or duplicate, and
syncs the person as a pair with what it finds."""

from __future__ import annotations

from pathlib import Path

from connectors.records import RecordKey, System
from sync.store.engine import make_engine, sqlite_url
from sync.store.links import find_link
from tests.unit.sync.conftest import World
from tests.unit.sync.test_engine import HS_CONTACT, SF_LEAD, pair, settle

MQL = {"hubspotscore": "75", "company": "Acme"}  # the default dictionary's MQL rule


def contact_hint(hs_id: str) -> list[RecordKey]:
    return [RecordKey(System.HUBSPOT, "contacts", hs_id)]


def lead_hint(sf_id: str) -> list[RecordKey]:
    return [RecordKey(System.SALESFORCE, "Lead", sf_id)]


def lose_store(world: World, migrated: Path, tmp_path: Path) -> None:
    fresh = tmp_path / "fresh.db"
    fresh.write_bytes(migrated.read_bytes())
    world.db = make_engine(sqlite_url(fresh))


def test_an_mql_webhook_links_a_lead_baton_has_not_read_instead_of_making_a_second(
    world: World,
) -> None:
    sf_id = world.sf.put("Lead", {**SF_LEAD, "Title": "VP Sales"})  # a rep's, not polled yet
    world.clock.advance(10)
    hs_id = world.hs.put("contacts", {**HS_CONTACT, **MQL})
    world.clock.advance(10)
    engine = world.engine()
    report = engine.sync_keys(contact_hint(hs_id), trigger="webhook")
    assert not report.created
    assert list(world.sf.live("Lead")) == [sf_id]
    link = find_link(world.read(), RecordKey(System.SALESFORCE, "Lead", sf_id))
    contact_link = find_link(world.read(), contact_hint(hs_id)[0])
    assert link is not None
    assert contact_link is not None
    assert link.person_id == contact_link.person_id
    settle(world, engine)
    assert len(world.sf.live("Lead")) == 1
    assert engine.poll().ambiguous == 0


def test_a_lead_webhook_pairs_with_a_contact_baton_has_not_read_rather_than_upserting_over_it(
    world: World,
) -> None:
    hs_id = world.hs.put("contacts", {**HS_CONTACT, "phone": "+33 1 23 45 67 89"})
    world.clock.advance(10)
    sf_id = world.sf.put("Lead", SF_LEAD)
    world.clock.advance(10)
    engine = world.engine()
    report = engine.sync_keys(lead_hint(sf_id), trigger="webhook")
    assert not report.created
    contact = world.hs.get("contacts", hs_id)
    assert contact["phone"] == "+33 1 23 45 67 89"  # a create's payload would have blanked it
    assert contact["jobtitle"] == "CTO"
    assert world.sf.get("Lead", sf_id)["Title"] == "CTO"  # paired: HubSpot's title carried


def test_after_a_lost_store_an_mql_webhook_does_not_overwrite_sales_verdict(
    world: World, migrated: Path, tmp_path: Path
) -> None:
    hs_id, sf_id = pair(world, hs=MQL)
    settle(world, world.engine())
    lose_store(world, migrated, tmp_path)
    world.sf.put("Lead", {"Status": "Working - Contacted"}, id=sf_id)
    world.clock.advance(10)
    world.hs.put("contacts", {"firstname": "Annie"}, id=hs_id)
    world.clock.advance(10)
    engine = world.engine()
    report = engine.sync_keys(contact_hint(hs_id), trigger="webhook")
    assert not report.created
    assert world.sf.get("Lead", sf_id)["Status"] == "Working - Contacted"
    assert world.sf.get("Lead", sf_id)["FirstName"] == "Annie"
    assert list(world.sf.live("Lead")) == [sf_id]


def test_a_webhook_create_with_nothing_to_find_is_made_with_one_lookup_per_key(
    world: World,
) -> None:
    hs_id = world.hs.put("contacts", {**HS_CONTACT, **MQL})
    world.clock.advance(10)
    engine = world.engine()
    before = world.sf.find_calls
    report = engine.sync_keys(contact_hint(hs_id), trigger="webhook")
    assert report.created == {"salesforce:Lead": 1}
    assert world.sf.find_calls - before == 3  # Lead by Baton_Id__c and Email, Contact by Email
    settle(world, engine)
    assert len(world.sf.live("Lead")) == 1


def test_a_hint_about_an_object_baton_does_not_sync_leaves_the_rest_of_the_unit_alone(
    world: World,
) -> None:
    """An Outbound Message about an Account, or a HubSpot app's deal event, names a record the
    engine has no person for: read, it would fail the whole unit (and the daemon would try that
    unit again for ever, holding every later webhook behind it). It is left to the polls."""
    engine = world.engine()
    hs_id = world.hs.put("contacts", HS_CONTACT)
    sf_id = world.sf.put("Lead", SF_LEAD)
    settle(world, engine)
    account = world.sf.put("Account", {"Name": "Acme"})
    deal = world.hs.put("deals", {"dealname": "Acme renewal"})
    world.hs.put("contacts", {"firstname": "Annie"}, id=hs_id)
    world.clock.advance(10)
    deleted_deal = RecordKey(System.HUBSPOT, "deals", "999")  # a deal.deletion event's
    keys = [
        RecordKey(System.SALESFORCE, "Account", account),
        RecordKey(System.HUBSPOT, "deals", deal),
        deleted_deal,
        *contact_hint(hs_id),
    ]
    report = engine.sync_keys(keys, trigger="webhook", gone={deleted_deal})
    assert report.updated == {"salesforce:Lead": 1}
    assert world.sf.get("Lead", sf_id)["FirstName"] == "Annie"
