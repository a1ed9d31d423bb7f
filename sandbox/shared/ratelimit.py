"""Rate-limit primitives on the sandbox clock: a short rolling window, a rolling day (what
Salesforce counts its daily allocation over) and a calendar-day quota (HubSpot's)."""

from __future__ import annotations

import threading
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


class RollingQuota:
    """At most `limit` requests in any `window_s` seconds (Salesforce: "daily (rolling 24 h)
    total API requests"), counted per `slot_s` so a day costs 1,440 counters at most: calls
    age out of the window a minute at a time, as the allocation comes back gradually.

    `count` records a call whatever the limit (usage is reported truthfully when refusing
    is switched off); `try_acquire` records it only if the window has room."""

    def __init__(
        self, *, limit: int, clock: Clock, window_s: float = 86_400.0, slot_s: float = 60.0
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self.slot_s = slot_s
        self._clock = clock
        self._slots: deque[list[int]] = deque()  # [slot number, calls], oldest first
        self._used = 0
        self._lock = threading.Lock()  # the imitation serves requests on several threads

    def _slot(self) -> int:
        now = self._clock.now()
        oldest = int((now - self.window_s) // self.slot_s)  # this slot and older: aged out
        while self._slots and self._slots[0][0] <= oldest:
            self._used -= self._slots.popleft()[1]
        return int(now // self.slot_s)

    def _count(self, calls: int) -> None:
        slot = self._slot()
        if self._slots and self._slots[-1][0] == slot:
            self._slots[-1][1] += calls
        else:
            self._slots.append([slot, calls])
        self._used += calls

    def count(self, calls: int = 1) -> None:
        with self._lock:
            self._count(calls)

    def try_acquire(self) -> bool:
        with self._lock:
            self._slot()
            if self._used >= self.limit:
                return False
            self._count(1)
            return True

    @property
    def used(self) -> int:
        with self._lock:
            self._slot()
            return self._used

    @property
    def remaining(self) -> int:
        return max(self.limit - self.used, 0)

    def set_remaining(self, remaining: int) -> None:
        """Admin control: pretend the window holds `limit - remaining` calls, made now."""
        with self._lock:
            self._slots.clear()
            self._used = 0
            self._count(max(self.limit - remaining, 0))

    def reset(self) -> None:
        with self._lock:
            self._slots.clear()
            self._used = 0
