"""`baton run` handles SIGTERM from its first line: as PID 1 in a container a signal without a
handler is ignored, so a stop during start-up would be waited out (then SIGKILLed)."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from types import FrameType, SimpleNamespace
from typing import Any

import pytest

from baton.cli import run as run_cli


class Unhandled(Exception):
    """What the test's own handler raises: baton had not installed its handler yet."""


def unhandled(_signum: int, _frame: FrameType | None) -> None:
    raise Unhandled("SIGTERM arrived before baton run installed its handler")


@pytest.fixture
def handlers() -> Iterator[None]:
    """The test's own SIGTERM handler, in place of the default (which would end pytest);
    both handlers are put back afterwards."""
    term = signal.signal(signal.SIGTERM, unhandled)
    interrupt = signal.getsignal(signal.SIGINT)
    yield
    signal.signal(signal.SIGTERM, term)
    signal.signal(signal.SIGINT, interrupt)


class Runtime:
    """What `baton run` touches of a runtime before the daemon exists."""

    def __init__(self) -> None:
        self.budgets: dict[str, object] = {}
        self.store = None
        self.closed = False

    def close(self) -> None:
        self.closed = True


@pytest.mark.parametrize("once", [False, True])
def test_a_sigterm_during_start_up_ends_it_at_once_and_releases_the_runtime(
    handlers: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], once: bool
) -> None:
    runtime = Runtime()
    settings: Any = SimpleNamespace(baton=SimpleNamespace())

    def stuck_start(_runtime: object, **_: object) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(30)  # a database or a vendor that does not answer
        raise AssertionError("start-up went on after SIGTERM")

    monkeypatch.setattr(run_cli, "settings_or_exit", lambda _env_file: settings)
    monkeypatch.setattr(run_cli, "start_runtime", lambda _settings: runtime)
    monkeypatch.setattr(run_cli.wiring, "daemon_for", stuck_start)
    monkeypatch.setattr(run_cli, "BatonMetrics", lambda **_: None)
    began = time.monotonic()

    if once:  # no cycle ran: a script must not take it for one that did
        with pytest.raises(SystemExit) as exited:
            run_cli.run(once=once, env_file=None)
        assert exited.value.code == 143
        line = capsys.readouterr().err.strip()
        assert line == "baton run --once: stopped by SIGTERM during start-up; no cycle ran"
    else:
        run_cli.run(once=once, env_file=None)  # returns: exit status 0 (a restart policy)

    assert time.monotonic() - began < 5
    assert runtime.closed


class StoppedDaemon:
    """A daemon whose cycle a signal stops part way: the poll ends at its page in hand and
    `cycle` returns, as `Daemon.cycle` does after `PollStopped`."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.stop_requested = False

    def request_stop(self) -> None:
        self.stop_requested = True

    def cycle(self, *, force_timers: bool) -> None:
        os.kill(os.getpid(), self.signum)
        time.sleep(0.05)  # the handler runs on the main thread between bytecodes
        assert self.stop_requested


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_run_once_stopped_part_way_exits_as_the_shell_reports_its_signal(
    handlers: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    signum: int,
    code: int,
) -> None:
    """A cron job or script must know the cycle did not complete (it exited 0)."""
    runtime = Runtime()
    settings: Any = SimpleNamespace(baton=SimpleNamespace())
    monkeypatch.setattr(run_cli, "settings_or_exit", lambda _env_file: settings)
    monkeypatch.setattr(run_cli, "start_runtime", lambda _settings: runtime)
    monkeypatch.setattr(run_cli.wiring, "daemon_for", lambda *_a, **_k: StoppedDaemon(signum))
    monkeypatch.setattr(run_cli, "BatonMetrics", lambda **_: None)

    with pytest.raises(SystemExit) as exited:
        run_cli.run(once=True, env_file=None)

    assert exited.value.code == code
    name = signal.Signals(signum).name
    assert capsys.readouterr().err.strip() == (
        f"baton run --once: stopped by {name} before the cycle completed; what it read is "
        "committed, and the next run goes on from there"
    )
    assert runtime.closed


class Log:
    """`baton run`'s logger, writing to a stream the main thread may be in the middle of a
    write to: then a write from the main thread, a signal handler's, is the reentrant call
    Python's buffered stderr refuses (RuntimeError, out of the handler)."""

    def __init__(self) -> None:
        self.writing = False  # the main thread is inside a write
        self.lines: list[tuple[str, dict[str, Any]]] = []
        self.stopping = threading.Event()

    def info(self, msg: str, *, extra: dict[str, Any]) -> None:
        if self.writing and threading.current_thread() is threading.main_thread():
            raise RuntimeError("reentrant call inside <_io.BufferedWriter name='<stderr>'>")
        self.lines.append((msg, extra["kv"]))
        if msg == "stopping":
            self.stopping.set()

    error = warning = info


