"""SOQL built only through a quoting formatter: values can never become query text.

`soql(template, *args, **kwargs)` works like `str.format`, with the conversion chosen by the
format spec rather than by the caller's care:

- `{}` (no spec): a *value*, always rendered as a literal: strings quoted and escaped per SOQL
  (`\\\\ \\' \\" \\n \\r \\t \\b \\f`), datetimes as UTC literals, dates, numbers, booleans,
  `null`, and lists/tuples/sets as `(a, b, c)` for `IN`;
- `{:like}`: a string matched *literally* inside `LIKE` (wildcards `%` and `_` escaped);
- `{:ident}` / `{:object}`: one API name (sObject or field), validated, never quoted-in text;
- `{:fields}`: a comma-separated list of validated API names.

There is no "raw" spec: query structure lives in the template, which is code.

`chunk_fields` splits long field lists so that a GET query URL stays within a byte budget
(Salesforce's URI limit is in objects.py).
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import quote_plus

# API names: letters, digits and underscores, starting with a letter; custom names end in
# `__c` (or `__r` for relationships), managed-package names carry one `ns__` prefix. Dots join
# relationship paths (`Account.Name`).
_NAME = r"[A-Za-z](?:[A-Za-z0-9]|_(?!_))*(?:__[A-Za-z](?:[A-Za-z0-9]|_(?!_))*)?(?:__[cr])?"
_IDENTIFIER = re.compile(rf"^{_NAME}(?:\.{_NAME})*$")

_ESCAPES = {
    "\\": "\\\\",
    "'": "\\'",
    '"': '\\"',
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
}
_ESCAPE_RE = re.compile("|".join(re.escape(k) for k in _ESCAPES))
_LIKE_RE = re.compile(r"[%_]")


class SoqlError(ValueError):
    """A value or name that cannot be put into SOQL safely."""


def identifier(name: str) -> str:
    """`name` if it is a valid API name, else `SoqlError` (names are never quoted in)."""
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        raise SoqlError(f"not a Salesforce API name: {name!r}")
    return name


def escape_string(value: str) -> str:
    """The body of a SOQL string literal for `value` (without the quotes)."""
    return _ESCAPE_RE.sub(lambda m: _ESCAPES[m.group()], value)


def format_datetime(value: datetime) -> str:
    """A UTC SOQL datetime literal with milliseconds; naive datetimes are refused."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise SoqlError(f"naive datetime {value.isoformat()} has no time zone; use UTC")
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def quote(value: Any) -> str:
    """One value as a SOQL literal."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise SoqlError(f"{value!r} has no SOQL literal")
        return repr(value)
    if isinstance(value, str):
        return f"'{escape_string(value)}'"
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        if not items:
            raise SoqlError("an IN list needs at least one value")
        if any(isinstance(v, list | tuple | set | frozenset) for v in items):
            raise SoqlError("IN lists cannot nest")
        return "(" + ", ".join(quote(v) for v in items) + ")"
    raise SoqlError(f"no SOQL literal for {type(value).__name__}")


def quote_like(value: str) -> str:
    """A string literal for `LIKE` that matches `value` literally."""
    if not isinstance(value, str):
        raise SoqlError("LIKE takes a string")
    return "'" + _LIKE_RE.sub(lambda m: "\\" + m.group(), escape_string(value)) + "'"


class _SoqlFormatter(string.Formatter):
    def format_field(self, value: Any, format_spec: str) -> str:
        match format_spec:
            case "":
                return quote(value)
            case "like":
                return quote_like(value)
            case "ident" | "object":
                return identifier(value)
            case "fields":
                if isinstance(value, str) or not isinstance(value, Iterable):
                    raise SoqlError("{:fields} takes a sequence of API names")
                names = [identifier(v) for v in value]
                if not names:
                    raise SoqlError("{:fields} needs at least one field")
                return ", ".join(names)
            case _:
                raise SoqlError(f"unknown SOQL format spec {format_spec!r}")

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        if conversion is not None:
            raise SoqlError("conversions (!r, !s) are not allowed in SOQL templates")
        return value


_FORMATTER = _SoqlFormatter()


def soql(template: str, *args: Any, **kwargs: Any) -> str:
    """Render `template`, quoting every value by its format spec (see module docstring)."""
    return _FORMATTER.format(template, *args, **kwargs)


def url_length(query: str) -> int:
    """Bytes the query adds to a GET URL (`requests` form-encodes it: spaces become `+`)."""
    return len(quote_plus(query, safe=""))


def chunk_fields(
    fields: Sequence[str],
    *,
    render: Any,
    budget: int,
    always: Sequence[str] = ("Id",),
) -> Iterator[list[str]]:
    """Split `fields` into lists whose rendered query fits `budget` URL bytes.

    Args:
        fields: every field wanted.
        render: `fields -> query text`, used to measure each candidate chunk.
        budget: URL bytes allowed for the query parameter.
        always: fields repeated in every chunk (the id, to join the chunks back).
    """
    head = [identifier(f) for f in always]
    rest = [identifier(f) for f in fields if f not in head]
    chunk = list(head)
    for name in rest:
        candidate = [*chunk, name]
        if len(chunk) > len(head) and url_length(render(candidate)) > budget:
            yield chunk
            chunk = [*head, name]
        else:
            chunk = candidate
    if url_length(render(chunk)) > budget:
        raise SoqlError("one field does not fit the URL budget; shorten the query")
    yield chunk
