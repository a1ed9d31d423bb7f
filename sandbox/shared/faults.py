"""Fault injection: which fault, if any, the next API request should suffer.

Faults are drawn by rate (with a seeded generator, so runs repeat) or queued by count ("the
next 5 requests get 429"), optionally only for paths under a prefix. Each imitation renders a
drawn fault in its own vendor's words.
"""

from __future__ import annotations

import random
from enum import StrEnum

from pydantic import BaseModel, Field


class Fault(StrEnum):
    RATE_LIMIT = "rate_limit"
    SERVER_ERROR = "server_error"
    SLOW = "slow"
    EXPIRED_SESSION = "expired_session"


class FaultPlan(BaseModel):
    """The body of `PUT /_sandbox/faults`: rates in [0, 1], counts, and a slow-response delay."""

    rate_limit_rate: float = Field(0.0, ge=0, le=1)
    server_error_rate: float = Field(0.0, ge=0, le=1)
    slow_rate: float = Field(0.0, ge=0, le=1)
    expired_session_rate: float = Field(0.0, ge=0, le=1)
    next_rate_limit: int = Field(0, ge=0)
    next_server_error: int = Field(0, ge=0)
    next_slow: int = Field(0, ge=0)
    next_expired_session: int = Field(0, ge=0)
    slow_seconds: float = Field(2.0, ge=0, le=120)
    server_error_status: int = Field(503, ge=500, le=599)
    path_prefix: str | None = None


class FaultInjector:
    def __init__(self, seed: int = 0) -> None:
        self.plan = FaultPlan()
        self._random = random.Random(seed)
        self.injected: dict[str, int] = {}

    def configure(self, plan: FaultPlan) -> None:
        self.plan = plan.model_copy()

    def clear(self) -> None:
        self.plan = FaultPlan()

    def draw(self, path: str) -> Fault | None:
        plan = self.plan
        if plan.path_prefix and not path.startswith(plan.path_prefix):
            return None
        fault = self._from_counts() or self._from_rates()
        if fault is not None:
            self.injected[fault] = self.injected.get(fault, 0) + 1
        return fault

    def _from_counts(self) -> Fault | None:
        plan = self.plan
        for attr, fault in (
            ("next_expired_session", Fault.EXPIRED_SESSION),
            ("next_rate_limit", Fault.RATE_LIMIT),
            ("next_server_error", Fault.SERVER_ERROR),
            ("next_slow", Fault.SLOW),
        ):
            left = getattr(plan, attr)
            if left > 0:
                setattr(plan, attr, left - 1)
                return fault
        return None

    def _from_rates(self) -> Fault | None:
        plan = self.plan
        for rate, fault in (
            (plan.expired_session_rate, Fault.EXPIRED_SESSION),
            (plan.rate_limit_rate, Fault.RATE_LIMIT),
            (plan.server_error_rate, Fault.SERVER_ERROR),
            (plan.slow_rate, Fault.SLOW),
        ):
            if rate and self._random.random() < rate:
                return fault
        return None
