"""Runs: one row per daemon cycle, backfill or `run --once`, for `baton status` and the log.

Run ids are UUIDs so that several workers can start runs without a shared sequence. A process
killed outright (SIGKILL, power loss) never calls `finish_run`, so a live run bumps
`heartbeat_at` as it commits pages, and the next run to start closes the runs still `running`
whose heartbeat (or start, before the first beat) is older than `STALE_AFTER` as interrupted.
A run also names its process (`owner`, host and pid): one on this host whose process is gone
is closed at once, without waiting for its heartbeat to go stale.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import func, insert, select, update

from sync.store._sql import Db, connection
from sync.store.schema import Run as RunRow
from sync.store.types import utcnow

#: A running run silent for this long is taken for dead: far above the engine's beat interval,
#: and above the longest a single page (one read, one batch of writes) should take.
STALE_AFTER = timedelta(minutes=10)


class RunKind(StrEnum):
    DAEMON = "daemon"  # a poll (the daemon's, or `baton run --once`)
    BACKFILL = "backfill"
    RETRY = "retry"  # `baton errors retry`
    ONCE = "once"  # what earlier builds recorded a retry as: read, never written
    RECONCILE = "reconcile"


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
    heartbeat_at: datetime | None = None
    owner: str | None = None  # "host:pid" of the process running it

    @property
    def last_seen(self) -> datetime:
        """The last sign of life: the latest heartbeat, else the start."""
        return self.heartbeat_at or self.started_at


def this_process() -> str:
    """The `owner` of the runs this process starts: host, PID namespace, pid and the pid's
    start time, so that a pid seen from another container, or reused, is never taken for it."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{_pid_namespace()}:{pid}:{_started(pid) or ''}"


def process_alive(owner: str | None) -> bool | None:
    """Whether the process `owner` names is alive, as far as this host can see: None for a
    run of another host or container, or of no known process (judged by its heartbeat)."""
    parts = (owner or "").split(":")
    if len(parts) != 4 or not parts[2].isdigit():
        return None
    host, namespace, pid, started = parts
    if host != socket.gethostname() or namespace != _pid_namespace():
        return None
    if started:  # a pid now used by another process is gone all the same
        return _started(int(pid)) == started
    try:  # no /proc: a signal-0 probe, blind to a reused pid
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def process_gone(owner: str | None) -> bool:
    """Whether `owner` names a process this host can see that no longer exists (or whose pid
    now belongs to another process)."""
    return process_alive(owner) is False


def _pid_namespace() -> str:
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return ""


def _started(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (`/proc/<pid>/stat` field 22), or
    None when there is no such process (or no /proc)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            fields = stat.read().rpartition(")")[2].split()
    except OSError:
        return None
    return fields[19] if len(fields) > 19 else None


_COLUMNS = (
    RunRow.id,
    RunRow.kind,
    RunRow.status,
    RunRow.started_at,
    RunRow.finished_at,
    RunRow.counts,
    RunRow.error,
    RunRow.heartbeat_at,
    RunRow.owner,
)


def _run(row: Sequence[Any]) -> Run:
    return Run(row[0], RunKind(row[1]), RunStatus(row[2]), *row[3:])


def start_run(
    db: Db, kind: RunKind, *, at: datetime | None = None, owner: str | None = None
) -> uuid.UUID:
    run_id = uuid.uuid4()
    values: dict[str, Any] = {
        "id": run_id,
        "kind": kind.value,
        "status": RunStatus.RUNNING.value,
        "started_at": at or utcnow(),
        "counts": {},
    }
    if owner is not None:  # named only when known, as a store before 0006 has no such column
        values["owner"] = owner
    connection(db).execute(insert(RunRow).values(**values))
    return run_id


def running_runs(db: Db, kind: RunKind) -> list[Run]:
    """The runs of `kind` still `running` (close the dead ones first: `close_stale_runs`)."""
    rows = connection(db).execute(
        select(*_COLUMNS).where(RunRow.kind == kind.value, RunRow.status == RunStatus.RUNNING.value)
    )
    return [_run(row) for row in rows]


def beat(db: Db, run_id: uuid.UUID, *, at: datetime | None = None) -> bool:
    """Record that the run is alive (the caller rate-limits this: one UPDATE per call); False
    when it is no longer `running`: another process closed it, taking it for dead."""
    result = connection(db).execute(
        update(RunRow)
        .where(RunRow.id == run_id, RunRow.status == RunStatus.RUNNING.value)
        .values(heartbeat_at=at or utcnow())
    )
    return result.rowcount == 1


def stale_error(last_seen: datetime) -> str:
    return f"no heartbeat since {last_seen.isoformat()}; the process likely died"


def close_stale_runs(
    db: Db,
    *,
    stale_after: timedelta = STALE_AFTER,
    at: datetime | None = None,
    kind: RunKind | None = None,
    unseen_only: bool = False,
) -> list[Run]:
    """Close as interrupted the runs (of `kind`, or all) still `running` that showed no sign
    of life for `stale_after` (`unseen_only`: only those whose process this host cannot
    see), or whose process is gone; return them as they were. A run wrongly closed (alive
    but silent) still records its true outcome when it finishes: `finish_run` overwrites the
    status."""
    now = at or utcnow()
    conn = connection(db)
    query = select(*_COLUMNS).where(RunRow.status == RunStatus.RUNNING.value)
    if kind is not None:
        query = query.where(RunRow.kind == kind.value)
    rows = conn.execute(query)
    closed = []
    for run in map(_run, rows.all()):
        alive = process_alive(run.owner)
        if alive is False:
            error = f"its process ({run.owner}) is gone"
        elif run.last_seen < now - stale_after and not (unseen_only and alive):
            error = stale_error(run.last_seen)
        else:
            continue
        result = conn.execute(
            update(RunRow)
            .where(RunRow.id == run.id, RunRow.status == RunStatus.RUNNING.value)
            .values(status=RunStatus.INTERRUPTED.value, finished_at=now, error=error)
        )
        if result.rowcount == 1:  # not finished meanwhile by its own process
            closed.append(run)
    return closed


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
    return None if row is None else _run(row)


def recent_runs(db: Db, limit: int = 10) -> list[Run]:
    """The latest runs, newest first."""
    rows = connection(db).execute(
        select(*_COLUMNS).order_by(RunRow.started_at.desc(), RunRow.id).limit(limit)
    )
    return [_run(row) for row in rows]


def latest_of_each_kind(db: Db) -> dict[RunKind, Run]:
    """The latest run of each kind that has run, however long ago: the daemon records one
    run per poll, so a recent list soon holds nothing but polls. One query per kind."""
    conn = connection(db)
    found: dict[RunKind, Run] = {}
    for kind in RunKind:
        row = conn.execute(
            select(*_COLUMNS)
            .where(RunRow.kind == kind.value)
            .order_by(RunRow.started_at.desc(), RunRow.id)
            .limit(1)
        ).first()
        if row is not None:
            found[kind] = _run(row)
    return found


def last_started(db: Db, kind: RunKind) -> datetime | None:
    """When the latest run of `kind` started, whatever became of it but an interruption (a
    stop asked for before its end); None: none did."""
    query = select(func.max(RunRow.started_at)).where(
        RunRow.kind == kind.value, RunRow.status != RunStatus.INTERRUPTED.value
    )
    started: datetime | None = connection(db).execute(query).scalar()
    return started
