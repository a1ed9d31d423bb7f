"""Fault injection: which fault, if any, the next API request (or record) should suffer.

Faults are drawn by rate (with a seeded generator, so runs repeat) or queued by count ("the
next 5 requests get 429"), optionally only for paths under a prefix. Each imitation renders a
drawn fault in its own vendor's words. Most faults refuse a whole request; a Salesforce row
lock refuses single records inside an sObject Collections answer, so the collections handler
draws it per record (`draw_row_lock`), never the middleware.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Fault(StrEnum):
    RATE_LIMIT = "rate_limit"
    SERVER_ERROR = "server_error"
    SLOW = "slow"
    EXPIRED_SESSION = "expired_session"
    LOCKED = "locked"  # HubSpot only: 423 Locked (a high-volume write lock, 2 s)
    ROW_LOCK = "row_lock"  # Salesforce only: one collections record refused UNABLE_TO_LOCK_ROW


COMMON_FAULTS = frozenset({Fault.RATE_LIMIT, Fault.SERVER_ERROR, Fault.SLOW, Fault.EXPIRED_SESSION})
# Drawn per request, in this order (a queued count first, then the rates).
_REQUEST_FAULTS = (
    Fault.EXPIRED_SESSION,
    Fault.RATE_LIMIT,
    Fault.LOCKED,
    Fault.SERVER_ERROR,
    Fault.SLOW,
)


class FaultPlan(BaseModel):
    """The body of `PUT /_sandbox/faults`: rates in [0, 1], counts, and a slow-response delay.

    `row_lock_rate` and `next_row_lock` count records of sObject Collections writes, not
    requests: the records drawn are refused, the others in the same call are written.
    A key it does not know is refused: a misspelt one would otherwise inject nothing, silently.
    """

    model_config = ConfigDict(extra="forbid")

    rate_limit_rate: float = Field(0.0, ge=0, le=1)
    server_error_rate: float = Field(0.0, ge=0, le=1)
    slow_rate: float = Field(0.0, ge=0, le=1)
    expired_session_rate: float = Field(0.0, ge=0, le=1)
    locked_rate: float = Field(0.0, ge=0, le=1)
    row_lock_rate: float = Field(0.0, ge=0, le=1)
    next_rate_limit: int = Field(0, ge=0)
    next_server_error: int = Field(0, ge=0)
    next_slow: int = Field(0, ge=0)
    next_expired_session: int = Field(0, ge=0)
    next_locked: int = Field(0, ge=0)
    next_row_lock: int = Field(0, ge=0)
    slow_seconds: float = Field(2.0, ge=0, le=120)
    server_error_status: int = Field(503, ge=500, le=599)
    path_prefix: str | None = None


class UnsupportedFault(ValueError):
    """A plan asks for a fault the imitation's vendor never produces."""


class UnknownPlanKey(ValueError):
    """A plan names a key `FaultPlan` does not have (a typo would otherwise inject nothing)."""


def parse_plan(body: Mapping[str, Any]) -> FaultPlan:
    """The plan in `body`; `UnknownPlanKey` names any key it does not know, and the known ones.

    Values out of range still raise pydantic's `ValidationError`.
    """
    unknown = sorted(set(body) - FaultPlan.model_fields.keys())
    if unknown:
        raise UnknownPlanKey(
            f"unknown fault plan key(s): {', '.join(unknown)}; "
            f"the known keys are {', '.join(FaultPlan.model_fields)}"
        )
    return FaultPlan.model_validate(body)


class FaultInjector:
    """Draws faults from the configured plan.

    Args:
        seed: for the rate draws, so runs repeat.
        vendor_faults: the faults beyond `COMMON_FAULTS` this imitation can render; a plan
            asking for any other is refused (`UnsupportedFault`) rather than silently ignored.
    """

    def __init__(self, seed: int = 0, *, vendor_faults: Iterable[Fault] = ()) -> None:
        self.plan = FaultPlan()
        self.kinds = COMMON_FAULTS | frozenset(vendor_faults)
        self._random = random.Random(seed)
        self.injected: dict[str, int] = {}

    def configure(self, plan: FaultPlan) -> None:
        for fault in Fault:
            if fault not in self.kinds and _asks_for(plan, fault):
                offered = ", ".join(sorted(self.kinds))
                raise UnsupportedFault(
                    f"{fault}_rate / next_{fault}: this imitation never produces a {fault} "
                    f"fault; it produces {offered}"
                )
        self.plan = plan.model_copy()

    def clear(self) -> None:
        self.plan = FaultPlan()

    def draw(self, path: str) -> Fault | None:
        """The fault the request to `path` suffers, if any (never a row lock)."""
        if not self._applies(path):
            return None
        fault = self._from_counts() or self._from_rates()
        if fault is not None:
            self._count(fault)
        return fault

    def draw_row_lock(self, path: str) -> bool:
        """Whether the next record of a collections write to `path` is refused for a row lock."""
        if Fault.ROW_LOCK not in self.kinds or not self._applies(path):
            return False
        plan = self.plan
        if plan.next_row_lock > 0:
            plan.next_row_lock -= 1
        elif not (plan.row_lock_rate and self._random.random() < plan.row_lock_rate):
            return False
        self._count(Fault.ROW_LOCK)
        return True

    def _applies(self, path: str) -> bool:
        prefix = self.plan.path_prefix
        return not prefix or path.startswith(prefix)

    def _count(self, fault: Fault) -> None:
        self.injected[fault] = self.injected.get(fault, 0) + 1

    def _from_counts(self) -> Fault | None:
        plan = self.plan
        for fault in _REQUEST_FAULTS:
            left = getattr(plan, f"next_{fault}")
            if left > 0:
                setattr(plan, f"next_{fault}", left - 1)
                return fault
        return None

    def _from_rates(self) -> Fault | None:
        plan = self.plan
        for fault in _REQUEST_FAULTS:
            rate = getattr(plan, f"{fault}_rate")
            if rate and self._random.random() < rate:
                return fault
        return None


def _asks_for(plan: FaultPlan, fault: Fault) -> bool:
    return bool(getattr(plan, f"{fault}_rate") or getattr(plan, f"next_{fault}"))
