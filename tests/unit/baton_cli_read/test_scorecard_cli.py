"""`baton scorecard` as both teams run it: tables with the definitions, or JSON."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from baton.cli import app
from baton.cli.since import SPELLINGS
from connectors.records import RecordKey, System
from sync.store.links import LinkReason, link
from sync.store.people import add_person
from sync.store.transitions import record_transition

from .conftest import at

# name: [(stage, when, reason)]; March is the period.
FUNNEL = {
    "ann": [("mql", "03-02 09:00", None), ("sal", "03-02 09:03", None)],  # 3 min
    "bo": [("mql", "03-03 09:00", None), ("sal", "03-04 15:00", None)],  # 30 h: late
    "cy": [("mql", "03-04 09:00", None)],  # never touched
    "di": [("mql", "03-05 09:00", None), ("disqualified", "03-05 11:00", "competitor")],
    "ed": [("mql", "02-20 09:00", None), ("recycled", "03-09 09:00", "bad_timing")],
}


@pytest.fixture
def funnel(store: Engine) -> None:
    with store.begin() as conn:
        for name, entries in FUNNEL.items():
            pid = add_person(conn, f"{name}@example.com", at=at("02-01 00:00"))
            lead = RecordKey(System.SALESFORCE, "Lead", f"00Q-{name}")
            link(conn, pid, lead, LinkReason.CREATED)  # handed off: the SLA judges them
            for stage, when, reason in entries:
                record_transition(conn, pid, stage, at(when), System.SALESFORCE, reason)


ARGS = ["scorecard", "--since", "2026-03-01", "--until", "2026-03-31", "--as-of", "2026-04-01"]


def test_scorecard_json_has_every_figure_and_its_definition(
    runner: CliRunner, funnel: None
) -> None:
    result = runner.invoke(app, [*ARGS, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["since"], data["until"], data["as_of"]) == (
        "2026-03-01T00:00:00+00:00",
        "2026-04-01T00:00:00+00:00",  # --until names a day: that whole day is in
        "2026-04-01T00:00:00+00:00",
    )
    volume = {v["stage"]: v["people"] for v in data["volume"]}
    assert (volume["mql"], volume["sal"], volume["disqualified"], volume["recycled"]) == (
        4,
        2,
        1,
        1,
    )
    mql_sal = next(
        c for c in data["conversions"] if (c["from_stage"], c["to_stage"]) == ("mql", "sal")
    )
    assert (mql_sal["entered"], mql_sal["converted"], mql_sal["rate"]) == (4, 2, 0.5)
    lead = data["lead_response"]
    assert lead["sla"] == 24 * 3600
    assert (
        lead["mqls"],
        lead["within_sla"],
        lead["breached_late"],
        lead["breached_untouched"],
    ) == (
        4,
        2,
        1,
        1,
    )
    assert lead["share_within_sla"] == 0.5
    assert lead["median"] == 2 * 3600  # ann 3 min, di 2 h, bo 30 h
    assert [b["email"] for b in lead["breaches"]] == ["cy@example.com", "bo@example.com"]
    assert [(r["outcome"], r["reason"], r["count"], r["share"]) for r in data["rejections"]] == [
        ("disqualified", "competitor", 1, 0.5),
        ("recycled", "bad_timing", 1, 0.5),
    ]
    names = [name for name, _ in data["definitions"]]
    assert names == [
        "period",
        "volume",
        "conversion A->B",
        "velocity A->B",
        "lead response",
        "SLA",
        "not handed off",
        "rejections",
    ]


def test_scorecard_tables_end_with_the_definitions(runner: CliRunner, funnel: None) -> None:
    result = runner.invoke(app, ARGS)
    assert result.exit_code == 0, result.output
    out = result.stdout
    for text in (
        "Funnel scorecard 2026-03-01 00:00:00 -> 2026-04-01 00:00:00",
        "Volume: first entries in the period",
        "First sales touch after MQL:",
        "mql -> sal",
        "50.0%",
        "Lead response (SLA 24 h): 4 MQLs, 3 touched; within SLA 2",
        "SLA breaches (2, most overdue first)",
        "cy@example.com",
        "not yet",
        "Rejection reasons (2 rejections)",
        "competitor",
    ):
        assert text in out, text
    assert out.index("Definitions") > out.index("Rejection reasons")
    assert "conversion A->B: of the people who passed A during the period" in out
    header = next(line for line in out.splitlines() if "converted" in line)
    assert re.search(r"\bpassed\b.*\bconverted\b", header)  # the cohort, skippers included


def test_a_long_breach_list_says_how_much_of_it_the_table_shows(
    runner: CliRunner, funnel: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`baton status` sends the reader here for the overdue MQLs: a table cut short says so,
    and where the rest are."""
    monkeypatch.setattr("baton.cli.scorecard.SHOWN_BREACHES", 1)
    out = " ".join(runner.invoke(app, ARGS).stdout.split())
    assert "SLA breaches (2, most overdue first; the first 1 shown, --json lists all)" in out
    assert "cy@example.com" in out
    assert "bo@example.com" not in out


