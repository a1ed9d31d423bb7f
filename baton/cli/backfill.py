"""`baton backfill`: the bulk read paths, with a progress bar per object and a summary table.

Resumable: each listing's position is kept as its pages commit (and the run's counts when it
is interrupted), so running the command again after an interruption goes on where each listing
stopped; `--restart` lists everything again. Rerunning is safe either way: what is already
synced is not written again. `--dry-run` reads, plans and prints; it writes nothing to either
system. `--since` narrows it to the records modified since then (`baton.cli.since`).
"""

from __future__ import annotations

import dataclasses
import logging
import signal
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as RichBar
from rich.table import Column, Table
from rich.text import Text
from sqlalchemy.exc import DBAPIError, OperationalError

from baton.cli.common import (
    EnvFileOption,
    baton_command,
    counted,
    fail,
    hint,
    settings_or_exit,
    stopped_status,
)
from baton.cli.run import StartUpStopped, prepare_hubspot, start_runtime
from baton.cli.since import SPELLINGS, since_parser
from baton.daemon import record_budgets
from baton.facade import Engine, Report
from baton.wiring import Runtime, one_line
from connectors.errors import AuthError, DailyLimitExhausted
from connectors.priority import retries_end_on
from connectors.records import System
from sync.engine import PERSON_OBJECTS, BackfillStopped
from sync.recorder import BackfillRunning
from sync.report import WHOLE_COUNTS

log = logging.getLogger(__name__)

#: The summary's words for a whole count where its name alone would leave the unit open:
#: ambiguous matches are counted in records there (a person's twins are two) and in people
#: by the hint under it, `baton status` and its worklist.
TOTAL_LABELS = {"ambiguous": "ambiguous records"}


class SystemChoice(StrEnum):
    HUBSPOT = "hubspot"
    SALESFORCE = "salesforce"


class RateColumn(ProgressColumn):
    """Records per second over the bar's life."""

    def render(self, task: Task) -> Text:
        elapsed = task.finished_time if task.finished else task.elapsed
        done = task.completed - task.fields.get("resumed", 0)  # what this run listed
        if not elapsed or not done:
            return Text("-- rec/s", style="cyan")
        return Text(f"{done / elapsed:,.0f} rec/s", style="cyan")


def bar_columns(width: int) -> list[ProgressColumn]:
    """A bar's columns for a console `width` wide, each figure on one line, never cut: on a
    narrow one (a log file's 80, COLUMNS=60, a split pane) the bar and the elapsed time give
    way first, so the counts, the rate and the ETA stay whole."""
    whole = Column(no_wrap=True)
    columns: list[ProgressColumn] = [
        SpinnerColumn(table_column=whole),
        TextColumn("[bold]{task.description:<19}", table_column=whole),
    ]
    if width >= 70:
        columns.append(BarColumn(bar_width=40 if width >= 120 else max(10, width - 80)))
    columns += [
        MofNCompleteColumn(table_column=whole),
        RateColumn(table_column=whole),
    ]
    if width >= 100:
        columns.append(TimeElapsedColumn(table_column=whole))
    columns += [
        TextColumn("ETA", table_column=whole),
        TimeRemainingColumn(table_column=whole),
    ]
    return columns


class StopRequested(KeyboardInterrupt):
    """Raised from the progress callback, between units of work, when a stop was asked for.

    A KeyboardInterrupt (not an Exception) so the engine records the run as interrupted, and
    raised only where the engine reports a committed page, never in the middle of a write.
    """


class BarProgress:
    """The engine's `Progress` protocol drawn as one Rich bar per object.

    Setting `stop` ends the backfill at the next page boundary (`StopRequested`).
    """

    def __init__(self, console: Console, stop: threading.Event | None = None) -> None:
        self.stop = stop or threading.Event()
        self.bar = RichBar(*bar_columns(console.width), console=console)
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> BarProgress:
        self.bar.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.bar.stop()

    def _check(self) -> None:
        if self.stop.is_set():
            raise StopRequested("stopped on request (Ctrl-C or SIGTERM)")

    def start(self, label: str, total: int | None, done: int = 0) -> None:
        """A bar for `label`; `done` records were listed by the interrupted run this one goes
        on from (drawn as done, left out of the rate)."""
        self._check()
        if label in self.tasks:  # restarted: keep the bar, update the total
            self.bar.update(self.tasks[label], total=total)
            return
        self.tasks[label] = self.bar.add_task(label, total=total, completed=done, resumed=done)

    def advance(self, label: str, count: int) -> None:
        if label not in self.tasks:
            self.start(label, None)
        self.bar.advance(self.tasks[label], count)
        self._check()

    def finish(self, label: str) -> None:
        if label not in self.tasks:
            return
        task = self.tasks[label]
        done = next((t.completed for t in self.bar.tasks if t.id == task), 0)
        self.bar.update(task, total=done, completed=done)
        self.bar.stop_task(task)


