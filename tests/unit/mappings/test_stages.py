"""The funnel state machine, transition by transition, and the rules that settle conflicts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from connectors.records import System
from mappings.loader import load_default
from mappings.model import Outcome, Person, Stage, Team
from mappings.stages import (
    FunnelState,
    Move,
    Signal,
    decide,
    merge_entered,
    qualifies_for_mql,
    record_entry,
    resolve,
)

D = load_default()
T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = T0 + timedelta(days=3)
ORDER = list(Stage)

# Rows: where the person is; columns: the stage asked for, in funnel order.
# M = only marketing may, S = only sales may, = = the owner may (nothing changes), x = nobody.
STAGE_MOVES = """
                 sub inq mql sal sql opp cus
new               M   M   M   S   S   S   S
subscriber        =   M   M   S   S   S   S
inquiry           x   =   M   S   S   S   S
mql               x   x   =   S   S   S   S
sal               x   x   x   =   S   S   S
sql               x   x   x   x   =   S   S
opportunity       x   x   x   x   x   =   S
customer          x   x   x   x   x   x   =
recycled@sal      x   x   M   S   S   S   S
disqualified@sal  x   x   x   S   S   S   S
lost@opportunity  x   x   x   S   S   S   S
"""

# Columns: the outcome asked for (by sales, with a fitting reason).
# S = sales may, = = already so (allowed, nothing changes), x = nobody.
OUTCOME_MOVES = """
                 recycled disqualified lost
