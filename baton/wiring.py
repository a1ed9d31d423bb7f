"""The composition root: the only place connectors, dictionary, store and engine meet.

`build(settings)` opens the store (creating a SQLite file's folder, migrating to head), builds
one connector per system with one shared `ApiBudget` each, loads the funnel dictionary,
registers every secret with the redaction layer and hands it all to `SyncEngine`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, make_url, text

from baton.daemon import Daemon, Timer, one_line
from baton.facade import summary
from baton.metrics import BatonMetrics
from baton.service import Readiness, ServiceDeps
from baton.service.app import Verifier
from baton.service.dashboard import render_dashboard
from baton.service.guard import VerificationGuard
from baton.settings import Settings, SettingsError
from connectors.http.budget import ApiBudget
from connectors.http.redaction import install_redaction
from connectors.hubspot.connector import HubSpotConnector
from connectors.hubspot.properties import PropertyDefinition
from connectors.hubspot.reader import READ_AHEAD
from connectors.records import System
from connectors.salesforce.connector import SalesforceConnector
from mappings.apply import Mapper
from mappings.dictionary import Dictionary
from mappings.loader import load
from mappings.schema import custom_fields
from sync import sla
from sync.engine import SyncEngine, SyncPolicy
from sync.reconcile import Guard, ReconcileStopped
from sync.report import CycleReport
from sync.store import migrate
from sync.store.engine import make_engine

__all__ = ["Runtime", "Settings", "build", "daemon_for", "one_line", "open_store", "service_deps"]

log = logging.getLogger(__name__)

#: How often the SLA timer runs (it is cheap: one query, and idempotent).
SLA_EVERY_S = 60.0
RECONCILE_ASKS_S = 3600.0  # how often the daemon asks whether a reconciliation is due
#: Records per unit of work. Writes are batched within a unit, so each unit ends on partly
#: filled batches (HubSpot 100, Salesforce 200 per call, per object and verb): at 500 that
#: cost a backfill ~1.5x the minimum calls; at 2,000 the waste is a few per cent.
PAGE_SIZE = 2_000


def open_store(url: str, *, upgrade: bool = True, only_new: bool = False) -> Engine:
    """The store's engine; a SQLite file's folder is created, and migrations run to head
    (`only_new`: only on an empty database; a store behind head is refused, see
    `migrate.upgrade`).

    A folder that cannot be made is a `SettingsError` naming BATON_DATABASE_URL."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        folder = Path(str(parsed.database)).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SettingsError(
                f"BATON_DATABASE_URL: cannot make the store's folder {folder} "
                f"({exc.strerror or type(exc).__name__}); point it at a folder Baton can write"
            ) from None
    store = make_engine(parsed)
    if upgrade:
        migrate.upgrade(store, only_new=only_new)
    return store


def store_readiness(store: Engine) -> Readiness:
    """Problems with the store: unreachable, or not at the latest migration."""
    try:
        with store.connect() as conn:
            conn.execute(text("SELECT 1"))
            current = migrate.current_revision(conn)
    except Exception as exc:
        return Readiness((f"store unreachable: {type(exc).__name__}",))
    problem = migrate.revision_problem(current)
    return Readiness((problem,) if problem is not None else ())


@dataclass
class Runtime:
    """Everything one Baton process runs on; `close()` releases connections."""

    settings: Settings
    store: Engine
    dictionary: Dictionary
    hubspot: HubSpotConnector
    salesforce: SalesforceConnector
    engine: SyncEngine
    budgets: dict[str, ApiBudget] = field(default_factory=dict)

    def prepare_systems(self) -> list[str]:
        """Create the HubSpot contact properties the dictionary needs when missing (a no-op
        once they exist)."""
        return self.hubspot.ensure_properties("contacts", hubspot_properties(self.dictionary))

    def unprepared(self) -> list[str]:
        """The HubSpot properties `prepare_systems` would create or give options (a dry run's
        plan has no writes to a property that does not exist yet)."""
        return self.hubspot.pending_properties("contacts", hubspot_properties(self.dictionary))

    def close(self) -> None:
        self.salesforce.close()
        self.store.dispose()


