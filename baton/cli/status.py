"""`baton status`: cursors and lag, last runs, dead letters, links, ambiguous matches, budget.

Also home of what the read commands (`status`, `why`, `errors`, `scorecard`) share: opening
the store named by BATON_DATABASE_URL without migrating it, one clear line when it is missing,
`--json` output and human durations.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy import Connection, make_url

from baton.cli.common import EnvFileOption, counted, fail, hint, store_errors
from baton.settings import BatonSettings, SettingsError, load_baton
from sync.queries.ambiguous import AmbiguousList
from sync.queries.ambiguous import ambiguous as ambiguous_query
from sync.queries.export import to_jsonable
from sync.queries.scorecard import sla_hours
from sync.queries.status import ListingStatus, RunSummary, Status
from sync.queries.status import status as status_query
from sync.store.engine import for_reading, make_engine
from sync.store.migrate import current_revision, revision_problem

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print JSON (for machines) instead of tables.")
]


def baton_settings(env_file: Path | None) -> BatonSettings:
    """Baton's own settings (the read commands need no connector credentials), or exit 2."""
    try:
        return load_baton(env_file)
    except SettingsError as exc:
        fail(f"baton: {exc}", 2)


def missing_store_file(database_url: str) -> str | None:
    """The SQLite file `database_url` names, when there is none yet (opening would make it)."""
    url = make_url(database_url)
    on_file = url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:")
    return str(url.database) if on_file and not Path(str(url.database)).is_file() else None


@contextmanager
def open_store(
    settings: BatonSettings, *, write: bool = False, env_file: Path | None = None
) -> Iterator[Connection]:
    """A connection in one transaction on the existing store; never creates or migrates it.

    Read-only callers get a deferred transaction, so they never hold the daemon's write lock.
    A missing SQLite file, an unmigrated database, one behind or ahead of this Baton's
    migrations, or one that cannot be read (not a database, server down) ends with one line
    naming BATON_DATABASE_URL and exit status 2; the command it names to fix the store carries
    `env_file`, which named the store (typed without it, it would fix the default one).
    """
    url = make_url(settings.database())
    missing = missing_store_file(settings.database())
    upgrade = hint("db upgrade", env_file)
    if missing is not None:
        fail(
            f"baton: no store at {missing}; run '{upgrade}' (or '{hint('run', env_file)}') "
            "first, or point BATON_DATABASE_URL at the store (in the environment, .env or "
            "the file given with --env-file)",
            2,
        )
    with store_errors(settings.database(), env_file=env_file):
        engine = make_engine(url)
        try:
            with (engine if write else for_reading(engine)).begin() as conn:
                revision = current_revision(conn)
                # None: no Baton store at all, which the first query names; else one a
                # newer Baton migrated, or one the daemon has not upgraded yet.
                shown = f"the store at {url.render_as_string(hide_password=True)}"
                problem = (
                    revision_problem(revision, shown, upgrade=upgrade)
                    if revision is not None
                    else None
                )
                if problem is not None:
                    fail(f"baton: {problem}", 2)
                yield conn
        finally:
            engine.dispose()


def print_json(value: Any) -> None:
    typer.echo(json.dumps(to_jsonable(value), indent=2))


