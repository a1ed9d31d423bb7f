"""`sync.entries.first_entries`: which first entries a person's evidence adds, table-driven."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from connectors.records import RecordKey, SourceRecord, System
from mappings.model import Outcome, Stage
from sync.entries import (
    Dated,
    FunnelFacts,
    day_at,
    explanation,
    first_entries,
    history_changed,
    history_values,
)
from sync.store.transitions import Explanation

HS, SF = System.HUBSPOT, System.SALESFORCE
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=10)
PID = uuid.UUID(int=7)


def h(days: float) -> datetime:
    return T0 + timedelta(days=days)


def facts(
    stage: Stage | None,
    *,
    outcome: Outcome | None = None,
    reason: str | None = None,
    seen: tuple[float, System] = (5, SF),
    dated: dict[str, tuple[float, System]] | None = None,
    created: tuple[float, System] | None = None,
    passed: tuple[str, ...] = (),
) -> FunnelFacts:
    return FunnelFacts(
        stage=stage,
        outcome=outcome,
        reason=reason,
        observed_at=h(seen[0]),
        observed_by=seen[1],
        dated={s: Dated(h(d), system) for s, (d, system) in (dated or {}).items()},
        created=Dated(h(created[0]), created[1]) if created else None,
        passed=frozenset(passed),
    )


ROWS = [
    pytest.param(
        facts(Stage.MQL, created=(1, HS)),
        (),
        [("mql", 1, HS, None)],
        id="first-sight: the entry stage at the record's creation time",
    ),
    pytest.param(
        facts(Stage.MQL, created=(1, HS)),
        ("inquiry",),
        [("mql", 5, SF, None)],
        id="a known person: the move at the time it was observed",
    ),
    pytest.param(
        facts(Stage.SQL, dated={"inquiry": (0, HS), "mql": (2, HS)}, created=(0, HS)),
        (),
        [("inquiry", 0, HS, None), ("mql", 2, HS, None), ("sql", 5, SF, None)],
        id="dated stages kept; the skipped sal is not invented",
    ),
    pytest.param(
        facts(Stage.SAL, passed=("inquiry",), created=(0, HS)),
        (),
        [("inquiry", 0, HS, None), ("sal", 5, SF, None)],
        id="a lagging side's stage is the entry stage",
    ),
    pytest.param(
        facts(Stage.SAL, passed=("inquiry",), created=(0, HS)),
        ("mql",),
        [("sal", 5, SF, None)],
        id="an undated lagging stage below the recorded history is skipped",
    ),
    pytest.param(
        facts(Stage.MQL, outcome=Outcome.RECYCLED, reason="no_budget", dated={"mql": (2, SF)}),
        ("mql",),
        [("recycled", 5, SF, "no_budget")],
        id="an outcome carries its reason",
    ),
    pytest.param(
        facts(
            Stage.OPPORTUNITY,
            outcome=Outcome.LOST,
            reason=None,
            dated={"lost": (4, SF)},
        ),
        ("mql", "sql", "opportunity"),
        [("lost", 4, SF, None)],
        id="a closed-lost opportunity dated by its close date",
    ),
    pytest.param(
        facts(Stage.MQL, seen=(20, HS), created=(15, HS)),
        (),
        [("mql", 10, HS, None)],
        id="never later than now",
    ),
    pytest.param(
        facts(Stage.MQL, created=(6, HS)),
        (),
        [("mql", 5, SF, None)],
        id="a creation time after the observation is not evidence",
    ),
    pytest.param(
        facts(Stage.MQL, dated={"mql": (1, HS)}),
        ("mql",),
        [],
        id="nothing new: already recorded",
    ),
    pytest.param(facts(None), (), [], id="no stage, nothing to record"),
    pytest.param(
        facts(Stage.SAL, dated={"mql": (7, HS)}),
        ("sal",),
        [],
        id="a date after the recorded entry into a further stage is a later stamp, left out",
    ),
    pytest.param(
        facts(Stage.SAL, dated={"mql": (7, HS)}),
        (),
        [("sal", 5, SF, None)],
        id="a date after the observed entry into a further stage is left out",
    ),
]


@pytest.mark.parametrize(("given", "recorded", "expected"), ROWS)
def test_first_entries(
    given: FunnelFacts,
    recorded: tuple[str, ...],
    expected: list[tuple[str, float, System, str | None]],
) -> None:
    got = first_entries(PID, given, dict.fromkeys(recorded, T0), now=NOW)
    assert sorted((t.stage, t.entered_at, t.source_system, t.reason) for t in got) == sorted(
        (stage, h(days), system, reason) for stage, days, system, reason in expected
    )
    assert all(t.person_id == PID for t in got)


def at(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def record(modified: datetime) -> SourceRecord:
    return SourceRecord(RecordKey(SF, "Lead", "00Q1"), {}, modified)


@pytest.mark.parametrize(
    ("value", "modified", "expected"),
    [
        ("2026-03-01", h(0.1), h(0.1)),  # same day: the modification time is the better clock
        ("2026-03-01", h(3), datetime(2026, 3, 1, tzinfo=UTC)),  # later edits: start of day
        # The day is the org's (its user's): 1 March 18:00 in San Francisco is 2 March in UTC,
        # 1 March 09:00 in Auckland is still 28 February
        ("2026-03-01", at(3, 2, 2), at(3, 2, 2)),
        ("2026-03-01", at(2, 28, 20), at(2, 28, 20)),
        # no place on Earth (UTC-12 to UTC+14) is still, or already, on 1 March then
        ("2026-03-01", at(3, 2, 12), datetime(2026, 3, 1, tzinfo=UTC)),
        ("2026-03-01", at(2, 28, 9, 59), datetime(2026, 3, 1, tzinfo=UTC)),
        (None, h(0), None),
        ("", h(0), None),
    ],
)
def test_a_date_is_refined_by_the_same_days_modification(
    value: str | None, modified: datetime, expected: datetime | None
) -> None:
    assert day_at(value, record(modified)) == expected


@pytest.mark.parametrize(
    ("snapshot", "learns"),
    [
        (None, True),  # first sight
        ({"job_title": "CTO", "stage": "mql", "entered.mql": "2026-03-01"}, False),
        ({"job_title": "CEO", "stage": "sql", "entered.mql": "2026-03-01"}, True),
        ({"job_title": "CEO", "stage": "mql", "entered.mql": None}, True),
        (
            {"job_title": "CEO", "stage": "mql", "entered.mql": "2026-03-01", "outcome": "lost"},
            True,
        ),
    ],
)
@pytest.mark.parametrize("complete", [False, True])  # True: every name on both sides
def test_only_a_funnel_value_teaches_the_history(
    snapshot: dict[str, str | None] | None, learns: bool, complete: bool
) -> None:
    values = {"job_title": "CEO", "stage": "mql", "entered.mql": "2026-03-01", "outcome": None}
    names = history_values(["job_title", "entered.mql", "entered.sql"])
    assert names == (
        "stage",
        "outcome",
        "funnel_stage",
        "outcome_reason",
        "entered.mql",
        "entered.sql",
    )
    if complete:  # a name missing says blank: filled in, the answer must not change
        values = dict.fromkeys(names) | values
        snapshot = None if snapshot is None else dict.fromkeys(names) | snapshot
    assert history_changed(values, snapshot, names) is learns


def test_the_history_of_one_name_compares_that_name() -> None:
    assert history_changed({"stage": "mql"}, {"stage": "sql"}, ("stage",)) is True
    assert history_changed({"stage": "mql"}, {"stage": "mql"}, ("stage",)) is False


RECYCLED, DISQUALIFIED = Outcome.RECYCLED, Outcome.DISQUALIFIED


@pytest.mark.parametrize(
    ("given", "recorded", "unexplained", "still", "expected"),
    [
        # the reason arrives: the reasonless rejection becomes the outcome the reason names,
        # however long after (a rep tidying up weeks later)
        (
            facts(Stage.MQL, outcome=RECYCLED, reason="bad_timing", seen=(30, SF)),
            {"mql": h(0), "disqualified": h(1)},
            "disqualified",
            True,
            Explanation(PID, "disqualified", "recycled", "bad_timing"),
        ),
        (
            facts(Stage.MQL, outcome=DISQUALIFIED, reason="competitor"),
            {"disqualified": h(1)},
            "disqualified",
            True,
            Explanation(PID, "disqualified", "disqualified", "competitor"),
        ),
        # still no reason, or nothing recorded without one: nothing to explain
        (
            facts(Stage.MQL, outcome=DISQUALIFIED),
            {"disqualified": h(1)},
            "disqualified",
            True,
            None,
        ),
        (
            facts(Stage.MQL, outcome=RECYCLED, reason="bad_timing"),
            {"recycled": h(1)},
            None,
            False,
            None,
        ),
        # the reason's outcome is recorded apart already (an earlier rejection, with its reason)
        (
            facts(Stage.MQL, outcome=RECYCLED, reason="bad_timing"),
            {"recycled": h(0), "disqualified": h(1)},
            "disqualified",
            True,
            None,
        ),
        # a stage, not a rejection
        (facts(Stage.SAL, reason="bad_timing"), {"disqualified": h(1)}, "disqualified", True, None),
        # not the same rejection: the person moved on since (sal recorded after it), or was
        # re-qualified where the history shows nothing new (no record still said it)
        (
            facts(Stage.SAL, outcome=RECYCLED, reason="bad_timing"),
            {"disqualified": h(1), "sal": h(1.2)},
            "disqualified",
            True,
            None,
        ),
        (
            facts(Stage.MQL, outcome=RECYCLED, reason="bad_timing"),
            {"disqualified": h(1)},
            "disqualified",
            False,
            None,
        ),
    ],
)
def test_a_reason_given_later_explains_the_rejection_recorded_without_one(
    given: FunnelFacts,
    recorded: dict[str, datetime],
    unexplained: str | None,
    still: bool,
    expected: Explanation | None,
) -> None:
    assert explanation(PID, given, recorded, unexplained, still_rejected=still) == expected
