"""`baton errors list|retry|drop` as a user runs them."""

from __future__ import annotations

import json
import os
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from baton.cli import app
from baton.cli import errors as errors_cli
from baton.daemon import one_line
from baton.settings import load_baton
from connectors.errors import AuthError, TransientError
from connectors.records import RecordKey, System
from mappings.loader import DictionaryError
from sync.queries.errors import DROP_FIELD
from sync.store.dead_letters import Direction, add_dead_letter
from sync.store.decisions import decisions_for
from sync.store.links import LinkReason, link
from sync.store.people import add_person

from .conftest import at

LEAD = RecordKey(System.SALESFORCE, "Lead", "00Q1")


@pytest.fixture
def person(store: Engine) -> uuid.UUID:
    """Dead letters 1 (Salesforce, linked to the person) and 2 (HubSpot, unlinked)."""
    with store.begin() as conn:
        pid = add_person(conn, "ann@example.com", at=at("03-01 08:00"))
        link(conn, pid, LEAD, LinkReason.CREATED)
        add_dead_letter(
            conn,
            LEAD,
            Direction.TO_SALESFORCE,
            {"Email": "ann@"},
            "INVALID_EMAIL_ADDRESS",
            "Email: invalid email address: ann@",
            at=at("03-01 09:00"),
        )
        add_dead_letter(
            conn,
            RecordKey(System.HUBSPOT, "contacts", "7"),
            Direction.TO_HUBSPOT,
            {},
            "VALIDATION_ERROR",
            "Property values were not valid",
            at=at("03-01 10:00"),
        )
    return pid


def test_list_shows_the_vendors_words(runner: CliRunner, person: uuid.UUID) -> None:
    result = runner.invoke(app, ["errors", "list"])
    assert result.exit_code == 0, result.output
    for text in (
        "Dead letters (times UTC)",
        "salesforce:Lead:00Q1",
        "to_salesforce",
        "INVALID_EMAIL_ADDRESS",
        "Email: invalid email address: ann@",
        "hubspot:contacts:7",
        "VALIDATION_ERROR",
        "baton errors retry ID",
    ):
        assert text in result.stdout, text


