"""HubSpot's time formats: ISO-8601 UTC with milliseconds for output; ISO or ms epochs in."""

from __future__ import annotations

import re
from datetime import UTC, datetime


def iso(ms: int) -> str:
    """`2019-10-30T03:30:17.883Z`."""
    stamp = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def parse_ms(value: str) -> int | None:
    """Milliseconds since the epoch from `1579514400000`, `2020-01-20`, or an ISO datetime."""
    text = value.strip()
    if not text:
        return None
    if re.fullmatch(r"-?[0-9]{1,15}", text):
        return int(text)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)
