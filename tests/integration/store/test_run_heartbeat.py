"""Run heartbeats: a run whose process died is closed as interrupted by the next run's start."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from sync.store.runs import (
    STALE_AFTER,
    RunKind,
    RunStatus,
    beat,
    close_stale_runs,
    finish_run,
    get_run,
    process_gone,
    running_runs,
    start_run,
    this_process,
)

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def test_a_beat_is_recorded_and_read_back(db: Connection) -> None:
    run_id = start_run(db, RunKind.DAEMON, at=T0)
    started = get_run(db, run_id)
    assert started is not None
    assert started.heartbeat_at is None
    assert started.last_seen == T0
    beat(db, run_id, at=T0 + timedelta(seconds=5))
    beaten = get_run(db, run_id)
    assert beaten is not None
    assert beaten.heartbeat_at == T0 + timedelta(seconds=5)
    assert beaten.last_seen == T0 + timedelta(seconds=5)
    assert beaten.status is RunStatus.RUNNING


def test_only_silent_running_runs_are_closed(db: Connection) -> None:
    now = T0 + timedelta(hours=1)
    never_beat = start_run(db, RunKind.BACKFILL, at=now - timedelta(minutes=30))
    beat_long_ago = start_run(db, RunKind.DAEMON, at=now - timedelta(minutes=40))
    beat(db, beat_long_ago, at=now - timedelta(minutes=11))
    beat_recently = start_run(db, RunKind.ONCE, at=now - timedelta(minutes=40))
    beat(db, beat_recently, at=now - timedelta(minutes=9))
    young = start_run(db, RunKind.ONCE, at=now - timedelta(minutes=2))
    finished = start_run(db, RunKind.DAEMON, at=now - timedelta(hours=2))
    finish_run(db, finished, RunStatus.SUCCEEDED, at=now - timedelta(hours=2))

    closed = close_stale_runs(db, stale_after=STALE_AFTER, at=now)

    assert {run.id for run in closed} == {never_beat, beat_long_ago}
    for run_id, last_seen in (
        (never_beat, now - timedelta(minutes=30)),
        (beat_long_ago, now - timedelta(minutes=11)),
    ):
        run = get_run(db, run_id)
        assert run is not None
        assert run.status is RunStatus.INTERRUPTED
        assert run.finished_at == now
        assert run.error == (f"no heartbeat since {last_seen.isoformat()}; the process likely died")
    for run_id in (beat_recently, young):
        run = get_run(db, run_id)
        assert run is not None
        assert (run.status, run.finished_at, run.error) == (RunStatus.RUNNING, None, None)
    kept = get_run(db, finished)
    assert kept is not None
    assert kept.status is RunStatus.SUCCEEDED
    assert close_stale_runs(db, at=now) == []  # nothing left to close


def test_a_run_closed_while_alive_still_records_its_outcome(db: Connection) -> None:
    run_id = start_run(db, RunKind.BACKFILL, at=T0)
    assert [r.id for r in close_stale_runs(db, at=T0 + timedelta(minutes=20))] == [run_id]
    finish_run(db, run_id, RunStatus.SUCCEEDED, counts={"read": 3}, at=T0 + timedelta(minutes=21))
    run = get_run(db, run_id)
    assert run is not None
    assert (run.status, run.error, run.counts) == (RunStatus.SUCCEEDED, None, {"read": 3})


def dead_owner() -> str:
    """The owner a run of an ended (and reaped) process on this host would have."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    host, namespace, _, _ = this_process().split(":")
    return f"{host}:{namespace}:{child.pid}:1"


def test_a_run_whose_process_on_this_host_is_gone_is_closed_at_once(db: Connection) -> None:
    now = T0 + timedelta(hours=1)
    killed = start_run(db, RunKind.BACKFILL, at=now, owner=dead_owner())
    alive = start_run(db, RunKind.DAEMON, at=now, owner=this_process())
    elsewhere = start_run(db, RunKind.ONCE, at=now, owner="another-host:4026531836:1:1")

    closed = close_stale_runs(db, stale_after=STALE_AFTER, at=now)

    assert [run.id for run in closed] == [killed]
    gone = get_run(db, killed)
    assert gone is not None
    assert gone.status is RunStatus.INTERRUPTED
    assert gone.error == f"its process ({gone.owner}) is gone"
    assert {run.id for run in running_runs(db, RunKind.DAEMON)} == {alive}
    assert {run.id for run in running_runs(db, RunKind.ONCE)} == {elsewhere}


def test_a_pid_is_judged_only_where_it_means_the_same_process() -> None:
    host, namespace, pid, started = this_process().split(":")
    assert not process_gone(this_process())
    assert process_gone(f"{host}:{namespace}:{pid}:{int(started) + 1}")  # the pid, reused
    assert not process_gone(f"{host}:1:{pid}:{started}")  # another container's pid namespace
    assert not process_gone(f"another-host:{namespace}:{pid}:{started}")
    assert not process_gone(None)
    assert not process_gone("not an owner")


def test_the_store_admits_one_running_backfill(db: Connection) -> None:
    start_run(db, RunKind.BACKFILL, at=T0, owner=this_process())
    start_run(db, RunKind.DAEMON, at=T0)  # other kinds are not limited
    start_run(db, RunKind.DAEMON, at=T0)
    with pytest.raises(IntegrityError), db.begin_nested():
        start_run(db, RunKind.BACKFILL, at=T0, owner=this_process())