def summary_table(report: Report, *, title: str) -> Table:
    """Per system:object what was read, created and updated, then the run's totals: a row per
    whole count the report keeps (`WHOLE_COUNTS`), so a count added there shows here."""
    table = Table(title=title, title_justify="left")
    for column in ("system:object", "read", "created", "updated"):
        table.add_column(column, justify="left" if column == "system:object" else "right")
    labels = sorted({*report.read, *report.created, *report.updated})
    for label in labels:
        table.add_row(
            label,
            f"{report.read[label]:,}",
            f"{report.created[label]:,}",
            f"{report.updated[label]:,}",
        )
    table.add_section()
    for name in WHOLE_COUNTS:
        label = TOTAL_LABELS.get(name, name.replace("_", " "))
        table.add_row(label, f"{getattr(report, name):,}", "", "")
    return table


def moves_line(stage_moves: Counter[str], *, limit: int = 8) -> str:
    """The most frequent funnel moves (a stage to itself is not a move), on one line."""
    moves = [
        (move, n)
        for move, n in stage_moves.most_common()
        if move.partition("->")[0] != move.partition("->")[2]
    ]
    if not moves:
        return "Funnel moves: none"
    shown = ", ".join(f"{move} {n}" for move, n in moves[:limit])
    left = len(moves) - limit
    more = f" (+{left} more kind{'' if left == 1 else 's'})" if left > 0 else ""
    return f"Funnel moves: {shown}{more}"


def _cells(write: Any) -> Iterator[str]:
    values = (
        [getattr(write, f.name) for f in dataclasses.fields(write)]
        if dataclasses.is_dataclass(write)
        else list(write)
    )
    for value in values:
        if isinstance(value, dict):
            yield "; ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in value.items())
        else:
            yield str(value)


def plan_table(planned: Sequence[Any], *, limit: int = 200) -> Table:
    """The writes a dry run would make (the first `limit` of them)."""
    table = Table(title=f"Planned writes ({len(planned):,})", title_justify="left", show_lines=True)
    first = planned[0] if planned else None
    names = (
        [f.name for f in dataclasses.fields(first)]
        if first is not None and dataclasses.is_dataclass(first)
        else ["record", "system", "object", "changes", "reason"]
    )
    for name in names:
        table.add_column(name, overflow="fold")
    for write in planned[:limit]:
        table.add_row(*_cells(write))
    if len(planned) > limit:
        table.caption = f"... and {len(planned) - limit:,} more"
    return table


def scope(since: datetime | None) -> str:
    """What a backfill reads, for its header and summary."""
    if since is None:
        return "every live record"
    return f"records modified since {since.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


def run_backfill(
    engine: Engine,
    console: Console,
    *,
    systems: Sequence[System] | None,
    objects: Sequence[str] | None,
    dry_run: bool,
    since: datetime | None = None,
    stop: threading.Event | None = None,
    restart: bool = False,
    env_file: Path | None = None,
    command: str = "baton",
) -> Report:
    """Run the engine's backfill under progress bars and print the summary (and the plan).

    Raises `StopRequested` when `stop` is set (at the next page boundary). `env_file` goes
    into the commands the closing hints name (see `next_steps`), spelt as `command` (the demo
    names the venv's, as `make demo` activates none).
    """
    if since is not None:
        console.print(f"Backfilling {scope(since)}.", highlight=False)
    with BarProgress(console, stop) as progress:
        report: Report = engine.backfill(
            systems=systems,
            objects=objects,
            since=since,
            dry_run=dry_run,
            progress=progress,
            restart=restart,
        )
    if dry_run:
        console.print(plan_table(report.planned))
    title = "Backfill plan (dry run: nothing written)" if dry_run else "Backfill done"
    console.print(summary_table(report, title=title))
    if since is not None:
        console.print(f"Scope: {scope(since)}", highlight=False)
    if report.resumed:
        console.print(resumed_line(report.resumed), highlight=False)
    if report.creation_waits:
        console.print(
            "No HubSpot contact was made for Salesforce people without one: HubSpot's contacts "
            "have not all been read yet, and a contact made now could overwrite one Baton has "
            "not read. A backfill of HubSpot (or the daemon's first poll) makes them.",
            highlight=False,
        )
    console.print(moves_line(report.stage_moves), highlight=False)
    for line in next_steps(report, dry_run=dry_run, env_file=env_file, command=command):
        console.print(line, highlight=False)
    return report


