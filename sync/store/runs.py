"""Runs: one row per daemon cycle, backfill or `run --once`, for `baton status` and the log.

Run ids are UUIDs so that several workers can start runs without a shared sequence.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from sqlalchemy import insert, select, update

from sync.store._sql import Db, connection
from sync.store.schema import Run as RunRow
from sync.store.types import utcnow


class RunKind(StrEnum):
    DAEMON = "daemon"
    BACKFILL = "backfill"
    ONCE = "once"


class RunStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


@dataclass(frozen=True, slots=True)
class Run:
    id: uuid.UUID
    kind: RunKind
    status: RunStatus
    started_at: datetime
    finished_at: datetime | None
    counts: Mapping[str, int] = field(default_factory=dict)
    error: str | None = None


_COLUMNS = (
    RunRow.id,
    RunRow.kind,
    RunRow.status,
    RunRow.started_at,
    RunRow.finished_at,
    RunRow.counts,
    RunRow.error,
)


def start_run(db: Db, kind: RunKind, *, at: datetime | None = None) -> uuid.UUID:
    run_id = uuid.uuid4()
    connection(db).execute(
        insert(RunRow).values(
            id=run_id,
            kind=kind.value,
            status=RunStatus.RUNNING.value,
            started_at=at or utcnow(),
            counts={},
        )
    )
    return run_id


def finish_run(
    db: Db,
    run_id: uuid.UUID,
    status: RunStatus,
    *,
    counts: Mapping[str, int] | None = None,
    error: str | None = None,
    at: datetime | None = None,
) -> None:
    """Close a run with its outcome; a failed run must say why (`error`)."""
    if status is RunStatus.RUNNING:
        raise ValueError("finish_run needs a final status, not 'running'")
    if status is RunStatus.FAILED and not error:
        raise ValueError("a failed run needs its error")
    result = connection(db).execute(
        update(RunRow)
        .where(RunRow.id == run_id)
        .values(
            status=status.value,
            finished_at=at or utcnow(),
            counts=dict(counts or {}),
            error=error,
        )
    )
    if result.rowcount != 1:
        raise LookupError(f"no run {run_id}")


def get_run(db: Db, run_id: uuid.UUID) -> Run | None:
    row = connection(db).execute(select(*_COLUMNS).where(RunRow.id == run_id)).first()
    if row is None:
        return None
    return Run(row[0], RunKind(row[1]), RunStatus(row[2]), row[3], row[4], row[5], row[6])


def recent_runs(db: Db, limit: int = 10) -> list[Run]:
    """The latest runs, newest first."""
    rows = connection(db).execute(
        select(*_COLUMNS).order_by(RunRow.started_at.desc(), RunRow.id).limit(limit)
    )
    return [Run(r[0], RunKind(r[1]), RunStatus(r[2]), r[3], r[4], r[5], r[6]) for r in rows]
