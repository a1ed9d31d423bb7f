"""The daemon loop: poll both systems on an interval, sync webhook-fed keys as they arrive, run
the timers, and serve the HTTP service from a thread of the same process.

Webhooks are hints: the service puts record keys on a `KeyQueue` and wakes the loop, which hands
them to `engine.sync_keys` (idempotent, so a key seen twice costs one extra read, never a wrong
write). Polling stays the source of truth. The queue holds at most `MAX_QUEUED_KEYS` keys from
webhooks: past that a webhook is answered 503 and its sender (HubSpot and Salesforce both)
retries it later, so a flood costs no memory and no reads beyond the bound; only a webhook
carrying a purge (a privacy deletion, seen by no poll) is queued past it. A stop request
(SIGTERM, Ctrl-C) lets the webhook batch in hand finish and ends a poll at the record in hand
(what it read is committed), then the loop returns.

One daemon polls a store at a time: the loop holds the store's lease (`sync.store.locks.DAEMON`)
while it runs. A second daemon on the store (a replica, a rolling update's new process) stands
by, not ready, and takes over within `LEASE_RETRY_S` of the first one's end: two would poll
both systems twice over and spend both API budgets twice.
"""

from __future__ import annotations

import errno
import functools
import logging
import socket
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import uvicorn
from sqlalchemy import Engine
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from baton.facade import Engine as SyncFacade
from baton.facade import summary
from baton.metrics import BatonMetrics
from baton.service import Readiness
from connectors.errors import AuthError, ConfigError, ConnectorError, DailyLimitExhausted
from connectors.http.budget import ApiBudget
from connectors.http.redaction import redact
from connectors.priority import retries_end_on
from connectors.records import RecordKey, System
from connectors.salesforce.settings import mode_needs
from sync.engine import PollStopped
from sync.report import CycleReport
from sync.store.budget import observe_budget
from sync.store.locks import DAEMON, Lease, take_lease
from sync.store.purges import forget_purges, keep_purges, kept_purges

log = logging.getLogger(__name__)

#: Keys handed to one `sync_keys` call; the rest wait for the next pass.
KEYS_PER_BATCH = 500
#: Tries a webhook key gets on its own before it is dropped (see `Daemon.drain`).
TRIES_ALONE = 3
#: Keys webhooks may leave waiting (20 batches); a webhook that would queue more is refused
#: with `QueueFull` (503), and its sender retries later (the polls read the same records).
#: Keys put back by a failed batch or recovered from the store take room but are never
#: refused: they were accepted already. Nor is a webhook carrying a purge (a privacy deletion,
#: which no poll sees): it is queued past the bound, its purges kept in the store first.
MAX_QUEUED_KEYS = 10_000
#: How often a standby daemon asks for the store's lease (see the module's docstring).
LEASE_RETRY_S = 5.0
#: Why a standby daemon is not ready (`/readyz`'s problems).
STANDBY = "standby: another baton daemon holds this store's lease; this one takes over when it ends"


def record_budgets(store: Engine, budgets: Mapping[str, ApiBudget]) -> None:
    """Store the API budgets as last seen (daily used and remaining), for `baton status` in
    another process; a budget that has not seen its daily figure yet is left out."""
    if not budgets:
        return
    at = datetime.now(UTC)
    with store.begin() as conn:
        for name, budget in budgets.items():
            snap = budget.snapshot()
            if snap.daily_limit is None or snap.daily_remaining is None:
                continue
            observe_budget(
                conn,
                System(name),
                "daily",
                used=max(0, snap.daily_limit - snap.daily_remaining),
                remaining=snap.daily_remaining,
                at=at,
            )


class QueueFull(Exception):
    """The `KeyQueue` holds its `max_keys`: the webhook is refused (503) and retried later."""


