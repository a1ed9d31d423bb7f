"""`baton run [--once]`: the daemon, or one full cycle for cron and scripts."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from baton import wiring
from baton.cli.common import (
    EnvFileOption,
    fail,
    fatal_lines_logged,
    hint,
    settings_or_exit,
    stopped_status,
    store_errors,
)
from baton.daemon import CycleFailed, Daemon, HttpServer
from baton.metrics import BatonMetrics
from baton.service import create_app
from sync.store.migrate import StoreAhead, StoreBehind, revision_problem

log = logging.getLogger("baton.run")


class StartUpStopped(BaseException):
    """A signal before the daemon exists: nothing is in hand yet, so start-up ends at once."""


def start_runtime(
    settings: wiring.Settings, *, keep_schema: bool = False, env_file: Path | None = None
) -> wiring.Runtime:
    """Build the runtime; a failure is one line, exit 2. It asks no vendor anything: Baton's
    HubSpot properties are made by `prepare_hubspot`, run by the daemon's cycle
    (`Daemon.prepare_systems`), so HubSpot down or refusing the token leaves the HTTP service
    up, and by `baton backfill` once its signal handlers are in place. `keep_schema` (a dry
    run): a store behind this Baton's migrations is refused rather than upgraded; the upgrade
    it names carries `env_file`, which named the store."""
    try:
        with store_errors(settings.baton.database(), env_file=env_file):
            return wiring.build(settings, keep_schema=keep_schema)
    except StoreBehind as exc:  # only with keep_schema
        problem = revision_problem(exc.current, upgrade=hint("db upgrade", env_file))
        note = "first (a dry run leaves the store as it is: an older Baton may run on it)"
        fail(f"baton: {problem or exc} {note}", 2)
    except StoreAhead as exc:
        fail(f"baton: {exc}", 2)
    except Exception as exc:
        fail(f"baton: cannot start: {wiring.one_line(exc)}", 2)


def prepare_hubspot(runtime: wiring.Runtime, command: str) -> None:
    """Make sure Baton's HubSpot properties exist (`Runtime.prepare_systems`). HubSpot refusing
    ends `command` with one line naming what to check (`wiring.one_line`), exit 1, as the
    daemon's failed cycle names it; the caller closes the runtime."""
    try:
        created = runtime.prepare_systems()
    except Exception as exc:
        fail(f"{command}: cannot create Baton's HubSpot properties: {wiring.one_line(exc)}", 1)
    if created:
        log.info("created HubSpot properties", extra={"kv": {"names": ",".join(created)}})


def run(
    once: Annotated[
        bool, typer.Option("--once", help="Run one full cycle (poll, sync, timers) and exit.")
    ] = False,
    env_file: EnvFileOption = None,
) -> None:
    """Keep HubSpot and Salesforce in sync (the daemon).

    Polls both systems every BATON_POLL_INTERVAL_S, syncs webhook hints as they arrive, runs
    the SLA timer and the reconciliation (every BATON_RECONCILE_HOURS), and serves /healthz,
    /readyz, /metrics, the webhooks and a dashboard on BATON_HTTP_HOST:BATON_HTTP_PORT.
    Baton's HubSpot properties are created in the first cycle, tried again each cycle until
    done: only bad settings stop start-up. SIGTERM ends a poll at the page in hand (what it
    read is committed; its run is recorded as interrupted), finishes a webhook batch in hand,
    then exits 0; a second Ctrl-C stops it at once. With `--once` it exits 0 when its cycle
    completed, 1 when it failed, and 143 (130 for Ctrl-C) when a signal stopped it first, as
    `baton backfill` does.
    """
    daemon: Daemon | None = None
    stopped_by: list[int] = []

    def stop(signum: int, _frame: FrameType | None) -> None:
        stopped_by.append(signum)
        name = signal.Signals(signum).name
        # A second Ctrl-C stops at once, as `baton backfill`'s does: the way out when the
        # batch in hand is slow to finish (a vendor answering slowly).
        signal.signal(signal.SIGINT, signal.default_int_handler)
        if daemon is None:  # still starting: nothing is in hand, so stop at once
            raise StartUpStopped(name)
        daemon.request_stop()
        # Logged from another thread: the handler runs on the main thread, which may be inside
        # a write to stderr, and writing there again raises (a reentrant call), out of the
        # handler before the stop was asked for.
        threading.Thread(target=_stopping, args=(name,), name="baton-stopping").start()

    # First of all: as PID 1 (a container) a signal without a handler is ignored, and start-up
    # can wait on a database that does not answer.
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    runtime: wiring.Runtime | None = None
    with fatal_lines_logged(log):  # BATON_LOG_FORMAT=json: the fatal line is JSON too
        try:
            settings = settings_or_exit(env_file)
            runtime = start_runtime(settings)
            metrics = BatonMetrics(budgets=runtime.budgets, store=runtime.store)
            daemon = wiring.daemon_for(runtime, metrics=metrics)
            if once:  # a signal ends the cycle at the page in hand: its run is recorded
                try:
                    daemon.cycle(force_timers=True)
                except CycleFailed as exc:
                    fail(f"baton run --once: cycle failed: {exc}", 1)
                if stopped_by:
                    fail(
                        f"baton run --once: stopped by {signal.Signals(stopped_by[0]).name} "
                        "before the cycle completed; what it read is committed, and the next "
                        "run goes on from there",
                        stopped_status(stopped_by),
                    )
            else:
                serve(settings, runtime, daemon, metrics)
        except KeyboardInterrupt:  # a second Ctrl-C: at once, maybe mid-page (never committed)
            command = "baton run --once" if once else "baton run"
            fail(
                f"{command}: stopped at once; what its committed pages did is kept, and the "
                "next run goes on from the last page committed",
                stopped_status(stopped_by),
            )
        except StartUpStopped as stopped:
            _stopping(str(stopped))
            log.info("stopped", extra={"kv": {"during": "start-up"}})
            if once:  # a script must not take a cycle that never ran for one that did
                fail(
                    f"baton run --once: stopped by {signal.Signals(stopped_by[0]).name} "
                    "during start-up; no cycle ran",
                    stopped_status(stopped_by),
                )
        finally:
            if runtime is not None:
                runtime.close()


def _stopping(signal_name: str) -> None:
    log.info("stopping", extra={"kv": {"signal": signal_name}})


def serve(
    settings: wiring.Settings, runtime: wiring.Runtime, daemon: Daemon, metrics: BatonMetrics
) -> None:
    """The HTTP service in a thread and the daemon loop, until a stop."""
    app = create_app(wiring.service_deps(runtime, daemon, metrics))
    server = HttpServer(app, host=settings.baton.http_host, port=settings.baton.http_port)
    try:
        server.start()
    except OSError as exc:
        fail(f"baton run: {exc}", 2)
    log.info(
        "started",
        extra={"kv": {"url": server.url, "interval_s": settings.baton.poll_interval_s}},
    )
    try:
        daemon.run_forever()
    finally:
        server.stop()
