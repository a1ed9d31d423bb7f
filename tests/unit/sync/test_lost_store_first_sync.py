"""A lost store (or a second one) meeting a pair another store synced: both records carry the
person's cross-system id and already agree per the dictionary, so its first sync, which has no
snapshot to tell a change from the pair's old state, writes nothing."""

from __future__ import annotations

from collections.abc import Callable

import pytest

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


@pytest.mark.parametrize(
    "verdict",
    [{}, {"Status": "Closed - Not Converted", "Rejection_Reason__c": "No Budget"}],
    ids=["mql", "recycled-since"],
)
def test_hubspots_stamp_of_the_stores_own_move_is_not_carried_by_a_fresh_store(
    world: World, lose_store: Callable[[], None], verdict: dict[str, str]
) -> None:
    """The store moved the contact to the Lead's MQL, and HubSpot stamped its "Became an MQL
    date" at that write: the store's own echo, never carried to the Lead's blank MQL date
    (nor once sales recycle the Lead). A fresh store, with no snapshot to know it by, does not
    carry it either."""
    world.hs.stamps = True
    made = "2026-02-01T10:00:00.000+0000"
    hs_id, sf_id = pair(world, hs={"lifecyclestage": "lead"}, sf={"CreatedDate": made})
    engine = world.engine()
    settle(world, engine)
    assert world.hs.get("contacts", hs_id)["hs_lifecyclestage_marketingqualifiedlead_date"]
    if verdict:
        world.sf.put("Lead", verdict, id=sf_id)
        settle(world, engine)
        assert world.hs.get("contacts", hs_id)["hs_lead_status"] == "BAD_TIMING"
    assert world.sf.get("Lead", sf_id).get("MQL_Date__c") is None

    assert first_sync_of_a_fresh_store(world, lose_store) == 0
    assert world.sf.get("Lead", sf_id).get("MQL_Date__c") is None


def test_an_mql_date_hubspot_had_before_the_pair_was_synced_is_carried(world: World) -> None:
    """A pair met for the first time (no cross-system id yet): HubSpot's MQL date is marketing's
    own, and fills the Lead's blank one."""
    dated = "2026-02-01T10:00:00Z"
    _, sf_id = pair(
        world,
        hs={
            "lifecyclestage": "marketingqualifiedlead",
            "hs_lifecyclestage_marketingqualifiedlead_date": dated,
        },
    )
    settle(world, world.engine())
    assert parse_datetime(world.sf.get("Lead", sf_id)["MQL_Date__c"]) == parse_datetime(dated)


def test_an_mql_date_reaches_the_contact_a_lead_was_converted_into_after_it(
    world: World, lose_store: Callable[[], None]
) -> None:
    """The Contact a Lead became (the org's conversion leaves its MQL date behind) was made
    after HubSpot's MQL date, so the date is not a stamp of a move to the Contact's stage:
    a fresh store carries it there."""
    dated = "2026-02-01T10:00:00Z"
    _, lead_id = pair(
        world,
        hs={
            "lifecyclestage": "marketingqualifiedlead",
            "hs_lifecyclestage_marketingqualifiedlead_date": dated,
        },
    )
    settle(world, world.engine())
    contact_id = world.sf.convert(lead_id)
    world.sf.put(
        "Contact",
        {"MQL_Date__c": None, "CreatedDate": "2026-03-02T09:05:00.000+0000"},
        id=contact_id,
    )
    world.clock.advance(10)

    assert first_sync_of_a_fresh_store(world, lose_store) > 0
    mql = world.sf.get("Contact", contact_id)["MQL_Date__c"]
    assert parse_datetime(mql) == parse_datetime(dated)


def test_an_mql_date_marketing_set_since_the_last_sync_is_carried_by_a_fresh_store(
    world: World, lose_store: Callable[[], None]
) -> None:
    """The pair was synced at inquiry; marketing then moved the contact to MQL, and the store
    was lost before it read the move. The Contact is still behind the stage HubSpot dated, so
    the date is marketing's own: a fresh store carries it."""
    hs_id = world.hs.put("contacts", HS_CONTACT)
    made = "2026-01-01T10:00:00.000+0000"
    contact_id = world.sf.put(
        "Contact", {"Email": "ann@example.com", "LastName": "Lee", "CreatedDate": made}
    )
    world.clock.advance(10)
    settle(world, world.engine())
    assert world.sf.get("Contact", contact_id)["Funnel_Stage__c"] == "Inquiry"
    dated = "2026-03-02T10:00:00Z"
    mql = {
        "lifecyclestage": "marketingqualifiedlead",
        "hs_lifecyclestage_marketingqualifiedlead_date": dated,
    }
    world.hs.put("contacts", mql, id=hs_id)

    assert first_sync_of_a_fresh_store(world, lose_store) > 0
    contact = world.sf.get("Contact", contact_id)
    assert parse_datetime(contact["MQL_Date__c"]) == parse_datetime(dated)
    assert contact["Funnel_Stage__c"] == "MQL"


def test_an_mql_date_marketing_sets_on_a_synced_pair_past_the_stage_is_carried(
    world: World,
) -> None:
    """The stamp guess is a fresh store's alone: a store with the contact's snapshot tells its
    own echo from marketing's edit, so an MQL date marketing records on a pair whose Lead is
    past MQL already (history filled in by an import) reaches the Lead's blank one."""
    made = "2026-02-01T10:00:00.000+0000"
    hs_id, sf_id = pair(world, hs={"lifecyclestage": "lead"}, sf={"CreatedDate": made})
    engine = world.engine()
    settle(world, engine)
    world.sf.put("Lead", {"Status": "Working - Contacted"}, id=sf_id)  # sales took it on
    settle(world, engine)
    assert world.sf.get("Lead", sf_id).get("MQL_Date__c") is None
    dated = "2026-02-03T09:00:00Z"  # after the Lead was made
    world.hs.put("contacts", {"hs_lifecyclestage_marketingqualifiedlead_date": dated}, id=hs_id)
    settle(world, engine)
    assert parse_datetime(world.sf.get("Lead", sf_id)["MQL_Date__c"]) == parse_datetime(dated)
