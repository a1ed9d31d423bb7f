"""A lost store (or a second one) meeting a pair another store synced: both records carry the
person's cross-system id and already agree per the dictionary, so its first sync, which has no
snapshot to tell a change from the pair's old state, writes nothing."""

from __future__ import annotations

from collections.abc import Callable

from mappings.transforms import parse_datetime
from tests.unit.sync.conftest import World
from tests.unit.sync.test_engine import HS_CONTACT, pair, settle


def first_sync_of_a_fresh_store(world: World, lose_store: Callable[[], None]) -> int:
    """The writes a fresh store's first poll makes on the world as it is."""
    lose_store()
    engine = world.engine()
    before = world.writes()
    world.clock.advance(10)
    engine.poll()
    return world.writes() - before


def test_a_lead_status_moved_by_the_funnel_is_not_copied_back_by_a_fresh_store(
    world: World, lose_store: Callable[[], None]
) -> None:
    """The store moved the Lead to HubSpot's stage (SAL: "Working - Contacted") and left
    HubSpot's "Connected", which Salesforce holds as that very Status: a fresh store does not
    copy the coarser value back over it."""
    hs_id, sf_id = pair(
        world,
        hs={"lifecyclestage": "marketingqualifiedlead", "hs_lead_status": "CONNECTED"},
        sf={"Status": "Open - Not Contacted"},
    )
    settle(world, world.engine())
    assert world.sf.get("Lead", sf_id)["Status"] == "Working - Contacted"
    assert world.hs.get("contacts", hs_id)["hs_lead_status"] == "CONNECTED"

    assert first_sync_of_a_fresh_store(world, lose_store) == 0
    assert world.hs.get("contacts", hs_id)["hs_lead_status"] == "CONNECTED"


def test_a_first_sync_keeps_hubspots_lead_status_where_salesforce_holds_it(
    world: World,
) -> None:
    """HubSpot's "Connected" is written to a Lead as "Working - Contacted", the Status the
    Lead has: the pair is in step, and HubSpot keeps its finer value."""
    hs_id, _ = pair(
        world,
        hs={"lifecyclestage": "marketingqualifiedlead", "hs_lead_status": "CONNECTED"},
        sf={"Status": "Working - Contacted"},
    )
    settle(world, world.engine())
    assert world.hs.get("contacts", hs_id)["hs_lead_status"] == "CONNECTED"


def test_an_mql_date_salesforce_holds_is_not_moved_later_to_hubspots_stamp(
    world: World, lose_store: Callable[[], None]
) -> None:
    """The handoff dates the Lead's MQL at the contact's qualifying edit; moving the contact
    to MQL makes HubSpot stamp its "Became an MQL date" later, at that write. A first-entered
    time is never moved later: a fresh store keeps the Lead's."""
    world.hs.stamps = True
    hs_id = world.hs.put("contacts", {**HS_CONTACT, "company": "Acme", "hubspotscore": "80"})
    world.clock.advance(10)
    settle(world, world.engine())
    [lead_id] = world.sf.live("Lead")
    handed_off = world.sf.get("Lead", lead_id)["MQL_Date__c"]
    stamped = world.hs.get("contacts", hs_id)["hs_lifecyclestage_marketingqualifiedlead_date"]
    assert parse_datetime(handed_off) < parse_datetime(stamped)

    assert first_sync_of_a_fresh_store(world, lose_store) == 0
    assert world.sf.get("Lead", lead_id)["MQL_Date__c"] == handed_off
