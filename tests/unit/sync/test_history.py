"""Funnel history from the engine: given a sequence of moves in both systems, when the engine
polls after each, then the first entries recorded (stage, time, source system, reason) are
the best evidence the systems keep, never rewritten, and skipped stages are not invented."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from connectors.records import System
from sync.engine import SyncEngine
from sync.queries.scorecard import scorecard
from sync.store.schema import FunnelTransition, Person
from tests.unit.sync.conftest import World
from tests.unit.sync.fakes import START

HS, SF = System.HUBSPOT, System.SALESFORCE
DAY = timedelta(days=1)


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def contact(n: int, **fields: object) -> dict[str, object]:
    return {
        "email": f"p{n}@example.com",
        "firstname": f"P{n}",
        "lastname": "Lee",
        "company": "Acme",
        "lifecyclestage": "lead",
        **fields,
    }


def lead_fields(n: int, status: str) -> dict[str, object]:
    return {
        "Email": f"p{n}@example.com",
        "LastName": "Lee",
        "Company": "Acme",
        "Status": status,
        "IsConverted": False,
    }


def transitions(world: World) -> dict[str, tuple[str, datetime, System, str | None]]:
    """Every recorded entry, as {stage: (email, entered_at, system, reason)} for one person."""
    rows = world.read().execute(
        select(
            Person.email_normalized,
            FunnelTransition.stage,
            FunnelTransition.entered_at,
            FunnelTransition.source_system,
            FunnelTransition.reason,
        ).join(Person, Person.baton_id == FunnelTransition.person_id)
    )
    out: dict[str, tuple[str, datetime, System, str | None]] = {}
    for email, stage, at, system, reason in rows:
        assert stage not in out, f"two people recorded {stage}: use one person per scenario"
        out[stage] = (email, _utc(at), System(system), reason)
    return out


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=START.tzinfo)


@dataclass
class Run:
    """A scenario's handles: the world, its engine, and the times it wants to assert on."""

    world: World
    engine: SyncEngine
    times: dict[str, datetime]

    def poll(self) -> None:
        self.world.clock.advance(10)
        self.engine.poll()
        self.world.clock.advance(10)
        self.engine.poll()  # the echoes of our writes, which must not add anything

    def mark(self, name: str) -> datetime:
        """The time the next edit will carry (a fake edit advances the clock by 1 s)."""
        self.times[name] = self.world.clock() + timedelta(seconds=1)
        return self.times[name]

    def lead_of(self, email: str) -> str:
        return self.world.sf.find("Lead", "Email", email)[0]


def handoff_then_working(run: Run) -> None:
    """HubSpot dates inquiry and MQL; Baton hands off; a rep works the lead."""
    created = START - 3 * DAY
    run.times["created"] = created
    run.times["mql"] = START - DAY
    run.world.hs.put(
        "contacts",
        contact(
            1,
            createdate=iso(created),
            hs_lifecyclestage_lead_date=iso(created),
            lifecyclestage="marketingqualifiedlead",
            hs_lifecyclestage_marketingqualifiedlead_date=iso(START - DAY),
            hubspotscore="80",
        ),
    )
    run.poll()
    lead = run.lead_of("p1@example.com")
    run.mark("sal")
    run.world.sf.put("Lead", {"Status": "Working - Contacted"}, id=lead)
    run.poll()


def observed_moves_without_dates(run: Run) -> None:
    """No dates anywhere: the contact's stage at first sight, then the handoff Baton made."""
    run.mark("inquiry")
    hs_id = run.world.hs.put("contacts", contact(2, hubspotscore="10"))
    run.poll()
    run.mark("mql")
    run.world.hs.put("contacts", {"hubspotscore": "75"}, id=hs_id)
    run.poll()


