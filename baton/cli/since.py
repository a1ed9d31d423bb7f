"""`--since` values (`baton backfill`'s and `baton scorecard`'s): an ISO 8601 date or date and
time (naive means UTC), or a duration back from now (`7d`, `12h`, `30m`). A bad or future value
is a `typer.BadParameter`, so the CLI's usage-error path prints one line naming the option and
exits with status 2."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import typer

FORMS = (
    "a date (2026-03-01), a date and time (2026-03-01T09:30, UTC unless it has an offset) "
    "or a duration back from now (7d, 12h, 30m)"
)
#: The forms as each command's --help says them.
SPELLINGS = "2026-03-01, 2026-03-01T09:30 (UTC unless an offset is given) or 7d / 12h / 30m ago"
UNITS = {"d": "days", "h": "hours", "m": "minutes"}
DURATION = re.compile(r"(\d+)([dhm])", re.IGNORECASE)


class BadSince(ValueError):
    """A `--since` value that is none of `FORMS`, or lies in the future."""


def parse_since(text: str, *, now: datetime) -> datetime:
    """The aware UTC instant `text` names, measured against the aware `now`."""
    value = text.strip()
    if match := DURATION.fullmatch(value):
        try:
            return now - timedelta(**{UNITS[match[2].lower()]: int(match[1])})
        except OverflowError:
            raise BadSince(f"{text!r} reaches back too far; use {FORMS}") from None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise BadSince(f"{text!r} is not {FORMS}") from None
    try:
        at = at.replace(tzinfo=UTC) if at.utcoffset() is None else at.astimezone(UTC)
    except OverflowError:  # before year 1 or after 9999 once in UTC
        raise BadSince(
            f"{text!r} is out of range; use a date in the years 1 to 9999 (UTC)"
        ) from None
    if at > now:
        raise BadSince(
            f"{text!r} is in the future (now is {now:%Y-%m-%d %H:%M:%S} UTC); give a moment "
            "before now, or a duration back from now (7d, 12h, 30m)"
        )
    return at


def since_parser(now: Callable[[], datetime]) -> Callable[[str], datetime]:
    """A Typer `parser=` for `--since`: a bad value becomes a usage error (exit status 2)."""

    def parse(text: str) -> datetime:
        try:
            return parse_since(text, now=now())
        except BadSince as exc:
            raise typer.BadParameter(str(exc)) from None

    return parse