class KeyQueue:
    """Thread-safe, de-duplicating queue of record keys, with a wake-up event for the loop.

    `put` always queues; the webhook sink asks `room_for` first, so `max_keys` bounds what
    webhooks queue (give or take the deliveries being received at that moment)."""

    def __init__(self, max_keys: int = MAX_QUEUED_KEYS) -> None:
        self.max_keys = max_keys
        self._lock = threading.Lock()
        self._keys: dict[RecordKey, None] = {}
        self._gone: set[RecordKey] = set()  # keys hinted deleted (see `SyncEngine.sync_keys`)
        self._purged: set[RecordKey] = set()  # ... of them, deleted for good
        # Keys of a batch that failed for a reason of its own, each synced alone until it
        # succeeds or fails `TRIES_ALONE` times: how often it failed alone so far.
        self._alone: dict[RecordKey, int] = {}
        self.wake = threading.Event()

    def put(
        self,
        keys: Iterable[RecordKey],
        gone: Collection[RecordKey] = (),
        purged: Collection[RecordKey] = (),
        *,
        alone: bool = False,
    ) -> None:
        """Queue `keys`; with `alone`, each is then drained on its own (`drain`)."""
        keys = list(keys)
        with self._lock:
            self._keys.update(dict.fromkeys(keys))
            self._gone.update(gone)
            self._purged.update(purged)
            if alone:
                for key in keys:
                    self._alone.setdefault(key, 0)
        self.wake.set()

    def failed_alone(self, key: RecordKey) -> int:
        """Count a failure of `key` synced alone; returns its failures so far."""
        with self._lock:
            self._alone[key] = self._alone.get(key, 0) + 1
            return self._alone[key]

    def forget(self, key: RecordKey) -> None:
        """`key` is no longer tried alone (it synced, or it is dropped)."""
        with self._lock:
            self._alone.pop(key, None)

    def room_for(self, keys: Iterable[RecordKey]) -> bool:
        """Whether `keys` fit under `max_keys` (keys already queued take no more room)."""
        with self._lock:
            new = {key for key in keys if key not in self._keys}
            return len(self._keys) + len(new) <= self.max_keys

    def drain(
        self, limit: int = KEYS_PER_BATCH
    ) -> tuple[list[RecordKey], set[RecordKey], set[RecordKey]]:
        """Up to `limit` keys, those of them hinted deleted, and of those the ones deleted
        for good; a key to be tried alone comes first, and by itself."""
        with self._lock:
            waiting = [key for key in self._alone if key in self._keys]
            taken = waiting[:1] or [key for key in self._keys if key not in self._alone][:limit]
            for key in taken:
                del self._keys[key]
            gone = self._gone.intersection(taken)
            self._gone -= gone
            purged = self._purged.intersection(taken)
            self._purged -= purged
            if not self._keys:
                self.wake.clear()
        return taken, gone, purged

    def __len__(self) -> int:
        with self._lock:
            return len(self._keys)


@dataclass(frozen=True)
class Timer:
    """A named job run at most once per `every_s` (SLA checks, reconciliation)."""

    name: str
    every_s: float
    run: Callable[[], object]


@dataclass
class DaemonState:
    """What `/readyz`'s body and the dashboard say about the loop (never its status code: a
    vendor down or a daily limit spent is no reason to stop receiving webhooks)."""

    cycles: int = 0
    last_poll_at: datetime | None = None
    last_poll_error: str | None = None
    timers_due: dict[str, float] = field(default_factory=dict)
    timer_errors: dict[str, str] = field(default_factory=dict)  # timers whose last run failed
    standby: bool = False  # another daemon holds the store's lease (`Daemon.hold_lease`)

    def sync_health(self) -> dict[str, object]:
        """The loop's health as JSON values: how far polling got, its last error and the
        timers whose last run failed (errors masked: `/readyz` is unauthenticated)."""
        return {
            "cycles": self.cycles,
            "last_poll_at": self.last_poll_at.isoformat() if self.last_poll_at else None,
            "last_poll_error": self.last_poll_error,
            "timer_errors": dict(self.timer_errors),
            "standby": self.standby,
        }


class CycleFailed(Exception):
    """A cycle did not complete; `str()` is the one line to show."""


class TimerFailed(CycleFailed):
    """Timers failed, each logged and counted already; raised once every due timer ran."""


