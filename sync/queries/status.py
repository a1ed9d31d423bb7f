"""`baton status`: is the sync keeping up, what did it last do, what is stuck, what is left.

Figures: per system and object the cursor and its lag (now - cursor: how far behind reading
is), the latest runs with counts and duration (a running run with the age of its heartbeat,
marked stale past `STALE_AFTER`: its process likely died, and the next run will close it as
interrupted), and the latest run of each kind however long ago (the daemon records a run per
poll, so the recent ones are all polls), open dead letters by system and vendor code, identity
links by system and object, ambiguous matches (two records claim one email or one
cross-system id and the engine refused to guess): the people the decision log holds an
`identity` decision with rule `ambiguous:<system>` for (`sync.queries.ambiguous` lists them),
and the people the latest finished poll or backfill met so (a reconcile or a retry reads only
some records); the MQLs waiting for a first sales touch past the SLA (`sync.sla`); and the API
budget last observed per system and window.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from sync.queries.ambiguous import count_people
from sync.sla import DEFAULT_SLA, count_open_breaches
from sync.store._sql import Db, connection
from sync.store.budget import budgets
from sync.store.checkpoints import list_checkpoints
from sync.store.dead_letters import DeadLetterStatus, count_dead_letters
from sync.store.positions import get_listings
from sync.store.runs import (
    STALE_AFTER,
    Run,
    RunKind,
    RunStatus,
    latest_of_each_kind,
    process_gone,
    recent_runs,
    running_runs,
)
from sync.store.schema import DeadLetter as DeadLetterRow
from sync.store.schema import IdentityLink, Person
from sync.store.schema import Run as RunRow

#: The run count of people met ambiguous (`CycleReport.counts`); runs before it have none.
AMBIGUOUS_COUNT = "ambiguous_people"
AMBIGUOUS_RECORDS = "ambiguous"  # the records met, a person's twins each (the metric's unit)
#: The runs that read what changed, in full: the daemon's polls and backfills.
SWEEPS = (RunKind.DAEMON, RunKind.BACKFILL)


@dataclass(frozen=True, slots=True)
class CursorStatus:
    system: str
    object: str
    cursor: datetime | None
    last_id: str | None
    upper_bound: datetime | None
    updated_at: datetime
    lag: timedelta | None


@dataclass(frozen=True, slots=True)
class RunSummary:
    id: uuid.UUID
    kind: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    duration: timedelta
    counts: Mapping[str, int]
    error: str | None
    heartbeat_at: datetime | None = None
    heartbeat_age: timedelta | None = None  # running runs only: now - last heartbeat (or start)
    stale: bool = False  # running, yet silent for longer than the stale limit


@dataclass(frozen=True, slots=True)
class ErrorGroup:
    system: str
    vendor_code: str | None
    count: int


@dataclass(frozen=True, slots=True)
class LinkCount:
    system: str
    object: str
    active: int
    inactive: int


@dataclass(frozen=True, slots=True)
class BudgetStatus:
    system: str
    window: str
    used: int
    remaining: int
    observed_at: datetime
    age: timedelta


@dataclass(frozen=True, slots=True)
class ListingStatus:
    """A full listing an interrupted backfill left, which the next backfill goes on with."""

    system: str
    object: str
    listed: int
    done: bool
    started_at: datetime


@dataclass(frozen=True, slots=True)
class Status:
    now: datetime
    cursors: tuple[CursorStatus, ...]
    runs: tuple[RunSummary, ...]
    dead_letters: Mapping[str, int]
    open_errors: tuple[ErrorGroup, ...]
    people: int
    links: tuple[LinkCount, ...]
    ambiguous_people: int
    ambiguous_last_run: int | None
    sla: timedelta
    sla_overdue: int
    budgets: tuple[BudgetStatus, ...]
    unfinished_backfill: tuple[ListingStatus, ...] = ()
    backfill_running: bool = False  # a live backfill holds those listings (not interrupted)
    # the latest run of each kind that has run (daemon = a poll), however far back
    latest_by_kind: tuple[RunSummary, ...] = ()


def status(
    db: Db,
    *,
    now: datetime,
    runs: int = 5,
    sla: timedelta = DEFAULT_SLA,
    stale_after: timedelta = STALE_AFTER,
) -> Status:
    """Everything `baton status` shows, measured against `now`."""
    latest = recent_runs(db, limit=runs)
    return Status(
        now=now,
        cursors=tuple(
            CursorStatus(
                str(c.system),
                c.object,
                c.cursor,
                c.last_id,
                c.upper_bound,
                c.updated_at,
                now - c.cursor if c.cursor is not None else None,
            )
            for c in list_checkpoints(db)
        ),
        runs=tuple(_summary(run, now, stale_after) for run in latest[:runs]),
        dead_letters={str(k): v for k, v in count_dead_letters(db).items()},
        open_errors=_open_errors(db),
        people=connection(db).execute(select(func.count()).select_from(Person)).scalar_one(),
        links=_links(db),
        ambiguous_people=count_people(db),
        ambiguous_last_run=_ambiguous_last_run(db),
        sla=sla,
        sla_overdue=count_open_breaches(db, now=now, sla=sla),
        budgets=tuple(
            BudgetStatus(
                str(b.system), b.window, b.used, b.remaining, b.observed_at, now - b.observed_at
            )
            for b in budgets(db)
        ),
        unfinished_backfill=tuple(
            ListingStatus(str(key[0]), key[1], found.listed, found.done, found.started_at)
            for key, found in get_listings(db).items()
        ),
        backfill_running=_backfill_running(db, now, stale_after),
        latest_by_kind=tuple(
            _summary(run, now, stale_after) for run in latest_of_each_kind(db).values()
        ),
    )


def _summary(run: Run, now: datetime, stale_after: timedelta) -> RunSummary:
    running = run.status is RunStatus.RUNNING
    age = now - run.last_seen if running else None
    return RunSummary(
        run.id,
        str(run.kind),
        str(run.status),
        run.started_at,
        run.finished_at,
        (run.finished_at or now) - run.started_at,
        dict(run.counts),
        run.error,
        run.heartbeat_at,
        age,
        age is not None and (age > stale_after or process_gone(run.owner)),
    )


def _backfill_running(db: Db, now: datetime, stale_after: timedelta) -> bool:
    """Whether a backfill is running and alive (its listings are in progress)."""
    return any(
        now - run.last_seen <= stale_after and not process_gone(run.owner)
        for run in running_runs(db, RunKind.BACKFILL)
    )


def _ambiguous_last_run(db: Db) -> int | None:
    """The people the latest finished poll or backfill met ambiguous (the unit `baton status`
    counts in); None before one has finished, or if it ran before runs counted people."""
    counts = (
        connection(db)
        .execute(
            select(RunRow.counts)
            .where(
                RunRow.status != RunStatus.RUNNING.value,
                RunRow.kind.in_([kind.value for kind in SWEEPS]),
            )
            .order_by(RunRow.started_at.desc(), RunRow.id)
            .limit(1)
        )
        .scalar_one_or_none()
    )
    if counts is None:
        return None
    value = counts.get(AMBIGUOUS_COUNT)
    if isinstance(value, int | float):
        return int(value)
    # no count: a run that stopped before counting anything met nobody; one that counted
    # records only (before runs counted people) cannot be told in people
    return None if counts.get(AMBIGUOUS_RECORDS) else 0


def _open_errors(db: Db) -> tuple[ErrorGroup, ...]:
    rows = connection(db).execute(
        select(DeadLetterRow.system, DeadLetterRow.vendor_code, func.count())
        .where(DeadLetterRow.status == DeadLetterStatus.OPEN.value)
        .group_by(DeadLetterRow.system, DeadLetterRow.vendor_code)
    )
    groups = [ErrorGroup(system, code, count) for system, code, count in rows]
    return tuple(sorted(groups, key=lambda g: (-g.count, g.system, g.vendor_code or "")))


def _links(db: Db) -> tuple[LinkCount, ...]:
    rows = connection(db).execute(
        select(IdentityLink.system, IdentityLink.object, IdentityLink.active, func.count())
        .group_by(IdentityLink.system, IdentityLink.object, IdentityLink.active)
        .order_by(IdentityLink.system, IdentityLink.object)
    )
    counts: dict[tuple[str, str], list[int]] = {}
    for system, obj, active, count in rows:
        counts.setdefault((system, obj), [0, 0])[0 if active else 1] += count
    return tuple(LinkCount(s, o, a, i) for (s, o), (a, i) in counts.items())
