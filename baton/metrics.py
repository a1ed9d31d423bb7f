"""Prometheus metrics on a registry of Baton's own (never the process-global default one).

Counters and histograms are fed by the daemon after each cycle (`observe_cycle`); gauges that
describe the present (API budget left, checkpoint lag, open dead letters) are read when scraped,
from the live `ApiBudget`s and the store, so they are never stale.
"""

from __future__ import annotations

import logging
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Protocol

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine

from connectors.http.budget import ApiBudget
from sync.store.checkpoints import list_checkpoints
from sync.store.dead_letters import count_dead_letters_by_system
from sync.store.engine import for_reading

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

log = logging.getLogger(__name__)


class CycleCounts(Protocol):
    """The parts of the engine's `CycleReport` the metrics read."""

    read: Tally[str]
    created: Tally[str]
    updated: Tally[str]
    conflicts: int
    dead_letters: int
    retry_later: int
    deletes_flagged: int
    deletes_propagated: int
    ambiguous: int
    not_handed_off: int


#: The report's other counts, exported as `baton_sync_outcomes_total{kind}`.
OUTCOMES = ("retry_later", "deletes_flagged", "deletes_propagated", "ambiguous", "not_handed_off")


def _split(label: str) -> tuple[str, str]:
    system, _, obj = label.partition(":")
    return system, obj or "-"


class _LiveCollector(Collector):
    """Budget, lag and dead-letter gauges, computed at scrape time."""

    def __init__(
        self,
        budgets: Mapping[str, ApiBudget],
        store: Engine | None,
        now: Callable[[], datetime],
    ) -> None:
        self.budgets = budgets
        self.store = for_reading(store) if store is not None else None
        self.now = now

    def collect(self) -> Iterator[Metric]:
        yield from self._budget()
        if self.store is not None:
            try:
                yield from self._store(self.store)
            except Exception:  # a scrape must not fail because the store is briefly busy
                log.warning("metrics: store unreadable", exc_info=True)

    def _budget(self) -> Iterable[Metric]:
        calls = CounterMetricFamily("baton_api_calls", "API calls made", labels=["system"])
        daily = GaugeMetricFamily(
            "baton_api_daily_remaining", "Daily API calls left (last seen)", labels=["system"]
        )
        tokens = GaugeMetricFamily(
            "baton_api_window_tokens",
            "Calls the short-window budget allows right now",
            labels=["system", "bucket"],
        )
        waited = CounterMetricFamily(
            "baton_api_budget_wait_seconds",
            "Time spent waiting for the budget: by the sync's own calls, or by background reads"
            " ahead (read_ahead), which only take permits no other call is waiting for",
            labels=["system", "waiter"],
        )
        for system, budget in sorted(self.budgets.items()):
            snap = budget.snapshot()
            calls.add_metric([system], float(sum(snap.spent.values())))
            waited.add_metric([system, "sync"], snap.waited_s)
            waited.add_metric([system, "read_ahead"], snap.waited_ahead_s)
            if snap.daily_remaining is not None:
                daily.add_metric([system], float(snap.daily_remaining))
            for kind, bucket in sorted(snap.buckets.items()):
                tokens.add_metric([system, kind], max(0.0, bucket.tokens))
        return (calls, daily, tokens, waited)

    def _store(self, store: Engine) -> Iterable[Metric]:
        lag = GaugeMetricFamily(
            "baton_checkpoint_lag_seconds",
            "Seconds between now and how far reading has safely got",
            labels=["system", "object"],
        )
        letters = GaugeMetricFamily(
            "baton_dead_letters",
            "Dead letters by the system of their record and status",
            labels=["system", "status"],
        )
        now = self.now()
        with store.connect() as conn:
            for cp in list_checkpoints(conn):
                if cp.cursor is not None:
                    seconds = (now - cp.cursor).total_seconds()
                    lag.add_metric([cp.system.value, cp.object], max(0.0, seconds))
            for (system, status), count in count_dead_letters_by_system(conn).items():
                letters.add_metric([system.value, status.value], float(count))
        return (lag, letters)