def hubspot_properties(dictionary: Dictionary) -> tuple[PropertyDefinition, ...]:
    """The contact properties the dictionary maps to HubSpot that HubSpot does not define itself,
    with their types and options; the cross-system id property is unique (an upsert key)."""
    cross_id = dictionary.fields.get("baton_id")
    unique = cross_id.hubspot if cross_id is not None else None
    return tuple(
        PropertyDefinition(
            field.name,
            field.label,
            type=field.type,
            unique=field.name == unique,
            description="Created by Baton for the shared funnel dictionary.",
            options=field.options,
        )
        for field in custom_fields(dictionary).get(("hubspot", "contacts"), [])
    )


def read_fields(dictionary: Dictionary) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """What each connector must read besides its object table: every field the dictionary maps
    (HubSpot properties for contacts; Salesforce fields for Lead and Contact)."""
    mapper = Mapper(dictionary)
    hubspot = {"contacts": list(mapper.fields_for(System.HUBSPOT, "contacts"))}
    salesforce = {
        obj: list(mapper.fields_for(System.SALESFORCE, obj)) for obj in ("Lead", "Contact")
    }
    return hubspot, salesforce


def build(
    settings: Settings, *, policy: SyncPolicy | None = None, keep_schema: bool = False
) -> Runtime:
    """Wire a `Runtime` from settings; the first API call happens later, on first use.
    `keep_schema` (a dry run) migrates only an empty store, never one an older Baton uses."""
    install_redaction(secrets=settings.secrets())
    dictionary = load(settings.baton.dictionary_path)
    hubspot_fields, salesforce_fields = read_fields(dictionary)
    hubspot = HubSpotConnector(
        settings.hubspot, extra_properties=hubspot_fields, read_ahead=READ_AHEAD
    )
    salesforce = SalesforceConnector(settings.salesforce, extra_fields=salesforce_fields)
    store = open_store(settings.baton.database(), only_new=keep_schema)
    chosen = policy or SyncPolicy(
        propagate_deletes=settings.baton.propagate_deletes,
        page_size=PAGE_SIZE,
        vanish_guard=Guard(share=settings.baton.vanish_guard_share),
    )
    engine = SyncEngine(
        hubspot=hubspot, salesforce=salesforce, dictionary=dictionary, db=store, policy=chosen
    )
    return Runtime(
        settings=settings,
        store=store,
        dictionary=dictionary,
        hubspot=hubspot,
        salesforce=salesforce,
        engine=engine,
        budgets={"hubspot": hubspot.budget, "salesforce": salesforce.budget},
    )


def sla_timer(store: Engine, *, hours: float, every_s: float) -> Timer:
    """The lead-response SLA check (`sync.sla`): logs each newly overdue MQL once. The first
    tick of a process squares the log with every touch recorded (`sync.sla.settle`'s
    `whole`): no timer ticked while it was down, and a backfill may have recorded some."""
    first = [True]

    def tick() -> None:
        with store.begin() as conn:
            found, fresh = sla.check(
                conn, now=datetime.now(UTC), sla=timedelta(hours=hours), whole=first[0]
            )
        first[0] = False
        log.info("sla", extra={"kv": {"overdue": len(found), "newly_overdue": len(fresh)}})

    return Timer("sla", every_s, tick)


