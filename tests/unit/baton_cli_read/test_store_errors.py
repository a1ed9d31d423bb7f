"""A store Baton cannot use: every command ends with one line naming BATON_DATABASE_URL, exit 2."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from baton.cli import app
from sync.store import make_engine, sqlite_url, upgrade
from sync.store.migrate import current_revision, head_revision, known_revision

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


def _store_at(path: Path, revision: str) -> None:
    """A store migrated to `revision`; one a newer Baton made when this code lacks it."""
    engine = make_engine(sqlite_url(path))
    try:
        if known_revision(revision):
            upgrade(engine, revision)
            return
        upgrade(engine)
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
    finally:
        engine.dispose()


def _revision(path: Path) -> str | None:
    engine = make_engine(sqlite_url(path))
    try:
        with engine.connect() as conn:
            return current_revision(conn)
    finally:
        engine.dispose()


def _behind(store: str) -> str:
    expects = f"this Baton expects {head_revision()}"
    return f"{store} is at migration 0003, {expects}: run 'baton db upgrade'"


def _ahead(store: str) -> str:
    return (
        f"{store} is at migration 0099, newer than this Baton knows (its latest is "
        f"{head_revision()}): a newer Baton upgraded it; run that version, or restore the copy "
        "of the store taken before the upgrade"
    )


READ_COMMANDS = [
    ["status"],
    ["why", "ann@example.com"],
    ["errors", "list"],
    ["errors", "drop", "1", "--reason", "gone"],
    ["scorecard"],
]


@pytest.mark.parametrize("args", READ_COMMANDS)
@pytest.mark.parametrize(("revision", "problem"), [("0003", _behind), ("0099", _ahead)])
def test_a_store_at_another_batons_migration_says_which_and_the_fix(
    runner: CliRunner,
    store: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    revision: str,
    problem: Callable[[str], str],
) -> None:
    """Not upgraded yet (SQLite named a missing column and told to check the folder's
    permissions), or upgraded by a newer Baton (read as if it were this one's)."""
    path = tmp_path / "other.db"
    _store_at(path, revision)
    monkeypatch.setenv("BATON_DATABASE_URL", f"sqlite:///{path}")
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [
        f"baton: {problem(f'the store at sqlite:///{path}')}"
    ]
    assert _revision(path) == revision


def test_db_current_and_upgrade_on_a_store_a_newer_baton_migrated(
    runner: CliRunner, store: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`db current` told to run `db upgrade`, which then failed on Alembic's CommandError."""
    path = tmp_path / "newer.db"
    _store_at(path, "0099")
    monkeypatch.setenv("BATON_DATABASE_URL", f"sqlite:///{path}")
    current = runner.invoke(app, ["db", "current"])
    assert current.exit_code == 1
    assert current.output.strip().splitlines() == [f"baton db current: {_ahead('the store')}"]
    upgraded = runner.invoke(app, ["db", "upgrade"])
    assert upgraded.exit_code == 2
    assert upgraded.output.strip().splitlines() == [f"baton db upgrade: {_ahead('the store')}"]
    assert _revision(path) == "0099"


@pytest.mark.parametrize(
    ("args", "revision", "line"),
    [
        (["run", "--once"], "0099", f"baton: {_ahead('the store')}"),
        (["backfill", "--dry-run"], "0099", f"baton: {_ahead('the store')}"),
        (
            ["backfill", "--dry-run"],
            "0003",
            f"baton: {_behind('the store')} first (a dry run leaves the store as it is: an "
            "older Baton may run on it)",
        ),
    ],
)
def test_run_and_backfill_on_a_store_they_must_not_migrate(
    tmp_path: Path, args: list[str], revision: str, line: str
) -> None:
    """A newer Baton's store is refused before anything reads it; a dry run no longer
    upgrades an older store under the daemon still running on it (its /readyz went 503)."""
    path = tmp_path / "baton.db"
    _store_at(path, revision)
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(REPO),
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
    # The fix names the CLI as that shell finds it (`baton_command`): not on its PATH here.
    beside = Path(sys.executable).parent / "baton"
    typed = str(beside) if beside.is_file() else "baton"
    assert result.stderr.strip().splitlines() == [
        line.replace("'baton db upgrade'", f"'{typed} db upgrade'")
    ]
    assert _revision(path) == revision


def test_a_missing_column_on_sqlite_says_to_upgrade_as_on_postgresql() -> None:
    from sqlalchemy.exc import OperationalError

    from baton.cli.common import store_failure

    error = OperationalError("SELECT", {}, Exception("no such column: runs.owner"))
    line = store_failure(error, "sqlite:////var/lib/baton/baton.db")
    assert line.endswith(
        "(no such column: runs.owner); run 'baton db upgrade' to migrate it, or point "
        "BATON_DATABASE_URL at Baton's store"
    )


def _env_file_naming(path: Path, env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A sandbox.env naming the store at `path`, the environment naming none (as `baton demo`
    leaves it: only a command given `--env-file` reads the demo's store)."""
    env.write_text(f"BATON_DATABASE_URL=sqlite:///{path}\n")
    monkeypatch.delenv("BATON_DATABASE_URL", raising=False)
    return env


@pytest.mark.parametrize("args", [*READ_COMMANDS, ["db", "current"]])
def test_a_store_behind_named_by_an_env_file_is_upgraded_by_the_command_printed(
    runner: CliRunner,
    store: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
) -> None:
    """'baton db upgrade' typed as printed, without the --env-file, would upgrade (or make)
    the default store, and the command would fail again the same way."""
    env = _env_file_naming(tmp_path / "demo.db", tmp_path / "demo.env", monkeypatch)
    _store_at(tmp_path / "demo.db", "0003")
    result = runner.invoke(app, [*args, "--env-file", str(env)])
    assert result.exit_code in (1, 2), result.output
    [line] = result.output.strip().splitlines()
    assert line.endswith(f"run 'baton db upgrade --env-file {env}'"), line


@pytest.mark.parametrize("args", [*READ_COMMANDS, ["db", "current"]])
def test_a_missing_store_named_by_an_env_file_is_made_by_the_command_printed(
    runner: CliRunner,
    store: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
) -> None:
    env = _env_file_naming(tmp_path / "absent.db", tmp_path / "demo.env", monkeypatch)
    result = runner.invoke(app, [*args, "--env-file", str(env)])
    assert result.exit_code in (1, 2), result.output
    [line] = result.output.strip().splitlines()
    assert f"no store at {tmp_path / 'absent.db'}; run 'baton db upgrade --env-file {env}'" in line


def test_a_dry_run_on_a_store_behind_names_the_upgrade_of_that_store(
    store: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from baton.cli.run import start_runtime
    from baton.settings import load

    env = _env_file_naming(tmp_path / "demo.db", tmp_path / "demo.env", monkeypatch)
    _store_at(tmp_path / "demo.db", "0003")
    monkeypatch.setenv("BATON_HUBSPOT_ACCESS_TOKEN", "pat-na1-x")
    monkeypatch.setenv("BATON_SALESFORCE_CLIENT_ID", "client-id")
    monkeypatch.setenv("BATON_SALESFORCE_CLIENT_SECRET", "client-secret")
    with pytest.raises(SystemExit):
        start_runtime(load(env), keep_schema=True, env_file=env)
    assert f"run 'baton db upgrade --env-file {env}' first (a dry run" in capsys.readouterr().err
    assert _revision(tmp_path / "demo.db") == "0003"


def test_no_open_letter_and_no_person_hints_carry_the_env_file(
    runner: CliRunner, store: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = _env_file_naming(tmp_path / "baton.db", tmp_path / "demo.env", monkeypatch)
    result = runner.invoke(app, ["errors", "drop", "7", "--reason", "x", "--env-file", str(env)])
    assert result.exit_code == 2, result.output
    assert f"see 'baton errors list --status all --env-file {env}'" in result.output
    result = runner.invoke(app, ["why", "ann@example.com", "--env-file", str(env)])
    assert result.exit_code == 1, result.output
    assert f"'baton status --env-file {env}' shows what has been read" in result.output
