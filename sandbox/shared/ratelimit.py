"""Rate-limit primitives: a rolling window and a daily quota, both on the sandbox clock."""

from __future__ import annotations

from collections import deque
from datetime import UTC, datetime, timedelta

from sandbox.shared.clock import Clock


class RollingWindow:
    """At most `limit` requests in any `window_s` seconds (a sliding log; limits here are small)."""

    def __init__(self, *, limit: int, window_s: float, clock: Clock) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._stamps: deque[float] = deque()

    def _expire(self, now: float) -> None:
        while self._stamps and self._stamps[0] <= now - self.window_s:
            self._stamps.popleft()

    def try_acquire(self) -> bool:
        now = self._clock.now()
        self._expire(now)
        if len(self._stamps) >= self.limit:
            return False
        self._stamps.append(now)
        return True

    @property
    def remaining(self) -> int:
        self._expire(self._clock.now())
        return max(self.limit - len(self._stamps), 0)

    def seconds_until_free(self) -> float:
        now = self._clock.now()
        self._expire(now)
        if len(self._stamps) < self.limit:
            return 0.0
        return max(self._stamps[0] + self.window_s - now, 0.0)

    def reset(self) -> None:
        self._stamps.clear()


class DailyQuota:
    """A quota that resets at midnight UTC (HubSpot resets at midnight in the account's zone)."""

    def __init__(self, *, limit: int, clock: Clock) -> None:
        self.limit = limit
        self.used = 0
        self._clock = clock
        self._day = self._today()

    def _today(self) -> datetime:
        now = self._clock.now_dt()
        return datetime(now.year, now.month, now.day, tzinfo=UTC)

    def _roll(self) -> None:
        today = self._today()
        if today != self._day:
            self._day, self.used = today, 0

    def try_acquire(self) -> bool:
        self._roll()
        if self.used >= self.limit:
            return False
        self.used += 1
        return True

    @property
    def remaining(self) -> int:
        self._roll()
        return max(self.limit - self.used, 0)

    def set_remaining(self, remaining: int) -> None:
        """Admin control: pretend the day is nearly spent (tests of the daily cap)."""
        self._roll()
        self.used = max(self.limit - remaining, 0)

    def seconds_until_reset(self) -> float:
        return (self._day + timedelta(days=1) - self._clock.now_dt()).total_seconds()

    def reset(self) -> None:
        self.used = 0
