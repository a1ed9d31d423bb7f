"""`held`: a lock across transactions that one process at a time holds, and that a process
killed outright (SIGKILL) leaves free at once, on both backends; `take_lease`, the same lock
taken without waiting (the daemon's lease)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from sqlalchemy import Engine, text

from sync.store.locks import DAEMON, KEEPALIVES, UNIT_RUNS, held, lock_session, take_lease

ROOT = Path(__file__).resolve().parents[3]
HOLDER = """
import sys, time
from sync.store.engine import make_engine
from sync.store.locks import UNIT_RUNS, held
with held(make_engine(sys.argv[1]), UNIT_RUNS):
    print("held", flush=True)
    time.sleep(600)
"""
LEASE_HOLDER = """
import sys, time
from sync.store.engine import make_engine
from sync.store.locks import DAEMON, take_lease
lease = take_lease(make_engine(sys.argv[1]), DAEMON)
print("held" if lease is not None else "refused", flush=True)
time.sleep(600)
"""


def _holder(engine: Engine, script: str) -> subprocess.Popen[str]:
    """A process of its own holding a lock on the store, once it printed "held"."""
    holder = subprocess.Popen(
        [sys.executable, "-c", script, engine.url.render_as_string(hide_password=False)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    return holder


def _acquire_in_thread(engine: Engine) -> tuple[threading.Thread, threading.Event]:
    got = threading.Event()

    def take() -> None:
        with held(engine, UNIT_RUNS):
            got.set()

    thread = threading.Thread(target=take)
    thread.start()
    return thread, got


def test_a_second_holder_waits_for_the_first(engine: Engine) -> None:
    with held(engine, UNIT_RUNS):
        thread, got = _acquire_in_thread(engine)
        assert not got.wait(0.5)
    assert got.wait(10)
    thread.join(10)


def test_a_holder_killed_outright_leaves_it_free_at_once(engine: Engine) -> None:
    holder = _holder(engine, HOLDER)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        thread, got = _acquire_in_thread(engine)
        assert not got.wait(0.5)
        began = time.monotonic()
        holder.send_signal(signal.SIGKILL)
        assert got.wait(10)
        assert time.monotonic() - began < 5
        thread.join(10)
    finally:
        holder.kill()
        holder.wait()


def test_a_postgresql_lock_session_notices_a_dead_host_in_about_a_minute(
    engine: Engine,
) -> None:
    if engine.dialect.name != "postgresql":
        return  # SQLite's lock is a file's: the kernel frees it with the process
    conn = lock_session(engine)
    try:
        for setting, value in KEEPALIVES:
            assert conn.execute(text(f"SHOW {setting}")).scalar() == str(value)
    finally:
        conn.close()


def test_a_lease_is_refused_while_another_process_holds_it_and_free_once_it_is_killed(
    engine: Engine,
) -> None:
    holder = _holder(engine, LEASE_HOLDER)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        assert take_lease(engine, DAEMON) is None  # refused at once, not waited for
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        deadline = time.monotonic() + 5
        lease = take_lease(engine, DAEMON)
        while lease is None and time.monotonic() < deadline:  # the server sees the socket close
            time.sleep(0.05)
            lease = take_lease(engine, DAEMON)
        assert lease is not None
        assert lease.alive()
        lease.release()
        assert not lease.alive()
    finally:
        holder.kill()
        holder.wait()


def test_a_lease_released_is_taken_again_and_held_against_this_process_too(
    engine: Engine,
) -> None:
    first = take_lease(engine, DAEMON)
    assert first is not None
    try:
        assert take_lease(engine, DAEMON) is None  # a second daemon in one process, too
    finally:
        first.release()
    second = take_lease(engine, DAEMON)
    assert second is not None
    second.release()


def test_a_postgresql_lease_whose_session_ended_is_not_alive(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        return  # a file's lock ends only with its process
    lease = take_lease(engine, DAEMON)
    assert lease is not None
    try:
        with engine.connect() as conn:  # as a server restart or a network cut would end it
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks "
                    "WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid() "
                    "AND (classid::bigint << 32) + objid::bigint = :key"
                ),
                {"key": DAEMON},
            )
        assert not lease.alive()
        again = take_lease(engine, DAEMON)
        assert again is not None  # the lock went with the session: free for the taking
        again.release()
    finally:
        lease.release()