def recycled_with_reason(run: Run) -> None:
    run.mark("mql")
    run.world.sf.put(
        "Lead",
        lead_fields(3, "Open - Not Contacted"),
    )
    run.poll()
    run.mark("recycled")
    run.world.sf.put(
        "Lead",
        {"Status": "Closed - Not Converted", "Rejection_Reason__c": "No Budget"},
        id=run.lead_of("p3@example.com"),
    )
    run.poll()


def disqualified_with_reason(run: Run) -> None:
    run.mark("inquiry")
    run.world.hs.put("contacts", contact(4))
    run.poll()
    run.mark("disqualified")
    run.world.hs.put(
        "contacts",
        {"hs_lead_status": "UNQUALIFIED", "rejection_reason": "Competitor"},
        id=run.world.hs.find("contacts", "email", "p4@example.com")[0],
    )
    run.poll()


def recycle_reason_in_a_second_save(run: Run) -> None:
    """The status in one save, the reason in the next: one rejection, dated by the first save,
    which the reason tells to be a recycle (Salesforce spells both alike)."""
    run.mark("mql")
    run.world.sf.put(
        "Lead",
        lead_fields(6, "Open - Not Contacted"),
    )
    run.poll()
    lead = run.lead_of("p6@example.com")
    run.mark("recycled")
    run.world.sf.put("Lead", {"Status": "Closed - Not Converted"}, id=lead)
    run.poll()
    run.world.sf.put("Lead", {"Rejection_Reason__c": "Bad Timing"}, id=lead)
    run.poll()


def disqualify_reason_in_a_second_save(run: Run) -> None:
    run.mark("inquiry")
    hs_id = run.world.hs.put("contacts", contact(4))
    run.poll()
    run.mark("disqualified")
    run.world.hs.put("contacts", {"hs_lead_status": "UNQUALIFIED"}, id=hs_id)
    run.poll()
    run.world.hs.put("contacts", {"rejection_reason": "Competitor"}, id=hs_id)
    run.poll()


def a_reason_given_weeks_later(run: Run) -> None:
    """Rev-ops tidy up: a Lead closed without a reason gets one a month on; one rejection."""
    run.mark("disqualified")
    lead = run.world.sf.put(
        "Lead",
        lead_fields(8, "Closed - Not Converted"),
    )
    run.poll()
    run.world.clock.advance(30 * 86400)
    run.world.sf.put("Lead", {"Rejection_Reason__c": "Competitor"}, id=lead)
    run.poll()


def a_new_rejection_after_requalifying(run: Run) -> None:
    """A reason given to a later rejection never rewrites an earlier one left without it."""
    run.mark("inquiry")
    hs_id = run.world.hs.put("contacts", contact(7))
    run.poll()
    run.mark("disqualified")
    run.world.hs.put("contacts", {"hs_lead_status": "UNQUALIFIED"}, id=hs_id)
    run.poll()
    run.world.clock.advance(3600)
    run.mark("sal")
    run.world.hs.put("contacts", {"hs_lead_status": "IN_PROGRESS"}, id=hs_id)
    run.poll()
    run.world.clock.advance(3600)
    run.mark("recycled")
    run.world.hs.put(
        "contacts", {"hs_lead_status": "BAD_TIMING", "rejection_reason": "Bad Timing"}, id=hs_id
    )
    run.poll()


def created_at_a_later_stage(run: Run) -> None:
    """First seen at SAL: the Lead's creation time is when the person entered the funnel."""
    run.times["created"] = START - 5 * DAY
    run.world.sf.put(
        "Lead",
        {
            "Email": "p5@example.com",
            "LastName": "Lee",
            "Company": "Acme",
            "Status": "Working - Contacted",
            "IsConverted": False,
            "CreatedDate": "2026-02-25T09:00:00.000+0000",
        },
    )
    run.poll()


def converted_skips_sal(run: Run) -> None:
    """MQL in Salesforce, converted straight away: sql from ConvertedDate, no SAL invented."""
    run.mark("mql")
    run.world.sf.put(
        "Lead",
        lead_fields(6, "Open - Not Contacted"),
    )
    run.poll()
    run.world.clock.advance(3600)
    run.times["sql"] = run.world.clock() + timedelta(seconds=2)  # the Contact, then the Lead
    run.world.sf.convert(run.lead_of("p6@example.com"))
    run.poll()


