"""A store Baton cannot use: every command ends with one line naming BATON_DATABASE_URL, exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from baton.cli import app

REPO = Path(__file__).resolve().parents[3]
NOT_A_DATABASE = (
    "(file is not a database); point BATON_DATABASE_URL at Baton's store (a SQLite file Baton "
    "made, or a path for a new one)"
)


@pytest.fixture
def garbage(store: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A file that is not a SQLite database, named by BATON_DATABASE_URL."""
    path = tmp_path / "notes.txt"
    path.write_bytes(b"these are my notes, not a database\n" * 200)
    monkeypatch.setenv("BATON_DATABASE_URL", f"sqlite:///{path}")
    return path


@pytest.mark.parametrize(
    ("args", "prefix"),
    [
        (["status"], "baton"),
        (["why", "ann@example.com"], "baton"),
        (["errors", "list"], "baton"),
        (["errors", "drop", "1", "--reason", "gone"], "baton"),
        (["scorecard"], "baton"),
        (["db", "current"], "baton db current"),
        (["db", "upgrade"], "baton db upgrade"),
    ],
)
def test_a_file_that_is_not_a_database_is_one_line_and_exit_2(
    runner: CliRunner, garbage: Path, args: list[str], prefix: str
) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [
        f"{prefix}: cannot read the store at sqlite:///{garbage} {NOT_A_DATABASE}"
    ]


@pytest.mark.parametrize("args", [["run", "--once"], ["backfill", "--dry-run"]])
def test_run_and_backfill_on_a_file_that_is_not_a_database(tmp_path: Path, args: list[str]) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"not a database\n" * 200)
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(REPO),  # this checkout's baton, whichever one the venv installed
        "BATON_DATABASE_URL": f"sqlite:///{path}",
        "BATON_HUBSPOT_ACCESS_TOKEN": "pat-na1-secret-token-value",
        "BATON_HUBSPOT_BASE_URL": "http://127.0.0.1:9",
        "BATON_SALESFORCE_CLIENT_ID": "client-id",
        "BATON_SALESFORCE_CLIENT_SECRET": "sf-client-secret-value",
        "BATON_SALESFORCE_LOGIN_URL": "https://127.0.0.1:9",
    }
    result = subprocess.run(
        [sys.executable, "-m", "baton", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"baton: cannot read the store at sqlite:///{path} {NOT_A_DATABASE}"
    ]


def test_a_server_password_is_masked_and_sqlalchemys_link_left_out(
    runner: CliRunner, store: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BATON_DATABASE_URL", "postgresql://baton:s3cret@127.0.0.1:1/baton")
    result = runner.invoke(app, ["db", "current"])
    assert result.exit_code == 2
    [line] = result.output.strip().splitlines()
    assert line.startswith("baton db current: cannot read the store at postgresql://baton:***@")
    assert line.endswith("; check BATON_DATABASE_URL, and that the database server is up")
    assert "s3cret" not in line
    assert "sqlalche.me" not in line


def test_a_store_folder_that_cannot_be_made_names_the_setting(
    runner: CliRunner, store: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("BATON_DATABASE_URL", f"sqlite:///{blocker}/sub/baton.db")
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 2, result.output
    [line] = result.output.strip().splitlines()
    assert line.startswith(
        f"baton db upgrade: BATON_DATABASE_URL: cannot make the store's folder {blocker}/sub ("
    )
    assert line.endswith("); point it at a folder Baton can write")


def test_a_sqlite_file_that_cannot_be_opened_names_the_folder_and_user_not_a_server() -> None:
    """A container's volume owned by root, with Baton running as uid 10001: SQLite says only
    "unable to open database file", and there is no database server to check."""
    import os

    from sqlalchemy.exc import OperationalError

    from baton.cli.common import store_failure

    error = OperationalError("SELECT 1", {}, Exception("unable to open database file"))
    line = store_failure(error, "sqlite:////var/lib/baton/baton.db")

    assert line.startswith("cannot read the store at sqlite:////var/lib/baton/baton.db")
    assert "(unable to open database file)" in line
    assert f"its folder exists and this user (uid {os.getuid()}) may write there" in line
    assert "database server" not in line
