"""`baton run` handles SIGTERM from its first line: as PID 1 in a container a signal without a
handler is ignored, so a stop during start-up would be waited out (then SIGKILLed)."""

from __future__ import annotations

import os
import signal
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
    handlers: None, monkeypatch: pytest.MonkeyPatch, once: bool
) -> None:
    runtime = Runtime()
    settings: Any = SimpleNamespace(baton=SimpleNamespace())

    def stuck_start(_runtime: object, **_: object) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(30)  # a database or a vendor that does not answer
        raise AssertionError("start-up went on after SIGTERM")

    monkeypatch.setattr(run_cli, "settings_or_exit", lambda _env_file: settings)
    monkeypatch.setattr(run_cli, "start_runtime", lambda _settings, prepare: runtime)
    monkeypatch.setattr(run_cli.wiring, "daemon_for", stuck_start)
    monkeypatch.setattr(run_cli, "BatonMetrics", lambda **_: None)
    began = time.monotonic()

    run_cli.run(once=once, env_file=None)  # returns: exit status 0

    assert time.monotonic() - began < 5
    assert runtime.closed