new               x        x            x
subscriber        x        x            x
inquiry           S        S            x
mql               S        S            x
sal               S        S            x
sql               S        S            S
opportunity       x        x            S
customer          x        x            x
recycled@sal      =        S            x
disqualified@sal  x        =            x
lost@opportunity  x        x            =
"""

REASON_FOR = {Outcome.RECYCLED: "bad_timing", Outcome.DISQUALIFIED: "not_a_fit", Outcome.LOST: None}


def state_of(row: str) -> FunnelState:
    entered = {Stage.MQL: T0}
    if row == "new":
        return FunnelState(entered={})
    if "@" in row:
        outcome, stage = row.split("@")
        reason = REASON_FOR[Outcome(outcome)]
        return FunnelState(Stage(stage), Outcome(outcome), reason, entered)
    return FunnelState(Stage(row), None, None, entered)


def table(text: str) -> list[tuple[str, str, str]]:
    lines = [line.split() for line in text.strip().splitlines()]
    header, rows = lines[0], lines[1:]
    return [
        (row[0], column, cell) for row in rows for column, cell in zip(header, row[1:], strict=True)
    ]


STAGE_BY_ABBREV = {s.value[:3]: s for s in Stage}


@pytest.mark.parametrize(("row", "column", "cell"), table(STAGE_MOVES))
@pytest.mark.parametrize("team", list(Team))
def test_every_stage_move(row: str, column: str, cell: str, team: Team) -> None:
    state = state_of(row)
    target = STAGE_BY_ABBREV[column]
    decision = decide(state, Move(target, team, T1), D)
    owner = D.stages[target].owner
    expected = {
        "M": team is Team.MARKETING,
        "S": team is Team.SALES,
        "=": team is owner,
        "x": False,
    }
    assert decision.allowed is expected[cell], decision.explanation
    if not decision.allowed or cell == "=":
        assert decision.state == state
    else:
        assert decision.state.stage is target
        assert decision.state.outcome is None
        assert decision.state.reason is None
        assert decision.state.entered[target] == state.entered.get(target, T1)


@pytest.mark.parametrize(("row", "column", "cell"), table(OUTCOME_MOVES))
@pytest.mark.parametrize("team", list(Team))
def test_every_outcome_move(row: str, column: str, cell: str, team: Team) -> None:
    state = state_of(row)
    outcome = Outcome(column)
    decision = decide(state, Move(outcome, team, T1, REASON_FOR[outcome]), D)
    assert decision.allowed is (cell != "x" and team is Team.SALES), decision.explanation
    if decision.allowed:
        assert decision.state.outcome is outcome
        assert decision.state.stage == state.stage
        assert decision.state.entered == state.entered  # history is never rewritten


@pytest.mark.parametrize(
    ("outcome", "reason", "explanation"),
    [
        (Outcome.RECYCLED, None, "recycled needs a reason from the closed list"),
        (Outcome.DISQUALIFIED, None, "disqualified needs a reason from the closed list"),
        (Outcome.RECYCLED, "not_a_fit", "'not_a_fit' is a reason to disqualified, not recycled"),
        (Outcome.DISQUALIFIED, "bad_timing",
         "'bad_timing' is a reason to recycled, not disqualified"),
        (Outcome.RECYCLED, "too_expensive", "'too_expensive' is not a rejection reason (one of "
         "no_budget, no_authority, no_need, bad_timing, competitor, bad_data, unresponsive, "
         "not_a_fit)"),
    ],
)  # fmt: skip
def test_recycle_and_disqualify_need_a_fitting_reason(
    outcome: Outcome, reason: str | None, explanation: str
) -> None:
    decision = decide(FunnelState(Stage.SAL), Move(outcome, Team.SALES, T1, reason), D)
    assert not decision.allowed
    assert decision.explanation == explanation


def test_lost_needs_no_reason() -> None:
    decision = decide(FunnelState(Stage.OPPORTUNITY), Move(Outcome.LOST, Team.SALES, T1), D)
    assert decision.allowed
    assert decision.explanation == "sales marked the person lost"


@pytest.mark.parametrize(
    ("state", "move", "explanation"),
    [
        (FunnelState(Stage.SAL), Move(Stage.MQL, Team.MARKETING, T1),
         "stages never move backwards (sal -> mql); sales can recycle or disqualify with a "
         "reason instead"),
        (FunnelState(Stage.MQL), Move(Stage.SAL, Team.MARKETING, T1),
         "sal is owned by sales; marketing cannot move people there"),
        (FunnelState(Stage.SAL), Move(Outcome.RECYCLED, Team.MARKETING, T1, "bad_timing"),
         "only sales may mark a person recycled"),
        (FunnelState(Stage.SAL, Outcome.DISQUALIFIED, "not_a_fit"),
         Move(Stage.MQL, Team.MARKETING, T1),
         "disqualified people stay out of marketing's hands until sales reopens them"),
        (FunnelState(Stage.SAL, Outcome.RECYCLED, "bad_timing"),
         Move(Stage.INQUIRY, Team.MARKETING, T1),
         "a recycled person re-enters the funnel at mql, not inquiry"),
        (FunnelState(Stage.CUSTOMER), Move(Outcome.LOST, Team.SALES, T1),
         "lost applies to people at sql, opportunity, not at customer"),
    ],
)  # fmt: skip
def test_refusals_explain_themselves(state: FunnelState, move: Move, explanation: str) -> None:
    decision = decide(state, move, D)
    assert not decision.allowed
    assert decision.explanation == explanation


def test_a_recycle_does_not_rewrite_history() -> None:
    state = FunnelState(Stage.MQL, entered={Stage.INQUIRY: T0, Stage.MQL: T0})
    accepted = decide(state, Move(Stage.SAL, Team.SALES, T0 + timedelta(hours=2)), D).state
    recycled = decide(accepted, Move(Outcome.RECYCLED, Team.SALES, T1, "bad_timing"), D).state
    back = decide(recycled, Move(Stage.MQL, Team.MARKETING, T1 + timedelta(days=30)), D).state
    assert back.stage is Stage.MQL
    assert back.outcome is None
    assert back.entered == {
        Stage.INQUIRY: T0,
        Stage.MQL: T0,
        Stage.SAL: T0 + timedelta(hours=2),
    }


def test_record_entry_keeps_the_first_time_and_merge_keeps_the_earliest() -> None:
    assert record_entry({Stage.MQL: T0}, Stage.MQL, T1) == {Stage.MQL: T0}
    assert record_entry({}, Stage.MQL, T1) == {Stage.MQL: T1}
    assert merge_entered({Stage.MQL: T1}, {Stage.MQL: T0, Stage.SAL: T1}) == {
        Stage.MQL: T0,
        Stage.SAL: T1,
    }


def test_stages_compare_in_funnel_order() -> None:
    assert sorted(reversed(ORDER)) == ORDER
    assert Stage.MQL < Stage.SAL < Stage.CUSTOMER
    assert Stage.SUBSCRIBER <= Stage.SUBSCRIBER
    assert Stage.SQL > Stage.MQL  # alphabetically it would be the other way round
    assert max([Stage.SQL, Stage.OPPORTUNITY, Stage.CUSTOMER]) is Stage.CUSTOMER


# -- qualification ----------------------------------------------------------------------------

QUALIFIED = Person(email="ada@acme.example", company="Acme", score=60)


@pytest.mark.parametrize(
    ("changes", "allowed", "explanation"),
    [
        ({}, True, "meets the MQL definition"),
        ({"score": 59}, False, "score 59 is below 60"),
        ({"score": None}, False, "score None is below 60"),
        ({"company": None}, False, "company is blank"),
        ({"email": "spy@competitor.example"}, False, "email domain competitor.example is excluded"),
    ],
)
def test_the_shared_mql_definition(
    changes: dict[str, object], allowed: bool, explanation: str
) -> None:
    decision = qualifies_for_mql(QUALIFIED.model_copy(update=changes), D)
    assert (decision.allowed, decision.explanation) == (allowed, explanation)


# -- conflicting signals -----------------------------------------------------------------------

HS, SF = System.HUBSPOT, System.SALESFORCE


@pytest.mark.parametrize(
    ("signals", "expected"),
    [
        pytest.param(
            [Signal(HS, Stage.INQUIRY, at=T1), Signal(SF, Stage.SQL, open_opportunity=True, at=T0)],
            (Stage.SQL, None, "R1"), id="open-opportunity-outranks-marketing-downgrade",
        ),
        pytest.param(
            [Signal(SF, Stage.SAL, Outcome.RECYCLED, "bad_timing", at=T1),
             Signal(SF, Stage.OPPORTUNITY, open_opportunity=True, at=T0)],
            (Stage.OPPORTUNITY, None, "R1"), id="open-opportunity-outranks-lead-outcome",
        ),
        pytest.param(
            [Signal(HS, Stage.MQL, at=T1),
             Signal(SF, Stage.CUSTOMER, closed_opportunity=True, at=T0)],
            (Stage.CUSTOMER, None, "R2"), id="closed-won",
        ),
        pytest.param(
            [Signal(HS, Stage.OPPORTUNITY, at=T0),
             Signal(SF, Stage.OPPORTUNITY, Outcome.LOST, closed_opportunity=True, at=T0)],
            (Stage.OPPORTUNITY, Outcome.LOST, "R2"), id="closed-lost",
        ),
        pytest.param(
            [Signal(HS, Stage.MQL, at=T0),
             Signal(SF, Stage.MQL, Outcome.DISQUALIFIED, "not_a_fit", at=T0)],
            (Stage.MQL, Outcome.DISQUALIFIED, "R3"), id="sales-outcome-outranks-lifecycle",
        ),
        pytest.param(
            [Signal(HS, Stage.MQL, Outcome.RECYCLED, "bad_timing", at=T1),
             Signal(SF, Stage.SAL, Outcome.DISQUALIFIED, "not_a_fit", at=T0)],
            (Stage.SAL, Outcome.DISQUALIFIED, "R3"), id="salesforce-outcome-outranks-hubspot",
        ),
        pytest.param(
            [Signal(HS, Stage.MQL, at=T1, requalified=True),
             Signal(SF, Stage.SAL, Outcome.RECYCLED, "bad_timing", at=T0)],
            (Stage.MQL, None, "R3"), id="marketing-requalified-after-recycle",
        ),
        pytest.param(
            [Signal(HS, Stage.MQL, at=T1),
             Signal(SF, Stage.SAL, Outcome.RECYCLED, "bad_timing", at=T0)],
            (Stage.SAL, Outcome.RECYCLED, "R3"), id="contact-edited-after-recycle",
        ),
        pytest.param(
            [Signal(HS, Stage.MQL, at=T0, requalified=True),
             Signal(SF, Stage.SAL, Outcome.RECYCLED, "bad_timing", at=T1)],
            (Stage.SAL, Outcome.RECYCLED, "R3"), id="recycle-after-requalify-stands",
        ),
        pytest.param(
            [Signal(HS, Stage.MQL, at=T0),
             Signal(SF, Stage.SAL, Outcome.RECYCLED, "bad_timing", at=T1)],
            (Stage.SAL, Outcome.RECYCLED, "R3"), id="recycle-after-mql-stands",
        ),
        pytest.param(
            [Signal(HS, Stage.MQL, Outcome.RECYCLED, "bad_timing", at=T1),
             Signal(SF, Stage.SAL, at=T0, reopened=True)],
            (Stage.SAL, None, "R3"), id="sales-reopened-whatever-the-times",
        ),
        pytest.param(
            [Signal(HS, Stage.MQL, at=T1, requalified=True),
             Signal(SF, Stage.OPPORTUNITY, Outcome.LOST, at=T0)],
            (Stage.OPPORTUNITY, Outcome.LOST, "R3"), id="marketing-does-not-requalify-lost",
        ),
        pytest.param(
            [Signal(HS, Stage.MQL, Outcome.DISQUALIFIED, "not_a_fit", at=T1),
             Signal(SF, Stage.SAL, at=T0)],
            (Stage.SAL, None, "R3"), id="hubspot-copy-of-a-sales-outcome-salesforce-does-not-say",
        ),
        pytest.param(
            [Signal(HS, Stage.MQL, Outcome.RECYCLED, "bad_timing", at=T1)],
            (Stage.MQL, Outcome.RECYCLED, "R3"), id="hubspot-outcome-with-no-salesforce-side",
        ),
        pytest.param(
            [Signal(HS, Stage.MQL, at=T1), Signal(SF, Stage.SAL, at=T0)],
            (Stage.SAL, None, "R4"), id="furthest-stage",
        ),
        pytest.param([Signal(HS), Signal(SF)], (None, None, "R4"), id="nothing-known"),
    ],
)  # fmt: skip
def test_conflicting_signals_resolve_by_the_stated_rules(
    signals: list[Signal], expected: tuple[Stage | None, Outcome | None, str]
) -> None:
    resolution = resolve(signals, D)
    assert (resolution.stage, resolution.outcome, resolution.rule) == expected
    assert resolution.explanation


def test_an_outcome_is_a_verdict_from_the_system_of_the_team_the_dictionary_names() -> None:
    """The owner of each outcome is read from the dictionary: were recycling marketing's, a
    HubSpot recycle would outrank the stage Salesforce shows."""
    hubspot = Signal(HS, Stage.MQL, Outcome.RECYCLED, "bad_timing", at=T1)
    salesforce = Signal(SF, Stage.SAL, at=T0)
    assert resolve([hubspot, salesforce], D).outcome is None
    spec = D.outcomes[Outcome.RECYCLED].model_copy(update={"owner": Team.MARKETING})
    marketing_recycles = D.model_copy(update={"outcomes": {**D.outcomes, Outcome.RECYCLED: spec}})
    resolution = resolve([hubspot, salesforce], marketing_recycles)
    assert (resolution.stage, resolution.outcome) == (Stage.SAL, Outcome.RECYCLED)
