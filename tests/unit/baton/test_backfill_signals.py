"""`baton backfill` handles SIGTERM and Ctrl-C from its first line, as `baton run` does: start-up
can wait on a store or on HubSpot (Baton's properties are made then), and as PID 1 in a
container a signal without a handler is ignored."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType, SimpleNamespace
from typing import Any

import pytest

from baton.cli import backfill as backfill_cli
from connectors.errors import AuthError
from connectors.records import System


class Unhandled(Exception):
    """What the test's own handler raises: baton had not installed its handler yet."""


def unhandled(_signum: int, _frame: FrameType | None) -> None:
    raise Unhandled("the signal arrived before baton backfill installed its handler")


@pytest.fixture
def handlers() -> Iterator[None]:
    """The test's own handlers, in place of the defaults (which would end pytest); both are put
    back afterwards."""
    term = signal.signal(signal.SIGTERM, unhandled)
    interrupt = signal.signal(signal.SIGINT, unhandled)
    yield
    signal.signal(signal.SIGTERM, term)
    signal.signal(signal.SIGINT, interrupt)


def stuck(signum: int) -> Any:
    """A start-up step that is signalled and then waits, as on a store or a vendor that does
    not answer."""

    def step(*_args: object, **_kwargs: object) -> Any:
        os.kill(os.getpid(), signum)
        time.sleep(30)
        raise AssertionError("start-up went on after the signal")

    return step


def never(**_kwargs: object) -> None:
    raise AssertionError("the backfill began after a stop during start-up")


class Runtime:
    """What `baton backfill` touches of a runtime before the engine runs."""

    def __init__(self, prepare: Any = lambda: []) -> None:
        self.prepare_systems = prepare
        self.unprepared = prepare
        self.budgets: dict[str, object] = {}
        self.store = None
        self.closed = False
        self.engine = SimpleNamespace(backfill=never)

    def close(self) -> None:
        self.closed = True


def run(monkeypatch: pytest.MonkeyPatch, runtime: Any, **args: Any) -> int:
    monkeypatch.setattr(backfill_cli, "settings_or_exit", lambda _env_file: None)
    monkeypatch.setattr(backfill_cli, "start_runtime", runtime)
    monkeypatch.setattr(backfill_cli, "_keep_budgets", lambda _runtime: None)
    began = time.monotonic()
    with pytest.raises(SystemExit) as exited:
        backfill_cli.backfill(**args)
    assert time.monotonic() - began < 5  # at once, not after what it waited on
    assert isinstance(exited.value.code, int)
    return exited.value.code


STOPPED = (
    "baton backfill: stopped during start-up, before reading any record; run it again to start"
)


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_while_the_store_is_opened_ends_start_up_at_once(
    handlers: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    signum: int,
    code: int,
) -> None:
    assert run(monkeypatch, stuck(signum)) == code
    assert capsys.readouterr().err.strip() == STOPPED


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_sigterm_while_hubspots_properties_are_read_or_made_ends_start_up_and_closes(
    handlers: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    dry_run: bool,
) -> None:
    """A real run makes the properties (`prepare_systems`), a dry run reads which it would
    (`unprepared`); either can wait on HubSpot."""
    runtime = Runtime(prepare=stuck(signal.SIGTERM))

    assert run(monkeypatch, lambda _settings, **_: runtime, dry_run=dry_run) == 143

    assert capsys.readouterr().err.strip() == STOPPED
    assert runtime.closed


def test_hubspot_refusing_the_properties_is_one_line_naming_what_to_check(
    handlers: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def refused() -> list[str]:
        raise AuthError(
            "HubSpot rejected the access token",
            system=System.HUBSPOT,
            operation="contacts.properties",
            status=401,
        )

    runtime = Runtime(prepare=refused)

    assert run(monkeypatch, lambda _settings, **_: runtime) == 1

    assert capsys.readouterr().err.strip() == (
        "baton backfill: cannot create Baton's HubSpot properties: AuthError: hubspot "
        "contacts.properties: HubSpot rejected the access token [401]; check "
        "BATON_HUBSPOT_ACCESS_TOKEN (or the OAuth client and refresh token)"
    )
    assert runtime.closed


def test_a_stopped_backfill_names_the_status_of_the_store_it_wrote(
    handlers: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    """A backfill given `--env-file` (the demo's store, say) points at that store's status:
    'baton status' typed as printed would read the default store."""

    def stopped(**_kwargs: object) -> None:
        raise backfill_cli.StopRequested("stopped on request (Ctrl-C or SIGTERM)")

    runtime = Runtime()
    runtime.engine = SimpleNamespace(backfill=stopped)
    monkeypatch.setattr("baton.cli.common.baton_command", lambda: "baton")
    env_file = tmp_path / "sandbox.env"

    assert run(monkeypatch, lambda _settings, **_: runtime, env_file=env_file) == 130

    err = capsys.readouterr().err
    assert f"what it did is kept ('baton status --env-file {env_file}')" in " ".join(err.split())


def test_a_second_ctrl_c_that_stops_at_once_still_ends_with_one_line(
    handlers: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The first Ctrl-C asks for a stop at the next page, the second stops at once (a bare
    KeyboardInterrupt): the command ended 130 saying nothing, the notice of the first the
    last line on the screen."""

    def interrupted(**_kwargs: object) -> None:
        raise KeyboardInterrupt

    runtime = Runtime()
    runtime.engine = SimpleNamespace(backfill=interrupted)
    monkeypatch.setattr("baton.cli.common.baton_command", lambda: "baton")

    assert run(monkeypatch, lambda _settings, **_: runtime) == 130

    err = " ".join(capsys.readouterr().err.split())
    assert err.startswith("baton backfill: stopped at once; what its committed pages did is kept")
    assert "run it again to finish" in err
    assert runtime.closed


def test_a_finished_backfills_hints_name_the_cli_as_this_shell_types_it(
    handlers: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Without an activated venv (`make demo` activates none) a bare 'baton errors list' is
    not found: the closing hints name the CLI as its stop lines and every other command's do."""
    from uuid import uuid4

    from sync.report import CycleReport

    def finished(**_kwargs: object) -> CycleReport:
        return CycleReport(dead_letters=1, ambiguous=1, ambiguous_people={uuid4()})

    runtime = Runtime()
    runtime.engine = SimpleNamespace(backfill=finished)
    monkeypatch.setattr(backfill_cli, "baton_command", lambda: ".venv/bin/baton")
    monkeypatch.setattr(backfill_cli, "settings_or_exit", lambda _env_file: None)
    monkeypatch.setattr(backfill_cli, "start_runtime", lambda _settings, **_: runtime)
    monkeypatch.setattr(backfill_cli, "_keep_budgets", lambda _runtime: None)

    backfill_cli.backfill()

    out = " ".join(capsys.readouterr().out.split())
    assert "'.venv/bin/baton errors list'" in out
    assert "'.venv/bin/baton errors retry --all'" in out
    assert "'.venv/bin/baton status --ambiguous'" in out
    assert "'.venv/bin/baton why EMAIL'" in out
    assert runtime.closed
