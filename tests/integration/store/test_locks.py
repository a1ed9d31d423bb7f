"""`held`: a lock across transactions that one process at a time holds, and that a process
killed outright (SIGKILL) leaves free at once, on both backends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from sqlalchemy import Engine, text

from sync.store.locks import KEEPALIVES, UNIT_RUNS, held, lock_session

ROOT = Path(__file__).resolve().parents[3]
HOLDER = """
import sys, time
from sync.store.engine import make_engine
from sync.store.locks import UNIT_RUNS, held
with held(make_engine(sys.argv[1]), UNIT_RUNS):
    print("held", flush=True)
    time.sleep(600)
"""


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
    url = engine.url.render_as_string(hide_password=False)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, url],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
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
