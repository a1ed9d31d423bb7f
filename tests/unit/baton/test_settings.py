"""Settings: defaults, composition with the connectors', and one clear line per mistake."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from baton.cli import main
from baton.logging import configure_logging
from baton.settings import DEFAULT_DATABASE_URL, SettingsError, load, load_baton

SANDBOX_ENV = {
    "BATON_HUBSPOT_ACCESS_TOKEN": "pat-na1-secret-token-value",
    "BATON_SALESFORCE_CLIENT_ID": "client-id",
    "BATON_SALESFORCE_CLIENT_SECRET": "sf-client-secret-value",
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No BATON_* from the caller's shell, and no stray .env in the working directory."""

    for name in list(os.environ):
        if name.startswith("BATON_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_defaults() -> None:
    settings = load_baton()
    assert settings.database() == DEFAULT_DATABASE_URL
    assert (settings.http_host, settings.http_port) == ("127.0.0.1", 8910)
    assert settings.dictionary_path is None
    assert settings.log_format == "kv"


def test_composes_both_connectors(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SANDBOX_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("BATON_HTTP_PORT", "9999")
    settings = load()
    assert settings.baton.http_port == 9999
    assert settings.hubspot.access_token is not None
    assert settings.salesforce.client_id == "client-id"
    assert set(settings.secrets()) >= {"pat-na1-secret-token-value", "sf-client-secret-value"}


@pytest.mark.parametrize(("written", "read"), [("JSON", "json"), (" Kv ", "kv")])
def test_the_log_format_is_read_in_any_case(
    monkeypatch: pytest.MonkeyPatch, written: str, read: str
) -> None:
    """As the log level is: `JSON` means json."""
    monkeypatch.setenv("BATON_LOG_FORMAT", written)
    assert load_baton().log_format == read


def test_env_file_is_read(tmp_path: Path) -> None:
    env = tmp_path / "sandbox.env"
    env.write_text(
        "\n".join(f"{k}={v}" for k, v in SANDBOX_ENV.items()) + "\nBATON_LOG_FORMAT=json\n"
    )
    settings = load(env)
    assert settings.baton.log_format == "json"
    assert settings.salesforce.client_id == "client-id"


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("BATON_HTTP_PORT", "99999", "BATON_HTTP_PORT: 99999 is too large; give 65535 or less"),
        ("BATON_POLL_INTERVAL_S", "-1", "BATON_POLL_INTERVAL_S: -1 is too small; give more than 0"),
        ("BATON_POLL_INTERVAL_S", "soon", "BATON_POLL_INTERVAL_S: 'soon' is not a number"),
        ("BATON_WEBHOOK_FAILURE_LIMIT", "2.5", "BATON_WEBHOOK_FAILURE_LIMIT: 2.5 is not a whole"),
        (
            "BATON_LOG_LEVEL",
            "loud",
            "BATON_LOG_LEVEL: 'LOUD' is not one of 'DEBUG', 'INFO', 'WARNING' or 'ERROR'",
        ),
        ("BATON_PROPAGATE_DELETES", "maybe", "BATON_PROPAGATE_DELETES: 'maybe' is not a yes or no"),
        ("BATON_DICTIONARY_PATH", "/nowhere/funnel.yaml", "BATON_DICTIONARY_PATH: no file"),
        ("BATON_DATABASE_URL", "garbage-s3cret", "BATON_DATABASE_URL: not a database URL; use"),
        (
            "BATON_DATABASE_URL",
            "postgresql://u:s3cret@db:notaport/baton",
            "BATON_DATABASE_URL: its port is not a number; use sqlite:///",
        ),
        ("BATON_DATABASE_URL", "mysql://u:s3cret@db/baton", "BATON_DATABASE_URL: 'mysql' is not"),
        (
            "BATON_DATABASE_URL",
            "postgresql+psycopg2://u:s3cret@db/baton",
            "BATON_DATABASE_URL: driver 'psycopg2' does not come with Baton (it uses sqlite3 and "
            "psycopg 3); write postgresql://user:password@host:5432/db",
        ),
        ("BATON_DATABASE_URL", "postgresql+asyncpg://u:s3cret@db/b", "BATON_DATABASE_URL: driver"),
        ("BATON_DATABASE_URL", "postgresql+pg8000://u:s3cret@db/b", "BATON_DATABASE_URL: driver"),
        (
            "BATON_DATABASE_URL",
            "postgres+psycopg://u:s3cret@db/b",
            "BATON_DATABASE_URL: 'postgres+psycopg' is not a scheme Baton opens; write postgresql",
        ),
        ("BATON_DATABASE_URL", "sqlite://", "BATON_DATABASE_URL: an in-memory SQLite database"),
        ("BATON_DATABASE_URL", "sqlite:///", "BATON_DATABASE_URL: an in-memory SQLite database"),
        (
            "BATON_DATABASE_URL",
            "sqlite:///:memory:",
            "BATON_DATABASE_URL: an in-memory SQLite database keeps nothing",
        ),
        (
            "BATON_DATABASE_URL",
            "postgresql://u:s3cret@PW@db/baton",  # the password is 's3cret@PW'
            "BATON_DATABASE_URL: more than one '@' before the host (a password holding '@'?); "
            "write each '@' in the user name or password as %40",
        ),
        (
            "BATON_DATABASE_URL",
            # the password 's3cret@PW:word': its ':' after the '@' made 'word@db:5432' the port
            "postgresql://u:s3cret@PW:word@db:5432/baton",
            "BATON_DATABASE_URL: more than one '@' before the host (a password holding '@'?); "
            "write each '@' in the user name or password as %40",
        ),
        (
            "BATON_DATABASE_URL",
            "postgresql://u:s3cret@PW:word@db:5432?sslmode=require",
            "BATON_DATABASE_URL: more than one '@' before the host",
        ),
    ],
)
def test_a_bad_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, says: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_baton()
    assert str(caught.value).startswith(says)
    assert "\n" not in str(caught.value)
    assert "s3cret" not in str(caught.value)  # a URL may hold a password: never echoed
    assert "PW" not in str(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///store.db",
        "sqlite+pysqlite:///store.db",
        "postgresql://u:p%40w@db/baton",
        "postgres://u:pw@db/baton",
        "postgresql+psycopg://u:pw@db:5432/baton",
    ],
)
def test_the_store_urls_baton_opens_are_accepted(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("BATON_DATABASE_URL", url)
    assert load_baton().database() == url


def test_missing_connector_credentials_name_the_variables() -> None:
    with pytest.raises(SettingsError, match=r"^BATON_HUBSPOT_\S*: .*BATON_HUBSPOT_ACCESS_TOKEN"):
        load()


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("BATON_HUBSPOT_REQUEST_TIMEOUT_S", "0", "BATON_HUBSPOT_REQUEST_TIMEOUT_S: 0 is too small"),
        ("BATON_HUBSPOT_APP_ID", "abc", "BATON_HUBSPOT_APP_ID: 'abc' is not a whole number"),
        ("BATON_SALESFORCE_AUTH", "magic", "BATON_SALESFORCE_AUTH: 'magic' is not one of"),
        ("BATON_SALESFORCE_BULK_POLL_S", "x", "BATON_SALESFORCE_BULK_POLL_S: 'x' is not a number"),
    ],
)
def test_a_bad_connector_value_is_said_in_batons_words(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, says: str
) -> None:
    monkeypatch.setenv("BATON_HUBSPOT_ACCESS_TOKEN", "pat-x")
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load()
    assert str(caught.value).startswith(says)
    assert "Input should" not in str(caught.value)


