"""A value pydantic refused, in plain words: the value given and what to give instead.

Settings (`BATON_*`) and command-line options are both checked by pydantic, whose messages
describe its validators ("Input should be greater than or equal to 1", "Value error, ...").
The value is quoted only where the check says what kind of value it is (a number, a yes or no,
one of a list), never for free text, which may be a credential.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

_BOUNDS = {
    "greater_than_equal": ("ge", "too small", "{} or more"),
    "greater_than": ("gt", "too small", "more than {}"),
    "less_than_equal": ("le", "too large", "{} or less"),
    "less_than": ("lt", "too large", "less than {}"),
}
_WHOLE = ("int_parsing", "int_from_float", "int_type")
_NUMBER = ("float_parsing", "float_type", "finite_number")


def plain_error(error: Any) -> str:
    """One of pydantic's `ValidationError.errors()`, as `0 is too small; give 1 or more`."""
    kind, given, ctx = error.get("type"), error.get("input"), error.get("ctx") or {}
    if kind in _BOUNDS and _BOUNDS[kind][0] in ctx:
        key, what, fix = _BOUNDS[kind]
        return f"{_shown(given)} is {what}; give {fix.format(_shown(ctx[key]))}"
    if kind in _WHOLE:
        return f"{_shown(given)} is not a whole number"
    if kind in _NUMBER:
        return f"{_shown(given)} is not a number"
    if kind == "bool_parsing":
        return f"{_shown(given)} is not a yes or no (true/false, yes/no, on/off, 1/0)"
    if kind in ("literal_error", "enum") and "expected" in ctx:
        return f"{_shown(given)} is not one of {ctx['expected']}"
    if kind == "value_error" and isinstance(ctx.get("error"), Exception):
        return _sentence(str(ctx["error"]))
    message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    if message.startswith("Input "):
        message = "the value " + message.removeprefix("Input ")
    return _sentence(message)


def first_setting_error(exc: ValidationError, prefix: str) -> tuple[str | None, str]:
    """A settings model's first error: the environment variable it names (`prefix` and the
    field's name; None when the error is the model's own, of no one field) and its fix."""
    first = exc.errors()[0]
    location = [str(part) for part in first.get("loc", ()) if part]
    return (prefix + location[0].upper() if location else None), plain_error(first)


def _shown(given: object) -> str:
    """A number as typed (a bound of 0.0 as 0), anything else quoted."""
    if isinstance(given, float) and given.is_integer():
        return str(int(given))
    try:
        float(str(given))
    except ValueError:
        return repr(given)
    return str(given)


def _sentence(text: str) -> str:
    """`text` as a clause the line goes on after: no trailing full stop."""
    return text.strip().removesuffix(".")
