"""A first sync where HubSpot's lead status says a later stage than the Lead's own: the funnel
moves both to that stage, and the Lead's old status is not copied down over HubSpot's."""

from __future__ import annotations

from tests.unit.sync.conftest import World
from tests.unit.sync.test_engine import pair, quiet, settle


def test_a_lead_behind_hubspots_status_does_not_swap_statuses_with_it(world: World) -> None:
    hs_id, sf_id = pair(
        world,
        hs={"lifecyclestage": "marketingqualifiedlead", "hs_lead_status": "CONNECTED"},
        sf={"Status": "Open - Not Contacted"},
    )
    engine = world.engine()
    settle(world, engine)
    contact, lead = world.hs.get("contacts", hs_id), world.sf.get("Lead", sf_id)
    assert lead["Status"] == "Working - Contacted"
    assert lead["Funnel_Stage__c"] == contact["funnel_stage"] == "SAL"
    # HubSpot's status still says SAL: sales' old "new" (MQL) was not copied over it
    assert contact["hs_lead_status"] in {"IN_PROGRESS", "ATTEMPTED_TO_CONTACT", "CONNECTED"}
    quiet(world, engine)
