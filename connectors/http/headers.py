"""Parsers for the response headers that carry limits and waits.

Shared by the classifier (to word a daily-cap error and honour `Retry-After`) and the budget (to
correct itself from the vendors' own counts). Header names are the vendors' documented ones:
HubSpot `X-HubSpot-RateLimit-*` (hubspot-api.md §6) and Salesforce `Sforce-Limit-Info`
(salesforce-api.md §3.6).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

HeaderSource = Mapping[str, str] | Iterable[tuple[str, str]]

RETRY_AFTER = "retry-after"
HUBSPOT_MAX = "x-hubspot-ratelimit-max"
HUBSPOT_REMAINING = "x-hubspot-ratelimit-remaining"
HUBSPOT_INTERVAL_MS = "x-hubspot-ratelimit-interval-milliseconds"
HUBSPOT_DAILY = "x-hubspot-ratelimit-daily"
HUBSPOT_DAILY_REMAINING = "x-hubspot-ratelimit-daily-remaining"
SFORCE_LIMIT_INFO = "sforce-limit-info"

_API_USAGE = re.compile(r"(?:^|[;\s])api-usage=(\d+)/(\d+)")


def lower_headers(headers: HeaderSource | None) -> dict[str, str]:
    """Headers with lower-case names, from any mapping (httpx, requests, urllib3) or pair list."""
    if headers is None:
        return {}
    items = headers.items() if isinstance(headers, Mapping) else headers
    return {str(k).lower(): str(v) for k, v in items}


def parse_retry_after(value: str | None, *, now: Callable[[], float]) -> float | None:
    """Seconds to wait from a `Retry-After` value: delta-seconds or an HTTP-date (RFC 9110).

    Returns None when absent or unparsable; never negative.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - now())


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class LimitInfo:
    """What one response said about the limits; None where the response said nothing."""

    window_max: int | None = None
    window_remaining: int | None = None
    window_s: float | None = None
    daily_max: int | None = None
    daily_remaining: int | None = None

    @property
    def empty(self) -> bool:
        return all(
            v is None
            for v in (
                self.window_max,
                self.window_remaining,
                self.window_s,
                self.daily_max,
                self.daily_remaining,
            )
        )


def parse_limit_headers(headers: HeaderSource | None) -> LimitInfo:
    """Read HubSpot rate-limit headers and Salesforce `Sforce-Limit-Info: api-usage=used/max`.

    HubSpot search responses carry none of these, and OAuth calls carry no daily pair; absent
    headers leave fields None rather than guessing.
    """
    h = lower_headers(headers)
    daily_max = _int(h.get(HUBSPOT_DAILY))
    daily_remaining = _int(h.get(HUBSPOT_DAILY_REMAINING))
    usage = _API_USAGE.search(h.get(SFORCE_LIMIT_INFO, ""))
    if usage:
        used, limit = int(usage.group(1)), int(usage.group(2))
        daily_max, daily_remaining = limit, max(0, limit - used)
    interval_ms = _int(h.get(HUBSPOT_INTERVAL_MS))
    return LimitInfo(
        window_max=_int(h.get(HUBSPOT_MAX)),
        window_remaining=_int(h.get(HUBSPOT_REMAINING)),
        window_s=interval_ms / 1000 if interval_ms else None,
        daily_max=daily_max,
        daily_remaining=daily_remaining,
    )
