"""The scorecard over the hand-built March funnel (see conftest): every definition, pinned."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from connectors.records import System
from mappings.model import Stage
from sync.queries.history import Entry, History, load_histories
from sync.queries.scorecard import (
    Scorecard,
    compute,
    definitions,
    median,
    p90,
    scorecard,
    sla_hours,
)
from sync.store.people import add_person
from sync.store.transitions import record_transition

from .conftest import AS_OF, SINCE, UNTIL, at

H = timedelta(hours=1)
M = timedelta(minutes=1)
D = timedelta(days=1)


@pytest.fixture
def card(store: Engine, funnel: dict[str, uuid.UUID]) -> Scorecard:
    with store.connect() as conn:
        return scorecard(conn, as_of=AS_OF, since=SINCE, until=UNTIL)


def test_volume_counts_first_entries_in_the_period(card: Scorecard) -> None:
    assert {v.stage: v.people for v in card.volume} == {
        "subscriber": 0,
        "inquiry": 2,  # dave, frank (alice's inquiry was in February)
        "mql": 6,  # alice, bob, carol, dave, erin, gina (hank's MQL was in February)
        "sal": 2,
        "sql": 2,
        "opportunity": 1,
        "customer": 1,
        "recycled": 1,
        "disqualified": 2,
        "lost": 0,
    }


def test_conversion_cohorts_by_passing_the_earlier_stage(card: Scorecard) -> None:
    rates = {
        (str(c.from_stage), str(c.to_stage)): (c.entered, c.converted, c.rate)
        for c in card.conversions
    }
    assert rates == {
        ("subscriber", "inquiry"): (0, 0, None),
        ("inquiry", "mql"): (2, 1, 0.5),
        # erin skipped sal (mql -> sql) and still counts as passing mql -> sal ...
        ("mql", "sal"): (6, 3, 0.5),
        # ... so she is in sal's cohort too (alice, bob, erin), converted to sql
        ("sal", "sql"): (3, 2, pytest.approx(2 / 3)),
        ("sql", "opportunity"): (2, 1, 0.5),
        ("opportunity", "customer"): (1, 1, 1.0),
        ("mql", "customer"): (6, 1, pytest.approx(1 / 6)),
    }


def test_velocity_median_and_nearest_rank_p90(card: Scorecard) -> None:
    speed = {
        (str(v.from_stage), str(v.to_stage)): (v.samples, v.median, v.p90) for v in card.velocity
    }
    assert speed[("subscriber", "inquiry")] == (0, None, None)
    assert speed[("inquiry", "mql")] == (1, 3 * D + 23 * H, 3 * D + 23 * H)
    # alice 30 min, erin 3 h (to sql, skipping sal), bob 30 h
    assert speed[("mql", "sal")] == (3, 3 * H, 30 * H)
    # alice only: erin skipped sal, so spent no time in it
    assert speed[("sal", "sql")] == (1, D + 23 * H + 30 * M, D + 23 * H + 30 * M)
    assert speed[("sql", "opportunity")] == (1, 3 * D, 3 * D)
    assert speed[("opportunity", "customer")] == (1, 15 * D, 15 * D)
    assert speed[("mql", "customer")] == (1, 20 * D, 20 * D)


def test_lead_response_against_the_sla(card: Scorecard) -> None:
    lead = card.lead_response
    assert (lead.mqls, lead.touched, lead.within_sla) == (6, 4, 3)
    assert (lead.breached_late, lead.breached_untouched, lead.pending) == (1, 1, 1)
    assert lead.share_within_sla == pytest.approx(3 / 5)  # gina (pending) is not judged yet
    # responses: dave 2 min, alice 30 min, erin 3 h, bob 30 h
    assert lead.median == (30 * M + 3 * H) / 2
    assert lead.mean == timedelta(minutes=(2 + 30 + 180 + 1800) / 4)
    assert lead.p90 == 30 * H
    assert lead.buckets == (
        ("<= 5 min", 1),
        ("5 min - 1 h", 1),
        ("1 h - 24 h", 1),
        ("> 24 h", 1),
        ("not touched yet", 2),
    )
    breaches = [(b.email, b.touched_at, b.overdue_by) for b in lead.breaches]
    assert breaches == [
        ("carol@example.com", None, AS_OF - at("03-04 09:00") - 24 * H),
        ("bob@example.com", at("03-04 15:00"), 6 * H),
    ]


def test_a_shorter_sla_turns_more_responses_into_breaches(
    store: Engine, funnel: dict[str, uuid.UUID]
) -> None:
    with store.connect() as conn:
        card = scorecard(conn, as_of=AS_OF, since=SINCE, until=UNTIL, sla=H)
    lead = card.lead_response
    # within an hour: dave, alice; late: erin (3 h), bob (30 h); gina (2 h untouched) breached
    assert (lead.within_sla, lead.breached_late, lead.breached_untouched, lead.pending) == (
        2,
        2,
        2,
        0,
    )
    assert lead.share_within_sla == pytest.approx(2 / 6)
    assert dict(card.definitions)["SLA"].startswith("1 h:")


def test_rejection_reasons_with_their_share(card: Scorecard) -> None:
    assert card.rejections_total == 3
    assert [(r.outcome, r.reason, r.count) for r in card.rejections] == [
        ("disqualified", "competitor", 2),  # dave, and hank (MQL in February, rejected in March)
        ("recycled", "bad_timing", 1),
    ]
    assert [r.share for r in card.rejections] == [pytest.approx(2 / 3), pytest.approx(1 / 3)]


def test_the_period_bounds_are_half_open(store: Engine, funnel: dict[str, uuid.UUID]) -> None:
    with store.connect() as conn:
        card = scorecard(conn, as_of=AS_OF, since=at("03-02 09:00"), until=at("03-03 09:00"))
    volume = {v.stage: v.people for v in card.volume if v.people}
    assert volume == {"mql": 1, "sal": 1, "inquiry": 1}  # alice's mql and sal, frank's inquiry


def test_figures_as_of_an_earlier_moment_ignore_later_entries(
    store: Engine, funnel: dict[str, uuid.UUID]
) -> None:
    as_of = at("03-04 10:00")
    with store.connect() as conn:
        card = scorecard(conn, as_of=as_of, since=SINCE)
    assert card.until == as_of
    lead = card.lead_response
    # alice touched; bob's SAL (03-04 15:00) is still in the future: untouched and 1 h overdue
    assert (lead.mqls, lead.within_sla, lead.breached_untouched, lead.pending) == (3, 1, 1, 1)
    assert [(b.email, b.overdue_by) for b in lead.breaches] == [("bob@example.com", H)]


def test_since_must_be_before_until(store: Engine) -> None:
    with store.connect() as conn, pytest.raises(ValueError, match="must be before"):
        scorecard(conn, as_of=AS_OF, since=UNTIL, until=SINCE)


def test_an_empty_store_gives_zeros_and_no_rates(store: Engine) -> None:
    with store.connect() as conn:
        card = scorecard(conn, as_of=AS_OF)
    assert all(c.rate is None for c in card.conversions)
    assert card.lead_response.share_within_sla is None
    assert card.rejections == ()


def test_negative_times_are_left_out_of_velocity() -> None:
    t = datetime(2026, 1, 1, tzinfo=UTC)
    person = History(
        uuid.uuid4(),
        None,
        {
            "mql": Entry("mql", t, "hubspot"),
            "sal": Entry("sal", t - H, "salesforce"),  # sales accepted before marketing's MQL
        },
    )
    card = compute([person], as_of=t + D, since=None, until=t + D)
    mql_sal = next(c for c in card.conversions if c.from_stage is Stage.MQL)
    speed = next(v for v in card.velocity if v.from_stage is Stage.MQL)
    assert (mql_sal.converted, speed.samples) == (1, 0)
    assert card.lead_response.median == timedelta(0)  # a touch before the MQL counts as zero


def history(name: str, *entries: tuple[str, datetime]) -> History:
    return History(
        uuid.uuid4(),
        f"{name}@example.com",
        {stage: Entry(stage, when, "salesforce") for stage, when in entries},
    )


def test_a_skipped_stage_is_passed_so_each_steps_converted_are_the_next_steps_cohort() -> None:
    """People become customers without an opportunity entry: a deal won from an early stage
    (sql -> customer), a lifecycle set to customer in HubSpot, a lead rejected then won. They
    passed opportunity, so they are opportunities that became customers (first entries are not
    rewritten: the volume still counts recorded entries only). A person first seen as a customer
    entered the funnel there, and is in no earlier cohort."""
    t = datetime(2026, 3, 10, 9, tzinfo=UTC)
    people = [
        history("won_early", ("mql", t), ("sql", t + D), ("customer", t + 3 * D)),
        history("set_in_hubspot", ("mql", t), ("customer", t + 2 * D)),
        history("rejected_then_won", ("disqualified", t), ("customer", t + 4 * D)),
        history("open_deal", ("mql", t), ("sql", t + D), ("opportunity", t + 2 * D)),
        history("won_deal", ("sql", t), ("opportunity", t + D), ("customer", t + 6 * D)),
        history("imported", ("customer", t + D)),
    ]
    card = compute(people, as_of=t + 9 * D, since=t - D, until=t + 9 * D)
    rates = {(c.from_stage, c.to_stage): (c.entered, c.converted) for c in card.conversions}
    speed = {(v.from_stage, v.to_stage): v.samples for v in card.velocity}
    volume = {v.stage: v.people for v in card.volume}

    # every sql reached opportunity or beyond (rejected_then_won was at a lead stage, sql at most)
    assert rates[("sql", "opportunity")] == (5, 5)
    # ... and those five are opportunity's cohort: 4 became customers; imported is in neither
    assert rates[("opportunity", "customer")] == (5, 4)
    assert speed[("opportunity", "customer")] == 1  # won_deal: the others spent no time there
    assert rates[("mql", "customer")] == (3, 2)  # no MQL invented for the rejected or imported
    assert (volume["opportunity"], volume["customer"]) == (2, 5)  # recorded first entries


def test_a_later_requalification_does_not_put_an_imported_person_in_an_earlier_cohort() -> None:
    """Imported as an SQL, recycled, an MQL again: they did not come up through SAL, and a past
    period's SAL cohort must not change because of what happened later."""
    t = datetime(2026, 1, 1, 9, tzinfo=UTC)
    imported = history("imported_sql", ("sql", t), ("recycled", t + 31 * D), ("mql", t + 59 * D))

    assert imported.passed(Stage.SAL, by=t + 10 * D) is None
    assert imported.passed(Stage.SAL) is None
    assert imported.passed(Stage.MQL) == t + 59 * D  # entered: a new handoff
    january = compute([imported], as_of=t + 90 * D, since=t - D, until=t + 20 * D)
    assert {(c.from_stage, c.to_stage): c.entered for c in january.conversions}[("sal", "sql")] == 0


