"""What every long-running command shares: settings or one clear line, logging, exit codes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from baton.logging import configure_logging
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


def fail(line: str, code: int = 1) -> NoReturn:
    """Print one line on stderr and exit with `code` (SystemExit survives standalone_mode=False).

    Every error line of the CLI ends here, so secrets are masked here, whatever the line quotes.
    """
    Console(stderr=True, highlight=False).print(escape(redact(line)), soft_wrap=True)
    raise SystemExit(code)


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
