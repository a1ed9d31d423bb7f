"""`baton demo`: the main job on embedded defaults, as a newcomer first sees it.

The sandbox (both imitations, seeded, with the simulated marketing and sales teams) and Baton
itself, on SQLite in the demo folder: a backfill first, then the daemon loop (polling, plus the
imitations' webhooks and Outbound Messages pointed at Baton's service) while the teams work.
At the end (duration or Ctrl-C) it prints what moved each way.
"""

from __future__ import annotations

import secrets
import signal
import ssl
import threading
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from types import FrameType
from typing import Annotated, Any
from urllib.parse import urlencode

import httpx
import sqlalchemy
import typer
from rich.console import Console
from rich.table import Table

from baton import wiring
from baton.cli.backfill import StopRequested, moves_line, run_backfill
from baton.cli.common import baton_command, hint
from baton.cli.sandbox import start, write_env_file
from baton.daemon import CycleFailed, HttpServer, one_line
from baton.facade import Engine, Report
from baton.logging import configure_logging
from baton.metrics import BatonMetrics
from baton.service import create_app
from baton.settings import BatonSettings, Settings
from connectors.hubspot.settings import HubSpotSettings
from connectors.records import RecordKey, System
from connectors.salesforce.settings import SalesforceSettings
from sandbox.runtime import Sandbox, SandboxConfig
from sandbox.shared.server import serve_in_thread
from sync.queries.ambiguous import ambiguous
from sync.report import CycleReport
from sync.store.dead_letters import count_dead_letters
from sync.store.runs import RunKind, RunStatus, latest_of_each_kind

DEFAULT_DIR = Path(".baton/demo")
POLL_INTERVAL_S = 3.0

# What the imitations notify Baton about (HubSpot subscription types; Salesforce sObject fields).
HUBSPOT_SUBSCRIPTIONS = ["contact.creation", "contact.propertyChange"]
OUTBOUND_FIELDS = {"Lead": ["Status"], "Contact": ["Email"], "Opportunity": ["StageName"]}


#: The reports' counts the summary adds up besides reads, writes and stage moves.
_OTHER = ("conflicts", "dead_letters", "deletes_flagged", "deletes_propagated")


class Totals:
    """Wraps the engine and adds up every report it returns, for the closing summary (not
    the ambiguous count: a record re-read in many cycles is reported by each of them, see
    `ambiguous_counts`). A poll or backfill a stop cut short returns no report: what it did
    is read back from its run's counts in `store` (the demo's own, fresh each demo)."""

    def __init__(self, engine: Engine, store: sqlalchemy.Engine | None = None) -> None:
        self.engine = engine
        self.store = store
        self.read: Counter[str] = Counter()
        self.created: Counter[str] = Counter()
        self.updated: Counter[str] = Counter()
        self.stage_moves: Counter[str] = Counter()
        self.other: Counter[str] = Counter()
        self._lock = threading.Lock()

    def add(self, report: Report) -> Report:
        with self._lock:
            self.read.update(report.read)
            self.created.update(report.created)
            self.updated.update(report.updated)
            self.stage_moves.update(report.stage_moves)
            for name in _OTHER:
                self.other[name] += getattr(report, name)
        return report

    def _interrupted(self, kind: RunKind) -> None:
        """Add what the latest run of `kind`, just interrupted, committed before it stopped."""
        if self.store is None:
            return
        with self.store.connect() as conn:
            run = latest_of_each_kind(conn).get(kind)
        if run is not None and run.status is RunStatus.INTERRUPTED:
            self.add(CycleReport.from_counts(run.counts))

    def poll(
        self,
        *,
        dry_run: bool = False,
        stopping: Callable[[], bool] = lambda: False,
        into: Any = None,
    ) -> Any:
        try:
            return self.add(self.engine.poll(dry_run=dry_run, stopping=stopping, into=into))
        except BaseException:  # a stop (PollStopped): the run kept what it did
            if not dry_run:
                self._interrupted(RunKind.DAEMON)
            raise

    def sync_keys(
        self,
        keys: Sequence[RecordKey],
        *,
        trigger: str,
        dry_run: bool = False,
        gone: Collection[RecordKey] = (),
        purged: Collection[RecordKey] = (),
    ) -> Any:
        return self.add(
            self.engine.sync_keys(keys, trigger=trigger, dry_run=dry_run, gone=gone, purged=purged)
        )

    def backfill(self, **kwargs: Any) -> Any:
        try:
            return self.add(self.engine.backfill(**kwargs))
        except BaseException:  # a stop (StopRequested): the run kept what it did
            if not kwargs.get("dry_run"):
                self._interrupted(RunKind.BACKFILL)
            raise


