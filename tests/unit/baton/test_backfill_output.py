"""The backfill command's output over a fake engine: bars, plan, summary, stopping between pages."""

from __future__ import annotations

import io
import re
import shlex
import signal
import threading
import uuid
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from uuid import uuid4

import pytest
from rich.console import Console
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from baton.cli import backfill as backfill_cli
from baton.cli.backfill import (
    BarProgress,
    RateColumn,
    StopRequested,
    moves_line,
    next_steps,
    run_backfill,
    summary_table,
    unprepared_line,
)
from baton.cli.common import stopped_status
from connectors.errors import (
    AuthError,
    ConfigError,
    DailyLimitExhausted,
    SessionExpired,
    TransientError,
)
from connectors.records import System
from sync.report import WHOLE_COUNTS, CycleReport, PlannedWrite


class PagedEngine:
    """Reports progress the way the engine does: start, a page at a time, finish."""

    def __init__(self, pages: int = 3) -> None:
        self.pages = pages
        self.committed = 0
        self.calls: list[dict[str, Any]] = []

    def backfill(self, *, progress: Any = None, **kwargs: Any) -> CycleReport:
        self.calls.append(kwargs)
        progress.start("hubspot:contacts", None)
        for _ in range(self.pages):
            self.committed += 1
            progress.advance("hubspot:contacts", 500)
        progress.finish("hubspot:contacts")
        planned = (
            [
                PlannedWrite(
                    "new", System.SALESFORCE, "Lead", {"Status": (None, "Open")}, "mql handoff"
                )
            ]
            if kwargs["dry_run"]
            else []
        )
        return CycleReport(
            read=Counter({"hubspot:contacts": 1500}),
            created=Counter({"salesforce:Lead": 12}),
            stage_moves=Counter({"mql->sal": 3, "sal->sal": 9}),
            planned=planned,
        )


def console() -> Console:
    return Console(file=io.StringIO(), width=160, force_terminal=False)


def test_the_summary_counts_per_object_and_moves() -> None:
    out = console()
    run_backfill(PagedEngine(), out, systems=None, objects=None, dry_run=False)
    text = out.file.getvalue()  # type: ignore[attr-defined]
    assert "Backfill done" in text
    assert "hubspot:contacts" in text
    assert "1,500" in text
    assert "Funnel moves: mql->sal 3" in text
    assert "sal->sal" not in text


def test_a_dry_run_prints_the_plan() -> None:
    out = console()
    engine = PagedEngine()
    run_backfill(engine, out, systems=[System.HUBSPOT], objects=["contacts"], dry_run=True)
    text = out.file.getvalue()  # type: ignore[attr-defined]
    assert engine.calls == [
        {
            "systems": [System.HUBSPOT],
            "objects": ["contacts"],
            "since": None,
            "dry_run": True,
            "restart": False,
        }
    ]
    assert "Planned writes (1)" in text
    assert "Status: None -> 'Open'" in text
    assert "dry run: nothing written" in text


def test_a_stop_ends_the_backfill_at_the_next_page_boundary() -> None:
    stop = threading.Event()
    engine = PagedEngine(pages=5)

    class StopAfterTwo(PagedEngine):
        def backfill(self, *, progress: Any = None, **kwargs: Any) -> CycleReport:
            progress.start("x", None)
            for page in range(5):
                engine.committed += 1
                if page == 1:
                    stop.set()
                progress.advance("x", 1)
            return CycleReport()

    with pytest.raises(StopRequested):
        run_backfill(
            StopAfterTwo(), console(), systems=None, objects=None, dry_run=False, stop=stop
        )
    assert engine.committed == 2


def test_moves_line_counts_the_kinds_left_out_in_good_english() -> None:
    nine = Counter({f"mql->s{n}": 10 - n for n in range(9)})
    assert moves_line(nine).endswith("mql->s7 3 (+1 more kind)")
    assert moves_line(Counter({f"mql->s{n}": 20 - n for n in range(10)})).endswith(
        "(+2 more kinds)"
    )


def test_moves_line_without_moves() -> None:
    assert moves_line(Counter({"mql->mql": 2})) == "Funnel moves: none"