@pytest.mark.parametrize(
    ("hours", "text"),
    [
        (24, "24 h"),
        (2.5, "2.5 h"),
        (2.1234567, "2.12 h"),
        (0.25, "0.25 h"),
        (8760, "8760 h"),
        (0.001, "0.001 h"),
    ],
)
def test_the_sla_is_printed_to_at_most_two_decimals(hours: float, text: str) -> None:
    """A setting's many digits mean nothing to a reader: 2.1234567 printed as '2.12346 h'."""
    assert sla_hours(timedelta(hours=hours)) == text
    assert dict(definitions(timedelta(hours=hours)))["SLA"].startswith(f"{text}: within")


def test_median_and_p90_definitions() -> None:
    values = [timedelta(seconds=s) for s in (5, 1, 4, 2, 3, 6, 7, 8, 9, 10)]
    assert median(values) == timedelta(seconds=5.5)
    assert p90(values) == timedelta(seconds=9)  # ceil(0.9 * 10) = 9th shortest
    assert median([H]) == H
    assert p90([H]) == H
    assert median([]) is None
    assert p90([]) is None


def test_a_touch_before_a_requalified_mql_does_not_answer_it() -> None:
    t = datetime(2026, 3, 10, 9, tzinfo=UTC)

    def person(name: str, *entries: tuple[str, datetime]) -> History:
        side = {"mql": "hubspot"}
        return History(
            uuid.uuid4(),
            f"{name}@example.com",
            {s: Entry(s, at_, side.get(s, "salesforce"), None) for s, at_ in entries},
        )

    # disqualified at inquiry, re-qualified by marketing, never touched since: a breach
    again = person("again", ("disqualified", t - 9 * D), ("mql", t))
    # recycled, re-qualified, accepted 2 h after the new MQL: within the SLA, in 2 h
    answered = person("answered", ("recycled", t - 9 * D), ("mql", t), ("sal", t + 2 * H))
    # recycled, re-qualified, accepted 30 h later: a late breach
    late = person("late", ("recycled", t - 9 * D), ("mql", t), ("sal", t + 30 * H))
    card = compute([again, answered, late], as_of=t + 2 * D, since=t - D, until=t + D)
    lead = card.lead_response
    assert (lead.mqls, lead.touched, lead.within_sla) == (3, 2, 1)
    assert (lead.breached_late, lead.breached_untouched, lead.pending) == (1, 1, 0)
    assert (lead.median, lead.p90) == (16 * H, 30 * H)
    assert [(b.email, b.touched_at) for b in lead.breaches] == [
        ("again@example.com", None),
        ("late@example.com", t + 30 * H),
    ]


