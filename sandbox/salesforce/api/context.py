"""What every REST handler needs: storage, the org's record operations, clock, limits, faults."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sandbox.salesforce.errors import SalesforceError
from sandbox.salesforce.records import Org
from sandbox.salesforce.store import Store
from sandbox.shared.clock import Clock
from sandbox.shared.faults import FaultInjector
from sandbox.shared.ratelimit import RollingQuota
from sandbox.shared.stats import Stats

DAILY_LIMIT_MESSAGE = "TotalRequests Limit exceeded."


class ApiLimits:
    """The org's daily API allocation, over a rolling 24 hours as Salesforce counts it
    (`LimitControls` for the shared admin routes).

    Requests are counted even when `enabled` is off, so `Sforce-Limit-Info` stays truthful;
    only refusing is switched off.
    """

    def __init__(self, *, enabled: bool, daily_limit: int, clock: Clock) -> None:
        self.enabled = enabled
        self.quota = RollingQuota(limit=daily_limit, clock=clock)

    @property
    def used(self) -> int:
        return self.quota.used

    @property
    def max(self) -> int:
        return self.quota.limit

    def consume(self) -> None:
        if self.enabled:
            if not self.quota.try_acquire():
                raise SalesforceError(403, "REQUEST_LIMIT_EXCEEDED", DAILY_LIMIT_MESSAGE)
        else:
            self.quota.count()

    def set_daily_remaining(self, remaining: int) -> None:
        self.quota.set_remaining(remaining)

    def snapshot(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "daily_limit": self.quota.limit,
            "daily_used": self.quota.used,
            "daily_remaining": self.quota.remaining,
        }

    def reset(self) -> None:
        self.quota.reset()


@dataclass
class Context:
    store: Store
    org: Org
    clock: Clock
    stats: Stats
    limits: ApiLimits
    org_id: str
    started_at: float  # sandbox-clock seconds when this org came up (delete-log horizon)
    faults: FaultInjector  # per-record faults (row locks) drawn inside handlers
