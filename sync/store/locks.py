"""Locks for what must not interleave across processes sharing a store.

`hold` takes a PostgreSQL advisory lock for the caller's transaction. SQLite needs none of
those: every write transaction begins IMMEDIATE (`sync.store.engine`), so one process writes
at a time already. On PostgreSQL two processes (the daemon and a backfill's catch-up, two
overlapping `baton run --once`) commit side by side unless they take one.

`held` spans several transactions, on both backends: a unit of work reads the store, sends its
writes, then commits, and another process's unit planned against the store in between would
take the first one's writes, out but not committed, for edits (`UNIT_RUNS`).

`take_lease` takes a lock without waiting and holds it until released or the process ends:
the daemon's lease on its store (`DAEMON`), so a second daemon on one store (a replica, a
rolling update's new pod) stands by instead of polling both systems again beside the first.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, text

log = logging.getLogger(__name__)

UNIT_COMMITS = 0x6261746F6E01  # units' commits: identity is checked, then written, alone
MIGRATIONS = 0x6261746F6E02  # schema upgrades: a second process waits, then finds it done
UNIT_RUNS = 0x6261746F6E03  # a unit of work whole: from its first read of the store to its commit
SLA_CHECKS = 0x6261746F6E04  # the SLA timer's tick: reads the breach log, then adds to it
RECONCILE_STARTS = 0x6261746F6E05  # a reconciliation's start: asks whether one began, then begins
DAEMON = 0x6261746F6E06  # the daemon's lease: one daemon polls a store at a time

#: The file beside a SQLite store that stands for each lock `held` or `take_lease` takes
#: (`<store>-<name>`).
_LOCK_FILES = {UNIT_RUNS: "units.lock", DAEMON: "daemon.lock"}
#: For a store with no file (in-memory SQLite): a lock of this process, per engine and lock.
_LOCAL: dict[tuple[int, int], threading.Lock] = {}
_LOCAL_GUARD = threading.Lock()


def hold(conn: Connection, lock: int) -> None:
    """Wait for `lock` and hold it until the caller's transaction ends (PostgreSQL only)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock})


@contextmanager
def held(engine: Engine, lock: int) -> Iterator[None]:
    """Wait for `lock` and hold it until the block ends, across transactions: against other
    processes on the store and other engines of this one. PostgreSQL: a session advisory lock
    on a connection of its own; a SQLite file: an exclusive `flock` on a file beside it. Both
    die with the process (a SIGKILL leaves nothing to clean up)."""
    if engine.dialect.name == "postgresql":
        with _session_lock(engine, lock):
            yield
        return
    path = engine.url.database
    if not path or path == ":memory:":
        with _local_lock(engine, lock):
            yield
        return
    with _file_lock(_lock_path(path, lock)):
        yield


class Lease:
    """A lock `take_lease` took: held until `release` or the process's end. `alive` says
    whether it still is: a PostgreSQL session lock ends with its connection (a server
    restart, a network cut), a file's lock only with the process."""

    def __init__(self, release: Callable[[], None], alive: Callable[[], bool]) -> None:
        self._release = release
        self._alive = alive
        self._released = False

    def alive(self) -> bool:
        return not self._released and self._alive()

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._release()


def take_lease(engine: Engine, lock: int) -> Lease | None:
    """`lock`, if no one holds it (None if someone does), held until released: a
    PostgreSQL session advisory lock on a connection of its own, an exclusive `flock` on the
    file beside a SQLite store, a lock of this process for a store with no file."""
    if engine.dialect.name == "postgresql":
        return _session_lease(engine, lock)
    path = engine.url.database
    if not path or path == ":memory:":
        local = _local(engine, lock)
        return Lease(local.release, lambda: True) if local.acquire(blocking=False) else None
    fd = os.open(_lock_path(path, lock), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None

    def release() -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    return Lease(release, lambda: True)


def _session_lease(engine: Engine, lock: int) -> Lease | None:
    conn = lock_session(engine)
    try:
        taken = conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": lock}).scalar()
    except Exception:
        conn.close()
        raise
    if not taken:
        conn.close()
        return None

    def alive() -> bool:
        try:
            conn.execute(text("SELECT 1"))
        except Exception:
            return False  # the session, and the lock with it, is gone
        return True

    def release() -> None:
        try:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": lock})
        except Exception:
            conn.invalidate()  # never back to the pool still holding it
        finally:
            conn.close()

    return Lease(release, alive)


#: The server's TCP keepalives on a session holding a lock, as (setting, value): a holder whose
#: host died (no FIN, no RST) is noticed in about a minute, where the server's defaults (2 h,
#: then 9 probes 75 s apart) would keep every other process's units waiting that long.
KEEPALIVES = (
    ("tcp_keepalives_idle", 30),
    ("tcp_keepalives_interval", 10),
    ("tcp_keepalives_count", 3),
)


def lock_session(engine: Engine) -> Connection:
    """A PostgreSQL connection for a session lock: autocommit (it holds no transaction open)
    and with `KEEPALIVES` set for its session."""
    conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        for setting, value in KEEPALIVES:
            conn.execute(text(f"SET {setting} = {value:d}"))
    except Exception:
        conn.close()
        raise
    return conn


@contextmanager
def _session_lock(engine: Engine, lock: int) -> Iterator[None]:
    conn = lock_session(engine)
    try:
        if not conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": lock}).scalar():
            log.debug("waiting for another process's unit of work")
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": lock})
        try:
            yield
        finally:
            try:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": lock})
            except Exception:
                conn.invalidate()  # never back to the pool still holding it
                raise
    finally:
        conn.close()


@contextmanager
def _file_lock(path: str) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.debug("waiting for another process's unit of work")
            fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextmanager
def _local_lock(engine: Engine, lock: int) -> Iterator[None]:
    with _local(engine, lock):
        yield


def _local(engine: Engine, lock: int) -> threading.Lock:
    """`lock` for a store with no file: this process's, per engine."""
    with _LOCAL_GUARD:
        return _LOCAL.setdefault((id(engine.pool), lock), threading.Lock())


def _lock_path(path: str, lock: int) -> str:
    """The file beside the SQLite store at `path` that stands for `lock` (`_LOCK_FILES`)."""
    return f"{path}-{_LOCK_FILES.get(lock, f'lock-{lock:x}')}"