def test_an_exit_before_the_mql_makes_it_a_requalification_even_before_an_earlier_touch() -> None:
    """Disqualified, then accepted by sales, then qualified by marketing: the MQL is a new
    handoff all the same, and the acceptance before it answered an earlier one (the README,
    the printed definition and the SLA timer say so too)."""
    t = datetime(2026, 3, 10, 9, tzinfo=UTC)

    def rejoined(*later: tuple[str, datetime]) -> History:
        entries = [("disqualified", t - 9 * D), ("sal", t - 5 * D), ("mql", t), *later]
        return History(
            uuid.uuid4(),
            "rejoined@example.com",
            {s: Entry(s, at_, "salesforce") for s, at_ in entries},
        )

    assert rejoined().answered() is None
    assert rejoined(("sql", t + 3 * H)).answered() == t + 3 * H


def test_mqls_never_handed_off_are_counted_apart_not_as_breaches() -> None:
    """An MQL with no Salesforce record (below the shared MQL definition: no Lead was made) is
    no MQL sales could answer: counted as not handed off, outside the share and the breaches."""
    t = datetime(2026, 3, 10, 9, tzinfo=UTC)
    sales = History(uuid.uuid4(), "sales@example.com", {"mql": Entry("mql", t, "hubspot")})
    kept = History(
        uuid.uuid4(), "kept@example.com", {"mql": Entry("mql", t, "hubspot")}, handed_off=False
    )
    answered = History(
        uuid.uuid4(),
        "answered@example.com",
        {"mql": Entry("mql", t, "hubspot"), "sal": Entry("sal", t + H, "salesforce")},
    )
    lead = compute([sales, kept, answered], as_of=t + 2 * D, since=t - D, until=t + D).lead_response
    assert (lead.mqls, lead.touched, lead.within_sla, lead.not_handed_off) == (3, 1, 1, 1)
    assert (lead.breached_late, lead.breached_untouched, lead.pending) == (0, 1, 0)
    assert lead.share_within_sla == 0.5  # kept is not judged
    assert [b.email for b in lead.breaches] == ["sales@example.com"]
    assert dict(lead.buckets)["not handed off"] == 1
    assert sum(n for _, n in lead.buckets) == lead.mqls


def test_histories_say_who_was_handed_off(store: Engine, funnel: dict[str, uuid.UUID]) -> None:
    with store.begin() as conn:
        kept = add_person(conn, "kept@example.com", at=at("03-01 00:00"))
        record_transition(conn, kept, "mql", at("03-10 09:00"), System.HUBSPOT)
    with store.connect() as conn:
        card = scorecard(conn, as_of=AS_OF, since=SINCE, until=UNTIL)
        handed = {h.person_id: h.handed_off for h in load_histories(conn)}
    assert handed[kept] is False
    assert all(handed[pid] for pid in funnel.values())
    lead = card.lead_response
    assert (lead.mqls, lead.not_handed_off, lead.breached_untouched) == (7, 1, 1)  # carol only
