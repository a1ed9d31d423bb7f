"""What every long-running command shares: settings or one clear line, logging, exit codes."""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy import make_url
from sqlalchemy.exc import DBAPIError, ProgrammingError, SQLAlchemyError

from baton.logging import configure_logging, json_logging
from baton.settings import Settings, SettingsError, load
from connectors.http.redaction import redact

EnvFileOption = Annotated[
    Path | None,
    typer.Option(
        "--env-file",
        help="Read settings from this .env file too (e.g. .baton/sandbox/sandbox.env).",
        show_default=False,
    ),
]


def baton_command() -> str:
    """How to type Baton's CLI in this shell: `baton` where that is on PATH (an activated venv,
    the image), else the path of the venv's own (`.venv/bin/baton` after `make demo`, which
    activates nothing)."""
    beside = Path(sys.executable).parent / "baton"
    found = shutil.which("baton")
    if found is not None and Path(found).resolve() == beside.resolve():
        return "baton"
    if not beside.is_file():
        return "baton"
    try:
        return str(beside.relative_to(Path.cwd()))
    except ValueError:
        return str(beside)


def shell_word(text: str) -> str:
    """`text` as one shell word, double-quoted if need be (the hints are in single quotes)."""
    if shlex.quote(text) == text:
        return text
    return '"' + "".join("\\" + c if c in '"$`\\' else c for c in text) + '"'


def counted(count: int, one: str, many: str) -> str:
    """`count` with its noun in the number English wants: "1 person", "2 people"."""
    return f"1 {one}" if count == 1 else f"{count:,} {many}"


def hint(words: str, env_file: Path | None = None, *, command: str | None = None) -> str:
    """`baton WORDS` as a next step to type here: the CLI as this shell finds it (or as
    `command` spells it), and the `--env-file` this command was given, which may name another
    store (the demo's does), so the hint typed as printed reads the same store rather than the
    default one."""
    tail = f" --env-file {shell_word(str(env_file))}" if env_file is not None else ""
    return f"{command or baton_command()} {words}{tail}"


#: Where `fail` logs its line instead of printing it, when logs are JSON (`fatal_lines_logged`).
_FATAL_LOG: ContextVar[logging.Logger | None] = ContextVar("baton_fatal_log", default=None)


@contextmanager
def fatal_lines_logged(logger: logging.Logger) -> Iterator[None]:
    """Within: with JSON logs (BATON_LOG_FORMAT=json) `fail` logs its line through `logger`, as
    one error object (`msg=fatal`, `error`, `exit_code`), instead of printing it, so a daemon's
    stderr stays one JSON object a line for its log shipper. Interactive commands keep the
    plain line, and so does an error found before logging is configured (bad settings)."""
    token = _FATAL_LOG.set(logger)
    try:
        yield
    finally:
        _FATAL_LOG.reset(token)


def fail(line: str, code: int = 1) -> NoReturn:
    """Print one line on stderr and exit with `code` (SystemExit survives standalone_mode=False).

    Every error line of the CLI ends here, so secrets are masked here, whatever the line quotes
    (a logged line by the log formatter, `fatal_lines_logged`).
    """
    logger = _FATAL_LOG.get()
    if logger is not None and json_logging():
        logger.error("fatal", extra={"kv": {"error": line, "exit_code": code}})
        raise SystemExit(code)
    Console(emoji=False, stderr=True, highlight=False).print(escape(redact(line)), soft_wrap=True)
    raise SystemExit(code)


def stopped_status(signals: Sequence[int]) -> int:
    """The exit status of a command a signal stopped before it was done, as a shell reports a
    process that signal ended: 130 for Ctrl-C (SIGINT), 143 for SIGTERM; the first one counts."""
    return 128 + (signals[0] if signals else signal.SIGINT)


def settings_or_exit(env_file: Path | None) -> Settings:
    """All settings, or one line naming the variable and the fix, exit status 2."""
    try:
        settings = load(env_file)
    except SettingsError as exc:
        fail(f"baton: {exc}", 2)
    configure_logging(
        level=settings.baton.log_level, fmt=settings.baton.log_format, secrets=settings.secrets()
    )
    return settings


def store_failure(
    exc: SQLAlchemyError, database_url: str, *, upgrade: str = "baton db upgrade"
) -> str:
    """Why the store named by BATON_DATABASE_URL cannot be used, and the fix, on one line.

    The URL is shown with its password masked; SQLAlchemy's "Background on this error" link is
    left out (it explains SQLAlchemy, not what to change). `upgrade` is the command that
    migrates this store (`hint`).
    """
    shown = make_url(database_url).render_as_string(hide_password=True)
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    text = str(cause).split("(Background on this error at:")[0]
    reason = " ".join(text.split()) or type(cause).__name__
    lowered = reason.lower()
    # SQLite says of a missing table or column what PostgreSQL raises as a ProgrammingError.
    if (
        isinstance(exc, ProgrammingError)
        or "no such table" in lowered
        or "no such column" in lowered
    ):
        fix = f"run '{upgrade}' to migrate it, or point BATON_DATABASE_URL at Baton's store"
    elif "not a database" in lowered or "malformed" in lowered:
        fix = (
            "point BATON_DATABASE_URL at Baton's store (a SQLite file Baton made, or a path "
            "for a new one)"
        )
    elif make_url(database_url).get_backend_name() == "sqlite":  # no server: a file
        user = f"this user (uid {os.getuid()})" if hasattr(os, "getuid") else "this user"
        fix = f"check BATON_DATABASE_URL, and that its folder exists and {user} may write there"
    else:
        fix = "check BATON_DATABASE_URL, and that the database server is up"
    return f"cannot read the store at {shown} ({reason}); {fix}"


@contextmanager
def store_errors(
    database_url: str, prefix: str = "baton", env_file: Path | None = None
) -> Iterator[None]:
    """Around opening or reading the store: a database error ends with one line, exit 2. The
    fix it names carries `env_file`, which named the store."""
    try:
        yield
    except SQLAlchemyError as exc:
        upgrade = hint("db upgrade", env_file)
        fail(f"{prefix}: {store_failure(exc, database_url, upgrade=upgrade)}", 2)