def human(delta: timedelta | None) -> str:
    """A duration as people read it: '2d 3h', '5h 07m', '3m 20s', '0.4s'; '-' for none."""
    if delta is None:
        return "-"
    seconds = delta.total_seconds()
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    if seconds < 10:
        return f"{sign}{seconds:.1f}s"
    whole = int(seconds)
    days, rest = divmod(whole, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{sign}{days}d {hours}h"
    if hours:
        return f"{sign}{hours}h {minutes:02d}m"
    return f"{sign}{minutes}m {secs:02d}s"


def summarize(counts: Mapping[str, int]) -> dict[str, int]:
    """Run counts folded for a table cell: 'read.hubspot:contacts' and friends add up under 'read'
    ('baton status --json' keeps every key)."""
    folded: dict[str, int] = {}
    for key, value in counts.items():
        name = key.split(".", 1)[0]
        folded[name] = folded.get(name, 0) + value
    return folded


def when(at: datetime | None) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if at is not None else "-"


def stale_note(run: RunSummary) -> str:
    return (
        f"no heartbeat for {human(run.heartbeat_age)}: the process likely died; "
        "the next run closes it as interrupted"
    )


def unfinished_line(
    listings: Sequence[ListingStatus], *, running: bool = False, env_file: Path | None = None
) -> str:
    """Where a backfill's listings stand: in progress, or interrupted and what the next
    backfill does then (the command as typed here, with this command's `env_file`)."""
    began = min(listing.started_at for listing in listings)
    parts = ", ".join(
        f"{listing.system}:{listing.object} "
        + ("listed" if listing.done else f"{listing.listed:,} listed so far")
        for listing in listings
    )
    if running:
        return f"Backfill in progress (begun {when(began)}): {parts}."
    again = escape(hint("backfill", env_file))
    return (
        f"Backfill interrupted (begun {when(began)}): {parts}; '{again}' goes on from there "
        "('--restart' lists everything again)."
    )


#: People `baton status --ambiguous` lists unless `--limit` says otherwise.
AMBIGUOUS_LIMIT = 50
#: Recent runs `baton status` shows unless `--runs` says otherwise.
RECENT_RUNS = 5


def status(
    json_output: JsonOption = False,
    runs: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=100,
            help=f"Without --ambiguous: how many recent runs to show (default: {RECENT_RUNS}).",
            show_default=False,
        ),
    ] = None,
    ambiguous: Annotated[
        bool,
        typer.Option(
            "--ambiguous",
            help="Instead, list the people left unlinked by an ambiguous match, newest first: "
            "email, the records refused them and why.",
        ),
    ] = False,
    limit: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=100_000,
            help=f"With --ambiguous: at most this many people (default: {AMBIGUOUS_LIMIT}).",
            show_default=False,
        ),
    ] = None,
    env_file: EnvFileOption = None,
) -> None:
    """Show cursors and lag, the last runs, dead letters, links, ambiguous matches and budget."""
    if limit is not None and not ambiguous:
        fail("baton status: --limit counts the people of --ambiguous; add --ambiguous", 2)
    if runs is not None and ambiguous:
        fail(
            "baton status: --runs counts the runs of the status report, which --ambiguous "
            "shows none of; drop --runs (--limit N bounds the people it lists)",
            2,
        )
    settings = baton_settings(env_file)
    with open_store(settings, env_file=env_file) as conn:
        report: Status | AmbiguousList = (
            ambiguous_query(conn, limit=limit or AMBIGUOUS_LIMIT)
            if ambiguous
            else status_query(
                conn,
                now=datetime.now(UTC),
                runs=runs or RECENT_RUNS,
                sla=timedelta(hours=settings.sla_hours),
            )
        )
    if json_output:
        print_json(report)
        return
    console = Console(emoji=False, highlight=False)
    if isinstance(report, AmbiguousList):
        render_ambiguous(report, console, env_file=env_file)
    else:
        render(report, console, env_file=env_file)


def render_ambiguous(
    listed: AmbiguousList, console: Console, *, env_file: Path | None = None
) -> None:
    """The worklist: a block per person, their email first, then each record refused them
    with whether it is linked now, when it was noted and why (their id and current records
    are `baton why`'s, and in the JSON). Blocks, not a table: an email, a record id and the
    reason are each wider than a third of an 80-column screen."""
    if not listed.people:
        console.print("No ambiguous matches: every record read was linked or is its own person.")
        return
    console.print(
        f"Ambiguous matches, newest first: {counted(listed.total, 'person', 'people')} left "
        f"unlinked, not guessed ({counted(listed.records, 'record', 'records')})"
    )
    for person in listed.people:
        console.print()
        console.print(f"[bold]{escape(person.email or '(no email)')}[/bold]")
        for candidate in person.candidates:
            if candidate.owner is None:
                now = "not linked"
            elif candidate.owner == person.person_id:
                now = "linked to them"
            else:
                now = f"person {candidate.owner}'s"
            console.print(
                f"  {escape(str(candidate.key))}  {now}, noted {when(candidate.noted_at)}",
                overflow="fold",
            )
            console.print(f"    {escape(candidate.why)}", overflow="fold")
    console.print()
    if len(listed.people) < listed.total:
        console.print(
            f"Showing the {len(listed.people)} newest of {listed.total} people; "
            "'--limit N' shows more."
        )
    console.print(
        "Baton never picks one: give the record that is theirs the person's id (Salesforce "
        "Baton_Id__c, HubSpot baton_id), and the next sync that reads it links it; "
        f"'{escape(hint('why EMAIL', env_file))}' shows that id, their records and story."
    )