def demo_settings(box: Sandbox, directory: Path) -> Settings:
    """Settings pointing Baton at this sandbox, with its store in the demo folder."""
    hubspot, salesforce = box.hubspot_options, box.salesforce_options
    return Settings(
        baton=BatonSettings(
            database_url=f"sqlite:///{(directory / 'baton.db').resolve()}",
            poll_interval_s=POLL_INTERVAL_S,
        ),
        hubspot=HubSpotSettings(
            base_url=box.hubspot_url,
            access_token=hubspot.access_token,
            client_secret=hubspot.client_secret,
        ),
        salesforce=SalesforceSettings(
            instance_url=box.salesforce_url,
            login_url=box.salesforce_url,
            auth="client_credentials",
            client_id=salesforce.client_id,
            client_secret=salesforce.client_secret,
            org_id=salesforce.org_id,
            # a fresh one per demo: the Outbound Messages' endpoint URL carries it (`subscribe`)
            webhook_token=secrets.token_urlsafe(24),
            ca_file=box.tls.ca_cert.resolve(),
        ),
    )


def subscribe(box: Sandbox, service_url: str, *, salesforce_token: str | None = None) -> None:
    """Point the imitations' webhooks and Outbound Messages at Baton's service (the latter's
    endpoint URL with `?token=` when Baton checks one, as an org's would be set up)."""
    outbound_url = f"{service_url}/webhooks/salesforce"
    if salesforce_token:
        outbound_url += "?" + urlencode({"token": salesforce_token})
    with httpx.Client(
        timeout=10, verify=ssl.create_default_context(cafile=box.tls.ca_cert)
    ) as http:
        http.put(
            f"{box.hubspot_url}/_sandbox/webhooks",
            json={
                "targetUrl": f"{service_url}/webhooks/hubspot",
                "subscriptions": HUBSPOT_SUBSCRIPTIONS,
            },
        ).raise_for_status()
        http.put(
            f"{box.salesforce_url}/_sandbox/outbound-messages",
            json={"targetUrl": outbound_url, "sobjects": OUTBOUND_FIELDS},
        ).raise_for_status()


def ambiguous_counts(store: sqlalchemy.Engine) -> tuple[int, int]:
    """People left unlinked by an ambiguous match (the unit `baton status` counts in) and the
    distinct records refused them (a pair of twins: one person, two records), each counted
    once however many cycles re-read them, from the decision log."""
    with store.connect() as conn:
        found = ambiguous(conn, limit=0)  # the totals only: the notes are read once
    return found.total, found.records


def dead_letter_records(store: sqlalchemy.Engine) -> int:
    """Dead letters in the store, whatever their status: each is one record a system refused
    (one way), however many attempts it holds. The demo's store starts empty: these are its."""
    with store.connect() as conn:
        return sum(count_dead_letters(conn).values())


#: The words of the summary's counts where a field name would mislead: the reports count
#: refusals per attempt, and a record's dead letter holds all of its attempts.
_NOTED = {
    "dead_letters": "write attempts refused (a record's dead letter holds all of its)",
    "conflicts": "conflicts (a field edited on both sides)",
}