def test_salesforce_mode_needs_its_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BATON_HUBSPOT_ACCESS_TOKEN", "pat-x")
    monkeypatch.setenv("BATON_SALESFORCE_AUTH", "jwt_bearer")
    monkeypatch.setenv("BATON_SALESFORCE_CLIENT_ID", "cid")
    with pytest.raises(SettingsError, match="BATON_SALESFORCE_USERNAME"):
        load()


def test_missing_env_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"^--env-file: no file"):
        load(tmp_path / "absent.env")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (  # a name alone: the store would be the default one, silently
            "BATON_LOG_LEVEL=debug\nBATON_DATABASE_URL\n",
            "line 2 (BATON_DATABASE_URL) has no '='; write it as NAME=value",
        ),
        ("# x\nexport BATON_DATABASE_URL\n", "line 2 (BATON_DATABASE_URL) has no '='"),
        # not a setting's name, not even a name: the line is not quoted, it may be a secret
        ("BATON_LOG_LEVEL=debug\n\npat-na1-secret token\n", "line 3 is not NAME=value; write"),
        ("pat-na1-secret-token\n", "line 1 has no '='; write it as NAME=value"),
    ],
)
def test_a_malformed_env_file_line_names_the_file_and_line(
    tmp_path: Path, text: str, says: str
) -> None:
    env = tmp_path / "bad.env"
    env.write_text(text)
    with pytest.raises(SettingsError) as raised:
        load_baton(env)
    message = str(raised.value)
    assert message.startswith(f"--env-file {env}: ")
    assert says in message
    assert "secret" not in message


