"""A backfill of one system's objects makes no HubSpot contact for a Salesforce person unless
every HubSpot contact has been read: the create is an upsert on email, and would overwrite a
contact Baton never read (found in review: `--system salesforce` on a new store)."""

from __future__ import annotations

from datetime import timedelta

from connectors.records import RecordKey, System
from sync.store.links import find_link
from tests.unit.sync.conftest import World
from tests.unit.sync.test_engine import HS_CONTACT, SF_LEAD


def _customer_and_lead(world: World) -> str:
    contact = world.hs.put(
        "contacts", {"email": "ann@example.com", "lastname": "Lee", "lifecyclestage": "customer"}
    )
    world.sf.put("Lead", {**SF_LEAD, "Email": "ann@example.com"})
    world.sf.put("Lead", {**SF_LEAD, "Email": "bo@example.com", "LastName": "Bo"})
    world.clock.advance(10)
    return contact


def test_a_salesforce_only_backfill_on_a_new_store_creates_no_hubspot_contact(
    world: World,
) -> None:
    contact = _customer_and_lead(world)

    report = world.engine().backfill(systems=[System.SALESFORCE])

    assert world.hs.get("contacts", contact)["lifecyclestage"] == "customer"
    assert len(world.hs.live("contacts")) == 1
    assert world.hs.writes == 0
    assert report.creation_waits


def test_once_hubspot_was_read_the_salesforce_only_backfill_creates_what_is_missing(
    world: World,
) -> None:
    contact = _customer_and_lead(world)
    world.engine().backfill(systems=[System.HUBSPOT])  # reads and links; Salesforce not listed
    world.sf.put("Lead", {**SF_LEAD, "Email": "cy@example.com", "LastName": "Cy"})
    world.clock.advance(10)

    report = world.engine().backfill(systems=[System.SALESFORCE])

    assert not report.creation_waits
    emails = sorted(str(fields["email"]) for fields in world.hs.live("contacts").values())
    assert emails == ["ann@example.com", "bo@example.com", "cy@example.com"]
    assert world.hs.get("contacts", contact)["lifecyclestage"] == "customer"


def test_a_since_backfill_of_a_store_that_never_read_hubspot_creates_none(world: World) -> None:
    contact = _customer_and_lead(world)

    report = world.engine().backfill(since=world.clock() - timedelta(hours=1))

    assert world.hs.get("contacts", contact)["lifecyclestage"] == "customer"
    assert len(world.hs.live("contacts")) == 1
    assert report.creation_waits


def test_a_contact_made_since_hubspot_was_last_read_is_read_before_any_creation(
    world: World,
) -> None:
    """A checkpoint says HubSpot was read up to then, not since: what changed since is read
    first, as a poll would, and the new contact is linked, not upserted over (found in
    review)."""
    world.hs.put("contacts", {"email": "old@example.com", "lastname": "Old"})
    world.clock.advance(10)
    world.engine().backfill(systems=[System.HUBSPOT])
    world.clock.advance(86400)  # no daemon meanwhile
    dan = world.hs.put(
        "contacts", {"email": "dan@example.com", "lastname": "Dan", "lifecyclestage": "customer"}
    )
    world.sf.put("Lead", {**SF_LEAD, "Email": "dan@example.com", "LastName": "Dan"})
    world.sf.put("Lead", {**SF_LEAD, "Email": "eve@example.com", "LastName": "Eve"})
    world.clock.advance(10)

    report = world.engine().backfill(systems=[System.SALESFORCE])

    assert world.hs.get("contacts", dan)["lifecyclestage"] == "customer"
    assert find_link(world.read(), RecordKey(System.HUBSPOT, "contacts", dan)) is not None
    assert report.created == {"hubspot:contacts": 1}  # eve's; dan is linked to his contact
    assert not report.creation_waits


def test_a_since_backfill_past_the_hubspot_checkpoint_reads_the_gap_first(world: World) -> None:
    world.hs.put("contacts", {"email": "old@example.com", "lastname": "Old"})
    world.clock.advance(10)
    world.engine().backfill()
    world.clock.advance(3 * 86400)
    dan = world.hs.put(
        "contacts", {"email": "dan@example.com", "lastname": "Dan", "lifecyclestage": "customer"}
    )
    since = world.clock.advance(86400)
    world.sf.put("Lead", {**SF_LEAD, "Email": "dan@example.com", "LastName": "Dan"})
    world.clock.advance(10)

    world.engine().backfill(since=since)

    assert world.hs.get("contacts", dan)["lifecyclestage"] == "customer"
    assert len(world.hs.live("contacts")) == 2