def moved_table(
    totals: Totals,
    ambiguous: tuple[int, int] = (0, 0),
    dead_letters: int | None = None,
    *,
    backfill_stopped: bool = False,
) -> Table:
    """What Baton moved each way, from the cycles' reports; `ambiguous` people and records,
    distinct (`ambiguous_counts`), and `dead_letters` (from the store, `dead_letter_records`)
    in place of the refused attempts.
    A demo stopped during its backfill moved nothing yet: not that nothing needed moving."""
    table = Table(title="What Baton moved", title_justify="left")
    table.add_column("direction")
    table.add_column("what")
    table.add_column("count", justify="right")
    to_sf = System.SALESFORCE.value
    to_hs = System.HUBSPOT.value
    for label, count in sorted(totals.created.items()):
        system, _, obj = label.partition(":")
        what = (
            "MQLs handed to sales (new Leads)"
            if (system, obj) == (to_sf, "Lead")
            else (f"new {obj}")
        )
        table.add_row(f"to {system}", what, str(count))
    for label, count in sorted(totals.updated.items()):
        # Records updated, whatever the update carried (a verdict, a stage, Baton's id, a
        # name): the funnel moves have their own line under the table.
        system, _, obj = label.partition(":")
        carried = "a verdict" if system == to_hs else "marketing's score"
        what = f"{obj if obj.endswith('s') else obj + 's'} updated"
        table.add_row(
            f"to {system}", f"{what} (a stage, {carried} or any synced field)", str(count)
        )
    for name, count in sorted(totals.other.items()):
        if name == "dead_letters" and dead_letters is not None:
            if dead_letters:
                table.add_row("noted", "records refused (dead letters)", str(dead_letters))
        elif count:
            table.add_row("noted", _NOTED.get(name, name.replace("_", " ")), str(count))
    people, records = ambiguous
    if people:
        what = f"people left unlinked by an ambiguous match ({records} records)"
        table.add_row("noted", what, str(people))
    if not (totals.created or totals.updated):
        stopped = "nothing moved before the stop, during the backfill"
        table.add_row("-", stopped if backfill_stopped else "nothing needed moving", "0")
    return table


def teams_table(box: Sandbox) -> Table:
    table = Table(title="What the simulated teams did", title_justify="left")
    table.add_column("action")
    table.add_column("count", justify="right")
    for action, count in sorted(box.simulator.moves.items()):
        table.add_row(action.replace("_", " "), str(count))
    for action, count in sorted(box.simulator.failures.items()):
        table.add_row(f"{action.replace('_', ' ')} (rejected by the system)", str(count))
    return table


def demo(
    duration: Annotated[
        float | None,
        typer.Option(min=1.0, help="Stop after this many seconds (default: run until Ctrl-C)."),
    ] = None,
    directory: Annotated[
        Path, typer.Option("--dir", help="Where the demo keeps its files.")
    ] = DEFAULT_DIR,
    pace: Annotated[
        float, typer.Option(min=0.1, max=1000.0, help="Simulated actions per second.")
    ] = 5.0,
    contacts: Annotated[int, typer.Option(min=0, max=100_000, help="Contacts to seed.")] = 2_000,
    leads: Annotated[int, typer.Option(min=0, max=100_000, help="Leads to seed.")] = 1_000,
    hubspot_port: Annotated[int, typer.Option(min=0, max=65535)] = 8911,
    salesforce_port: Annotated[int, typer.Option(min=0, max=65535)] = 8912,
    http_port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port of Baton's own service.")
    ] = 8910,
    verbose: Annotated[
        bool, typer.Option("--verbose", help="Log every cycle and webhook on stderr.")
    ] = False,
) -> None:
    """Start the sandbox with its simulated teams and Baton syncing them; show what moved."""
    console = Console(emoji=False)
    configure_logging(level="INFO" if verbose else "WARNING")
    config = SandboxConfig(
        directory=directory,
        simulate=True,
        pace=pace,
        contacts=contacts,
        leads=leads,
        hubspot_port=hubspot_port,
        salesforce_port=salesforce_port,
    )
    box = start(config, console)
    # The sandbox starts fresh, so Baton's store does too: links, snapshots and an interrupted
    # backfill's positions from an earlier demo describe a world that is gone.
    for stale in directory.glob("baton.db*"):
        stale.unlink()
    settings = demo_settings(box, directory)
    # The hints the demo prints ('baton errors list --env-file ...') read this store through it.
    env_file = write_env_file(box, database_url=settings.baton.database())
    # The teams start working at once; Baton backfills while they do, like a real first day.
    with serve_in_thread(box.listeners, background=box.background()):
        runtime = wiring.build(settings)
        try:
            _sync(runtime, box, console, duration=duration, http_port=http_port, env_file=env_file)
        finally:
            runtime.close()
    console.print(teams_table(box))
    console.print(
        "Look closer (the store stays until the next demo): "
        + ", ".join(
            hint(what, env_file)
            for what in (
                "status",
                "status --ambiguous",
                "errors list",
                "scorecard",
                "why EMAIL",
                "mappings show",
            )
        ),
        soft_wrap=True,
        highlight=False,
    )