def unprepared_line(names: Sequence[str]) -> str:
    """A dry run's footer on a first install. Its plan holds the writes to these properties that
    the planner sees from records as read now (a new contact's, a funnel stage's), but not those
    that follow from their being there (the person's id on contacts already linked, say)."""
    return (
        f"HubSpot lacks Baton's properties {', '.join(names)} (or options of them): a real run "
        "creates them first; this plan shows some of its writes to them, not all, so it may "
        "update more HubSpot contacts than planned."
    )


def resumed_line(resumed: Counter[str]) -> str:
    """What the interrupted backfill had listed, which this one did not list again."""
    parts = ", ".join(f"{label} {n:,}" for label, n in sorted(resumed.items()))
    return (
        f"Went on from an interrupted backfill: records it had listed ({parts}) were not "
        "listed again, and are not in the counts above."
    )


def next_steps(
    report: Report, *, dry_run: bool, env_file: Path | None = None, command: str = "baton"
) -> list[str]:
    """Where to look at what the run could not do (a run ends 0 either way: the records were
    refused by a system, not lost, and stay to be fixed). With `env_file` (the settings this
    run read, which may name another store) the commands carry it, to run as printed."""

    def typed(words: str) -> str:
        return hint(words, env_file, command=command)

    steps = []
    if report.dead_letters and not dry_run:
        steps.append(
            f"{report.dead_letters:,} write(s) refused: '{typed('errors list')}' shows each "
            f"with the system's own error; fix the data, then '{typed('errors retry --all')}'."
        )
    if report.ambiguous_people:
        people, records = len(report.ambiguous_people), report.ambiguous
        who = counted(people, "person", "people")
        met = counted(records, "ambiguous record", "ambiguous records")
        steps.append(
            f"{who} left unlinked by an ambiguous match, not guessed ({met}): "
            f"'{typed('status --ambiguous')}' lists them, '{typed('why EMAIL')}' tells one's "
            "story."
        )
    return steps


