"""The slice of `sync.engine.SyncEngine` the composition root uses, as Protocols.

The daemon, the backfill command and the demo take any object with this shape, so their tests
can drive them with a small fake while the real engine is wired in `baton.wiring`.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from typing import Any, Protocol

from connectors.records import RecordKey, System


class Report(Protocol):
    """What Baton reads from a `CycleReport` (counts by "system:object")."""

    read: Counter[str]
    created: Counter[str]
    updated: Counter[str]
    unchanged: int
    conflicts: int
    dead_letters: int
    stage_moves: Counter[str]
    ambiguous: int
    deletes_flagged: int
    deletes_propagated: int
    retry_later: int
    not_handed_off: int
    planned: list[Any]
    resumed: Counter[str]
    creation_waits: bool

    @property
    def ambiguous_people(self) -> Collection[uuid.UUID]: ...


class Progress(Protocol):
    def start(self, label: str, total: int | None, done: int = 0) -> None: ...
    def advance(self, label: str, count: int) -> None: ...
    def finish(self, label: str) -> None: ...


class Engine(Protocol):
    def poll(
        self, *, dry_run: bool = False, stopping: Callable[[], bool] = ..., into: Any = None
    ) -> Any: ...

    def sync_keys(
        self,
        keys: Sequence[RecordKey],
        *,
        trigger: str,
        dry_run: bool = False,
        gone: Collection[RecordKey] = (),
        purged: Collection[RecordKey] = (),
    ) -> Any: ...

    def backfill(
        self,
        *,
        systems: Sequence[System] | None = None,
        objects: Sequence[str] | None = None,
        since: datetime | None = None,
        dry_run: bool = False,
        progress: Any = None,
        restart: bool = False,
    ) -> Any: ...


def summary(report: Report) -> dict[str, int]:
    """Flat counts of a report, for log lines and run tables."""
    return {
        "read": sum(report.read.values()),
        "created": sum(report.created.values()),
        "updated": sum(report.updated.values()),
        "unchanged": report.unchanged,
        "conflicts": report.conflicts,
        "dead_letters": report.dead_letters,
        "ambiguous": report.ambiguous,
        "deletes_flagged": report.deletes_flagged,
        "deletes_propagated": report.deletes_propagated,
        "retry_later": report.retry_later,  # writes refused for now: their page is read again
        "not_handed_off": report.not_handed_off,  # MQLs newly noted as kept from sales
    }