class BatonMetrics:
    """All of Baton's metrics, on one private registry built at runtime."""

    def __init__(
        self,
        *,
        budgets: Mapping[str, ApiBudget] | None = None,
        store: Engine | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        # No `_created` series beside each counter and histogram: they double the scrape and
        # no alert reads them. The switch is prometheus_client's, process-wide; set here, when
        # the registry is built, not at import.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry()
        r = self.registry
        self.records_read = Counter(
            "baton_records_read", "Records read", ["system", "object"], registry=r
        )
        self.records_written = Counter(
            "baton_records_written",
            "Records created or updated",
            ["system", "object", "op"],
            registry=r,
        )
        self.conflicts = Counter("baton_conflicts", "Field conflicts resolved", registry=r)
        self.write_refusals = Counter(
            "baton_write_refusals",
            "Writes and propagated deletes refused and kept as dead letters, one per refusal:"
            " a dead letter refused again (a retry) counts again; letters open now:"
            " baton_dead_letters",
            registry=r,
        )
        self.outcomes = Counter(
            "baton_sync_outcomes",
            "What the sync did besides writing, by kind: retry_later (a write refused for now,"
            " sent again), deletes_flagged (a deletion reported, not propagated),"
            " deletes_propagated, ambiguous (an email matching more than one record, not"
            " guessed), not_handed_off (an MQL newly noted as kept from sales)",
            ["kind"],
            registry=r,
        )
        for kind in OUTCOMES:
            self.outcomes.labels(kind)  # each kind exported from the start, at 0
        self.cycles = Counter("baton_cycles", "Sync cycles run", ["trigger", "outcome"], registry=r)
        self.webhooks = Counter(
            "baton_webhooks",
            "Webhook deliveries by the HTTP status answered: 2xx received, 401 rejected, 400"
            " unreadable, 413 too large, 429 from a sender whose deliveries keep failing"
            " verification, 503 not kept (the sender retries), 404 not configured",
            ["system", "status"],
            registry=r,
        )
        self.webhook_verification_failures = Counter(
            "baton_webhook_verification_failures",
            "Webhook deliveries that failed verification (signature, timestamp, token or"
            " organization id), answered 401",
            ["system"],
            registry=r,
        )
        self.webhook_senders_waiting = Gauge(
            "baton_webhook_senders_waiting",
            "Sender addresses answered 429 for now, their deliveries having kept failing"
            " verification",
            registry=r,
        )
        self.webhook_queue_keys = Gauge(
            "baton_webhook_queue_keys",
            "Record keys from webhooks waiting to be synced",
            registry=r,
        )
        self.daemon_standby = Gauge(
            "baton_daemon_standby",
            "1 while this daemon stands by: another holds the store's lease and polls it",
            registry=r,
        )
        self.webhook_events_skipped = Counter(
            "baton_webhook_events_skipped",
            "Webhook events that could not be read (each logged; the polls read their records)",
            ["system"],
            registry=r,
        )
        self.webhook_keys_dropped = Counter(
            "baton_webhook_keys_dropped",
            "Webhook record keys dropped after failing alone (each logged as 'webhook key"
            " dropped'; the polls read their records)",
            ["system"],
            registry=r,
        )
        self.timer_runs = Counter(
            "baton_timer_runs",
            "Timer runs (sla, reconcile) by outcome; a failed one is logged as 'timer failed'",
            ["timer", "outcome"],
            registry=r,
        )
        self.last_success = Gauge(
            "baton_last_success_timestamp_seconds",
            "Unix time a job (poll, or a timer: sla, reconcile) last completed without error",
            ["job"],
            registry=r,
        )
        self.cycle_seconds = Histogram(
            "baton_cycle_duration_seconds",
            "Wall time of a sync cycle",
            ["trigger"],
            buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600),
            registry=r,
        )
        r.register(_LiveCollector(budgets or {}, store, now))
        self.now = now

    def watch_queue(self, depth: Callable[[], int]) -> None:
        """Read `baton_webhook_queue_keys` from `depth()` when scraped."""
        self.webhook_queue_keys.set_function(lambda: float(depth()))

    def watch_standby(self, standby: Callable[[], bool]) -> None:
        """Read `baton_daemon_standby` from `standby()` when scraped."""
        self.daemon_standby.set_function(lambda: float(standby()))

    def watch_senders(self, waiting: Callable[[], int]) -> None:
        """Read `baton_webhook_senders_waiting` from `waiting()` when scraped."""
        self.webhook_senders_waiting.set_function(lambda: float(waiting()))

    def observe_cycle(
        self, report: CycleCounts | None, *, trigger: str, seconds: float, ok: bool = True
    ) -> None:
        """Count one cycle (its report is None when it failed before producing one)."""
        self.cycles.labels(trigger, "ok" if ok else "failed").inc()
        self.cycle_seconds.labels(trigger).observe(seconds)
        if report is not None:
            self.observe_counts(report)

    def observe_timer(self, timer: str, *, ok: bool) -> None:
        """Count one run of a timer; one that completed is the job's last success."""
        self.timer_runs.labels(timer, "ok" if ok else "failed").inc()
        if ok:
            self.job_succeeded(timer)

    def job_succeeded(self, job: str) -> None:
        self.last_success.labels(job).set(self.now().timestamp())

    def observe_counts(self, report: CycleCounts) -> None:
        """Add a report's records read and written (a cycle's, or a reconciliation's)."""
        for label, n in report.read.items():
            self.records_read.labels(*_split(label)).inc(n)
        for op, tally in (("created", report.created), ("updated", report.updated)):
            for label, n in tally.items():
                self.records_written.labels(*_split(label), op).inc(n)
        self.conflicts.inc(report.conflicts)
        self.write_refusals.inc(report.dead_letters)
        for kind in OUTCOMES:
            self.outcomes.labels(kind).inc(getattr(report, kind))

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