def test_refusals_and_ambiguities_point_to_the_commands_that_show_them() -> None:
    # three records, two people (one's twins): people, as 'baton status' counts them, and
    # the records the summary table's row counts
    report = CycleReport(dead_letters=3, ambiguous=3, ambiguous_people={uuid4(), uuid4()})
    assert next_steps(report, dry_run=False) == [
        "3 write(s) refused: 'baton errors list' shows each with the system's own error; fix "
        "the data, then 'baton errors retry --all'.",
        "2 people left unlinked by an ambiguous match, not guessed (3 ambiguous records): "
        "'baton status --ambiguous' lists them, 'baton why EMAIL' tells one's story.",
    ]


def test_the_summary_totals_are_the_reports_whole_counts_each_in_its_unit() -> None:
    """A row per whole count the report keeps (`WHOLE_COUNTS`, in its order), so none can be
    left out (`not_handed_off` was); the ambiguous row says it counts records, as the hint
    under it counts people."""
    report = CycleReport(
        read=Counter({"hubspot:contacts": 3}),
        **{name: n for n, name in enumerate(WHOLE_COUNTS, start=1)},  # type: ignore[arg-type]
    )
    out = console()
    out.print(summary_table(report, title="Backfill done"))
    rows = [
        [cell.strip() for cell in line.split("│")[1:3]]
        for line in out.file.getvalue().splitlines()  # type: ignore[attr-defined]
        if "│" in line
    ]
    assert rows[1:] == [
        ["unchanged", "1"],
        ["conflicts", "2"],
        ["dead letters", "3"],
        ["ambiguous records", "4"],
        ["deletes flagged", "5"],
        ["deletes propagated", "6"],
        ["retry later", "7"],
        ["not handed off", "8"],
    ]
    assert next_steps(CycleReport(), dry_run=False) == []