def test_sla_hours_option_overrides_the_setting(
    runner: CliRunner, funnel: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BATON_SLA_HOURS", "48")
    data = json.loads(runner.invoke(app, [*ARGS, "--json"]).stdout)
    assert data["lead_response"]["sla"] == 48 * 3600
    assert data["lead_response"]["breached_late"] == 0  # bo's 30 h is within 48 h
    data = json.loads(runner.invoke(app, [*ARGS, "--json", "--sla-hours", "1"]).stdout)
    assert data["lead_response"]["within_sla"] == 1  # only ann (3 min)
    out = runner.invoke(app, [*ARGS, "--sla-hours", "2.1234567"]).stdout
    assert "Lead response (SLA 2.12 h): " in out
    assert "SLA: 2.12 h: within = touched within 2.12 h;" in out
    assert "2.123" not in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "2026-02-30"], "Invalid value for '--since': '2026-02-30' is not a date"),
        (["--since", "2026-03-05", "--until", "2026-03-01"], "--since: must be before --until"),
        (["--as-of", "yesterday"], "Invalid value for --as-of"),
        (  # the day after the last one a datetime holds: a usage error, not a traceback
            ["--until", "9999-12-31"],
            "Invalid value for --until: '9999-12-31' is out of range; use a date in the years "
            "1 to 9999",
        ),
        (
            ["--since", "0001-01-01T00:00+01:00"],
            "Invalid value for '--since': '0001-01-01T00:00+01:00' is out of range",
        ),
        (
            ["--since", "2026-04-02", "--as-of", "2026-04-01"],
            "--since: must be before --until (not given, so --as-of: 2026-04-01 00:00 UTC)",
        ),
        (  # measured before the period began: every figure would be zero
            ["--since", "2026-03-05", "--until", "2026-03-10", "--as-of", "2026-03-01"],
            "Invalid value for --as-of: must not be before --since (2026-03-05 00:00 UTC): the "
            "period had not begun by then",
        ),
    ],
)
def test_bad_dates_exit_2_naming_the_option(
    runner: CliRunner, funnel: None, args: list[str], message: str
) -> None:
    result = runner.invoke(app, ["scorecard", *args])
    assert result.exit_code == 2
    assert message in result.output


def test_a_since_after_now_is_in_the_future(runner: CliRunner, funnel: None) -> None:
    """As backfill's: no period has begun there yet."""
    result = runner.invoke(app, ["scorecard", "--since", "2999-12-08"])
    assert result.exit_code == 2
    text = " ".join(result.output.replace("│", " ").split())
    assert re.search(
        r"Invalid value for '--since': '2999-12-08' is in the future \(now is "
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\); give a moment before now, or a duration "
        r"back from now \(7d, 12h, 30m\)",
        text,
    ), text


def test_an_as_of_in_the_future_is_refused_not_read_as_now(runner: CliRunner, funnel: None) -> None:
    """Nothing is measured yet there: a report that claimed it would not be reproducible."""
    result = runner.invoke(app, ["scorecard", "--as-of", "2999-12-08T10:00"])
    assert result.exit_code == 2
    text = " ".join(result.output.replace("│", " ").split())
    assert re.search(
        r"Invalid value for --as-of: '2999-12-08T10:00' is in the future \(now is "
        r"\d{4}-\d\d-\d\d \d\d:\d\d UTC\); give a moment before now, or leave --as-of out "
        r"to measure as of now",
        text,
    ), text


@pytest.mark.parametrize(
    ("span", "back"), [("7d", timedelta(days=7)), ("12h", timedelta(hours=12))]
)
def test_since_takes_a_span_back_from_now_as_backfill_does(
    runner: CliRunner, funnel: None, span: str, back: timedelta
) -> None:
    before = datetime.now(UTC)
    result = runner.invoke(app, ["scorecard", "--since", span, "--json"])
    after = datetime.now(UTC)
    assert result.exit_code == 0, result.output
    since = datetime.fromisoformat(json.loads(result.stdout)["since"])
    assert before - back <= since <= after - back


def test_since_help_names_the_forms_backfill_takes(runner: CliRunner) -> None:
    """One parser (`baton.cli.since`), one wording of what it takes, in both commands' help."""
    for command in ("scorecard", "backfill"):
        result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "400"})
        assert result.exit_code == 0, result.output
        assert SPELLINGS in " ".join(result.stdout.replace("│", " ").split()), command


@pytest.mark.parametrize("day", ["2026-03-31", "20260331", "2026-W14-2"])
def test_a_bare_date_in_any_iso_spelling_ends_with_that_day(
    runner: CliRunner, funnel: None, day: str
) -> None:
    """--until names a day however ISO 8601 spells it: that whole day is in the period."""
    result = runner.invoke(app, ["scorecard", "--since", "2026-03-31", "--until", day, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["until"] == "2026-04-01T00:00:00+00:00"
