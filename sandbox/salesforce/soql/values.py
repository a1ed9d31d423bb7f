"""SOQL literal values converted to the sandbox's storage forms (and Salesforce id checksums)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone

_ID = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")
_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_OFFSET = re.compile(r"(Z|([+-])(\d{2}):?(\d{2}))$")


def to_18_char_id(value: str) -> str | None:
    """Salesforce's 15→18 character id expansion; None when `value` is not an id at all."""
    if not _ID.fullmatch(value):
        return None
    if len(value) == 18:
        return value
    suffix = ""
    for chunk in (value[0:5], value[5:10], value[10:15]):
        bits = sum(1 << i for i, ch in enumerate(chunk) if "A" <= ch <= "Z")
        suffix += _SUFFIX_ALPHABET[bits]
    return value + suffix


def storage_datetime(moment: datetime) -> str:
    """`YYYY-MM-DDTHH:MM:SS.sss+0000`, the sortable UTC text the store keeps."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+0000"


def parse_datetime_literal(text: str) -> datetime:
    """Parse `2024-01-31T10:00:00Z`, `...00.000Z`, `...+01:00`, `...-0800`; ValueError if bad."""
    match = _OFFSET.search(text)
    if match is None:
        raise ValueError(text)
    if match.group(1) == "Z":
        tz = UTC
    else:
        sign = -1 if match.group(2) == "-" else 1
        hours, minutes = int(match.group(3)), int(match.group(4))
        if hours > 23 or minutes > 59:
            raise ValueError(text)
        tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
    naive = datetime.fromisoformat(text[: match.start()])
    return naive.replace(tzinfo=tz)


def parse_date_literal(text: str) -> date:
    return date.fromisoformat(text)


def day_range(name: str, n: int | None, today: date) -> tuple[date, date]:
    """Half-open [start, end) day range of a relative date literal, as Salesforce defines them."""
    one = timedelta(days=1)
    if name == "TODAY":
        return today, today + one
    if name == "YESTERDAY":
        return today - one, today
    if name == "TOMORROW":
        return today + one, today + 2 * one
    assert n is not None
    if name == "LAST_N_DAYS":  # includes today and the n days before it
        return today - n * one, today + one
    if name == "NEXT_N_DAYS":  # starts tomorrow, n days long
        return today + one, today + (n + 1) * one
    raise ValueError(name)