def reconcile_timer(
    engine: SyncEngine,
    *,
    hours: float,
    stopping: Callable[[], bool] = lambda: False,
    metrics: BatonMetrics | None = None,
) -> Timer:
    """Reconciliation (`sync.reconcile`), when the last one began `hours` ago: the timer asks
    hourly (a cron's `run --once` each time), and the engine asks again as the run starts,
    so two daemons on one store that find it due together start one. `stopping()` (the
    daemon's stop) ends it at the page in hand, so a SIGTERM is not kept waiting; the next
    start begins it again. What it read and wrote is added to `metrics`' record counts."""
    every = timedelta(hours=hours)

    def tick() -> None:
        if engine.reconcile_due(every):
            so_far = CycleReport()  # what a reconciliation that fails part way did is counted
            try:
                report = engine.reconcile(stopping=stopping, every=every, into=so_far)
            except ReconcileStopped as stopped:
                log.info("reconcile stopped", extra={"kv": {"where": str(stopped)}})
                return
            except Exception:
                if metrics is not None:
                    metrics.observe_counts(so_far)
                raise
            if report is None:  # another process began it meanwhile
                log.info("reconcile begun elsewhere")
                return
            if metrics is not None:
                metrics.observe_counts(report)
            log.info("reconcile", extra={"kv": summary(report)})

    return Timer("reconcile", RECONCILE_ASKS_S, tick)


def daemon_for(runtime: Runtime, *, metrics: BatonMetrics | None = None) -> Daemon:
    """The daemon loop over this runtime's engine, with the SLA and reconciliation timers; it
    prepares the systems (`Runtime.prepare_systems`) before its first poll or webhook sync."""
    settings = runtime.settings.baton

    def prepare() -> None:
        created = runtime.prepare_systems()
        if created:
            log.info("created HubSpot properties", extra={"kv": {"names": ",".join(created)}})

    daemon = Daemon(
        runtime.engine,
        interval_s=settings.poll_interval_s,
        metrics=metrics,
        timers=[sla_timer(runtime.store, hours=settings.sla_hours, every_s=SLA_EVERY_S)],
        store=runtime.store,
        budgets=runtime.budgets,
        prepare=prepare,
    )
    if settings.reconcile_hours > 0:  # stopped by the daemon's own stop: built after it
        reconcile = reconcile_timer(
            runtime.engine,
            hours=settings.reconcile_hours,
            stopping=daemon.stop.is_set,
            metrics=metrics,
        )
        daemon.timers = (*daemon.timers, reconcile)
    return daemon


def service_deps(runtime: Runtime, daemon: Daemon, metrics: BatonMetrics) -> ServiceDeps:
    """The HTTP service's dependencies: connectors verify, the daemon's queue receives."""

    def ready() -> Readiness:
        """Can this process receive webhooks: the store reachable and migrated (a purge is kept
        there before it is answered). The sync's health is in the body, never the status."""
        loop = daemon.readiness()
        return Readiness(
            store_readiness(runtime.store).problems + loop.problems, details=loop.details
        )

    def dashboard() -> str:
        state = daemon.state
        headline = f"{state.cycles} cycle(s); last poll {state.last_poll_at or 'not yet'}"
        if state.last_poll_error:
            headline += f"; last poll FAILED: {state.last_poll_error}"
        for timer, error in sorted(state.timer_errors.items()):
            headline += f"; last {timer} timer FAILED: {error}"
        return render_dashboard(
            runtime.store,
            runtime.budgets,
            headline=headline,
            sla=timedelta(hours=runtime.settings.baton.sla_hours),
        )

    # A sender whose deliveries keep failing verification waits (`baton.service.guard`).
    limit = runtime.settings.baton.webhook_failure_limit
    guard = VerificationGuard(limit=limit) if limit > 0 else None
    if guard is not None:
        metrics.watch_senders(guard.waiting)
    # Without the app's client secret nothing can be verified: the route answers 404. The same
    # without the Outbound Messages' token: the org id alone is public (every Web-to-Lead form
    # carries it), and each forged message would spend the org's API calls on reads.
    signed = runtime.settings.hubspot.client_secret is not None
    hubspot_verify: Verifier | None = runtime.hubspot.verify_webhook if signed else None
    tokened = runtime.settings.salesforce.webhook_token is not None
    salesforce_verify: Verifier | None = runtime.salesforce.verify_webhook if tokened else None
    return ServiceDeps(
        sink=daemon.receive,
        verify_hubspot=hubspot_verify,
        verify_salesforce=salesforce_verify,
        screen_hubspot=runtime.hubspot.check_webhook_headers if signed else None,
        ready=ready,
        metrics=metrics,
        dashboard=dashboard,
        guard=guard,
    )
