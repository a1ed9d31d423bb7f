"""A usage error's message in Baton's words: Typer checks option values with pydantic, whose
messages ("Value error, ...", "Input should be greater than or equal to 1") describe its
validators, not the value typed or what to type instead (`connectors.invalid`)."""

from __future__ import annotations

from pydantic import ValidationError

# typer >= 0.26 raises its bundled copy of click's exceptions, not `click.exceptions`.
from typer._click.exceptions import BadParameter, UsageError

from connectors.invalid import plain_error


def usage_message(exc: UsageError) -> str:
    """`exc`'s one-line message (`Invalid value for '--limit': 0 is too small; give 1 or
    more`), without the trailing full stop, as the CLI's line goes on after it."""
    cause = exc.__cause__
    if isinstance(exc, BadParameter) and isinstance(cause, ValidationError) and cause.errors():
        exc.message = plain_error(cause.errors()[0])
    return exc.format_message().rstrip().removesuffix(".")