def converted_in_the_evening_west_of_utc(run: Run) -> None:
    """Salesforce dates a conversion by the org's day: converted at 18:00 in San Francisco,
    the 2nd there, is the 3rd in UTC. The conversion's own time, not the 2nd's midnight in
    UTC (before the MQL: a 17-hour response read as an instant one)."""
    run.mark("mql")
    lead = run.world.sf.put("Lead", lead_fields(6, "Open - Not Contacted"))
    run.poll()
    run.world.clock.at = run.world.clock().replace(day=3, hour=2, minute=0)
    run.world.sf.convert(lead)
    run.mark("sql")
    run.world.sf.put("Lead", {"ConvertedDate": "2026-03-02"}, id=lead)  # the org's own day
    run.poll()


def never_rewritten(run: Run) -> None:
    """A recycled person re-qualified by marketing keeps their first MQL time."""
    recycled_with_reason(run)
    hs_id = run.world.hs.find("contacts", "email", "p3@example.com")[0]
    run.world.clock.advance(3600)
    run.world.hs.put(
        "contacts", {"lifecyclestage": "marketingqualifiedlead", "hubspotscore": "90"}, id=hs_id
    )
    run.poll()


Expected = tuple[str, str, System, str | None]  # stage, time name, system, reason
SCENARIOS: list[tuple[Callable[[Run], None], list[Expected]]] = [
    (
        handoff_then_working,
        [("inquiry", "created", HS, None), ("mql", "mql", HS, None), ("sal", "sal", SF, None)],
    ),
    (observed_moves_without_dates, [("inquiry", "inquiry", HS, None), ("mql", "mql", HS, None)]),
    (recycled_with_reason, [("mql", "mql", SF, None), ("recycled", "recycled", SF, "no_budget")]),
    (
        disqualified_with_reason,
        [("inquiry", "inquiry", HS, None), ("disqualified", "disqualified", HS, "competitor")],
    ),
    (
        recycle_reason_in_a_second_save,
        [("mql", "mql", SF, None), ("recycled", "recycled", SF, "bad_timing")],
    ),
    (
        disqualify_reason_in_a_second_save,
        [("inquiry", "inquiry", HS, None), ("disqualified", "disqualified", HS, "competitor")],
    ),
    (a_reason_given_weeks_later, [("disqualified", "disqualified", SF, "competitor")]),
    (
        a_new_rejection_after_requalifying,
        [
            ("inquiry", "inquiry", HS, None),
            ("disqualified", "disqualified", HS, None),
            ("sal", "sal", HS, None),
            ("recycled", "recycled", HS, "bad_timing"),
        ],
    ),
    (created_at_a_later_stage, [("sal", "created", SF, None)]),
    (converted_skips_sal, [("mql", "mql", SF, None), ("sql", "sql", SF, None)]),
    (
        converted_in_the_evening_west_of_utc,
        [("mql", "mql", SF, None), ("sql", "sql", SF, None)],
    ),
    (never_rewritten, [("mql", "mql", SF, None), ("recycled", "recycled", SF, "no_budget")]),
]


@pytest.mark.parametrize(
    ("scenario", "expected"), SCENARIOS, ids=[fn.__name__ for fn, _ in SCENARIOS]
)
def test_first_entries_follow_the_best_evidence(
    world: World, scenario: Callable[[Run], None], expected: list[Expected]
) -> None:
    run = Run(world, world.engine(), {})
    scenario(run)
    recorded = transitions(world).items()
    got = {stage: (at, system, reason) for stage, (_, at, system, reason) in recorded}
    want = {stage: (run.times[name], system, reason) for stage, name, system, reason in expected}
    assert got == want


