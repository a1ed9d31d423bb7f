"""`baton status --ambiguous`: the worklist of people left unlinked by an ambiguous match, as a
revenue-ops user reads it (emails to give `baton why`, records to fix in the CRM)."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from baton.cli import app
from connectors.records import RecordKey, System
from sync.store.decisions import Decision, note_about, record_decisions
from sync.store.links import LinkReason, link, relink
from sync.store.people import add_person

from .conftest import at

ANN_CONTACT = RecordKey(System.HUBSPOT, "contacts", "101")
TWIN_1 = RecordKey(System.SALESFORCE, "Lead", "00Q1")
TWIN_2 = RecordKey(System.SALESFORCE, "Lead", "00Q2")
BOB_LEAD = RecordKey(System.SALESFORCE, "Lead", "00Q5")
BOB_AGAIN = RecordKey(System.SALESFORCE, "Lead", "00Q6")
TWINS = "more than one salesforce record has the email ann@example.com"


@pytest.fixture
def people(store: Engine) -> tuple[uuid.UUID, uuid.UUID]:
    """Ann (twins, noted 03-02, one as older notes said it) and Bob (a second Lead, 03-05)."""
    with store.begin() as conn:
        ann = add_person(conn, "ann@example.com", at=at("03-01 08:00"))
        link(conn, ann, ANN_CONTACT, LinkReason.EMAIL)
        bob = add_person(conn, "bob@example.com", at=at("03-01 08:00"))
        link(conn, bob, BOB_LEAD, LinkReason.EMAIL)
        rule = "ambiguous:salesforce"

        def note(pid: uuid.UUID, key: RecordKey, why: str, when: str) -> Decision:
            return note_about(pid, "identity", rule, "poll", at(when), None, key, why)

        record_decisions(
            conn,
            [
                note(ann, TWIN_1, TWINS, "03-02 08:00"),
                # an older note: its words in the other system's column
                Decision(
                    ann,
                    "identity",
                    rule,
                    "poll",
                    at("03-02 08:00"),
                    salesforce_old=str(TWIN_2),
                    hubspot_new="2 salesforce records share ann@example.com",
                ),
                note(ann, TWIN_2, TWINS, "03-02 09:00"),  # the latest words win
                note(
                    bob,
                    BOB_AGAIN,
                    f"{BOB_LEAD} already has the email bob@example.com",
                    "03-05 10:00",
                ),
            ],
        )
    return ann, bob


def test_the_worklist_names_each_person_and_the_records_to_fix(
    runner: CliRunner, people: tuple[uuid.UUID, uuid.UUID]
) -> None:
    result = runner.invoke(app, ["status", "--ambiguous"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "2 people left unlinked, not guessed (3 records)" in out
    lines = out.splitlines()
    # a block per person: the email, then each record (2 spaces in) and why (4 spaces in)
    records = [n for n, line in enumerate(lines) if line.startswith("  salesforce:Lead:")]
    assert [next(k for k in ("00Q6", "00Q2", "00Q1") if k in lines[n]) for n in records] == [
        "00Q6",  # bob, noted last, first
        "00Q2",
        "00Q1",
    ]
    bob, ann = lines.index("bob@example.com"), lines.index("ann@example.com")
    assert bob < records[0] < ann < records[1] < records[2]
    assert "salesforce:Lead:00Q5 already has the email bob@example.com" in lines[records[0] + 1]
    assert all("not linked" in lines[n] and TWINS in lines[n + 1] for n in records[1:])
    assert "Showing" not in out  # all of them shown
    assert "'baton why EMAIL' shows that id, their records and story" in out


def test_a_person_whose_refused_records_all_became_theirs_is_settled(
    runner: CliRunner, store: Engine, people: tuple[uuid.UUID, uuid.UUID]
) -> None:
    """Bob's second Lead became his (a webhook met a converted Lead's Contact before the
    conversion linked it; or a user gave the record his id): nothing is left to fix for him,
    while Ann's twins are still no one's."""
    _, bob = people
    with store.begin() as conn:
        relink(conn, bob, BOB_AGAIN, LinkReason.CONVERSION)
    result = runner.invoke(app, ["status", "--ambiguous"])
    assert result.exit_code == 0, result.output
    assert "1 person left unlinked, not guessed (2 records)" in result.stdout
    assert "bob@example.com" not in result.stdout
    status = runner.invoke(app, ["status"])
    assert "Ambiguous matches: 1 person left unlinked" in status.stdout


def test_the_worklist_is_bounded(runner: CliRunner, people: tuple[uuid.UUID, uuid.UUID]) -> None:
    result = runner.invoke(app, ["status", "--ambiguous", "--limit", "1"])
    assert result.exit_code == 0, result.output
    assert "bob@example.com" in result.stdout
    assert "ann@example.com" not in result.stdout
    assert "Showing the 1 newest of 2 people; '--limit N' shows more." in result.stdout


def test_the_worklist_as_json(runner: CliRunner, people: tuple[uuid.UUID, uuid.UUID]) -> None:
    ann, _ = people
    result = runner.invoke(app, ["status", "--ambiguous", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["total"], data["records"]) == (2, 3)
    assert [p["email"] for p in data["people"]] == ["bob@example.com", "ann@example.com"]
    second = data["people"][1]
    assert second["person_id"] == str(ann)
    assert second["records"] == [{"system": "hubspot", "object": "contacts", "id": "101"}]
    assert second["candidates"][0] == {
        "key": {"system": "salesforce", "object": "Lead", "id": "00Q2"},
        "why": TWINS,
        "noted_at": "2026-03-02T09:00:00+00:00",
        "owner": None,
    }


def test_status_points_at_the_worklist(
    runner: CliRunner, people: tuple[uuid.UUID, uuid.UUID]
) -> None:
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 0, result.output
    assert "Ambiguous matches: 2 people left unlinked" in result.stdout
    assert "'baton status --ambiguous' lists them" in result.stdout


def test_status_points_at_the_worklist_only_when_someone_is_on_it(
    runner: CliRunner, store: Engine
) -> None:
    """No one to list (a fresh store here), so no command to list them with."""
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert (
        "Ambiguous matches: no one left unlinked (no poll or backfill has counted them yet)."
        in text
    )
    assert "--ambiguous" not in text


def test_an_empty_worklist_says_so(runner: CliRunner, store: Engine) -> None:
    result = runner.invoke(app, ["status", "--ambiguous"])
    assert result.exit_code == 0, result.output
    assert "No ambiguous matches" in result.stdout


def test_limit_without_the_worklist_is_refused_in_one_line(
    runner: CliRunner, store: Engine
) -> None:
    result = runner.invoke(app, ["status", "--limit", "5"])
    assert result.exit_code == 2
    assert "--ambiguous" in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize("runs", ["2", "5"])  # 5, the default, given: still asked for
def test_runs_with_the_worklist_is_refused_in_one_line(
    runner: CliRunner, store: Engine, runs: str
) -> None:
    """The worklist shows no runs: --runs there was ignored, as if it limited the people."""
    result = runner.invoke(app, ["status", "--ambiguous", "--runs", runs])
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        "baton status: --runs counts the runs of the status report, which --ambiguous shows "
        "none of; drop --runs (--limit N bounds the people it lists)"
    ]
