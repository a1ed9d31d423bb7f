"""The API budget of one system: spent before each call, corrected from the vendor's own counts.

Rate limits are treated as a budget, not only as an error: a call waits for a permit here rather
than earning a 429 there. Two limits are kept:

- per-window token buckets (HubSpot: 190 calls / 10 s for the API at large, 5 / s for CRM
  search, which has its own lower limit). A bucket is paced at `fraction` of the published
  limit (or lower, see below) and holds a few tokens of burst, sized so that the calls spent
  in any window stretched by `margin_s` stay within the limit: the vendor counts arrivals, and
  a call delayed on its way (a TLS handshake after an idle spell) must not bring the next
  window's calls into its own. A token bucket of capacity `burst` and rate `rate` grants
  fewer than `burst + rate * T` permits in any span `T`, so the bound is
  `burst + rate * (window + margin) <= limit + 1`; for small limits (search: 5 / s) that
  caps the rate itself at `limit / (window + margin)` (4 / s), not only the burst;
- a 429 the budget did not prevent (another client of the same account spending the same
  limit, and search answers carry no headers to say so) is reported back with `penalize`:
  every thread sharing the budget holds off for the wait, and the bucket's rate halves,
  recovering over a minute, so two clients sharing a limit settle below it instead of
  trading 429s;
- a daily counter (HubSpot `X-HubSpot-RateLimit-Daily-Remaining`, Salesforce
  `Sforce-Limit-Info: api-usage=used/max`). When the remaining count reaches `daily_floor`,
  `spend` raises `DailyLimitExhausted` before the call is made: the run ends loudly instead of
  failing call by call. After `daily_recheck_s` one probing call is allowed so a long-running
  daemon notices the allocation coming back.

`observe_headers` corrects both from each response. Thread-safe: one lock guards the state,
and waiting happens outside it (a permit is reserved first, so waiters queue fairly).

Calls made inside `connectors.priority.background_calls()` (read-ahead threads) come second:
they take a permit only when one is free and no other call has reserved it, so a listing read
ahead fills the gaps between the calls someone is waiting for instead of queueing ahead of
them. Under a rate limit that keeps the budget busy while the caller computes, and lets its
writes go first.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from connectors.errors import DailyLimitExhausted
from connectors.http.headers import HeaderSource, parse_limit_headers
from connectors.priority import check_abandoned, in_background, pause
from connectors.records import System

DEFAULT_KIND = "default"
_EPSILON = 1e-9  # float slack: a permit due in 1e-16 s is due now
SEARCH_KIND = "search"
# After a 429 the bucket's rate is multiplied by this (not below _SLOWEST of its pace) and
# regains _RECOVERY of its pace per second once the hold is over: halve fast, recover slowly.
_SLOWDOWN = 0.5
_SLOWEST = 1 / 16
_RECOVERY = 1 / 60


@dataclass(frozen=True, slots=True)
class Pace:
    """A published limit of `limit` calls per `window_s` seconds, spent at `fraction` of it.

    `margin_s` is how late a call may reach the vendor relative to the next ones (latency
    jitter, a new connection's handshake) without any of the vendor's windows seeing more than
    `limit` calls.
    """

    limit: int
    window_s: float
    fraction: float = 0.9
    margin_s: float = 0.25

    def __post_init__(self) -> None:
        if (
            self.limit < 1
            or self.window_s <= 0
            or not 0 < self.fraction <= 1
            or not 0 <= self.margin_s < self.window_s
        ):
            raise ValueError(f"invalid pace {self!r}")

    @property
    def rate(self) -> float:
        """Permits per second: `fraction` of the limit, and never so many that calls spaced
        at this rate put more than `limit` in a window stretched by the margin."""
        return min(
            self.fraction * self.limit / self.window_s,
            self.limit / (self.window_s + self.margin_s),
        )

    @property
    def burst(self) -> float:
        """Bucket capacity: the headroom left under the limit, at least one call."""
        headroom = self.limit + 1 - self.rate * (self.window_s + self.margin_s)
        return max(1.0, min(self.limit - self.fraction * self.limit, headroom))


@dataclass(frozen=True, slots=True)
class BudgetSpec:
    """The limits of one system.

    Args:
        system: whose limits these are.
        buckets: per call kind, the window pace; kinds without a bucket use `default`'s if
            there is one, otherwise only count toward the daily limit.
        daily_limit: the daily allocation when known up front (else learned from headers).
        daily_floor: stop when the remaining daily count reaches this (leave room for people
            and other integrations sharing the allocation).
        daily_recheck_s: after stopping at the floor, allow one probing call after this long.
        daily_resets: when the allocation comes back, in words for the error message.
    """

    system: System | str
    buckets: Mapping[str, Pace] = field(default_factory=dict)
    daily_limit: int | None = None
    daily_floor: int = 0
    daily_recheck_s: float = 900.0
    daily_resets: str = "when the vendor's daily window resets"


def hubspot_spec(
    *,
    limit_per_10s: int = 190,
    search_per_s: int = 5,
    fraction: float = 0.9,
    daily_limit: int | None = None,
    daily_floor: int = 0,
) -> BudgetSpec:
    """HubSpot: 190 / 10 s (Professional, Enterprise; 100 for Free/Starter, 110 for marketplace
    apps), search 5 / s per account, daily 250k-1M by tier (hubspot-api.md §5, §6)."""
    return BudgetSpec(
        system=System.HUBSPOT,
        buckets={
            DEFAULT_KIND: Pace(limit_per_10s, 10.0, fraction),
            SEARCH_KIND: Pace(search_per_s, 1.0, fraction),
        },
        daily_limit=daily_limit,
        daily_floor=daily_floor,
        daily_resets="at midnight in the HubSpot account's time zone",
    )


def salesforce_spec(*, daily_limit: int | None = None, daily_floor: int = 0) -> BudgetSpec:
    """Salesforce: no short-window limit on ordinary calls, a rolling 24-hour allocation
    reported by every response's `Sforce-Limit-Info` (salesforce-api.md §3.6, §5)."""
    return BudgetSpec(
        system=System.SALESFORCE,
        daily_limit=daily_limit,
        daily_floor=daily_floor,
        daily_resets="as calls age out of Salesforce's rolling 24-hour window",
    )


class _Bucket:
    def __init__(self, pace: Pace, now: float) -> None:
        self.pace = pace
        self.tokens = pace.burst
        self.updated = now
        self.slowdown = 1.0  # share of the pace's rate, lowered by 429s (`penalize`)
        self.held_until = now  # the latest 429's hold; a slowdown recovers after it

    @property
    def rate(self) -> float:
        return self.pace.rate * self.slowdown

    def refill(self, now: float) -> None:
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(self.pace.burst, self.tokens + elapsed * self.rate)
        if self.slowdown < 1.0:
            recovering = max(0.0, now - max(self.updated, self.held_until))
            self.slowdown = min(1.0, self.slowdown + recovering * _RECOVERY)
        self.updated = max(self.updated, now)

    def reserve(self, now: float) -> float:
        """Take one permit (possibly in advance) and return how long to wait for it."""
        self.refill(now)
        self.tokens -= 1
        return 0.0 if self.tokens >= -_EPSILON else -self.tokens / self.rate

    def take_free(self, now: float) -> float:
        """Take one permit only if it is free now (nobody reserved it): 0.0 when taken, else
        how long until one could be."""
        self.refill(now)
        if self.tokens >= 1 - _EPSILON:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate

    def repace(self, pace: Pace, now: float) -> None:
        self.refill(now)
        self.pace = pace
        self.tokens = min(self.tokens, pace.burst)

    def penalize(self, wait_s: float, now: float) -> None:
        """The vendor refused a call for this limit: no permit for `wait_s`, then a slower pace.

        429s answering calls already sent when the first came back (`now` inside its hold)
        extend the hold but do not slow the pace again: one episode, one halving.
        """
        self.refill(now)
        if now >= self.held_until:
            self.slowdown = max(_SLOWEST, self.slowdown * _SLOWDOWN)
        self.held_until = max(self.held_until, now + wait_s)
        self.tokens = min(self.tokens, -wait_s * self.rate)


@dataclass(frozen=True, slots=True)
class BucketSnapshot:
    limit: int
    window_s: float
    rate: float
    capacity: float
    tokens: float


@dataclass(frozen=True, slots=True)
class BudgetSnapshot:
    """Point-in-time figures for metrics and `baton status`."""

    system: str
    buckets: Mapping[str, BucketSnapshot]
    spent: Mapping[str, int]
    waited_s: float  # calls the sync made waited this long for their permits...
    waited_ahead_s: float  # ... and background reads (read-ahead) this long for free ones
    daily_limit: int | None
    daily_remaining: int | None
    daily_floor: int


class ApiBudget:
    """One system's limiter; share one instance across every thread calling that system.

    Args:
        spec: the system's limits.
        clock: monotonic seconds; injectable for tests.
        sleep: injectable for tests; the budget never waits any other way.
    """

    def __init__(
        self,
        spec: BudgetSpec,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.spec = spec
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        now = clock()
        self._buckets = {kind: _Bucket(pace, now) for kind, pace in spec.buckets.items()}
        self._spent: dict[str, int] = {}
        self._waited = 0.0
        self._waited_ahead = 0.0
        self._daily_limit = spec.daily_limit
        self._daily_remaining: int | None = spec.daily_limit
        self._floor_reached_at: float | None = None

    def _bucket(self, kind: str) -> _Bucket | None:
        return self._buckets.get(kind) or self._buckets.get(DEFAULT_KIND)

    def spend(self, kind: str = DEFAULT_KIND) -> None:
        """Take one permit for a call of `kind`, waiting for it if the pace requires.

        Raises:
            DailyLimitExhausted: the daily remaining count is at the floor; no call is made.
        """
        if in_background():
            self._spend_free(kind)
            return
        with self._lock:
            now = self._clock()
            self._check_daily(now, kind)
            bucket = self._bucket(kind)
            wait = bucket.reserve(now) if bucket is not None else 0.0
            self._count(kind)
            self._waited += wait
        if wait > 0:
            pause(wait, self._sleep, stoppable=True)  # cut short by a stop (`retries_end_on`)

    def _spend_free(self, kind: str) -> None:
        """`spend` for a background call: wait until a permit is free, then take it (or raise
        `Abandoned` once the caller it reads for went away)."""
        while True:
            check_abandoned()
            with self._lock:
                now = self._clock()
                self._check_daily(now, kind)
                bucket = self._bucket(kind)
                wait = bucket.take_free(now) if bucket is not None else 0.0
                if wait == 0.0:
                    self._count(kind)
                    return
                self._waited_ahead += wait
            pause(wait, self._sleep)

    def _count(self, kind: str) -> None:
        self._spent[kind] = self._spent.get(kind, 0) + 1
        if self._daily_remaining is not None:
            self._daily_remaining -= 1

    def _check_daily(self, now: float, kind: str) -> None:
        remaining = self._daily_remaining
        if remaining is None or remaining > self.spec.daily_floor:
            self._floor_reached_at = None
            return
        if self._floor_reached_at is None:
            self._floor_reached_at = now
        if now - self._floor_reached_at < self.spec.daily_recheck_s:
            raise DailyLimitExhausted(
                f"daily API budget reached its floor of {self.spec.daily_floor} calls",
                limit=self._daily_limit,
                remaining=max(0, remaining),
                resets=self.spec.daily_resets,
                policy="DAILY",
                system=self.spec.system,
                operation=kind,
            )
        # Stale verdict: let one call through; its headers say whether the allocation is back.
        self._daily_remaining = None
        self._floor_reached_at = None

    def mark_daily_exhausted(self) -> None:
        """The system refused a call for its daily cap: spend nothing more until the recheck."""
        with self._lock:
            self._daily_remaining = min(self._daily_remaining or 0, self.spec.daily_floor)

    def penalize(self, kind: str, wait_s: float) -> None:
        """A call of `kind` was refused for a short-window limit (a 429 the pacing did not
        prevent: another client spends the same limit). Every caller of that limit holds off
        for `wait_s` and the pace slows (see `_Bucket.penalize`); spends nothing, so the retry
        that follows takes its own permit as usual. Kinds without a bucket change nothing."""
        with self._lock:
            bucket = self._bucket(kind)
            if bucket is not None:
                bucket.penalize(max(0.0, wait_s), self._clock())

    def observe_headers(self, headers: HeaderSource | None) -> None:
        """Correct the budget from a response's limit headers (absent headers change nothing)."""
        info = parse_limit_headers(headers)
        if info.empty:
            return
        with self._lock:
            now = self._clock()
            if info.daily_max is not None:
                self._daily_limit = info.daily_max
            if info.daily_remaining is not None:
                self._daily_remaining = info.daily_remaining
            bucket = self._buckets.get(DEFAULT_KIND)
            if bucket is None:
                return
            if info.window_max is not None and (
                info.window_max != bucket.pace.limit
                or (info.window_s is not None and info.window_s != bucket.pace.window_s)
            ):
                pace = replace(
                    bucket.pace,
                    limit=info.window_max,
                    window_s=info.window_s or bucket.pace.window_s,
                )
                bucket.repace(pace, now)
            if info.window_remaining is not None:
                # Keep the same headroom under the server's count as under the published limit;
                # calls by other clients of the same app show up here.
                bucket.refill(now)
                reserve = bucket.pace.limit - bucket.pace.fraction * bucket.pace.limit
                bucket.tokens = min(bucket.tokens, info.window_remaining - reserve)

    def snapshot(self) -> BudgetSnapshot:
        with self._lock:
            now = self._clock()
            buckets = {}
            for kind, bucket in self._buckets.items():
                bucket.refill(now)
                buckets[kind] = BucketSnapshot(
                    limit=bucket.pace.limit,
                    window_s=bucket.pace.window_s,
                    rate=bucket.rate,
                    capacity=bucket.pace.burst,
                    tokens=bucket.tokens,
                )
            return BudgetSnapshot(
                system=str(self.spec.system),
                buckets=MappingProxyType(buckets),
                spent=MappingProxyType(dict(self._spent)),
                waited_s=self._waited,
                waited_ahead_s=self._waited_ahead,
                daily_limit=self._daily_limit,
                daily_remaining=self._daily_remaining,
                daily_floor=self.spec.daily_floor,
            )