def test_the_retry_hint_is_a_command_the_cli_accepts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run as printed, the hint gets past the argument check ('give dead-letter ids or --all')."""
    from typer.testing import CliRunner

    from baton.cli import app
    from baton.cli import errors as errors_cli

    [hint] = next_steps(CycleReport(dead_letters=1), dry_run=False)
    [command] = re.findall(r"'(baton errors retry[^']*)'", hint)
    reached: list[bool] = []

    def settings_reached(env_file: object) -> Any:
        reached.append(True)
        raise SystemExit(0)

    monkeypatch.setattr(errors_cli, "settings_or_exit", settings_reached)
    result = CliRunner().invoke(app, shlex.split(command)[1:])
    assert "give dead-letter ids" not in result.output
    assert reached == [True]


class FailingEngine:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def backfill(self, **kwargs: Any) -> CycleReport:
        raise self.error


@pytest.mark.parametrize(
    ("error", "args", "resumes"),
    [
        (TransientError("connection failed (ConnectError)", system=System.HUBSPOT), {}, True),
        (DailyLimitExhausted("daily API limit spent", system=System.SALESFORCE), {}, True),
        (TransientError("connection failed", system=System.HUBSPOT), {"dry_run": True}, False),
        (AuthError("invalid token", system=System.HUBSPOT), {}, False),
        (SessionExpired("session expired", system=System.SALESFORCE), {}, False),
        (ConfigError("TLS certificate verification failed", setting="ca_file", fix="x"), {}, False),
        # the store's server went away (PostgreSQL restarted): it passes, the pages are kept
        (OperationalError("SELECT 1", {}, Exception("server closed the connection")), {}, True),
        (
            DBAPIError(
                "SELECT 1", {}, Exception("terminating connection"), connection_invalidated=True
            ),
            {},
            True,
        ),
        (DBAPIError("SELECT 1", {}, Exception("bad value")), {}, False),
        (IntegrityError("INSERT", {}, Exception("duplicate key")), {}, False),
        (OperationalError("SELECT 1", {}, Exception("closed")), {"dry_run": True}, False),
    ],
)
def test_a_failed_backfill_says_run_it_again_only_when_that_helps(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    error: Exception,
    args: dict[str, Any],
    resumes: bool,
) -> None:
    runtime = SimpleNamespace(
        engine=FailingEngine(error),
        store=None,
        budgets={},
        unprepared=lambda: [],
        prepare_systems=lambda: [],
        close=lambda: None,
    )
    monkeypatch.setattr(backfill_cli, "settings_or_exit", lambda env_file: None)
    monkeypatch.setattr(backfill_cli, "start_runtime", lambda settings, **_: runtime)
    monkeypatch.setattr(backfill_cli, "_keep_budgets", lambda runtime: None)
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    try:
        with pytest.raises(SystemExit) as exited:
            backfill_cli.backfill(**args)
    finally:
        signal.signal(signal.SIGINT, handlers[0])
        signal.signal(signal.SIGTERM, handlers[1])
    assert exited.value.code == 1
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"baton backfill: {type(error).__name__}: ")
    assert ("run it again" in line) is resumes, line
    assert ("check BATON_DATABASE_URL" in line) is (resumes and isinstance(error, DBAPIError))


def test_a_stop_exits_as_the_shell_reports_its_signal() -> None:
    assert stopped_status([signal.SIGTERM]) == 143
    assert stopped_status([signal.SIGINT, signal.SIGTERM]) == 130  # the first one asked
    assert stopped_status([]) == 130


def test_a_backfill_that_went_on_from_an_interrupted_one_says_so() -> None:
    class Resumed(PagedEngine):
        def backfill(self, *, progress: Any = None, **kwargs: Any) -> CycleReport:
            report = super().backfill(progress=progress, **kwargs)
            report.resumed = Counter({"hubspot:contacts": 6000, "salesforce:Lead": 40})
            return report

    out = console()
    engine = Resumed()
    run_backfill(engine, out, systems=None, objects=None, dry_run=False, restart=False)
    text = out.file.getvalue()  # type: ignore[attr-defined]
    assert "Went on from an interrupted backfill" in text
    assert "hubspot:contacts 6,000, salesforce:Lead 40" in text
    assert "not in the counts above" in text


def test_restart_reaches_the_engine() -> None:
    engine, out = PagedEngine(), console()
    run_backfill(engine, out, systems=None, objects=None, dry_run=False, restart=True)
    assert engine.calls[0]["restart"] is True
    assert "Went on" not in out.file.getvalue()  # type: ignore[attr-defined]


def test_a_resumed_bar_starts_at_what_was_listed_and_its_rate_counts_only_this_run() -> None:
    bars = BarProgress(console())
    bars.start("hubspot:contacts", 2000, done=1500)
    bars.advance("hubspot:contacts", 500)
    [task] = bars.bar.tasks
    assert task.completed == 2000
    finished = SimpleNamespace(
        finished=True, finished_time=10.0, elapsed=10.0, completed=2000, fields=task.fields
    )
    assert str(RateColumn().render(finished)) == "50 rec/s"  # type: ignore[arg-type]


def test_a_backfill_whose_creation_pass_waited_says_why_and_what_makes_them() -> None:
    class Waiting(PagedEngine):
        def backfill(self, *, progress: Any = None, **kwargs: Any) -> CycleReport:
            report = super().backfill(progress=progress, **kwargs)
            report.creation_waits = True
            return report

    out = console()
    run_backfill(Waiting(), out, systems=[System.SALESFORCE], objects=None, dry_run=False)
    text = out.file.getvalue()  # type: ignore[attr-defined]
    assert "No HubSpot contact was made for Salesforce people without one" in text
    assert "A backfill of HubSpot (or the daemon's first poll) makes them" in text


def test_the_first_stop_signal_says_at_once_that_the_page_in_hand_ends_first() -> None:
    out = console()
    stopper = backfill_cli.StopOnSignal(out)
    stopper.starting = False  # the backfill is under way
    previous = signal.getsignal(signal.SIGINT)
    try:
        stopper(signal.SIGTERM, None)
        stopper(signal.SIGINT, None)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # next one: now
    finally:
        signal.signal(signal.SIGINT, previous)
    notices = [t for t in threading.enumerate() if t.name == "stop-notice"]
    for notice in notices:
        notice.join(5)
    text = out.file.getvalue()  # type: ignore[attr-defined]
    assert stopper.stop.is_set()
    assert stopper.signals == [signal.SIGTERM, signal.SIGINT]
    assert text.count("Stopping once the page in hand is committed") == 1


def test_the_hints_carry_the_env_file_the_run_read(tmp_path: Path) -> None:
    """The demo's store is not the default one: its hints must run as printed."""
    report = CycleReport(dead_letters=1, ambiguous=1, ambiguous_people={uuid4()})
    env_file = Path(".baton/demo/sandbox.env")
    assert next_steps(report, dry_run=False, env_file=env_file) == [
        "1 write(s) refused: 'baton errors list --env-file .baton/demo/sandbox.env' shows each "
        "with the system's own error; fix the data, then 'baton errors retry --all --env-file "
        ".baton/demo/sandbox.env'.",
        "1 person left unlinked by an ambiguous match, not guessed (1 ambiguous record): "
        "'baton status --ambiguous --env-file .baton/demo/sandbox.env' lists them, 'baton why "
        "EMAIL --env-file .baton/demo/sandbox.env' tells one's story.",
    ]
    spaced = next_steps(report, dry_run=True, env_file=tmp_path / "my demo" / "sandbox.env")
    assert spaced == [
        f"1 person left unlinked by an ambiguous match, not guessed (1 ambiguous record): "
        f"'baton status --ambiguous --env-file \"{tmp_path}/my demo/sandbox.env\"' lists them, "
        f"'baton why EMAIL --env-file \"{tmp_path}/my demo/sandbox.env\"' tells one's story."
    ]
    assert next_steps(report, dry_run=True, env_file=Path('a "$b"/x.env'))[0].split("'")[1] == (
        'baton status --ambiguous --env-file "a \\"\\$b\\"/x.env"'
    )


