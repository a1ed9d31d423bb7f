"""HubSpot's rate limits: a rolling 10-second burst per app, a daily quota, and search's own
per-second.

The burst applies per app, the daily quota to the account (all apps); hubspot-api.md §6. The
portal has two apps: the private app (its token) and the OAuth app (every token its OAuth
endpoint issued), a marketplace app limited to 110 / 10 s by default. Search requests spend
the search window (per account) and the daily quota and carry no rate-limit headers; every
other API request spends its app's burst window and the daily quota and carries the headers.
"""

from __future__ import annotations

import uuid
from typing import Any

from starlette.responses import Response

from sandbox.hubspot.errors import correlation_id, json_response
from sandbox.hubspot.options import HubSpotOptions
from sandbox.shared.clock import Clock
from sandbox.shared.ratelimit import DailyQuota, RollingWindow

INTERVAL_MS = 10_000
SEARCH_MESSAGE = "You have reached your secondly limit."


def ten_secondly_body() -> dict[str, Any]:
    return {
        "status": "error",
        "message": "You have reached your ten_secondly_rolling limit.",
        "errorType": "RATE_LIMIT",
        "correlationId": correlation_id(),
        "policyName": "TEN_SECONDLY_ROLLING",
        "requestId": str(uuid.uuid4()),
    }


def daily_body() -> dict[str, Any]:
    return {
        "status": "error",
        "message": "You have reached your daily limit.",
        "errorType": "RATE_LIMIT",
        "correlationId": correlation_id(),
        "policyName": "DAILY",
        "requestId": str(uuid.uuid4()),
    }


def search_body() -> dict[str, Any]:
    return {
        "status": "error",
        "message": SEARCH_MESSAGE,
        "errorType": "RATE_LIMIT",
        "correlationId": correlation_id(),
        "policyName": "SECONDLY",
        "requestId": str(uuid.uuid4()),
    }


class HubSpotLimits:
    """Implements the admin `LimitControls` protocol; `enabled` comes from the options."""

    def __init__(self, options: HubSpotOptions, clock: Clock) -> None:
        self.enabled = options.rate_limits
        self.burst = RollingWindow(limit=options.ten_second_limit, window_s=10.0, clock=clock)
        self.oauth_burst = RollingWindow(
            limit=options.oauth_ten_second_limit, window_s=10.0, clock=clock
        )
        self.search = RollingWindow(limit=options.search_per_second, window_s=1.0, clock=clock)
        self.daily = DailyQuota(limit=options.daily_limit, clock=clock)

    def window(self, *, oauth: bool) -> RollingWindow:
        """The burst window of the app a request comes from."""
        return self.oauth_burst if oauth else self.burst

    def admit(self, *, search: bool, oauth: bool = False) -> Response | None:
        """None when the request may proceed, else the 429 HubSpot would send."""
        if not self.enabled:
            return None
        if search:
            if self.daily.remaining <= 0:
                return json_response(daily_body(), 429)
            if not self.search.try_acquire():
                return json_response(search_body(), 429)
            self.daily.try_acquire()
            return None
        if self.daily.remaining <= 0:
            return json_response(daily_body(), 429, self.headers(oauth=oauth))
        if not self.window(oauth=oauth).try_acquire():
            return json_response(ten_secondly_body(), 429, self.headers(oauth=oauth))
        self.daily.try_acquire()
        return None

    def headers(self, *, oauth: bool) -> dict[str, str]:
        burst = self.window(oauth=oauth)
        headers = {
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(INTERVAL_MS),
            "X-HubSpot-RateLimit-Max": str(burst.limit),
            "X-HubSpot-RateLimit-Remaining": str(burst.remaining),
            "X-HubSpot-RateLimit-Secondly": str(burst.limit // 10),
            "X-HubSpot-RateLimit-Secondly-Remaining": str(min(burst.remaining, burst.limit // 10)),
        }
        if not oauth:  # HubSpot omits the daily pair on OAuth-authorised calls
            headers["X-HubSpot-RateLimit-Daily"] = str(self.daily.limit)
            headers["X-HubSpot-RateLimit-Daily-Remaining"] = str(self.daily.remaining)
        return headers

    def set_daily_remaining(self, remaining: int) -> None:
        self.daily.set_remaining(remaining)

    def snapshot(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "ten_second_limit": self.burst.limit,
            "ten_second_remaining": self.burst.remaining,
            "oauth_ten_second_limit": self.oauth_burst.limit,
            "oauth_ten_second_remaining": self.oauth_burst.remaining,
            "search_per_second": self.search.limit,
            "search_remaining": self.search.remaining,
            "daily_limit": self.daily.limit,
            "daily_remaining": self.daily.remaining,
        }

    def reset(self) -> None:
        self.burst.reset()
        self.oauth_burst.reset()
        self.search.reset()
        self.daily.reset()