def test_list_json_filters_by_system(runner: CliRunner, person: uuid.UUID) -> None:
    result = runner.invoke(app, ["errors", "list", "--system", "hubspot", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [(x["id"], x["key"]["system"], x["vendor_code"]) for x in data] == [
        (2, "hubspot", "VALIDATION_ERROR")
    ]
    assert data[0]["first_seen_at"] == "2026-03-01T10:00:00+00:00"
    assert data[0]["status"] == "open"


def test_list_rejects_an_unknown_status(runner: CliRunner, person: uuid.UUID) -> None:
    result = runner.invoke(app, ["errors", "list", "--status", "stuck"])
    assert result.exit_code == 2
    assert "stuck" in result.output


def test_retry_needs_ids_or_all(runner: CliRunner, person: uuid.UUID) -> None:
    result = runner.invoke(app, ["errors", "retry"])
    assert result.exit_code == 2
    assert "give dead-letter ids (see 'baton errors list') or --all" in result.output
    result = runner.invoke(app, ["errors", "retry", "1", "--all"])
    assert result.exit_code == 2
    assert "not both" in result.output


@dataclass
class FakeReport:
    created: Counter[str] = field(default_factory=Counter)
    updated: Counter[str] = field(default_factory=lambda: Counter({"salesforce:Lead": 1}))
    unchanged: int = 0
    dead_letters: int = 0


@dataclass
class FakeEngine:
    calls: list[Sequence[int] | None] = field(default_factory=list)
    refused: int = 0
    sends: bool = True

    raises: Exception | None = None

    def retry_dead_letters(self, ids: Sequence[int] | None = None) -> FakeReport:
        self.calls.append(ids)
        if self.raises is not None:
            raise self.raises
        if not self.sends:
            return FakeReport(updated=Counter(), unchanged=1)
        return FakeReport(dead_letters=self.refused)


def _fake_wiring(engine: FakeEngine, closed: list[bool], *, fails: Exception | None = None) -> Any:
    runtime = SimpleNamespace(engine=engine, close=lambda: closed.append(True))

    def build(settings: object) -> object:
        if fails is not None:
            raise fails
        return runtime

    return SimpleNamespace(build=build, one_line=one_line)


@pytest.fixture
def wired(monkeypatch: pytest.MonkeyPatch) -> tuple[FakeEngine, list[bool]]:
    """The engine behind `errors retry`, faked: the composition root is another helper's job."""
    engine, closed = FakeEngine(), []
    monkeypatch.setattr(errors_cli, "_wiring", lambda: _fake_wiring(engine, closed))
    monkeypatch.setattr(
        errors_cli, "settings_or_exit", lambda env_file: SimpleNamespace(baton=load_baton())
    )
    return engine, closed


def test_retry_goes_through_the_engine(
    runner: CliRunner, person: uuid.UUID, wired: tuple[FakeEngine, list[bool]]
) -> None:
    engine, closed = wired
    result = runner.invoke(app, ["errors", "retry", "--all"])
    assert result.exit_code == 0, result.output
    assert engine.calls == [None]
    assert closed == [True]
    assert "Retried: 0 created, 1 updated, 0 unchanged. All went through." in result.stdout
    engine.refused = 1
    result = runner.invoke(app, ["errors", "retry", "1", "2"])
    assert result.exit_code == 1
    assert engine.calls[-1] == [1, 2]
    assert "1 refused again (see 'baton errors list')." in result.stdout


def test_a_retry_that_sent_nothing_does_not_claim_it_went_through(
    runner: CliRunner, person: uuid.UUID, wired: tuple[FakeEngine, list[bool]]
) -> None:
    engine, _ = wired
    engine.sends = False
    result = runner.invoke(app, ["errors", "retry", "--all"])
    assert result.exit_code == 0, result.output
    assert "All went through" not in result.stdout
    assert "Nothing needed sending: the records already agree, or are gone." in result.stdout


def test_retry_names_ids_that_are_not_open(
    runner: CliRunner, store: Engine, person: uuid.UUID, wired: tuple[FakeEngine, list[bool]]
) -> None:
    engine, _ = wired
    result = runner.invoke(app, ["errors", "retry", "2", "9"])
    assert result.exit_code == 1
    assert engine.calls == [[2]]  # only the open one goes to the engine
    assert "no open dead letter with id 9" in result.output
    result = runner.invoke(app, ["errors", "retry", "9"])
    assert result.exit_code == 2  # none of the ids is open: bad input
    assert result.output.strip().splitlines() == [
        "baton errors retry: no open dead letter with id 9; see 'baton errors list --status all'"
    ]
    assert engine.calls == [[2]]  # nothing to retry: the engine is not even built
    runner.invoke(app, ["errors", "drop", "1", "2", "--reason", "x"])
    result = runner.invoke(app, ["errors", "retry", "--all"])
    assert result.exit_code == 0
    assert "No open dead letters to retry." in result.stdout
    assert engine.calls == [[2]]


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            TransientError("connection failed (MaxRetryError)", system=System.HUBSPOT),
            "baton errors retry: TransientError: hubspot: connection failed (MaxRetryError); "
            "the letters not retried stay open",
        ),
        (
            AuthError("invalid_client: invalid client credentials", system=System.SALESFORCE),
            "baton errors retry: AuthError: salesforce: invalid_client: invalid client "
            "credentials; check BATON_SALESFORCE_",
        ),
    ],
)
def test_a_system_that_fails_the_retry_is_one_line_and_exit_1(
    runner: CliRunner,
    person: uuid.UUID,
    wired: tuple[FakeEngine, list[bool]],
    error: Exception,
    expected: str,
) -> None:
    engine, closed = wired
    engine.raises = error
    result = runner.invoke(app, ["errors", "retry", "--all"])
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output  # no traceback
    assert lines[0].startswith(expected), lines[0]
    assert closed == [True]