def _sync(
    runtime: wiring.Runtime,
    box: Sandbox,
    console: Console,
    *,
    duration: float | None,
    http_port: int,
    env_file: Path | None = None,
) -> None:
    totals = Totals(runtime.engine, runtime.store)
    metrics = BatonMetrics(budgets=runtime.budgets, store=runtime.store)
    daemon = wiring.daemon_for(runtime, metrics=metrics)
    daemon.engine = totals
    daemon.interval_s = POLL_INTERVAL_S
    backfill_stopped = False
    server = HttpServer(
        create_app(wiring.service_deps(runtime, daemon, metrics)), host="127.0.0.1", port=http_port
    )
    try:
        server.start()
    except OSError:  # a demo should not stop over a busy port: take any free one
        server = HttpServer(server.server.config.app, host="127.0.0.1", port=0)
        server.start()

    def stop(_signum: int = 0, _frame: FrameType | None = None) -> None:
        # The backfill and a poll stop at their next page boundary; webhooks after the batch.
        daemon.request_stop()

    previous = signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    timer = threading.Timer(duration, stop) if duration is not None else None
    try:
        if timer is not None:
            timer.start()
        daemon.prepare_systems()  # before the backfill; the loop then has it done
        console.print(
            f"Sandbox up: HubSpot {box.hubspot_url}, Salesforce {box.salesforce_url}; "
            f"Baton's service {server.url} (dashboard at {server.url}/).\n"
            "Simulated marketing is scoring contacts and creating MQLs in HubSpot; simulated "
            "sales is accepting, working, rejecting and converting leads in Salesforce.\n"
            "Baton backfills first, then keeps both in sync. Ctrl-C stops."
        )
        try:
            run_backfill(
                totals,
                console,
                systems=None,
                objects=None,
                dry_run=False,
                stop=daemon.stop,
                env_file=env_file,
                command=baton_command(),
            )
        except StopRequested:
            # `baton demo` starts its store afresh, so the next demo does not go on from here
            backfill_stopped = True
            console.print("Backfill stopped at the page in hand; the next demo starts afresh.")
        if not daemon.stop.is_set():
            token = runtime.settings.salesforce.webhook_token
            subscribe(
                box,
                server.url,
                salesforce_token=token.get_secret_value() if token is not None else None,
            )
            console.print(f"Syncing every {POLL_INTERVAL_S:g} s and on webhooks…")
            daemon.run_forever()
    except CycleFailed as exc:
        console.print(f"[red]sync stopped: {exc}[/]")
    except Exception as exc:
        console.print(f"[red]sync stopped: {one_line(exc)}[/]")
    finally:
        if timer is not None:
            timer.cancel()
        signal.signal(signal.SIGINT, previous)
        server.stop()
    console.print(
        moved_table(
            totals,
            ambiguous_counts(runtime.store),
            dead_letters=dead_letter_records(runtime.store),
            backfill_stopped=backfill_stopped,
        )
    )
    console.print(moves_line(totals.stage_moves), highlight=False)