def test_the_scorecard_reads_real_conversions_and_reasons(world: World) -> None:
    run = Run(world, world.engine(), {})
    for n in (1, 2, 3):
        world.hs.put("contacts", contact(n, hubspotscore="80", createdate=iso(START - DAY)))
    run.poll()
    leads = {n: run.lead_of(f"p{n}@example.com") for n in (1, 2, 3)}
    world.sf.put("Lead", {"Status": "Working - Contacted"}, id=leads[1])
    for n, reason in ((2, "No Budget"), (3, "Competitor")):
        rejected = {"Status": "Closed - Not Converted", "Rejection_Reason__c": reason}
        world.sf.put("Lead", rejected, id=leads[n])
    run.poll()
    world.clock.advance(3600)
    world.sf.convert(leads[1])
    run.poll()

    card = scorecard(world.read(), as_of=world.clock(), since=START - 2 * DAY)

    rates = {(c.from_stage, c.to_stage): (c.entered, c.converted) for c in card.conversions}
    assert rates[("inquiry", "mql")] == (3, 3)
    assert rates[("mql", "sal")] == (3, 1)
    assert rates[("sal", "sql")] == (1, 1)
    rejections = {(r.outcome, r.reason): r.count for r in card.rejections}
    assert rejections == {("recycled", "no_budget"): 1, ("disqualified", "competitor"): 1}
    assert card.lead_response.touched == 3
    assert card.lead_response.within_sla == 3


def test_hubspots_stamp_of_our_own_write_is_an_echo_not_a_change(world: World) -> None:
    world.hs.stamps = True
    run = Run(world, world.engine(), {})
    hs_id = world.hs.put("contacts", contact(7))
    run.mark("mql")
    lead = world.sf.put(
        "Lead",
        lead_fields(7, "Open - Not Contacted"),
    )
    run.poll()  # HubSpot moves to MQL by our write, and stamps its "Became an MQL date"
    assert world.hs.get("contacts", hs_id)["hs_lifecyclestage_marketingqualifiedlead_date"]
    before = world.writes()
    run.poll()
    assert world.writes() == before  # the stamp is not copied to MQL_Date__c
    assert world.sf.get("Lead", lead).get("MQL_Date__c") is None
    assert transitions(world)["mql"][1:] == (run.times["mql"], SF, None)


def test_a_deal_won_from_an_early_stage_is_an_opportunity_that_became_a_customer(
    world: World,
) -> None:
    """As in the demo: a Lead converted with an Opportunity at Prospecting (sql), closed won
    from there. No opportunity entry is invented (there is no evidence of one), yet the person
    passed opportunity: the scorecard counts them in opportunity -> customer, not only in
    sql -> opportunity, and leaves the skipped stage out of the velocity."""
    run = Run(world, world.engine(), {})
    world.sf.put("Lead", lead_fields(8, "Working - Contacted"))
    run.poll()
    lead = run.lead_of("p8@example.com")
    world.clock.advance(3600)
    opportunity = world.sf.put("Opportunity", {"StageName": "Prospecting", "IsClosed": False})
    world.sf.convert(lead)
    world.sf.put("Lead", {"ConvertedOpportunityId": opportunity}, id=lead)
    run.poll()
    world.clock.advance(DAY.total_seconds())
    won = {"StageName": "Closed Won", "IsClosed": True, "IsWon": True}
    world.sf.put("Opportunity", won, id=opportunity)
    run.poll()
    assert set(transitions(world)) == {"sal", "sql", "customer"}

    card = scorecard(world.read(), as_of=world.clock(), since=START - DAY)

    rates = {(c.from_stage, c.to_stage): (c.entered, c.converted) for c in card.conversions}
    assert rates[("sql", "opportunity")] == (1, 1)
    assert rates[("opportunity", "customer")] == (1, 1)
    speed = {(v.from_stage, v.to_stage): v.samples for v in card.velocity}
    assert speed[("opportunity", "customer")] == 0
