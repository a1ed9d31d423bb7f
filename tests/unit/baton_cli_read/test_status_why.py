"""`baton status` and `baton why` as a user runs them (through Typer's test runner)."""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from baton.cli import app
from baton.cli.status import human, summarize, unfinished_line
from baton.cli.why import describe
from connectors.records import RecordKey, System
from sync.queries.status import ListingStatus
from sync.queries.why import Event
from sync.sla import BREACH_FIELD
from sync.store.checkpoints import advance_checkpoint
from sync.store.dead_letters import Direction, add_dead_letter, list_dead_letters
from sync.store.decisions import Decision, held_rule, note_about, record_decision
from sync.store.links import LinkReason, associate, link, relink
from sync.store.people import add_person
from sync.store.runs import RunKind, RunStatus, beat, finish_run, start_run
from sync.store.transitions import record_transition

from .conftest import at


@pytest.fixture
def ann(store: Engine) -> uuid.UUID:
    with store.begin() as conn:
        advance_checkpoint(conn, System.HUBSPOT, "contacts", at("03-10 11:55"), "901")
        run = start_run(conn, RunKind.ONCE, at=at("03-10 11:00"))
        finish_run(
            conn,
            run,
            RunStatus.SUCCEEDED,
            counts={"read": 12, "updated": 3, "ambiguous": 1},
            at=at("03-10 11:02"),
        )
        backfill = start_run(conn, RunKind.BACKFILL, at=at("03-10 10:00"))
        finish_run(
            conn,
            backfill,
            RunStatus.SUCCEEDED,
            counts={"read": 40, "ambiguous": 3, "ambiguous_people": 1},
            at=at("03-10 10:30"),
        )
        add_dead_letter(
            conn,
            RecordKey(System.SALESFORCE, "Lead", "00Q9"),
            Direction.TO_SALESFORCE,
            {},
            "INVALID_EMAIL_ADDRESS",
            "bad email",
        )
        person = add_person(conn, "ann@example.com", at=at("03-01 08:00"))
        link(conn, person, RecordKey(System.HUBSPOT, "contacts", "101"), LinkReason.EMAIL)
        link(conn, person, RecordKey(System.SALESFORCE, "Lead", "00Q1"), LinkReason.CREATED)
        relink(
            conn,
            person,
            RecordKey(System.SALESFORCE, "Contact", "003A"),
            LinkReason.CONVERSION,
            at=at("03-04 09:00"),
        )
        opportunity = RecordKey(System.SALESFORCE, "Opportunity", "006A")
        associate(conn, [(person, opportunity, LinkReason.CONVERSION)], at=at("03-04 09:00"))
        record_transition(conn, person, "mql", at("03-02 09:00"), System.HUBSPOT)
        ambiguous = Decision(
            person,
            "identity",
            "ambiguous:salesforce",
            "poll",
            at("03-02 08:00"),
            salesforce_old="salesforce:Lead:00Q7",
            hubspot_new="2 salesforce records share ann@example.com",
        )
        record_decision(conn, ambiguous)
        record_decision(
            conn,
            Decision(
                person_id=person,
                field="job_title",
                rule="two_way",
                trigger="poll",
                decided_at=at("03-03 12:00"),
                hubspot_old="CTO",
                hubspot_new="Chief Technology Officer",
                salesforce_old="CTO",
                salesforce_new="Chief Technology Officer",
                winner=System.SALESFORCE,
                salesforce_modified_at=at("03-03 11:00"),
            ),
        )
    return person


def test_status_tables(runner: CliRunner, ann: uuid.UUID) -> None:
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    for text in (
        "Cursors (lag = now - cursor; times UTC)",
        "hubspot",
        "901",
        "Last runs (times UTC)",
        "once",
        "succeeded",
        "read 12, updated 3",
        "Latest run of each kind (daemon: a poll; times UTC)",
        "read 40",
        "Dead letters: open 1, retried 0, dropped 0",
        "INVALID_EMAIL_ADDRESS",
        "Identity links (1 person)",
        "Ambiguous matches: 1 person left unlinked, not guessed (the last poll or backfill "
        "to end met 1)",
        "Lead-response SLA (24 h): 1 MQL(s) still waiting for a first sales touch past it",
        "API budget: not observed yet.",
    ):
        assert text in out, text


