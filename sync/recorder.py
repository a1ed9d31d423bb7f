"""Runs as the store records them: each poll, backfill or retry a row in `runs`, with its
outcome and counts, and a heartbeat while it goes.

A run bumps its heartbeat as pages commit (at most once per `heartbeat_every`), and a thread
bumps it every `pulse_every` in between (a page can wait long: a daily cap, a slow Bulk job), so
a heartbeat means the process is alive. Starting a run first closes the runs whose process died
(no heartbeat for `stale_after`) as interrupted; a backfill seen silent for three pulses is taken
for dead, and the one backfill a store admits refuses a second (`BackfillRunning`).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

import sqlalchemy

from connectors._redact import redact
from sync.report import CycleReport
from sync.store.engine import for_reading
from sync.store.runs import (
    Run,
    RunKind,
    RunStatus,
    beat,
    close_stale_runs,
    finish_run,
    running_runs,
    start_run,
    this_process,
)

log = logging.getLogger(__name__)


class RunClosed(RuntimeError):
    """Another process closed this run, taking it for dead (its heartbeat came late): it stops
    at its next page rather than run beside the run that took over."""

    def __init__(self, run_id: uuid.UUID) -> None:
        super().__init__(
            f"run {run_id} was closed as interrupted by another process while it was still "
            "going (its heartbeat came late); stopped at the next page so as not to run "
            "beside the one that took over"
        )


class BackfillRunning(RuntimeError):
    """Another backfill is running on this store: two would take over each other's listings
    and send every write twice."""

    def __init__(self, other: Run | None, *, now: datetime) -> None:
        which = "another backfill is running"
        if other is not None:
            seconds = max(0, int((now - other.last_seen).total_seconds()))
            which += (
                f" (started {other.started_at:%Y-%m-%d %H:%M:%S} UTC"
                f"{f' by {other.owner}' if other.owner else ''}, last heard from {seconds} s ago)"
            )
        super().__init__(f"{which}; wait for it to end or stop it, then run this one")


class RunRecorder:
    """Records the runs of one engine: `run` wraps a run's body, `beat` is called per page."""

    def __init__(
        self,
        *,
        db: sqlalchemy.Engine,
        now: Callable[[], datetime],
        heartbeat_every: timedelta,
        pulse_every: timedelta,
        stale_after: timedelta,
    ) -> None:
        self.db = db
        self.reader = for_reading(db)
        self.now = now
        self.heartbeat_every = heartbeat_every
        self.pulse_every = pulse_every
        self.stale_after = stale_after
        self._beaten: dict[uuid.UUID, datetime] = {}  # run id -> its last heartbeat
        self._closed: set[uuid.UUID] = set()  # runs another process closed meanwhile

    def run(
        self,
        kind: RunKind,
        dry_run: bool,
        body: Callable[[uuid.UUID | None], CycleReport],
        so_far: CycleReport | None = None,
        claim: Callable[[sqlalchemy.Connection], None] | None = None,
    ) -> CycleReport:
        """`body` run as a recorded run (none for a dry run), its outcome kept in `runs`; a run
        that fails or is interrupted keeps the counts of `so_far`, the report `body` fills as
        it goes (what it did before it stopped). `claim(tx)` runs in the transaction that
        starts the run, before it does, and may refuse it by raising."""
        if dry_run:
            return body(None)
        with self.db.begin() as tx:
            close_stale_runs(tx, stale_after=self.stale_after, at=self.now())
            if kind is RunKind.BACKFILL:
                # A live run beats every `pulse_every` from its own thread: a backfill silent
                # for three, whose process this host cannot see, is taken for dead rather
                # than keep its successor waiting (one seen alive is waited for).
                silent = 3 * self.pulse_every
                close_stale_runs(tx, stale_after=silent, at=self.now(), kind=kind, unseen_only=True)
        try:
            with self.db.begin() as tx:
                if claim is not None:
                    claim(tx)
                run_id = start_run(tx, kind, at=self.now(), owner=this_process())
        except sqlalchemy.exc.IntegrityError:  # the one running backfill the store admits
            with self.reader.connect() as conn:
                busy = running_runs(conn, kind)
            raise BackfillRunning(busy[0] if busy else None, now=self.now()) from None
        self._beaten[run_id] = self.now()
        try:
            with self._pulsing(run_id):
                report = body(run_id)
        except BaseException as exc:
            status = RunStatus.FAILED if isinstance(exc, Exception) else RunStatus.INTERRUPTED
            counts = so_far.counts() if so_far is not None else None
            with self.db.begin() as tx:
                finish_run(
                    tx,
                    run_id,
                    status,
                    counts=counts,
                    error=redact(_run_error(exc)),  # `baton status` shows it
                    at=self.now(),
                )
            raise
        finally:
            self._beaten.pop(run_id, None)
            self._closed.discard(run_id)
        report.run_id = run_id
        with self.db.begin() as tx:
            finish_run(tx, run_id, RunStatus.SUCCEEDED, counts=report.counts(), at=self.now())
        return report

    def beat(self, run_id: uuid.UUID | None) -> None:
        """Called after each committed page: one small UPDATE per `heartbeat_every` at most."""
        if run_id is None:
            return
        if run_id in self._closed:
            raise RunClosed(run_id)
        now = self.now()
        last = self._beaten.get(run_id)
        if last is not None and now - last < self.heartbeat_every:
            return
        with self.db.begin() as tx:
            alive = beat(tx, run_id, at=now)
        if not alive:
            raise RunClosed(run_id)
        self._beaten[run_id] = now

    @contextmanager
    def _pulsing(self, run_id: uuid.UUID) -> Iterator[None]:
        """The run's pulse thread, beating while the block runs and stopped when it ends."""
        ended = threading.Event()
        pulse = threading.Thread(
            target=self._pulse, args=(run_id, ended), name="baton-run-pulse", daemon=True
        )
        pulse.start()
        try:
            yield
        finally:
            ended.set()
            pulse.join()

    def _pulse(self, run_id: uuid.UUID, ended: threading.Event) -> None:
        """Beat every `pulse_every` until the run ends, whatever its pages are doing."""
        while not ended.wait(self.pulse_every.total_seconds()):
            now = self.now()
            try:
                with self.db.begin() as tx:
                    alive = beat(tx, run_id, at=now)
            except sqlalchemy.exc.SQLAlchemyError as exc:  # the next pulse or page tries again
                failure = {"run_id": str(run_id), "error": type(exc).__name__}  # no SQL, no URL
                log.warning("run heartbeat failed", extra={"kv": failure})
                continue
            if not alive:  # the run stops at its next page (`beat`)
                self._closed.add(run_id)
                return
            self._beaten[run_id] = now


def _run_error(exc: BaseException) -> str:
    """A stopped or failed run's error, as `baton status` shows it: a bare KeyboardInterrupt
    (a second Ctrl-C, which stops at once) has no message of its own."""
    name, said = type(exc).__name__, str(exc).strip()
    if said:
        return f"{name}: {said}"
    return f"{name} (Ctrl-C)" if type(exc) is KeyboardInterrupt else name
