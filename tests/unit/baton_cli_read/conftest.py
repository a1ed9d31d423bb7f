"""A migrated SQLite store named by BATON_DATABASE_URL, in a clean working directory."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from sync.store import make_engine, sqlite_url, upgrade


def at(text: str) -> datetime:
    """'03-02 09:30' -> 2026-03-02T09:30Z."""
    day, time = text.split()
    month, dom = day.split("-")
    hour, minute = time.split(":")
    return datetime(2026, int(month), int(dom), int(hour), int(minute), tzinfo=UTC)


@pytest.fixture(autouse=True)
def typed_as_baton(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hints name the CLI as this shell would type it (`baton_command`), under the test runner
    the venv's path; here it is `baton`, so the hints read the same on every machine."""
    monkeypatch.setattr("baton.cli.common.baton_command", lambda: "baton")


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """The store the CLI reads: BATON_DATABASE_URL points at it; no stray .env is read."""
    monkeypatch.chdir(tmp_path)
    for name in ("BATON_DATABASE_URL", "BATON_SLA_HOURS", "BATON_DICTIONARY_PATH"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "baton.db"
    engine = make_engine(sqlite_url(path))
    upgrade(engine)
    monkeypatch.setenv("BATON_DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.setenv("COLUMNS", "220")
    try:
        yield engine
    finally:
        engine.dispose()