def test_a_contact_made_within_the_lookback_of_the_checkpoint_is_read_too(world: World) -> None:
    """Read means up to this run's start, not up to a lookback before it (found in review)."""
    world.hs.put("contacts", {"email": "old@example.com", "lastname": "Old"})
    world.clock.advance(10)
    world.engine().backfill(systems=[System.HUBSPOT])
    world.clock.advance(60)
    dan = world.hs.put(
        "contacts", {"email": "dan@example.com", "lastname": "Dan", "lifecyclestage": "customer"}
    )
    world.sf.put("Lead", {**SF_LEAD, "Email": "dan@example.com", "LastName": "Dan"})
    world.clock.advance(10)

    world.engine().backfill(systems=[System.SALESFORCE])

    assert world.hs.get("contacts", dan)["lifecyclestage"] == "customer"
    assert len(world.hs.live("contacts")) == 2


def test_a_since_backfill_reads_only_the_gap_before_its_window_again(world: World) -> None:
    """Its own window was read by its listing; a dry run planned the changes in it twice
    (found in review)."""
    hs_id = world.hs.put("contacts", {**HS_CONTACT, "email": "ann@example.com"})
    world.sf.put("Lead", {**SF_LEAD, "Email": "ann@example.com"})
    world.clock.advance(10)
    world.engine().backfill()
    world.clock.advance(3600)
    since = world.clock.advance(60)
    world.hs.put("contacts", {**world.hs.get("contacts", hs_id), "jobtitle": "VP"}, id=hs_id)
    world.clock.advance(10)

    report = world.engine().backfill(since=since, dry_run=True)

    assert report.updated == {"salesforce:Lead": 1}
    assert len(report.planned) == 1


MQL = {
    "email": "ann@example.com",
    "firstname": "Ann",
    "lastname": "Lee",
    "company": "Acme",
    "hubspotscore": "80",
    "lifecyclestage": "marketingqualifiedlead",
}


def _leads_of(world: World, email: str) -> list[str]:
    return [ident for ident, fields in world.sf.live("Lead").items() if fields["Email"] == email]


def test_a_hubspot_only_backfill_links_an_mql_to_the_reps_lead_rather_than_make_a_twin(
    world: World,
) -> None:
    """`--system hubspot` lists no Salesforce person: the handoff's create first looks up the
    Lead it would duplicate (found in a README audit: 76 of 153 Leads made were twins)."""
    world.hs.put("contacts", MQL)
    lead = world.sf.put("Lead", {**SF_LEAD, "Email": "ann@example.com"})
    world.clock.advance(10)

    world.engine().backfill(systems=[System.HUBSPOT])

    assert _leads_of(world, "ann@example.com") == [lead]
    assert find_link(world.read(), RecordKey(System.SALESFORCE, "Lead", lead)) is not None


def test_a_hubspot_only_backfill_after_a_full_one_finds_a_lead_made_since(world: World) -> None:
    world.hs.put("contacts", {"email": "old@example.com", "lastname": "Old"})
    world.clock.advance(10)
    world.engine().backfill()
    world.clock.advance(3600)
    lead = world.sf.put("Lead", {**SF_LEAD, "Email": "ann@example.com"})  # a rep's new Lead
    world.hs.put("contacts", MQL)  # and marketing's MQL of the same person
    world.clock.advance(10)

    world.engine().backfill(systems=[System.HUBSPOT])

    assert _leads_of(world, "ann@example.com") == [lead]


def test_a_since_backfill_finds_a_lead_older_than_its_window(world: World) -> None:
    lead = world.sf.put("Lead", {**SF_LEAD, "Email": "ann@example.com"})
    world.clock.advance(30 * 86400)
    since = world.clock() - timedelta(days=7)
    world.hs.put("contacts", MQL)  # an MQL since, whose Lead is a month old
    world.clock.advance(10)

    world.engine().backfill(since=since)

    assert _leads_of(world, "ann@example.com") == [lead]


def test_a_hubspot_only_backfill_still_hands_off_an_mql_sales_do_not_have(world: World) -> None:
    world.hs.put("contacts", MQL)
    world.clock.advance(10)

    report = world.engine().backfill(systems=[System.HUBSPOT])

    assert len(_leads_of(world, "ann@example.com")) == 1
    assert report.created