class StopOnSignal:
    """The command's SIGINT and SIGTERM handler. While `starting` (nothing read yet, and the
    store or a vendor may not answer) a signal ends start-up at once (`StartUpStopped`).
    Afterwards the first signal asks for a stop at the next page boundary, and says so at once
    (a page can take seconds); a second Ctrl-C interrupts at once. `signals` keeps them, for
    the exit status."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.stop = threading.Event()
        self.signals: list[int] = []
        self.starting = True

    def __call__(self, signum: int, _frame: FrameType | None) -> None:
        self.signals.append(signum)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        if self.starting:
            self.stop.set()
            raise StartUpStopped(signal.Signals(signum).name)
        if not self.stop.is_set():
            self.stop.set()
            # Printed from a thread: the handler may run while the main thread holds the
            # progress display's locks, and printing here could wait on them for ever.
            threading.Thread(target=self._say, name="stop-notice", daemon=True).start()

    def _say(self) -> None:
        self.console.print(
            "Stopping once the page in hand is committed; Ctrl-C again to stop at once.",
            highlight=False,
        )


def _again(exc: Exception, *, dry_run: bool, since: datetime | None) -> str:
    """What running the backfill again does after `exc`, when that helps: after a failure that
    passes by itself (a dropped connection, a limit, the store's server restarting) it goes on
    from the last page each listing committed. Credentials, certificates or a bad request fail
    again; a dry run keeps nothing."""
    store = isinstance(exc, DBAPIError)
    passes = (
        isinstance(exc, OperationalError) or exc.connection_invalidated
        if isinstance(exc, DBAPIError)
        else getattr(exc, "retryable", False) or isinstance(exc, DailyLimitExhausted)
    )
    if dry_run or not passes:
        return ""
    if isinstance(exc, AuthError):  # an expired session that could not be renewed
        return ""
    check = "; check BATON_DATABASE_URL, and that the database server is up" if store else ""
    if since is not None:
        return f"{check} (run it again once that passes: a --since run reads its window again)"
    return (
        f"{check} (run it again once that passes: it goes on from the last page each listing "
        "committed)"
    )


def _keep_budgets(runtime: Runtime) -> None:
    """The API budgets as the run left them, for `baton status`; a store that cannot take
    them costs that line only, never the command's own outcome."""
    try:
        record_budgets(runtime.store, runtime.budgets)
    except Exception as exc:
        log.warning("could not store the API budgets: %s", one_line(exc))


def _unprepared(runtime: Runtime) -> list[str]:
    try:
        return runtime.unprepared()
    except Exception as exc:
        fail(f"baton backfill: cannot read HubSpot's properties: {one_line(exc)}", 1)


def _objects(given: list[str] | None) -> list[str] | None:
    """`--object` values, each one Baton backfills (names are case-sensitive, as the APIs')."""
    known = [obj for _, obj in PERSON_OBJECTS]
    for obj in given or ():
        if obj not in known:
            named = ", ".join(f"{o} ({s})" for s, o in PERSON_OBJECTS)
            raise typer.BadParameter(f"{obj!r} is not one of {named}")
    return given


def backfill(
    system: Annotated[
        SystemChoice | None, typer.Option("--system", help="Only this system's objects.")
    ] = None,
    objects: Annotated[
        list[str] | None,
        typer.Option(
            "--object",
            callback=_objects,
            help="Only this object (repeatable): Lead, Contact (salesforce), contacts (hubspot).",
        ),
    ] = None,
    since: Annotated[
        datetime | None,
        typer.Option(
            "--since",
            parser=since_parser(lambda: datetime.now(UTC)),
            metavar="WHEN",
            help=f"Only records modified since WHEN: {SPELLINGS}.",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Read and plan, print the plan, write nothing.")
    ] = False,
    restart: Annotated[
        bool,
        typer.Option(
            "--restart",
            help="List everything again instead of going on from an interrupted backfill.",
        ),
    ] = False,
    env_file: EnvFileOption = None,
) -> None:
    """Read everything through the bulk paths and bring both systems into agreement.

    After an interruption, run it again: each listing goes on from the last page it
    committed, and what was already synced is not written again.
    """
    console = Console(emoji=False)
    stopper = StopOnSignal(console)
    stop, stopped_by = stopper.stop, stopper.signals
    # First of all, as `baton run` does: start-up can wait on a store or a vendor that does not
    # answer, and as PID 1 (a container) a signal without a handler is ignored.
    signal.signal(signal.SIGINT, stopper)
    signal.signal(signal.SIGTERM, stopper)
    if system is not None:
        for obj in objects or ():
            if (System(system.value), obj) not in PERSON_OBJECTS:
                fail(f"baton backfill: --object {obj!r} is not a {system.value} object", 2)
    runtime: Runtime | None = None
    try:
        settings = settings_or_exit(env_file)
        runtime = start_runtime(settings, keep_schema=dry_run, env_file=env_file)
        if dry_run:
            unprepared = _unprepared(runtime)
        else:  # as the daemon's cycle does first
            unprepared = []
            prepare_hubspot(runtime, "baton backfill")
        stopper.starting = False
        # Once stopped, a call refused for now is not retried (`retries_end_on`): the stop does
        # not wait out minutes of a vendor's back-off, and ends the backfill there.
        with retries_end_on(stop):
            run_backfill(
                runtime.engine,
                console,
                systems=[System(system.value)] if system else None,
                objects=objects or None,
                since=since,
                dry_run=dry_run,
                stop=stop,
                restart=restart,
                env_file=env_file,
                command=baton_command(),
            )
        if unprepared:
            console.print(unprepared_line(unprepared), highlight=False)
    except StartUpStopped:
        stopper.starting = False  # another signal asks for nothing more: this is the way out
        fail(
            "baton backfill: stopped during start-up, before reading any record; run it "
            "again to start",
            stopped_status(stopped_by),
        )
    except (StopRequested, BackfillStopped):
        if dry_run:
            fail(
                "baton backfill: stopped; nothing was written (dry run)", stopped_status(stopped_by)
            )
        fail(
            f"baton backfill: stopped; what it did is kept ('{hint('status', env_file)}'); run "
            "it again to finish: it goes on from the last page each listing committed"
            + (" (a --since run reads its window again)" if since is not None else ""),
            stopped_status(stopped_by),
        )
    except KeyboardInterrupt:  # a second Ctrl-C: at once, maybe mid-page (never committed)
        if dry_run:
            fail(
                "baton backfill: stopped at once; nothing was written (dry run)",
                stopped_status(stopped_by),
            )
        fail(
            "baton backfill: stopped at once; what its committed pages did is kept "
            f"('{hint('status', env_file)}'); run it again to finish: it goes on from the last "
            "page each listing committed"
            + (" (a --since run reads its window again)" if since is not None else ""),
            stopped_status(stopped_by),
        )
    except BackfillRunning as exc:
        fail(f"baton backfill: {exc}", 1)
    except Exception as exc:
        fail(f"baton backfill: {one_line(exc)}{_again(exc, dry_run=dry_run, since=since)}", 1)
    finally:
        if runtime is not None:
            _keep_budgets(runtime)
            runtime.close()