class Daemon:
    """One process's sync loop over an engine (the real `SyncEngine` or a test's fake)."""

    def __init__(
        self,
        engine: SyncFacade,
        *,
        interval_s: float,
        queue: KeyQueue | None = None,
        metrics: BatonMetrics | None = None,
        timers: Sequence[Timer] = (),
        store: Engine | None = None,
        budgets: Mapping[str, ApiBudget] | None = None,
        prepare: Callable[[], object] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        lease_retry_s: float = LEASE_RETRY_S,
    ) -> None:
        self.engine = engine
        self.interval_s = interval_s
        self.queue = queue if queue is not None else KeyQueue()  # an empty one is falsy
        self.metrics = metrics
        self.timers = tuple(timers)
        self.store = store
        self.budgets = budgets or {}
        self.state = DaemonState()
        if metrics is not None:
            metrics.watch_queue(self.queue.__len__)
            metrics.watch_standby(lambda: self.state.standby)
        self.stop = threading.Event()
        self._monotonic = monotonic
        self._purges_recovered = store is None
        self._prepare = prepare
        self._lease: Lease | None = None
        self._lease_error: str | None = None  # the last failure to ask for it, said once
        self.lease_retry_s = lease_retry_s

    def receive(
        self,
        keys: Iterable[RecordKey],
        gone: Collection[RecordKey] = (),
        purged: Collection[RecordKey] = (),
    ) -> None:
        """Queue a webhook's keys (the service's sink). Records it says were purged are kept
        in the store first: nothing else says so, and the sender, answered 200, does not send
        them again; should keeping them fail, this raises and the sender is asked to retry.

        A webhook that carries a purge is never refused for room: a purge is the one hint no
        poll sees, it is kept in the store before it is queued, and the body size cap bounds
        how many keys one delivery brings; its other keys are queued with it.

        Raises:
            QueueFull: the queue holds its `max_keys` and the webhook carries no purge (so a
                refused webhook leaves nothing behind); the sender is asked to retry.
        """
        keys = list(keys)
        if not purged and not self.queue.room_for(keys):
            raise QueueFull(
                f"{len(self.queue)} webhook keys wait already, at most "
                f"{self.queue.max_keys}; try again later"
            )
        if purged and self.store is not None:
            with self.store.begin() as tx:
                keep_purges(tx, purged)
        self.queue.put(keys, gone, purged)

    def readiness(self) -> Readiness:
        """Whether this process can receive webhooks, as far as the loop goes: always (the
        store, the other half, is checked by `baton.wiring`). A failed poll does not make it
        unready: the receiver still queues hints and keeps purges, and a HubSpot privacy
        deletion, which only a webhook brings, is retried by HubSpot for about a day only. A
        full queue does not either: ordinary hints are answered 503 and retried, but a purge is
        still received (`receive`), and a load balancer that took the process out would refuse
        it too. Both are shown in the body (`sync`, `queue`), not in the status. A standby
        (`hold_lease`) is not ready: the daemon holding the lease takes the webhooks."""
        queued = len(self.queue)
        return Readiness(
            problems=(STANDBY,) if self.state.standby else (),
            details={
                "sync": self.state.sync_health(),
                "queue": {
                    "keys": queued,
                    "max_keys": self.queue.max_keys,
                    "full": queued >= self.queue.max_keys,
                },
            },
        )

    # One unit of each kind of work

    def _timed(
        self, trigger: str, work: Callable[[], Any], so_far: CycleReport | None = None
    ) -> Any:
        """`work()`'s report, logged and counted; should it fail, what it did before (`so_far`,
        the report it fills as its pages commit) is counted all the same."""
        began = self._monotonic()
        try:
            report = work()
        except Exception:
            if self.metrics:
                self.metrics.observe_cycle(
                    so_far, trigger=trigger, seconds=self._monotonic() - began, ok=False
                )
            raise
        seconds = self._monotonic() - began
        if self.metrics:
            self.metrics.observe_cycle(report, trigger=trigger, seconds=seconds)
        log.info(trigger, extra={"kv": {**summary(report), "seconds": round(seconds, 3)}})
        return report

    def prepare_systems(self) -> None:
        """The systems' one-time preparation (Baton's HubSpot properties), unless it is done.
        It runs here, before the first write, not at start-up: a vendor down or a refused
        token then stops the polls, not the receiver. A failure raises; the next try runs it
        again."""
        if self._prepare is not None:
            self._prepare()
            self._prepare = None

    def _poll(self, so_far: CycleReport) -> Any:
        self.prepare_systems()
        return self.engine.poll(stopping=self.stop.is_set, into=so_far)

    def poll(self) -> Any:
        """One incremental poll of both systems, the systems prepared first; failure (of
        either) is recorded for `/readyz`'s body and the dashboard, then raised. A stop
        (SIGTERM) ends the poll at the record in hand (`PollStopped`, not a failure)."""
        so_far = CycleReport()  # what a poll that fails part way wrote is counted too
        try:
            report = self._timed("poll", functools.partial(self._poll, so_far), so_far)
        except Exception as exc:
            self.state.last_poll_error = one_line(exc)  # shown unauthenticated: masked
            raise
        self.state.last_poll_error = None
        self.state.last_poll_at = datetime.now(UTC)
        if self.metrics:
            self.metrics.job_succeeded("poll")
        return report

    def request_stop(self) -> None:
        """Stop after the batch in hand; safe in a signal handler. The events are set from
        another thread: a handler runs on the main thread, which may be inside `Event.wait`
        holding that event's lock, and setting it there would wait for ever (a SIGTERM that
        hung the daemon)."""
        threading.Thread(target=self._stop_now, name="baton-stop", daemon=True).start()

    def _stop_now(self) -> None:
        self.stop.set()
        self.queue.wake.set()

    def drain(self, *, batches: int | None = None) -> list[Any]:
        """Sync queued webhook keys a batch at a time: as many batches as the keys queued now
        fill, or `batches` batches (a key tried alone is a batch of its own).

        Bounded on purpose: under a steady stream of webhooks the queue never empties, and
        polling must still get its turn.

        A batch that fails for a reason outside its keys (`_systemic`: a system down or
        limiting, credentials refused, the network or the store) is tried again whole after a
        back-off. One that fails otherwise may fail for one key's sake (a record the engine or
        a system chokes on): its keys are then synced one at a time, so the others go on, and a
        key that still fails alone `TRIES_ALONE` times is dropped, logged and counted. Nothing
        is lost with it: webhooks are hints, the polls read the same record (a purge, which no
        poll sees, stays kept in the store and is queued again at the next start).
        """
        self._recover_purges()
        self.prepare_systems()  # keys wait on the queue until it is done
        if batches is None:
            batches = -(-len(self.queue) // KEYS_PER_BATCH)
        reports = []
        for _ in range(batches):
            keys, gone, purged = self.queue.drain()
            if not keys:
                break
            work = functools.partial(
                self.engine.sync_keys, keys, trigger="webhook", gone=gone, purged=purged
            )
            try:
                reports.append(self._timed("webhook", work))
            except Exception as exc:
                outage = _systemic(exc)
                if outage or len(keys) > 1:
                    # The next drain tries them again: together after an outage, alone when the
                    # batch may have failed for one key's sake.
                    self.queue.put(keys, gone, purged, alone=not outage)
                    raise
                if self.queue.failed_alone(keys[0]) < TRIES_ALONE:
                    self.queue.put(keys, gone, purged, alone=True)
                    raise
                self._drop(keys[0], exc)
                continue
            for key in keys:
                self.queue.forget(key)
            if purged and self.store is not None:
                with self.store.begin() as tx:
                    forget_purges(tx, purged)
        return reports

    def _drop(self, key: RecordKey, exc: Exception) -> None:
        self.queue.forget(key)
        log.error(
            "webhook key dropped",
            extra={
                "kv": {
                    "key": str(key),
                    "tries": TRIES_ALONE,
                    "error": one_line(exc),
                    "next": "the polls read this record; a purge is queued again at the next start",
                }
            },
        )
        if self.metrics:
            self.metrics.webhook_keys_dropped.labels(key.system.value).inc()

    def _recover_purges(self) -> None:
        """Queue the purge hints an earlier process kept but never synced (it died first)."""
        if self._purges_recovered or self.store is None:
            return
        with self.store.connect() as conn:
            kept = kept_purges(conn)
        self.queue.put(kept, kept, kept)
        self._purges_recovered = True

    def run_timers(self, *, force: bool = False) -> None:
        """The timers that are due (`force`: all); none once a stop was asked for, which lets
        the batch in hand finish, not a reconciliation begin. Each runs on its own: a failure
        is logged (one line) and counted, and the next timer still runs; then `TimerFailed`
        names them all (so `baton run --once` fails)."""
        now = self._monotonic()
        failed: list[str] = []
        for timer in self.timers:
            if self.stop.is_set():
                break
            due = self.state.timers_due.get(timer.name, 0.0)
            if force or now >= due:
                self.state.timers_due[timer.name] = now + timer.every_s
                error = self._run_timer(timer)
                if error is not None:
                    failed.append(f"timer {timer.name} failed: {error}")
        if failed:
            raise TimerFailed("; ".join(failed))

    def _run_timer(self, timer: Timer) -> str | None:
        """Run one timer; its error as one line, or None."""
        began = self._monotonic()
        try:
            timer.run()
        except Exception as exc:
            error = one_line(exc)
            self.state.timer_errors[timer.name] = error
            seconds = round(self._monotonic() - began, 3)
            kv = {"timer": timer.name, "seconds": seconds, "error": error}
            log.error("timer failed", extra={"kv": kv})
            if self.metrics:
                self.metrics.observe_timer(timer.name, ok=False)
            return error
        self.state.timer_errors.pop(timer.name, None)
        seconds = round(self._monotonic() - began, 3)
        log.info("timer", extra={"kv": {"timer": timer.name, "seconds": seconds}})
        if self.metrics:
            self.metrics.observe_timer(timer.name, ok=True)
        return None

    def record_budgets(self) -> None:
        """Store the budgets as last seen, for `baton status` in another process."""
        if self.store is not None:
            record_budgets(self.store, self.budgets)

    def cycle(self, *, force_timers: bool = False) -> Any:
        """A full cycle: poll, webhook keys (after a poll that worked: one that failed would
        fail them too), then the due timers whatever became of the rest (a vendor down fails
        the poll, yet the SLA timer needs only the store and its breaches must still be
        logged). Raises `CycleFailed` with the poll's (or the keys') failure, or `TimerFailed`
        when only timers failed. A poll a stop ended returns None: what it read is committed,
        the next process goes on; a call the vendor refuses is not retried once the stop is
        asked for (`retries_end_on`), so the stop does not wait out minutes of back-off."""
        with retries_end_on(self.stop):
            return self._cycle(force_timers=force_timers)

    def _cycle(self, *, force_timers: bool) -> Any:
        failed: Exception | None = None
        report = None
        try:
            try:
                report = self.poll()
                self.drain()
            except PollStopped as stopped:
                log.info("poll stopped", extra={"kv": {"where": str(stopped)}})
                return None
            except Exception as exc:
                failed = exc
            try:
                self.run_timers(force=force_timers)
            except TimerFailed:
                if failed is None:
                    raise
        finally:
            self.state.cycles += 1
            try:
                self.record_budgets()
            except Exception as exc:  # one line a cycle: a store down fails each of them
                log.warning("could not record API budgets", extra={"kv": {"error": one_line(exc)}})
        if failed is not None:
            raise CycleFailed(one_line(failed)) from failed
        return report

    # The loop

    def hold_lease(self) -> bool:
        """Whether this daemon holds the store's lease, taking it if it is free (no store: a
        test's loop, nothing to share). A lease lost (a PostgreSQL session ended) is taken
        again if it can be; if another daemon took it meanwhile, this one stands by. A store
        that cannot be asked (down) is no lease: nothing is polled until it answers, and the
        loop goes on (`/readyz` says the store is unreachable)."""
        if self.store is None:
            return True
        if self._lease is not None:
            if self._lease.alive():
                return True
            self._lease.release()
            self._lease = None
            log.warning("store lease lost", extra={"kv": {"why": "its database session ended"}})
        try:
            self._lease = take_lease(self.store, DAEMON)
        except Exception as exc:  # the store down: asked again in `lease_retry_s`, said once
            error = one_line(exc)
            if error != self._lease_error:
                log.warning("store lease not taken", extra={"kv": {"error": error}})
            self._lease_error = error
            return False
        self._lease_error = None
        if self._lease is None:
            if not self.state.standby:
                log.warning("standby", extra={"kv": {"why": STANDBY.removeprefix("standby: ")}})
            self.state.standby = True
            return False
        if self.state.standby:
            log.info("store lease taken", extra={"kv": {"after": "standing by"}})
        self.state.standby = False
        return True

    def release_lease(self) -> None:
        if self._lease is not None:
            self._lease.release()
            self._lease = None

    def run_forever(self) -> None:
        """Cycle every `interval_s`, sync webhook keys in between, until `stop` is set. A
        webhook batch that fails goes back on the queue and is tried again after a back-off
        (1 s, doubling, at most `interval_s`), not at once: a daily limit reached or a system
        down would otherwise spin on it."""
        try:
            with retries_end_on(self.stop):
                self._loop()
        finally:
            self.release_lease()
        log.info("stopped", extra={"kv": {"cycles": self.state.cycles}})

    def _loop(self) -> None:
        next_poll = self._monotonic()
        failures, drain_after = 0, 0.0
        while not self.stop.is_set():
            if not self.hold_lease():
                self.stop.wait(timeout=self.lease_retry_s)
                continue
            if self._monotonic() >= next_poll:
                try:
                    self.cycle()
                except TimerFailed:
                    pass  # each failed timer is logged already
                except CycleFailed as exc:
                    log.error("cycle failed", extra={"kv": {"error": str(exc)}})
                next_poll = self._monotonic() + self.interval_s
            elif len(self.queue) and self._monotonic() >= drain_after:
                try:
                    self.drain(batches=1)
                    failures = 0
                except Exception as exc:
                    failures += 1
                    drain_after = self._monotonic() + min(self.interval_s, 2.0 ** (failures - 1))
                    log.error("webhook sync failed", extra={"kv": {"error": one_line(exc)}})
            now = self._monotonic()
            wait = min(max(0.0, next_poll - now), 1.0)
            if len(self.queue) and now < drain_after:  # backing off: the queue is no news
                self.stop.wait(timeout=min(wait, drain_after - now))
            else:
                self.queue.wake.wait(timeout=wait)
            if self.stop.is_set():
                break


#: The operation of a Salesforce token grant, before its auth mode.
SALESFORCE_GRANT = "oauth2.token."
#: What to check when a system refuses Baton's credentials (`AuthError`), per system.
CREDENTIALS = {
    System.HUBSPOT: "check BATON_HUBSPOT_ACCESS_TOKEN (or the OAuth client and refresh token)",
    System.SALESFORCE: "check BATON_SALESFORCE_CLIENT_ID and CLIENT_SECRET (or what "
    "BATON_SALESFORCE_AUTH needs)",
}


def credentials_hint(exc: AuthError) -> str | None:
    """Which settings to check: for Salesforce's token grant, those of the BATON_SALESFORCE_AUTH
    mode it ran (its operation is `oauth2.token.<mode>`, see `connectors.salesforce.auth`)."""
    operation = exc.operation or ""
    if exc.system == System.SALESFORCE and operation.startswith(SALESFORCE_GRANT):
        mode = operation.removeprefix(SALESFORCE_GRANT)
        needs = mode_needs(mode)
        if needs:
            return f"check {needs} (BATON_SALESFORCE_AUTH={mode})"
    return CREDENTIALS.get(System(exc.system)) if exc.system in CREDENTIALS else None


def _systemic(exc: BaseException) -> bool:
    """Whether a failed sync failed for a reason outside the keys it was given: a system down
    or limiting, credentials or settings refused, the network or the store (unreachable, or
    every pooled connection busy: `PoolTimeout`). Any other failure (a request the system
    refuses, an error of the engine's) may be one key's doing."""
    if isinstance(exc, ConnectorError):
        return exc.retryable or isinstance(exc, AuthError | ConfigError | DailyLimitExhausted)
    return isinstance(exc, OSError | OperationalError | InterfaceError | PoolTimeout)


def one_line(exc: BaseException) -> str:
    """`DailyLimitExhausted: salesforce ...` on one line (connector errors name the system); a
    refusal of the credentials says which settings to check. Secrets are masked: an error can
    quote what it choked on (httpx quotes a bad `Authorization` header whole)."""
    text = " ".join(redact(str(exc)).split())
    line = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    hint = credentials_hint(exc) if isinstance(exc, AuthError) else None
    if hint:
        line += f"; {hint}"
    return line


_HOST_FIX = (
    "set BATON_HTTP_HOST to an address of this machine (127.0.0.1, or 0.0.0.0 for every interface)"
)


def _can_listen(host: str, port: int) -> None:
    """Bind `host:port` once before uvicorn does, to say which setting is wrong."""
    try:
        family, kind, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror:
        raise OSError(f"cannot listen on {host}:{port}: no such address; {_HOST_FIX}") from None
    with socket.socket(family, kind) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise OSError(
                    f"cannot listen on {host}:{port}: in use; set BATON_HTTP_PORT to a free port"
                ) from None
            raise OSError(f"cannot listen on {host}:{port} ({exc.strerror}); {_HOST_FIX}") from None


class HttpServer:
    """uvicorn serving an ASGI app from a background thread of this process.

    uvicorn installs signal handlers only on the main thread, so the daemon keeps SIGTERM.
    """

    def __init__(self, app: Any, *, host: str, port: int) -> None:
        config = uvicorn.Config(
            app, host=host, port=port, log_config=None, access_log=False, lifespan="off"
        )
        self.server = uvicorn.Server(config)
        self.host = host
        self._thread = threading.Thread(target=self.server.run, name="baton-http", daemon=True)

    @property
    def port(self) -> int:
        servers = getattr(self.server, "servers", [])
        for server in servers:
            for sock in server.sockets:
                return int(sock.getsockname()[1])
        return int(self.server.config.port)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout_s: float = 10.0) -> None:
        """Start serving; `OSError` with one line, naming the setting to change, if the
        address cannot be used."""
        _can_listen(self.host, int(self.server.config.port))
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise OSError(
                    f"cannot listen on {self.host}:{self.server.config.port} (in use?); "
                    "set BATON_HTTP_PORT to a free port"
                )
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=10)