class WritingDaemon:
    """A daemon signalled while the main thread writes a log line."""

    def __init__(self, log: Log) -> None:
        self.log = log
        self.stop_requested = False

    def request_stop(self) -> None:
        self.stop_requested = True

    def serve(self, *_args: object) -> None:
        self.log.writing = True
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)  # the handler runs on the main thread between bytecodes
        finally:
            self.log.writing = False


def test_a_sigterm_while_a_log_line_is_written_still_stops_the_daemon_and_is_logged(
    handlers: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The handler logged "stopping" itself: a SIGTERM landing in a write to stderr raised
    there, before the stop was asked for, and the daemon ran on (to Docker's SIGKILL)."""
    runtime, log = Runtime(), Log()
    daemon = WritingDaemon(log)
    settings: Any = SimpleNamespace(baton=SimpleNamespace())
    monkeypatch.setattr(run_cli, "log", log)
    monkeypatch.setattr(run_cli, "settings_or_exit", lambda _env_file: settings)
    monkeypatch.setattr(run_cli, "start_runtime", lambda _settings: runtime)
    monkeypatch.setattr(run_cli.wiring, "daemon_for", lambda *_a, **_k: daemon)
    monkeypatch.setattr(run_cli, "BatonMetrics", lambda **_: None)
    monkeypatch.setattr(run_cli, "serve", lambda *args: daemon.serve(*args))

    run_cli.run(once=False, env_file=None)

    assert daemon.stop_requested
    assert log.stopping.wait(timeout=5)
    assert ("stopping", {"signal": "SIGTERM"}) in log.lines
    assert runtime.closed


class StuckDaemon:
    """A daemon whose batch in hand does not finish soon (a vendor answering slowly, each
    call up to its 30 s timeout): the first Ctrl-C asks for a stop it does not reach."""

    def __init__(self) -> None:
        self.stop_requested = False

    def request_stop(self) -> None:
        self.stop_requested = True

    def serve(self, *_args: object) -> None:
        os.kill(os.getpid(), signal.SIGINT)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # the handler runs between bytecodes
            if self.stop_requested:
                os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C again
            time.sleep(0.01)
        raise AssertionError("a second Ctrl-C did not stop baton run")


def test_a_second_ctrl_c_stops_the_daemon_at_once(
    handlers: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """As `baton backfill`'s: without it, a daemon slow to finish its batch in hand ignored
    every Ctrl-C after the first (SIGKILL the only way out)."""
    runtime, daemon = Runtime(), StuckDaemon()
    settings: Any = SimpleNamespace(baton=SimpleNamespace())
    monkeypatch.setattr(run_cli, "settings_or_exit", lambda _env_file: settings)
    monkeypatch.setattr(run_cli, "start_runtime", lambda _settings: runtime)
    monkeypatch.setattr(run_cli.wiring, "daemon_for", lambda *_a, **_k: daemon)
    monkeypatch.setattr(run_cli, "BatonMetrics", lambda **_: None)
    monkeypatch.setattr(run_cli, "serve", lambda *args: daemon.serve(*args))

    with pytest.raises(SystemExit) as exited:
        run_cli.run(once=False, env_file=None)

    assert exited.value.code == 130
    assert capsys.readouterr().err.strip() == (
        "baton run: stopped at once; what its committed pages did is kept, and the next run "
        "goes on from the last page committed"
    )
    assert runtime.closed