def test_a_runtime_that_cannot_be_built_is_one_line_and_exit_2(
    runner: CliRunner,
    person: uuid.UUID,
    wired: tuple[FakeEngine, list[bool]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine, closed = wired
    broken = DictionaryError(["funnel.yaml:3: stages: expected a list", "funnel.yaml:9: x: bad"])
    monkeypatch.setattr(errors_cli, "_wiring", lambda: _fake_wiring(engine, closed, fails=broken))
    result = runner.invoke(app, ["errors", "retry", "--all"])
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [
        "baton errors retry: cannot start: DictionaryError: funnel.yaml:3: stages: expected a "
        "list funnel.yaml:9: x: bad"
    ]
    assert engine.calls == []


def test_the_real_composition_root_has_what_retry_calls() -> None:
    wiring = errors_cli._wiring()
    assert callable(wiring.build)
    assert callable(wiring.one_line)
    from sync.engine import SyncEngine

    assert callable(SyncEngine.retry_dead_letters)


def test_drop_keeps_the_reason_for_baton_why(
    runner: CliRunner, store: Engine, person: uuid.UUID
) -> None:
    result = runner.invoke(app, ["errors", "drop", "1", "2", "--reason", "test lead"])
    assert result.exit_code == 0, result.output
    assert (
        "Dropped 2 dead letter(s) (1, 2); the reason is logged on 1 linked person(s)."
        in result.stdout
    )
    with store.connect() as conn:
        (entry,) = decisions_for(conn, person, DROP_FIELD)
    assert entry.hubspot_new.startswith("dropped by an operator: test lead")
    why = runner.invoke(app, ["why", "ann@example.com"])
    assert "salesforce:Lead:00Q1: dropped by an operator: test lead (refused with" in why.stdout


def test_drop_needs_a_reason(runner: CliRunner, person: uuid.UUID) -> None:
    result = runner.invoke(app, ["errors", "drop", "1"])
    assert result.exit_code == 2
    assert "--reason" in result.output
    result = runner.invoke(app, ["errors", "drop", "1", "--reason", " "])
    assert result.exit_code == 2
    assert "--reason is empty" in result.output


def test_drop_names_ids_that_are_not_open(runner: CliRunner, person: uuid.UUID) -> None:
    result = runner.invoke(app, ["errors", "drop", "2", "9", "--reason", "gone"])
    assert result.exit_code == 1
    assert "Dropped 1 dead letter(s) (2)" in result.stdout
    assert "no open dead letter with id 9" in result.output


def test_dropping_only_ids_that_are_not_open_is_one_line_and_exit_2(
    runner: CliRunner, store: Engine, person: uuid.UUID
) -> None:
    result = runner.invoke(app, ["errors", "drop", "99999", "--reason", "x"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "baton errors drop: no open dead letter with id 99999; see 'baton errors list --status all'"
    ]
    with store.connect() as conn:  # and nothing was touched
        assert decisions_for(conn, person, DROP_FIELD) == []


def test_lists_hints_carry_the_env_file_it_was_given(
    runner: CliRunner, person: uuid.UUID, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Typed as printed, the retry and drop hints act on the store this list read (the demo's
    `sandbox.env` names its own), not on the default one."""
    env_file = tmp_path / "demo.env"
    env_file.write_text(f"BATON_DATABASE_URL={os.environ['BATON_DATABASE_URL']}\n")
    monkeypatch.delenv("BATON_DATABASE_URL")
    result = runner.invoke(app, ["errors", "list", "--env-file", str(env_file)])
    assert result.exit_code == 0, result.output
    flat = " ".join(result.stdout.split())
    assert f"then 'baton errors retry ID... --env-file {env_file}';" in flat
    assert f"'baton errors drop ID... --env-file {env_file} --reason TEXT' gives up" in flat
