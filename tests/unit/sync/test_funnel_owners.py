"""Who moves the funnel: sales' verdicts against HubSpot edits, end to end on fake connectors.

Each test: both systems synced, then one team acts in its own system (or the other system is
merely touched); the engine settles both sides per `stages.resolve` (R1-R4) and a further
cycle writes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.sync.conftest import World
from tests.unit.sync.test_engine import HS_CONTACT, SF_LEAD, pair, quiet, settle

RECYCLE = {"Status": "Closed - Not Converted", "Rejection_Reason__c": "Bad Timing"}


def _accepted(world: World) -> tuple[str, str, Any]:
    """A synced pair sales accepted (SAL on both sides)."""
    hs_id, sf_id = pair(world, hs={"lifecyclestage": "marketingqualifiedlead"})
    engine = world.engine()
    settle(world, engine)
    world.sf.put("Lead", {"Status": "Working - Contacted"}, id=sf_id)
    settle(world, engine)
    assert world.hs.get("contacts", hs_id)["funnel_stage"] == "SAL"
    return hs_id, sf_id, engine


def _funnel(world: World, hs_id: str, sf_id: str) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    contact, lead = world.hs.get("contacts", hs_id), world.sf.get("Lead", sf_id)
    return (
        (contact["funnel_stage"], contact["hs_lead_status"], contact["lifecyclestage"]),
        (lead["Funnel_Stage__c"], lead["Status"]),
    )


@pytest.mark.parametrize("touch", [{"jobtitle": "VP"}, {"country": "Spain"}])
def test_a_contact_edited_after_a_recycle_in_the_same_window_keeps_the_recycle(
    world: World, touch: dict[str, str]
) -> None:
    """Sales recycle the Lead, then marketing edits something else on the contact before the
    next poll: the contact's later modified time is no re-qualification (its funnel values did
    not move), so the recycle reaches HubSpot and the Lead keeps its Status."""
    hs_id, sf_id, engine = _accepted(world)
    world.sf.put("Lead", RECYCLE, id=sf_id)
    world.clock.advance(5)
    world.hs.put("contacts", touch, id=hs_id)  # after the recycle, in the same poll window
    settle(world, engine)
    assert _funnel(world, hs_id, sf_id) == (
        ("Recycled", "BAD_TIMING", "marketingqualifiedlead"),
        ("Recycled", "Closed - Not Converted"),
    )
    quiet(world, engine)


def test_on_first_sight_a_contact_edited_after_the_recycle_does_not_requalify(
    world: World,
) -> None:
    """Baton's first read: a Lead recycled before, its contact edited since (no snapshot shows
    what changed there). Sales' verdict stands; the Lead's Status is not overwritten."""
    sf_id = world.sf.put("Lead", {**SF_LEAD, **RECYCLE})
    world.clock.advance(3600)
    hs_id = world.hs.put("contacts", {**HS_CONTACT, "lifecyclestage": "marketingqualifiedlead"})
    world.clock.advance(10)
    engine = world.engine()
    settle(world, engine)
    assert _funnel(world, hs_id, sf_id) == (
        ("Recycled", "BAD_TIMING", "marketingqualifiedlead"),
        ("Recycled", "Closed - Not Converted"),
    )
    quiet(world, engine)


def test_a_requalification_whose_lead_write_is_refused_still_holds(world: World) -> None:
    """Marketing re-qualify a recycled contact; the Lead refuses Baton's write. The change in
    HubSpot's funnel values stays a change against the contact's snapshot (the refused write's
    fields keep their old snapshot), so later polls do not take sales' old verdict back to
    HubSpot."""
    hs_id, sf_id, engine = _accepted(world)
    world.sf.put("Lead", RECYCLE, id=sf_id)
    settle(world, engine)
    world.sf.rules.append(lambda obj, fields: ("FIELD_CUSTOM_VALIDATION_EXCEPTION", "locked"))
    world.hs.put("contacts", {"hs_lead_status": "OPEN"}, id=hs_id)
    for _ in range(3):
        world.clock.advance(10)
        engine.poll()
        assert _funnel(world, hs_id, sf_id) == (
            ("MQL", "OPEN", "marketingqualifiedlead"),
            ("Recycled", "Closed - Not Converted"),
        )


@pytest.mark.parametrize(
    "hs_change",
    [
        {"hs_lead_status": "UNQUALIFIED"},
        {"hs_lead_status": "BAD_TIMING", "rejection_reason": "No Budget"},
        {"lifecyclestage": "other"},
    ],
    ids=["unqualified", "bad-timing-with-reason", "lifecycle-other"],
)
def test_an_outcome_set_in_hubspot_does_not_reject_a_lead_sales_are_working(
    world: World, hs_change: dict[str, str]
) -> None:
    """Recycling and disqualifying are sales' verdicts (the dictionary's owner), said in
    Salesforce: set on the contact while the Lead is worked, they are not written to the Lead;
    HubSpot is set back to the stage sales have the person at."""
    hs_id, sf_id, engine = _accepted(world)
    world.hs.put("contacts", hs_change, id=hs_id)
    settle(world, engine)
    assert _funnel(world, hs_id, sf_id) == (
        ("SAL", "IN_PROGRESS", "marketingqualifiedlead"),
        ("SAL", "Working - Contacted"),
    )
    quiet(world, engine)


@pytest.mark.parametrize(
    "hs_change",
    [
        {"hs_lead_status": "UNQUALIFIED", "rejection_reason": "Bad Data"},
        {"lifecyclestage": "other"},
    ],
    ids=["unqualified", "lifecycle-other"],
)
def test_an_outcome_set_in_hubspot_stands_where_salesforce_says_no_position(
    world: World, hs_change: dict[str, str]
) -> None:
    """A Contact made in Salesforce has no status and, before any funnel label, says no
    position: HubSpot's disqualification is then the only word, carried to the Contact, not
    erased for a stage no one says."""
    world.hs.known = {"contacts": (*world.hs.known["contacts"], "lifecyclestage")}
    engine = world.engine()
    contact_id = world.sf.put("Contact", {"Email": "bob@example.com", "LastName": "Ray"})
    settle(world, engine)
    [hs_id] = world.hs.find("contacts", "email", "bob@example.com")
    assert world.sf.get("Contact", contact_id).get("Funnel_Stage__c") is None
    world.hs.put("contacts", hs_change, id=hs_id)
    settle(world, engine)
    contact = world.hs.get("contacts", hs_id)
    assert {k: contact.get(k) for k in hs_change} == hs_change  # marketing's word stays
    assert contact["funnel_stage"] == "Disqualified"
    assert world.sf.get("Contact", contact_id)["Funnel_Stage__c"] == "Disqualified"
    quiet(world, engine)


@pytest.mark.parametrize(
    ("stage", "back_to"),
    [("SAL", "subscriber"), ("SAL", "lead"), ("MQL", "lead")],
)
def test_a_lifecycle_stage_set_back_under_the_person_s_stage_is_moved_forward_again(
    world: World, stage: str, back_to: str
) -> None:
    """HubSpot reads the furthest of its lead status and lifecycle stage, so a lifecycle stage
    set back (to subscriber at SAL) hides behind the lead status: it is moved forward to the
    stage's own spelling (SAL is an MQL there, with its own lead status), and once so, a poll
    writes nothing."""
    if stage == "SAL":
        hs_id, sf_id, engine = _accepted(world)
    else:
        hs_id, sf_id = pair(world, hs={"lifecyclestage": "marketingqualifiedlead"})
        engine = world.engine()
        settle(world, engine)
    before = _funnel(world, hs_id, sf_id)
    assert before[0][2] == "marketingqualifiedlead"
    world.hs.put("contacts", {"lifecyclestage": back_to}, id=hs_id)
    settle(world, engine)
    assert _funnel(world, hs_id, sf_id) == before
    assert before[0][0] == stage
    quiet(world, engine)


def test_a_recycled_contact_set_back_to_nurture_keeps_its_lifecycle_stage(world: World) -> None:
    """Under an outcome the lifecycle stage is marketing's to set (a recycled contact put back
    to "lead" for nurture): it is not moved forward."""
    hs_id, sf_id, engine = _accepted(world)
    world.sf.put("Lead", RECYCLE, id=sf_id)
    settle(world, engine)
    world.hs.put("contacts", {"lifecyclestage": "lead"}, id=hs_id)
    settle(world, engine)
    assert _funnel(world, hs_id, sf_id) == (
        ("Recycled", "BAD_TIMING", "lead"),
        ("Recycled", "Closed - Not Converted"),
    )
    quiet(world, engine)


def test_marketing_setting_a_lost_person_back_to_mql_does_not_requalify(world: World) -> None:
    """A closed-lost opportunity outranks lead-level signals on every sync (R2), so marketing
    setting the contact back to MQL does not re-qualify the person (stages.py: a lost person
    is sales' to re-qualify): HubSpot is told Lost again, and it holds."""
    hs_id, sf_id = pair(world)
    engine = world.engine()
    settle(world, engine)
    opp_id = world.sf.put("Opportunity", {"StageName": "Needs Analysis", "IsClosed": False})
    contact_id = world.sf.convert(sf_id)
    world.sf.put("Lead", {"ConvertedOpportunityId": opp_id}, id=sf_id)
    settle(world, engine)
    lost = {"StageName": "Closed Lost", "IsClosed": True, "IsWon": False}
    world.sf.put("Opportunity", lost, id=opp_id)
    settle(world, engine)
    world.clock.advance(90 * 86400)
    requalify = {"hs_lead_status": "OPEN", "funnel_stage": "MQL"}
    world.hs.put("contacts", requalify, id=hs_id)
    settle(world, engine)
    assert world.hs.get("contacts", hs_id)["funnel_stage"] == "Lost"
    assert world.sf.get("Contact", contact_id)["Funnel_Stage__c"] == "Lost"
    quiet(world, engine)


def _lost_after_a_reopened_recycle(world: World) -> tuple[str, str, str, Any]:
    """A pair recycled with a reason, reopened by sales, converted with an Opportunity that
    then closes lost: (contact, Lead, Salesforce Contact, engine)."""
    hs_id, sf_id = pair(world)
    engine = world.engine()
    settle(world, engine)
    world.sf.put("Lead", RECYCLE, id=sf_id)
    settle(world, engine)
    assert world.hs.get("contacts", hs_id)["rejection_reason"] == "Bad Timing"
    world.sf.put("Lead", {"Status": "Working - Contacted"}, id=sf_id)  # sales reopen
    settle(world, engine)
    opp_id = world.sf.put("Opportunity", {"StageName": "Needs Analysis", "IsClosed": False})
    contact_id = world.sf.convert(sf_id)
    world.sf.put("Lead", {"ConvertedOpportunityId": opp_id}, id=sf_id)
    settle(world, engine)
    lost = {"StageName": "Closed Lost", "IsClosed": True, "IsWon": False}
    world.sf.put("Opportunity", lost, id=opp_id)
    settle(world, engine)
    return hs_id, sf_id, contact_id, engine


def test_a_lost_person_does_not_keep_an_old_recycles_reason(world: World) -> None:
    """A closed-lost opportunity gives no reason (R2), and every reason in the dictionary is a
    recycle's or a disqualification's: the reason a reopened recycle left in HubSpot is not
    the loss's, so it is cleared as the person moves to Lost, and that holds. Salesforce's
    copy (carried to the Contact by the conversion) is sales' own: the shipped dictionary
    never writes it (`outcome_reason: salesforce_to_hubspot`)."""
    hs_id, _, contact_id, engine = _lost_after_a_reopened_recycle(world)
    contact = world.hs.get("contacts", hs_id)
    assert contact["funnel_stage"] == "Lost"
    assert not contact.get("rejection_reason")
    sf_contact = world.sf.get("Contact", contact_id)
    assert sf_contact["Funnel_Stage__c"] == "Lost"
    assert sf_contact["Rejection_Reason__c"] == "Bad Timing"
    quiet(world, engine)


def test_a_recycle_and_a_disqualification_keep_their_reasons(world: World) -> None:
    """Only a loss without a reason clears one: sales' verdicts still carry theirs."""
    hs_id, sf_id, _ = _accepted(world)
    engine = world.engine()
    world.sf.put("Lead", RECYCLE, id=sf_id)
    settle(world, engine)
    assert world.hs.get("contacts", hs_id)["rejection_reason"] == "Bad Timing"
    disqualify = {"Status": "Closed - Not Converted", "Rejection_Reason__c": "Competitor"}
    world.sf.put("Lead", disqualify, id=sf_id)
    settle(world, engine)
    contact = world.hs.get("contacts", hs_id)
    assert (contact["funnel_stage"], contact["rejection_reason"]) == ("Disqualified", "Competitor")
    quiet(world, engine)