def _runs_table(title: str, rows: Sequence[RunSummary]) -> Table:
    runs = Table(title=title, title_justify="left")
    for column in ("started", "kind", "status", "duration", "heartbeat", "counts", "error"):
        runs.add_column(column, overflow="fold")
    for run in rows:
        counts = ", ".join(f"{k} {v}" for k, v in summarize(run.counts).items() if v) or "-"
        shown = "running, stale" if run.stale else run.status
        style = "red" if run.status == "failed" or run.stale else ""
        runs.add_row(
            when(run.started_at),
            run.kind,
            f"[{style}]{shown}[/]" if style else shown,
            human(run.duration),
            f"{human(run.heartbeat_age)} ago" if run.heartbeat_age is not None else "-",
            escape(counts),
            escape(stale_note(run) if run.stale else run.error or ""),
        )
    return runs


def render(report: Status, console: Console, *, env_file: Path | None = None) -> None:
    """The report as tables; its hints carry `env_file`, so they read this same store."""
    cursors = Table(title="Cursors (lag = now - cursor; times UTC)", title_justify="left")
    for column in ("system", "object", "cursor", "last id", "lag", "run upper bound"):
        cursors.add_column(column)
    for c in report.cursors:
        cursors.add_row(
            c.system, c.object, when(c.cursor), c.last_id or "-", human(c.lag), when(c.upper_bound)
        )
    console.print(cursors if report.cursors else "No cursors yet: nothing has been read.")

    console.print(
        _runs_table("Last runs (times UTC)", report.runs) if report.runs else "No runs yet."
    )
    if report.latest_by_kind:
        # the daemon records a run per poll: the recent list soon holds nothing else
        title = "Latest run of each kind (daemon: a poll; times UTC)"
        console.print(_runs_table(title, report.latest_by_kind))
    if report.unfinished_backfill:
        console.print(
            unfinished_line(
                report.unfinished_backfill, running=report.backfill_running, env_file=env_file
            )
        )

    letters = ", ".join(f"{k} {v}" for k, v in report.dead_letters.items())
    console.print(f"Dead letters: {letters}")
    if report.open_errors:
        errors = Table(title="Open dead letters by system and code", title_justify="left")
        for column in ("system", "vendor code", "count"):
            errors.add_column(column)
        for group in report.open_errors:
            errors.add_row(group.system, escape(group.vendor_code or "-"), str(group.count))
        console.print(errors)

    people = counted(report.people, "person", "people")
    links = Table(title=f"Identity links ({people})", title_justify="left")
    for column in ("system", "object", "active", "inactive"):
        links.add_column(column)
    for row in report.links:
        links.add_row(row.system, row.object, str(row.active), str(row.inactive))
    console.print(links if report.links else f"No links yet ({people}).")
    last = (
        "no poll or backfill has counted them yet"
        if report.ambiguous_last_run is None
        else f"the last poll or backfill to end met {report.ambiguous_last_run}"
    )
    if report.ambiguous_people:
        console.print(
            f"Ambiguous matches: {counted(report.ambiguous_people, 'person', 'people')} left "
            "unlinked, not guessed "
            f"({last}); '{escape(hint('status --ambiguous', env_file))}' lists them, "
            f"'{escape(hint('why EMAIL', env_file))}' tells one's story."
        )
    else:  # nothing for --ambiguous to list
        console.print(f"Ambiguous matches: no one left unlinked ({last}).")

    hours = sla_hours(report.sla)
    console.print(
        f"Lead-response SLA ({hours}): {report.sla_overdue} MQL(s) still waiting for a first "
        f"sales touch past it ('{escape(hint('scorecard', env_file))}' lists them)."
    )

    if report.budgets:
        budget = Table(title="API budget (last observed)", title_justify="left")
        for column in ("system", "window", "used", "remaining", "observed"):
            budget.add_column(column)
        for b in report.budgets:
            budget.add_row(b.system, b.window, str(b.used), str(b.remaining), f"{human(b.age)} ago")
        console.print(budget)
    else:
        console.print("API budget: not observed yet.")
