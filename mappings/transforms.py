"""Named value transforms between a system's wire values and canonical values.

Each transform has a `read` (system value -> canonical) and a `write` (canonical -> system
value) side; both are pure and return a `Result` whose warnings say what could not be kept as
typed (a junk phone, an unknown reason, a truncated title). Nothing is changed silently.
Field maps name transforms; `picklist:<name>` names a table from the dictionary.

HubSpot sends every property as a string ("42", "true", "1700000000000"); Salesforce sends JSON
scalars and wants them back typed, so `write` looks at the target system.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cache
from typing import NamedTuple

from connectors.records import System
from mappings import places

Value = str | int | float | bool | datetime | None
PICKLIST_PREFIX = "picklist:"
NO_WARNINGS: tuple[str, ...] = ()
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # HubSpot's datetimes count milliseconds from here
_MILLISECOND = timedelta(milliseconds=1)


class Result(NamedTuple):
    """A transformed value and what could not be kept as typed. (A named tuple: transforms
    make one for nearly every field read, and a tuple is made in a third of the time.)"""

    value: Value
    warnings: tuple[str, ...] = NO_WARNINGS


@dataclass(frozen=True, slots=True)
class Table:
    """A two-way value table for one system; `None` in a context means identity (canonical)."""

    read: Mapping[str, str]
    write: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Context:
    """What a transform may know besides the value: the system and the dictionary's tables,
    and for a read that depends on it (`Transform.placed`) the record's country, as the
    `country` transform reads it (None: blank or not mapped)."""

    system: System
    tables: Mapping[str, Table | None] = field(default_factory=dict)
    country: str | None = None


ReadFn = Callable[[Value, Context], Result]
WriteFn = Callable[[Value, Context], Result]


@dataclass(frozen=True, slots=True)
class Transform:
    name: str
    read: ReadFn
    write: WriteFn
    doc: str
    placed: bool = False  # its read needs `Context.country` (a state code names no state alone)


def _blank(value: Value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


NOTHING = Result(None)  # shared: blank in, blank out (the hot path of every mapping)


# -- text -------------------------------------------------------------------------------------


def _text(value: Value) -> str | None:
    if value is None:
        return None
    text = value.strip() if isinstance(value, str) else str(value).strip()
    return text or None


def _email(value: Value) -> str | None:
    text = _text(value)
    return text.lower() if text is not None else None


def normalise_email(value: str) -> str | None:
    """An address as the `email` transform reads it (trimmed, lower-cased; None when blank):
    what people are matched on, for addresses read outside a field map (`SourceRecord`'s
    `other_emails`)."""
    return _email(value)


def _text_read(value: Value, ctx: Context) -> Result:
    text = _text(value)
    return Result(text) if text is not None else NOTHING


def _email_read(value: Value, ctx: Context) -> Result:
    text = _email(value)
    return Result(text) if text is not None else NOTHING


# -- phone ------------------------------------------------------------------------------------

_PHONE_JUNK = re.compile(r"[\s().\-/]")
_EXTENSION = re.compile(r"\s*(?:x|ext\.?|#)\s*\d+$", re.IGNORECASE)


def normalise_phone(raw: str) -> str | None:
    """E.164 (`+<country><number>`) when the digits allow it, else None."""
    text = raw.strip()
    if "x" in text or "X" in text or "#" in text:  # the only ways an extension starts
        text = _EXTENSION.sub("", text)
    # Digits after any plus signs hold nothing `_PHONE_JUNK` removes (an E.164 value as read).
    compact = text if text.lstrip("+").isdigit() else _PHONE_JUNK.sub("", text)
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    plus = compact.startswith("+")
    digits = compact[1:] if plus else compact
    if not (digits.isascii() and digits.isdigit()):  # E.164 digits are ASCII (not "²", "٣")
        return None
    if plus:
        return f"+{digits}" if 8 <= len(digits) <= 15 else None
    if len(digits) == 10 and digits[0] not in "01":  # North American number without +1
        return f"+1{digits}"
    if len(digits) == 11 and digits[0] == "1":
        return f"+{digits}"
    return None


def _phone(value: Value, ctx: Context) -> Result:
    if _blank(value):
        return Result(None)
    text = str(value).strip()
    formatted = normalise_phone(text)
    if formatted is None:
        return Result(text, (f"phone '{text}' is not a recognisable number; kept as typed",))
    return Result(formatted)


# -- places -----------------------------------------------------------------------------------


def _country(value: Value, ctx: Context) -> Result:
    if _blank(value):
        return Result(None)
    text = str(value).strip()
    name = places.country_name(text)
    if name is None:
        return Result(text, (f"country '{text}' is not a known country name; kept as typed",))
    return Result(name)


def _state_read(value: Value, ctx: Context) -> Result:
    if _blank(value):
        return Result(None)
    text = str(value).strip()
    country = ctx.country if isinstance(ctx.country, str) else None
    return Result(places.state_name(text, country) or text)


# -- HubSpot's string-typed scalars ------------------------------------------------------------


def _exact_number(value: str | float) -> int | Decimal | None:
    """The number `value` says, every digit kept (a float keeps 17), or None if it says none."""
    if isinstance(value, float):
        number = Decimal(value)  # Salesforce's JSON numbers: a binary float, exactly
    else:
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            pass
        try:
            number = Decimal(text)
        except InvalidOperation:
            return None
    return number if number.is_finite() else None  # not nan, not inf


#: Read through a float, a number past ~1.8e308 was infinite, so dropped: that bound stays (as a
#: power of ten). No vendor's field holds more, and "1e999999" made whole is a million digits.
_TOO_LARGE = 10**309


def _integer_read(value: Value, ctx: Context) -> Result:
    if _blank(value):
        return Result(None)
    if isinstance(value, bool | datetime) or value is None:
        return Result(None, (f"'{value}' is not a number; dropped",))
    if isinstance(value, int):
        return Result(value)
    number = _exact_number(value)
    if number is None or not -_TOO_LARGE < number < _TOO_LARGE:
        return Result(None, (f"'{value}' is not a number; dropped",))
    if isinstance(number, int):
        return Result(number)
    whole = int(number.to_integral_value(rounding=ROUND_HALF_UP))  # 81.5 -> 82, as people do
    if whole != number:
        return Result(whole, (f"'{value}' rounded to {whole}",))
    return Result(whole)


def _number_read(value: Value, ctx: Context) -> Result:
    if _blank(value):
        return Result(None)
    if isinstance(value, bool | datetime) or value is None:
        return Result(None, (f"'{value}' is not a number; dropped",))
    try:
        number = float(value.strip()) if isinstance(value, str) else float(value)
    except ValueError:
        return Result(None, (f"'{value}' is not a number; dropped",))
    if number != number or number in (float("inf"), float("-inf")):
        return Result(None, (f"'{value}' is not a number; dropped",))
    return Result(number)


def _number_write(value: Value, ctx: Context) -> Result:
    if value is None:
        return Result(None)
    if ctx.system is System.HUBSPOT:
        if isinstance(value, float) and value.is_integer():
            return Result(str(int(value)))
        return Result(str(value))
    return Result(value)


_TRUE = frozenset({"true", "yes", "1", "y", "on"})
_FALSE = frozenset({"false", "no", "0", "n", "off"})


def _boolean_read(value: Value, ctx: Context) -> Result:
    if _blank(value):
        return Result(None)
    if isinstance(value, bool):
        return Result(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return Result(True)
    if text in _FALSE:
        return Result(False)
    return Result(None, (f"'{value}' is not true or false; dropped",))


def _boolean_write(value: Value, ctx: Context) -> Result:
    if value is None:
        return Result(None)
    if ctx.system is System.HUBSPOT:
        return Result("true" if value else "false")
    return Result(bool(value))


def parse_datetime(value: Value) -> datetime | None:
    """HubSpot ms-epoch strings, ISO 8601 (Z, +00:00 or Salesforce's +0000) -> aware UTC;
    None for what is no moment Python can hold (junk, nan, past year 9999), never an error."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, bool) or value is None:
        return None
    try:
        return _moment(value)
    except (ValueError, OverflowError):  # "nan", "²", 20 digits, "0001-01-01T00:00+01:00"
        return None


def _moment(value: str | int | float) -> datetime:
    if isinstance(value, int | float):
        return _EPOCH + timedelta(milliseconds=value)
    text = value.strip()
    if text.lstrip("-").isdigit():  # exact: through a float, far dates came out a few µs off
        return _EPOCH + timedelta(milliseconds=int(text))
    if re.fullmatch(r".*[+-]\d{4}", text):
        text = f"{text[:-2]}:{text[-2:]}"
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _datetime_read(value: Value, ctx: Context) -> Result:
    if _blank(value):
        return Result(None)
    parsed = parse_datetime(value)
    if parsed is None:
        return Result(None, (f"'{value}' is not a date and time; dropped",))
    return Result(parsed)


def _ms(moment: datetime) -> str:
    """Milliseconds since the epoch, counted in integers: `int(timestamp() * 1000)` lost one
    for some values (2177054085101 read, 2177054085100 written back)."""
    return str((moment - _EPOCH) // _MILLISECOND)


def _datetime_write(value: Value, ctx: Context) -> Result:
    if value is None:
        return Result(None)
    if not isinstance(value, datetime):
        return Result(None, (f"'{value}' is not a date and time; not written",))
    moment = value.astimezone(UTC)
    if ctx.system is System.HUBSPOT:
        return Result(_ms(moment))
    return Result(moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000")


def _date_read(value: Value, ctx: Context) -> Result:
    result = _datetime_read(value, ctx)
    if isinstance(result.value, datetime):
        day = result.value.date()
        return Result(datetime.combine(day, time(), tzinfo=UTC), result.warnings)
    return result


def _date_write(value: Value, ctx: Context) -> Result:
    if value is None:
        return Result(None)
    if not isinstance(value, datetime):
        return Result(None, (f"'{value}' is not a date; not written",))
    day: date = value.astimezone(UTC).date()
    if ctx.system is System.HUBSPOT:
        return Result(_ms(datetime.combine(day, time(), tzinfo=UTC)))
    return Result(day.isoformat())


# -- tables (owners, reasons, picklists) ------------------------------------------------------


def _table_transform(name: str, what: str) -> Transform:
    def read(value: Value, ctx: Context) -> Result:
        if _blank(value):
            return Result(None)
        text = str(value).strip()
        table = ctx.tables.get(name)
        if table is None:
            return Result(text)
        found = table.read.get(text)
        if found is None:
            return Result(None, (f"{what} '{text}' from {ctx.system} is not in the dictionary",))
        return Result(found)

    def write(value: Value, ctx: Context) -> Result:
        if value is None:
            return Result(None)
        text = str(value)
        table = ctx.tables.get(name)
        if table is None:
            return Result(text)
        found = table.write.get(text)
        if found is None:
            return Result(None, (f"{what} '{text}' has no {ctx.system} value; not written",))
        return Result(found)

    return Transform(name, read, write, f"{what}: translated through the dictionary's table")


#: Reads that never warn, as plain functions of the value: what `Mapper.to_person` calls
#: instead, sparing a `Result` per field of every record read.
QUIET_READS: Mapping[ReadFn, Callable[[Value], Value]] = {
    _text_read: _text,
    _email_read: _email,
}


def same(value: Value, ctx: Context) -> Result:
    """The identity transform side (text is written as read); compiled chains skip it."""
    return Result(value)


def _registry() -> dict[str, Transform]:
    entries = (
        Transform("text", _text_read, same, "trims spaces; blank means no value"),
        Transform("email", _email_read, _email_read, "trims and lower-cases the address"),
        Transform("phone", _phone, _phone, "E.164 when the digits allow, else kept and flagged"),
        Transform("country", _country, _country, "country names as Salesforce's picklist spells"),
        Transform(
            "state",
            _state_read,
            _text_read,  # read already spelled it for its country: a code kept stays one
            "US, Canadian, Australian codes -> full names, in the person's country",
            placed=True,
        ),
        Transform("integer", _integer_read, _number_write, "HubSpot's number strings <-> int"),
        Transform("number", _number_read, _number_write, "HubSpot's number strings <-> float"),
        Transform("boolean", _boolean_read, _boolean_write, "'true'/'false' <-> bool"),
        Transform("datetime", _datetime_read, _datetime_write, "ms epoch or ISO <-> UTC time"),
        Transform("date", _date_read, _date_write, "a calendar day (midnight UTC)"),
        _table_transform("owner", "owner"),
        _table_transform("reason", "rejection reason"),
    )
    return {t.name: t for t in entries}


@cache
def registry() -> Mapping[str, Transform]:
    """Every named transform, built on first use (never at import time)."""
    return _registry()


def transform_names() -> frozenset[str]:
    return frozenset(registry())


def get(name: str) -> Transform:
    """The transform called `name`; `picklist:<table>` builds one over that dictionary table."""
    if name.startswith(PICKLIST_PREFIX):
        return _table_transform(name, "picklist value")
    return registry()[name]


def truncate(value: Value, limit: int | None, *, label: str) -> Result:
    """Cut text to `limit` characters, saying so; Salesforce would reject it otherwise.

    Characters are counted as Salesforce counts them, in UTF-16 units (Java's strings): one
    outside the Basic Multilingual Plane (an emoji) is two, and is kept whole or left out."""
    if limit is None or not isinstance(value, str) or 2 * len(value) <= limit:
        return Result(value)  # the common case, decided without encoding
    units = len(value.encode("utf-16-le", "surrogatepass")) // 2
    if units <= limit:
        return Result(value)
    cut = value[:limit]
    pairs = sum(ch > "\uffff" for ch in cut)
    while len(cut) + pairs > limit:  # the last characters out, each whole
        pairs -= cut[-1] > "\uffff"
        cut = cut[:-1]
    counted = f" ({units} as Salesforce counts them)" if units != len(value) else ""
    return Result(
        cut, (f"{label}: {len(value)} characters{counted} truncated to the limit of {limit}",)
    )