def test_the_first_install_footer_names_the_properties_without_disowning_the_plan() -> None:
    assert unprepared_line(["baton_id", "funnel_stage"]) == (
        "HubSpot lacks Baton's properties baton_id, funnel_stage (or options of them): a real "
        "run creates them first; this plan shows some of its writes to them, not all, so it may "
        "update more HubSpot contacts than planned."
    )


def test_the_demos_hints_name_the_cli_as_given() -> None:
    """`make demo` activates no venv: its hints name `.venv/bin/baton`, as given."""
    report = CycleReport(dead_letters=1)
    report.ambiguous_people.add(uuid.uuid4())

    hints = next_steps(report, dry_run=False, command=".venv/bin/baton")

    assert "'.venv/bin/baton errors list'" in hints[0]
    assert "'.venv/bin/baton errors retry --all'" in hints[0]
    assert "'.venv/bin/baton status --ambiguous'" in hints[1]
    assert "'.venv/bin/baton why EMAIL'" in hints[1]


@pytest.mark.parametrize("width", [60, 80, 120])
def test_each_bar_is_one_line_with_its_counts_rate_and_eta_whole(width: int) -> None:
    """A narrow terminal (COLUMNS=60, a split pane) or a log file (80 wide): the figures a
    user reads are never cut to '1000…' or wrapped under the bar; the bar gives way first."""
    out = Console(file=io.StringIO(), width=width, force_terminal=False)
    with BarProgress(out) as bars:
        bars.start("salesforce:Contact", 2_900)
        bars.advance("salesforce:Contact", 2_900)
        bars.finish("salesforce:Contact")
        bars.start("hubspot:contacts", 20_003)
        bars.advance("hubspot:contacts", 10_000)
        for task in bars.bar.tasks:  # 10 s in: 290 and 1,000 records a second
            task.start_time = (task.start_time or 0.0) - 10.0
            if task.finished_time is not None:
                task.finished_time = 10.0
    lines = [line for line in out.file.getvalue().splitlines() if line.strip()]  # type: ignore[attr-defined]
    assert len(lines) == 2, lines
    assert all(len(line) <= width for line in lines)
    assert "2900/2900" in lines[0]
    assert "290 rec/s" in lines[0]
    assert re.search(r"10000/20003 +1,000 rec/s .*ETA +-:--:--$", lines[1]), lines[1]
    assert not any("…" in line for line in lines), lines
