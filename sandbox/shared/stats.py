"""Request and write counters behind `GET /_sandbox/stats`.

`writes` counts records created, updated, archived or deleted through the API only (never by
seeding or simulators), so a test can prove that a sync wrote nothing.
"""

from __future__ import annotations

from collections import Counter
from typing import Any


class Stats:
    def __init__(self) -> None:
        self.requests = 0
        self.writes = 0
        self.by_route: Counter[str] = Counter()
        self.by_status: Counter[str] = Counter()

    def record(self, route: str, status: int) -> None:
        self.requests += 1
        self.by_route[route] += 1
        self.by_status[str(status)] += 1

    def add_writes(self, count: int) -> None:
        self.writes += count

    def snapshot(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "writes": self.writes,
            "by_route": dict(self.by_route),
            "by_status": dict(self.by_status),
        }

    def reset(self) -> None:
        self.__init__()  # type: ignore[misc]
