"""An Opportunity's own change, read by a poll that reads nothing else of its person: the
person is planned with their records, so won and lost reach marketing however long after the
conversion the deal closes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.unit.sync.conftest import World
from tests.unit.sync.test_engine import pair, quiet, settle


@pytest.mark.parametrize(
    ("closed", "lifecycle", "label"),
    [
        ({"StageName": "Closed Won", "IsWon": True}, "customer", "Customer"),
        ({"StageName": "Closed Lost", "IsWon": False}, "opportunity", "Lost"),
    ],
)
def test_an_opportunity_closed_long_after_the_conversion_reaches_both_sides(
    world: World, closed: dict[str, object], lifecycle: str, label: str
) -> None:
    hs_id, sf_id = pair(world)
    engine = world.engine(lookback=timedelta(0))  # a poll reads only what changed since
    settle(world, engine)
    opp_id = world.sf.put("Opportunity", {"StageName": "Needs Analysis", "IsClosed": False})
    contact_id = world.sf.convert(sf_id)
    world.sf.put("Lead", {"ConvertedOpportunityId": opp_id}, id=sf_id)
    settle(world, engine)
    assert world.hs.get("contacts", hs_id)["lifecyclestage"] == "opportunity"
    world.clock.advance(3600)  # the Lead and Contact fall out of every later poll's window
    settle(world, engine)
    world.sf.put("Opportunity", {**closed, "IsClosed": True}, id=opp_id)
    world.clock.advance(10)
    report = engine.poll()
    assert report.read == {"salesforce:Opportunity": 1}  # the Opportunity alone was read
    contact = world.hs.get("contacts", hs_id)
    assert contact["lifecyclestage"] == lifecycle
    assert contact["funnel_stage"] == label
    assert world.sf.get("Contact", contact_id)["Funnel_Stage__c"] == label
    settle(world, engine)
    quiet(world, engine)
