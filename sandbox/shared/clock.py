"""The sandbox's sense of time: wall time plus an offset that tests may move forward."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime


class Clock:
    """Wall-clock seconds with an adjustable offset (rate-limit windows, daily caps, timestamps)."""

    def __init__(self) -> None:
        self._offset = 0.0

    def now(self) -> float:
        return time.time() + self._offset

    def now_ms(self) -> int:
        return int(self.now() * 1000)

    def now_dt(self) -> datetime:
        return datetime.fromtimestamp(self.now(), tz=UTC)

    def advance(self, seconds: float) -> None:
        self._offset += seconds


class FrozenClock(Clock):
    """A clock that stands still until it is moved: tests make writes share one timestamp, or
    step time exactly (several threads may read it while a test moves it)."""

    def __init__(self, start: datetime) -> None:
        super().__init__()
        self._now = start.timestamp()
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds

    def set(self, when: datetime) -> None:
        with self._lock:
            self._now = when.timestamp()
