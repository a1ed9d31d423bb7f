"""Conflicts end to end: what counts as one, and that each is counted and logged once."""

from __future__ import annotations

from connectors.records import RecordKey, System
from sync.store.decisions import Decision, decisions_for
from sync.store.links import find_link
from tests.unit.sync.conftest import World
from tests.unit.sync.test_engine import pair, settle


def _log(world: World, hs_id: str, field: str) -> list[Decision]:
    link = find_link(world.read(), RecordKey(System.HUBSPOT, "contacts", hs_id))
    assert link is not None
    return decisions_for(world.read(), link.person_id, field)


def test_a_clear_against_a_change_is_a_conflict_and_the_latest_still_wins(world: World) -> None:
    hs_id, sf_id = pair(world)
    engine = world.engine()
    settle(world, engine)
    world.sf.put("Lead", {"Title": "Head of Sales"}, id=sf_id)  # the rep types a title
    world.hs.put("contacts", {"jobtitle": ""}, id=hs_id)  # marketing clears it, later
    world.clock.advance(10)
    report = engine.poll()
    assert report.conflicts == 1
    last = _log(world, hs_id, "job_title")[-1]
    assert last.rule == "two_way:conflict"
    # the verdict is as before: the most recent change (the clear) wins, now told as a conflict
    assert last.winner is System.HUBSPOT
    assert (last.salesforce_old, last.salesforce_new) == ("Head of Sales", None)
    assert world.sf.get("Lead", sf_id).get("Title") in (None, "")


def test_a_preferred_side_cleared_is_no_value_and_no_conflict(world: World) -> None:
    """phone is prefer_salesforce_unless_blank: a Lead cleared of it lets HubSpot fill in."""
    hs_id, sf_id = pair(world, hs={"phone": "(415) 555-0100"}, sf={"Phone": "(415) 555-0100"})
    engine = world.engine()
    settle(world, engine)
    world.sf.put("Lead", {"Phone": ""}, id=sf_id)
    world.hs.put("contacts", {"phone": "(415) 555-0199"}, id=hs_id)
    world.clock.advance(10)
    report = engine.poll()
    assert report.conflicts == 0
    last = _log(world, hs_id, "phone")[-1]
    assert (last.rule, last.winner) == ("prefer_salesforce_unless_blank", System.HUBSPOT)
    assert str(world.sf.get("Lead", sf_id)["Phone"]).endswith("5550199")