@pytest.mark.parametrize("again", ["\nBATON_LOG_LEVEL=warning", "\n\n  baton_log_level = warning"])
def test_a_key_set_twice_in_an_env_file_names_both_lines(tmp_path: Path, again: str) -> None:
    """Which one wins is the library's secret: the user is told to keep one (the names are
    read in any case, so two spellings of one are one setting twice)."""
    env = tmp_path / "twice.env"
    env.write_text(f"BATON_LOG_LEVEL=debug\nBATON_HTTP_PORT=9000\n{again}\n")
    line = 3 + again.count("\n")  # after the two lines before it, and its blank ones
    with pytest.raises(SettingsError) as raised:
        load(env)
    assert str(raised.value) == (
        f"--env-file {env}: BATON_LOG_LEVEL is set on line 1 and again on line {line}; keep one"
    )


def test_a_malformed_env_file_is_a_usage_error_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "bad.env").write_text("BATON_DATABASE_URL\n")
    monkeypatch.setattr(sys, "argv", ["baton", "status", "--env-file", "bad.env"])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    assert capsys.readouterr().err.splitlines() == [
        "baton: --env-file bad.env: line 1 (BATON_DATABASE_URL) has no '='; write it as NAME=value"
    ]


def test_the_cli_exits_2_with_one_line(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "BATON_HTTP_PORT": "nope"}
    result = subprocess.run(
        [sys.executable, "-m", "baton", "run", "--once"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("baton: BATON_HTTP_PORT: ")


def test_secrets_never_reach_the_log(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    for name, value in SANDBOX_ENV.items():
        monkeypatch.setenv(name, value)
    settings = load()
    stream = io.StringIO()
    handler = configure_logging(secrets=settings.secrets(), stream=stream)
    try:
        logging.getLogger("baton.test").warning(
            "token is %s", "pat-na1-secret-token-value", extra={"kv": {"s": settings.hubspot}}
        )
    finally:
        logging.getLogger().removeHandler(handler)
    line = stream.getvalue()
    assert "level=warning" in line
    assert "pat-na1-secret-token-value" not in line
    assert "sf-client-secret-value" not in line


def test_secrets_lose_the_whitespace_a_crlf_token_file_gives_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A trailing CR, newline or space is a copy-paste slip, not part of the token: kept, it
    makes HubSpot answer 401 (or httpx refuse the header outright)."""
    monkeypatch.setenv("BATON_HUBSPOT_ACCESS_TOKEN", "pat-na1-secret-token-value\r\n")
    monkeypatch.setenv("BATON_SALESFORCE_CLIENT_ID", " client-id\r")
    monkeypatch.setenv("BATON_SALESFORCE_CLIENT_SECRET", "sf-client-secret-value ")
    monkeypatch.setenv("BATON_DATABASE_URL", "sqlite:///store.db\r\n")
    settings = load()
    assert settings.hubspot.access_token is not None
    assert settings.hubspot.access_token.get_secret_value() == "pat-na1-secret-token-value"
    assert settings.salesforce.client_id == "client-id"
    assert settings.baton.database() == "sqlite:///store.db"
    assert set(settings.secrets()) == {"pat-na1-secret-token-value", "sf-client-secret-value"}


def test_a_blank_token_is_no_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BATON_HUBSPOT_ACCESS_TOKEN", " \r\n")
    with pytest.raises(SettingsError, match=r"^BATON_HUBSPOT_\S*: no credentials: set "):
        load()


def test_an_env_file_that_is_not_utf8_or_cannot_be_read_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both ended in a traceback: a file saved as Latin-1, a file only its owner may read."""
    latin = tmp_path / "latin.env"
    latin.write_bytes("BATON_LOG_LEVEL=info\nBATON_HUBSPOT_APP_ID=caf\xe9\n".encode("latin-1"))
    with pytest.raises(SettingsError) as raised:
        load_baton(latin)
    assert str(raised.value).startswith(f"--env-file {latin}: is not UTF-8 text (")
    assert str(raised.value).endswith("); save it as UTF-8")
    locked = tmp_path / "locked.env"
    locked.write_text("BATON_LOG_LEVEL=info\n")

    def refused(*_args: object, **_kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")  # as for a file only its owner reads

    monkeypatch.setattr(Path, "open", refused)
    with pytest.raises(SettingsError, match=r"cannot be read \(Permission denied\); check"):
        load_baton(locked)