def test_status_prints_the_sla_to_at_most_two_decimals(
    runner: CliRunner, ann: uuid.UUID, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BATON_SLA_HOURS", "2.1234567")
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 0, result.output
    assert "Lead-response SLA (2.12 h): " in result.stdout


def test_status_json(runner: CliRunner, ann: uuid.UUID) -> None:
    result = runner.invoke(app, ["status", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["cursors"][0]["system"] == "hubspot"
    assert data["cursors"][0]["cursor"] == "2026-03-10T11:55:00+00:00"
    assert data["runs"][0]["duration"] == 120.0
    assert data["runs"][0]["counts"] == {"read": 12, "updated": 3, "ambiguous": 1}
    assert data["dead_letters"] == {"open": 1, "retried": 0, "dropped": 0}
    assert data["open_errors"] == [
        {"system": "salesforce", "vendor_code": "INVALID_EMAIL_ADDRESS", "count": 1}
    ]
    assert data["links"] == [
        {"system": "hubspot", "object": "contacts", "active": 1, "inactive": 0},
        {"system": "salesforce", "object": "Contact", "active": 1, "inactive": 0},
        {"system": "salesforce", "object": "Lead", "active": 0, "inactive": 1},
        {"system": "salesforce", "object": "Opportunity", "active": 0, "inactive": 1},
    ]
    assert (data["people"], data["ambiguous_people"], data["ambiguous_last_run"]) == (1, 1, 1)
    assert (data["sla"], data["sla_overdue"]) == (24 * 3600, 1)


def test_status_without_a_store_says_how_to_make_one(
    runner: CliRunner, store: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("BATON_DATABASE_URL", f"sqlite:///{tmp_path / 'missing.db'}")
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 2
    assert "no store at" in result.output
    assert "baton db upgrade" in result.output
    assert "--env-file" in result.output  # a demo's store is named in its sandbox.env
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "missing.db").exists()  # reading never creates a store


def test_why_tells_the_story(runner: CliRunner, ann: uuid.UUID) -> None:
    result = runner.invoke(app, ["why", "Ann@Example.com"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    # the id a user gives a record to link it (`baton status --ambiguous` sends them here)
    assert (
        f"ann@example.com person {ann} (their Baton_Id__c and baton_id; known since "
        "2026-03-01 08:00:00 UTC)"
    ) in " ".join(out.split())
    assert "salesforce:Contact:003A (was salesforce:Lead:00Q1); reason conversion" in out
    assert "Funnel, first entered: mql 2026-03-02 09:00:00 UTC" in out
    headers = [line for line in out.splitlines() if line.startswith("┃")]
    assert len(headers) == 2  # linked records, timeline: each time column says UTC
    assert all("(UTC)" in header for header in headers)
    assert "entered mql" in out
    (opportunity,) = [line for line in out.splitlines() if "006A" in line]
    assert "associated" in opportunity  # the person's by association, not a past record
    (lead,) = [line for line in out.splitlines() if "│ 00Q1" in line]
    assert "previous" in lead
    assert "HubSpot 'CTO' -> 'Chief Technology Officer'" in out
    flat = " ".join(line.strip("│ ") for line in out.splitlines())  # a long detail wraps
    assert (
        "Salesforce 'CTO' -> 'Chief Technology Officer', changed there 2026-03-03 11:00:00 UTC; "
        "rule two_way; winner salesforce; trigger poll" in flat
    )
    # the engine's notes about a record read as "record: explanation"
    assert (
        "salesforce:Lead:00Q7: 2 salesforce records share ann@example.com; "
        "rule ambiguous:salesforce; trigger poll" in out
    )


def test_why_shows_open_dead_letters_and_tells_a_held_write_from_a_change(
    runner: CliRunner, store: Engine, ann: uuid.UUID
) -> None:
    contact = RecordKey(System.SALESFORCE, "Contact", "003A")
    with store.begin() as conn:
        add_dead_letter(
            conn,
            contact,
            Direction.TO_SALESFORCE,
            {"Phone": "n/a"},
            "FIELD_CUSTOM_VALIDATION_EXCEPTION",
            "Phone must be a valid phone number",
        )
        [letter] = [x for x in list_dead_letters(conn) if x.key == contact]
        for n, rule in enumerate([held_rule("two_way", letter.id), held_rule("two_way", 999)]):
            record_decision(
                conn,
                Decision(
                    person_id=ann,
                    field="phone",
                    rule=rule,
                    trigger="poll",
                    decided_at=at(f"03-05 1{n}:00"),
                    hubspot_old="n/a",
                    hubspot_new="n/a",
                    salesforce_old=None,
                    salesforce_new="n/a",
                    winner=System.HUBSPOT,
                ),
            )
    result = runner.invoke(app, ["why", "ann@example.com"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Open dead letters" in out
    assert "last refused (UTC)" in out
    (row,) = [line for line in out.splitlines() if line.startswith(f"│ {letter.id} ")]
    assert "salesforce:Contact:003A" in row
    for text in (str(letter.id), "FIELD_CUSTOM_VALIDATION_EXCEPTION", "Phone must be a valid"):
        assert text in row, text
    assert "00Q9" not in out  # another record's letter
    flat = " ".join(line.strip("│ ") for line in out.splitlines())
    assert "phone (held)" in out
    assert "Salesforce (blank) -> 'n/a' not sent" in flat
    assert (
        f"rule two_way; winner hubspot; trigger poll; held: dead letter #{letter.id} is open; "
        f"`baton errors retry {letter.id}` sends it" in flat
    )
    assert "held, not sent: dead letter #999 was open (retried or dropped since)" in flat
    assert "rule two_way:held" not in flat

    data = json.loads(runner.invoke(app, ["why", "ann@example.com", "--json"]).stdout)
    [open_] = data["people"][0]["dead_letters"]
    assert (open_["id"], open_["vendor_code"]) == (letter.id, "FIELD_CUSTOM_VALIDATION_EXCEPTION")


def test_why_one_field_as_json(runner: CliRunner, ann: uuid.UUID) -> None:
    result = runner.invoke(app, ["why", "ann@example.com", "job_title", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["email"], data["field"]) == ("ann@example.com", "job_title")
    (story,) = data["people"]
    assert story["person_id"] == str(ann)
    assert [e["kind"] for e in story["timeline"]] == ["decision"]
    decision = story["decisions"][0]
    assert decision["hubspot_new"] == "Chief Technology Officer"
    assert (decision["rule"], decision["winner"]) == ("two_way", "salesforce")
    objects = [link["key"]["object"] for link in story["links"]]
    assert sorted(objects) == ["Contact", "Lead", "Opportunity", "contacts"]


def test_why_for_a_field_baton_does_not_decide_is_one_line_and_exit_2(
    runner: CliRunner, ann: uuid.UUID
) -> None:
    """A typo (the HubSpot name, not the canonical one) is not mistaken for "no history"."""
    result = runner.invoke(app, ["why", "ann@example.com", "jobtitle"])
    assert result.exit_code == 2
    [line] = result.output.strip().splitlines()
    assert line.startswith("baton why: FIELD 'jobtitle' is not a field Baton decides; one of ")
    assert "job_title" in line
    assert "lead_response_sla" in line
    quiet = runner.invoke(app, ["why", "ann@example.com", "phone"])  # known, nothing logged
    assert quiet.exit_code == 0, quiet.output
    assert "No decision logged for field 'phone'." in quiet.output


def test_why_for_an_unknown_email_is_one_line_and_exit_1(runner: CliRunner, ann: uuid.UUID) -> None:
    result = runner.invoke(app, ["why", "Nobody@Example.com"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "baton why: no person with email 'nobody@example.com' in the store; check the address "
        "(or run a sync first: 'baton status' shows what has been read)"
    ]


def test_why_for_a_former_address_says_whose_it_was_and_what_it_is_now(
    runner: CliRunner, store: Engine
) -> None:
    """The address was changed (the log holds the email decision): not "no person"."""
    with store.begin() as conn:
        person = add_person(conn, "ann.new@example.com", at=at("03-01 08:00"))
        record_decision(
            conn,
            Decision(
                person,
                "email",
                "two_way",
                "poll",
                at("03-05 10:00"),
                hubspot_old="ann.new@example.com",
                hubspot_new="ann.new@example.com",
                salesforce_old="ann@example.com",
                salesforce_new="ann.new@example.com",
                winner=System.HUBSPOT,
            ),
        )
    result = runner.invoke(app, ["why", "Ann@Example.com"])
    assert result.exit_code == 0, result.output
    flat = " ".join(line.strip("│ ") for line in result.stdout.splitlines())
    assert f"ann.new@example.com person {person}" in flat
    assert (
        "ann@example.com is a former address of this person; their current one is "
        "ann.new@example.com" in flat
    )
    assert "Salesforce 'ann@example.com' -> 'ann.new@example.com'" in flat
    data = json.loads(runner.invoke(app, ["why", "ann@example.com", "--json"]).stdout)
    assert (data["email"], data["former"]) == ("ann@example.com", True)
    assert [story["email"] for story in data["people"]] == ["ann.new@example.com"]
    now = runner.invoke(app, ["why", "ann.new@example.com"]).stdout
    assert "former" not in now


@pytest.mark.parametrize("given", ["notanemail", "ann@", "@example.com", "ann @example.com"])
def test_why_for_something_that_is_not_an_email_says_so_and_exits_2(
    runner: CliRunner, ann: uuid.UUID, given: str
) -> None:
    result = runner.invoke(app, ["why", given])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"baton why: EMAIL '{given}' is not an email address; give the person's email (any "
        "case), e.g. ann@example.com"
    ]


def test_status_on_an_unmigrated_store_says_to_upgrade(
    runner: CliRunner, store: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    blank = tmp_path / "blank.db"
    blank.write_bytes(b"")
    monkeypatch.setenv("BATON_DATABASE_URL", f"sqlite:///{blank}")
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 2
    assert "cannot read the store at sqlite:///" in result.output
    assert "no such table" in result.output
    assert "run 'baton db upgrade'" in result.output


def test_status_on_an_unreachable_server_says_to_check_the_url_not_to_upgrade(
    runner: CliRunner, store: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BATON_DATABASE_URL", "postgresql://baton:s3cret@127.0.0.1:1/baton")
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 2
    assert "cannot read the store at postgresql://baton:***@127.0.0.1:1/baton" in result.output
    assert "check BATON_DATABASE_URL, and that the database server is up" in result.output
    assert "db upgrade" not in result.output
    assert "s3cret" not in result.output


def test_db_current_on_a_missing_store_says_so_and_creates_nothing(
    runner: CliRunner, store: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fresh = tmp_path / "new" / "baton.db"
    monkeypatch.setenv("BATON_DATABASE_URL", f"sqlite:///{fresh}")
    result = runner.invoke(app, ["db", "current"])
    assert result.exit_code == 1
    assert f"no store at {fresh}; run 'baton db upgrade' to create it" in result.output
    assert not fresh.parent.exists()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    assert runner.invoke(app, ["db", "current"]).exit_code == 0


def test_a_bad_setting_is_one_line_and_exit_2(
    runner: CliRunner, store: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BATON_SLA_HOURS", "-3")
    result = runner.invoke(app, ["scorecard"])
    assert result.exit_code == 2
    assert result.output.startswith("baton: BATON_SLA_HOURS: ")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "-"),
        (0.4, "0.4s"),
        (200, "3m 20s"),
        (5 * 3600 + 7 * 60, "5h 07m"),
        (2 * 86400 + 3 * 3600 + 59, "2d 3h"),
        (-90, "-1m 30s"),
    ],
)
def test_durations_read_as_people_say_them(seconds: float | None, text: str) -> None:
    delta = None if seconds is None else timedelta(seconds=seconds)
    assert human(delta) == text


def test_run_counts_fold_per_kind_for_the_table() -> None:
    counts = {"read.hubspot:contacts": 3, "read.salesforce:Lead": 2, "unchanged": 4}
    assert summarize(counts) == {"read": 5, "unchanged": 4}


def test_status_shows_a_running_runs_heartbeat_and_marks_a_stale_one(
    runner: CliRunner, store: Engine
) -> None:
    now = datetime.now(UTC)
    with store.begin() as conn:
        stale = start_run(conn, RunKind.BACKFILL, at=now - timedelta(hours=1))
        beat(conn, stale, at=now - timedelta(minutes=25))
        live = start_run(conn, RunKind.DAEMON, at=now - timedelta(minutes=2))
        beat(conn, live, at=now - timedelta(seconds=30))
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if "│" in line]  # table rows
    # in the recent runs, and again as the latest of its kind
    [stale_line, latest] = [line for line in lines if "backfill" in line]
    assert latest == stale_line
    assert "running, stale" in stale_line
    assert "25m" in stale_line
    assert "no heartbeat for 25m" in stale_line
    [live_line, _] = [line for line in lines if "daemon" in line]
    assert "running" in live_line
    assert "stale" not in live_line
    assert "ago" in live_line
    data = json.loads(runner.invoke(app, ["status", "--json"]).stdout)
    runs = [(r["kind"], r["stale"]) for r in data["runs"]]
    assert runs == [("daemon", False), ("backfill", True)]


@pytest.mark.parametrize(
    ("rule", "touched", "label", "detail"),
    [
        ("sla_24h", None, "lead-response SLA breached",
         "MQL since 2026-03-10 09:00:00 UTC, no sales touch, not within the SLA (sla_24h)"),
        ("sla_24h", datetime(2026, 3, 11, 15, tzinfo=UTC), "lead-response SLA breached",
         "MQL since 2026-03-10 09:00:00 UTC, first touched 2026-03-11 15:00:00 UTC, not within "
         "the SLA (sla_24h)"),
        ("sla_withdrawn", datetime(2026, 3, 10, 11, tzinfo=UTC),
         "lead-response SLA breach withdrawn",
         "MQL since 2026-03-10 09:00:00 UTC, touched by sales 2026-03-10 11:00:00 UTC, within "
         "the SLA (the touch was recorded late)"),
    ],
)  # fmt: skip
def test_why_tells_a_breach_and_its_correction(
    rule: str, touched: datetime | None, label: str, detail: str
) -> None:
    entry = Decision(
        person_id=uuid.UUID(int=1),
        field=BREACH_FIELD,
        rule=rule,
        trigger="sla_timer",
        decided_at=datetime(2026, 3, 12, tzinfo=UTC),
        hubspot_modified_at=datetime(2026, 3, 10, 9, tzinfo=UTC),
        salesforce_modified_at=touched,
    )
    assert describe(Event(entry.decided_at, "decision", entry)) == (label, detail)


@pytest.mark.parametrize("system", [System.HUBSPOT, System.SALESFORCE])
def test_why_reads_the_engines_notes_as_record_and_explanation(system: System) -> None:
    """`note_about` keeps the key and the text in one system's columns: read as a note, not as
    a value changed from the key to the text."""
    key = RecordKey(system, "contacts" if system is System.HUBSPOT else "Lead", "1001")
    why = "not handed off: score 40 is below 60 (the shared MQL definition)"
    entry = note_about(
        uuid.UUID(int=1), "record", "not_handed_off", "poll", datetime(2026, 3, 12, tzinfo=UTC),
        None, key, why,
    )  # fmt: skip
    assert describe(Event(entry.decided_at, "decision", entry)) == (
        "record",
        f"{key}: {why}; rule not_handed_off; trigger poll",
    )


def _store_named_in(path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The store's URL moved from the environment into the .env file at `path`, as the demo's
    `sandbox.env` names its store: only a command given `--env-file path` finds it."""
    path.write_text(f"BATON_DATABASE_URL={os.environ['BATON_DATABASE_URL']}\n")
    monkeypatch.delenv("BATON_DATABASE_URL")
    return path


def test_status_hints_carry_the_env_file_it_was_given(
    runner: CliRunner, ann: uuid.UUID, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Typed as printed, each hint reads the store this status read, not the default one."""
    env_file = _store_named_in(tmp_path / "demo.env", monkeypatch)
    result = runner.invoke(app, ["status", "--env-file", str(env_file)])
    assert result.exit_code == 0, result.output
    flat = " ".join(result.stdout.split())
    assert f"'baton why EMAIL --env-file {env_file}' tells one's story" in flat
    assert f"('baton scorecard --env-file {env_file}' lists them)" in flat


def test_an_interrupted_backfills_hint_carries_the_env_file(tmp_path: Path) -> None:
    listing = ListingStatus("hubspot", "contacts", 300, False, at("03-10 10:00"))
    line = unfinished_line([listing], env_file=tmp_path / "my demo" / "sandbox.env")
    assert f"'baton backfill --env-file \"{tmp_path}/my demo/sandbox.env\"' goes on" in line
    assert "'baton backfill' goes on" in unfinished_line([listing])


def test_why_hints_carry_the_env_file_it_was_given(
    runner: CliRunner,
    ann: uuid.UUID,
    store: Engine,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    contact = RecordKey(System.SALESFORCE, "Contact", "003A")
    with store.begin() as conn:
        add_dead_letter(conn, contact, Direction.TO_SALESFORCE, {}, "X", "refused")
        (letter,) = [x for x in list_dead_letters(conn) if x.key == contact]
        record_decision(
            conn,
            Decision(
                ann,
                "phone",
                held_rule("two_way", letter.id),
                "poll",
                at("03-05 10:00"),
                salesforce_old=None,
                salesforce_new="n/a",
            ),
        )
    env_file = _store_named_in(tmp_path / "demo.env", monkeypatch)
    result = runner.invoke(app, ["why", "ann@example.com", "--env-file", str(env_file)])
    assert result.exit_code == 0, result.output
    flat = " ".join(line.strip("│ ") for line in result.stdout.splitlines())
    assert f"'baton errors retry ID --env-file {env_file}' sends one now" in flat
    assert f"`baton errors retry {letter.id} --env-file {env_file}` sends it" in flat


def test_why_on_a_narrow_terminal_shows_every_record_id_whole(
    runner: CliRunner, store: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A record's id is what one looks it up by in Salesforce: at 80 columns it was cut to
    '0038d00…'."""
    with store.begin() as conn:
        person = add_person(conn, "bo@example.com", at=at("03-01 08:00"))
        link(conn, person, RecordKey(System.HUBSPOT, "contacts", "1002"), LinkReason.EMAIL)
        contact = RecordKey(System.SALESFORCE, "Contact", "0038d000000004CAAQ")
        link(conn, person, contact, LinkReason.CONVERSION)
    monkeypatch.setenv("COLUMNS", "80")
    result = runner.invoke(app, ["why", "bo@example.com"])
    assert result.exit_code == 0, result.output
    (row,) = [line for line in result.stdout.splitlines() if "│ 0038d" in line]
    assert "0038d000000004CAAQ" in row
    assert "…" not in result.stdout
