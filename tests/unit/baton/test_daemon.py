"""The daemon loop over a fake engine: cycles, webhook keys, timers, failure, stopping."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from baton.daemon import (
    TRIES_ALONE,
    CycleFailed,
    Daemon,
    HttpServer,
    KeyQueue,
    QueueFull,
    Timer,
)
from baton.metrics import BatonMetrics
from baton.service import ServiceDeps, create_app
from baton.service.dashboard import render_dashboard
from baton.wiring import open_store, store_readiness
from connectors.errors import (
    DailyLimitExhausted,
    PermanentError,
    RateLimited,
    SessionExpired,
    TransientError,
)
from connectors.http.budget import ApiBudget, hubspot_spec, salesforce_spec
from connectors.http.retry import Retrier, RetryPolicy
from connectors.priority import background_calls
from connectors.records import ChangeHint, ChangeKind, RecordKey, System, WebhookReceipt
from sync.store.checkpoints import advance_checkpoint
from sync.store.dead_letters import Direction, add_dead_letter
from sync.store.engine import sqlite_url
from sync.store.locks import take_lease
from sync.store.purges import kept_purges


@dataclass
class FakeReport:
    read: Counter[str] = field(default_factory=Counter)
    created: Counter[str] = field(default_factory=Counter)
    updated: Counter[str] = field(default_factory=Counter)
    unchanged: int = 0
    conflicts: int = 0
    dead_letters: int = 0
    stage_moves: Counter[str] = field(default_factory=Counter)
    ambiguous: int = 0
    deletes_flagged: int = 0
    deletes_propagated: int = 0
    retry_later: int = 0
    not_handed_off: int = 0
    planned: list[Any] = field(default_factory=list)


class FakeEngine:
    def __init__(self) -> None:
        self.polls = 0
        self.synced: list[list[RecordKey]] = []
        self.gone: list[RecordKey] = []
        self.purged: list[RecordKey] = []
        self.fail_with: BaseException | None = None
        self.sync_fails_with: Exception | None = None
        self.stopping: Any = None

    def poll(self, *, dry_run: bool = False, stopping: Any = None, into: Any = None) -> FakeReport:
        self.polls += 1
        self.stopping = stopping
        if self.fail_with:
            raise self.fail_with
        return FakeReport(
            read=Counter({"hubspot:contacts": 2}), updated=Counter({"salesforce:Lead": 1})
        )

    def sync_keys(
        self, keys: Any, *, trigger: str, dry_run: bool = False, gone: Any = (), purged: Any = ()
    ) -> FakeReport:
        if self.sync_fails_with:
            raise self.sync_fails_with
        self.synced.append(list(keys))
        self.gone.extend(gone)
        self.purged.extend(purged)
        return FakeReport(read=Counter({f"{k.system}:{k.object}" for k in keys}))

    def backfill(self, **_: Any) -> FakeReport:
        return FakeReport()


KEY = RecordKey(System.HUBSPOT, "contacts", "1")


def test_key_queue_deduplicates_and_drains_in_batches() -> None:
    queue = KeyQueue()
    queue.put([KEY, KEY, RecordKey(System.SALESFORCE, "Lead", "2")])
    assert len(queue) == 2
    assert queue.wake.is_set()
    assert queue.drain(limit=1) == ([KEY], set(), set())
    assert queue.wake.is_set()
    assert queue.drain() == ([RecordKey(System.SALESFORCE, "Lead", "2")], set(), set())
    assert not queue.wake.is_set()
    assert queue.drain() == ([], set(), set())


def test_key_queue_keeps_which_keys_were_hinted_deleted_until_they_are_drained() -> None:
    queue = KeyQueue()
    lead = RecordKey(System.SALESFORCE, "Lead", "2")
    queue.put([KEY], gone={KEY}, purged={KEY})
    queue.put([KEY, lead])  # hinted again as changed: still deleted until synced
    assert queue.drain(limit=1) == ([KEY], {KEY}, {KEY})
    assert queue.drain() == ([lead], set(), set())


def test_a_cycle_polls_drains_and_runs_timers() -> None:
    engine, ticks = FakeEngine(), []
    daemon = Daemon(engine, interval_s=60, timers=[Timer("sla", 60, lambda: ticks.append(1))])
    daemon.queue.put([KEY])
    daemon.cycle()
    assert engine.polls == 1
    assert engine.synced == [[KEY]]
    assert ticks == [1]
    daemon.cycle()  # the timer is not due again yet
    assert ticks == [1]
    assert daemon.readiness().ok


def test_a_failed_poll_still_lets_the_cycle_run_its_timers() -> None:
    """A Salesforce outage fails the poll, not the timers: the SLA timer needs only the store
    (its breaches must still be logged). Hinted keys wait for a poll that works; the cycle
    fails with the poll's line."""
    engine, ticks = FakeEngine(), []
    engine.fail_with = DailyLimitExhausted(
        "daily API budget reached its floor", limit=15000, remaining=0, system=System.SALESFORCE
    )
    daemon = Daemon(engine, interval_s=60, timers=[Timer("sla", 60, lambda: ticks.append(1))])
    daemon.queue.put([KEY])
    with pytest.raises(CycleFailed, match=r"^DailyLimitExhausted: salesforce"):
        daemon.cycle()
    assert ticks == [1]
    assert (engine.synced, len(daemon.queue)) == ([], 1)


def test_a_cycle_whose_poll_and_timers_fail_names_the_poll() -> None:
    engine = FakeEngine()
    engine.fail_with = ConnectionError("salesforce unreachable")

    def broken() -> None:
        raise RuntimeError("sla query failed")

    daemon = Daemon(engine, interval_s=60, timers=[Timer("sla", 60, broken)])
    with pytest.raises(CycleFailed, match="salesforce unreachable"):
        daemon.cycle()
    assert "sla" in daemon.state.timer_errors


def test_what_a_poll_wrote_before_it_failed_is_counted_in_metrics() -> None:
    """A poll whose pages committed writes (the vendors have them, `baton status` counts them
    on the failed run) before a vendor went down: /metrics counted none of them."""

    class FailingPartWay(FakeEngine):
        def poll(
            self, *, dry_run: bool = False, stopping: Any = None, into: Any = None
        ) -> FakeReport:
            into.read["salesforce:Lead"] += 4  # a page synced and committed...
            into.updated["hubspot:contacts"] += 3
            into.conflicts += 1
            raise TransientError("server error", system=System.HUBSPOT, status=503)  # ...then

    metrics = BatonMetrics()
    daemon = Daemon(FailingPartWay(), interval_s=60, metrics=metrics)
    with pytest.raises(CycleFailed, match="503"):
        daemon.cycle()

    scraped = metrics.render().decode()
    assert 'baton_cycles_total{outcome="failed",trigger="poll"} 1.0' in scraped
    assert 'baton_records_read_total{object="Lead",system="salesforce"} 4.0' in scraped
    written = 'baton_records_written_total{object="contacts",op="updated",system="hubspot"} 3.0'
    assert written in scraped
    assert "baton_conflicts_total 1.0" in scraped


@pytest.mark.parametrize(
    ("system", "check"),
    [
        (System.HUBSPOT, "; check BATON_HUBSPOT_ACCESS_TOKEN"),
        ("salesforce", "; check BATON_SALESFORCE_CLIENT_ID and CLIENT_SECRET"),
    ],
)
def test_refused_credentials_say_which_settings_to_check(system: System | str, check: str) -> None:
    engine = FakeEngine()
    engine.fail_with = SessionExpired("the system rejected the access token [401]", system=system)
    with pytest.raises(CycleFailed) as caught:
        Daemon(engine, interval_s=60).cycle()
    assert check in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_failed_poll_is_one_line_and_shown_but_leaves_the_process_ready() -> None:
    """A spent daily limit (or a vendor down) stops the sync, not the receiver: the process
    stays ready, the failure shows in the readiness body and counts in /metrics."""
    engine = FakeEngine()
    engine.fail_with = DailyLimitExhausted(
        "daily API budget reached its floor", limit=15000, remaining=0, system=System.SALESFORCE
    )
    metrics = BatonMetrics()
    daemon = Daemon(engine, interval_s=60, metrics=metrics)
    with pytest.raises(CycleFailed) as caught:
        daemon.cycle()
    line = str(caught.value)
    assert line.startswith("DailyLimitExhausted: salesforce")
    assert "\n" not in line
    readiness = daemon.readiness()
    assert readiness.ok
    assert readiness.details["sync"] == {
        "cycles": 1,
        "last_poll_at": None,
        "last_poll_error": line,
        "timer_errors": {},
        "standby": False,
    }
    assert 'baton_cycles_total{outcome="failed",trigger="poll"} 1.0' in metrics.render().decode()
    engine.fail_with = None
    daemon.cycle()
    sync = daemon.readiness().details["sync"]
    assert isinstance(sync, dict)
    assert sync["last_poll_error"] is None
    assert sync["last_poll_at"] is not None


def test_a_failed_preparation_is_a_failed_poll_and_is_tried_again_next_cycle() -> None:
    """HubSpot down or refusing the token when the daemon starts stops the polls, not the
    receiver: preparing the systems (Baton's HubSpot properties) is part of the cycle, its
    failure shown and counted as the poll's, and tried again until it is done."""
    engine, tries = FakeEngine(), []

    def prepare() -> None:
        tries.append(1)
        if len(tries) == 1:
            raise SessionExpired("the system rejected the access token [401]", system="hubspot")

    metrics = BatonMetrics()
    daemon = Daemon(engine, interval_s=60, metrics=metrics, prepare=prepare)
    daemon.queue.put([KEY])
    with pytest.raises(CycleFailed) as caught:
        daemon.cycle()
    assert str(caught.value).startswith("SessionExpired: hubspot")
    assert (engine.polls, engine.synced) == (0, [])  # nothing written to missing properties
    readiness = daemon.readiness()
    assert readiness.ok
    assert isinstance(readiness.details["sync"], dict)
    assert readiness.details["sync"]["last_poll_error"] == str(caught.value)
    assert 'baton_cycles_total{outcome="failed",trigger="poll"} 1.0' in metrics.render().decode()

    daemon.cycle()
    daemon.cycle()
    assert (len(tries), engine.polls, engine.synced) == (2, 2, [[KEY]])  # prepared once


def test_webhook_keys_wait_on_the_queue_until_the_systems_are_prepared() -> None:
    def refused() -> None:
        raise SessionExpired("the system rejected the access token [401]", system="hubspot")

    engine = FakeEngine()
    daemon = Daemon(engine, interval_s=60, prepare=refused)
    daemon.queue.put([KEY])
    with pytest.raises(SessionExpired):
        daemon.drain(batches=1)
    assert (len(daemon.queue), engine.synced) == (1, [])


def test_a_poll_a_stop_ended_is_neither_a_failure_nor_followed_by_the_rest_of_the_cycle() -> None:
    """SIGTERM reaches the poll (the daemon's stop), which ends at the record in hand; the
    cycle then ends quietly: no failure shown or counted, no timer begun."""
    from sync.engine import PollStopped

    engine, ticks = FakeEngine(), []
    metrics = BatonMetrics()
    daemon = Daemon(
        engine, interval_s=60, metrics=metrics, timers=[Timer("sla", 60, lambda: ticks.append(1))]
    )
    engine.fail_with = PollStopped("stopped while reading salesforce:Lead")
    daemon.queue.put([KEY])

    assert daemon.cycle() is None

    assert engine.stopping == daemon.stop.is_set
    assert (engine.synced, ticks, len(daemon.queue)) == ([], [], 1)
    sync = daemon.readiness().details["sync"]
    assert isinstance(sync, dict)
    assert sync["last_poll_error"] is None
    assert 'outcome="failed"' not in metrics.render().decode()


def test_run_forever_syncs_webhook_keys_between_polls_and_stops_cleanly() -> None:
    engine = FakeEngine()
    daemon = Daemon(engine, interval_s=3600)
    thread = threading.Thread(target=daemon.run_forever)
    thread.start()
    try:
        daemon.queue.put([KEY])
        for _ in range(200):
            if engine.synced:
                break
            threading.Event().wait(0.01)
        assert engine.synced == [[KEY]]
        assert engine.polls == 1  # the first poll, then only webhook work
    finally:
        daemon.stop.set()
        daemon.queue.wake.set()
        thread.join(timeout=5)
    assert not thread.is_alive()


@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    engine = open_store(str(sqlite_url(tmp_path / "deep" / "baton.db")))
    yield engine
    engine.dispose()


def test_open_store_creates_the_folder_and_migrates(store) -> None:  # type: ignore[no-untyped-def]
    assert store_readiness(store).ok


def test_metrics_read_budget_lag_and_dead_letters(store) -> None:  # type: ignore[no-untyped-def]
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    with store.begin() as conn:
        advance_checkpoint(conn, System.HUBSPOT, "contacts", now - timedelta(seconds=90), "7")
    budgets = {
        "hubspot": ApiBudget(hubspot_spec(limit_per_10s=190)),
        "salesforce": ApiBudget(salesforce_spec(daily_limit=15000)),
    }
    budgets["hubspot"].spend()
    budgets["salesforce"].spend()
    clock = [0.0]  # seconds, moved on by the budget's own sleeps
    fast = ApiBudget(
        hubspot_spec(limit_per_10s=190),
        clock=lambda: clock[0],
        sleep=lambda seconds: clock.__setitem__(0, clock[0] + seconds),
    )
    for _ in range(20):  # the burst (15.725: room left for a late call), then 4.275 permits
        fast.spend()  # the sync waits for, at 17.1/s
    with background_calls():
        fast.spend()  # and one a read ahead waits for
    budgets["fast"] = fast
    with store.begin() as conn:
        add_dead_letter(
            conn,
            KEY,
            Direction.TO_SALESFORCE,
            {"Email": "x"},
            "FIELD_CUSTOM_VALIDATION_EXCEPTION",
            "no",
        )
    metrics = BatonMetrics(budgets=budgets, store=store, now=lambda: now)
    text = metrics.render().decode()
    assert 'baton_api_calls_total{system="hubspot"} 1.0' in text
    waits = {
        waiter: float(line.rpartition(" ")[2])
        for line in text.splitlines()
        if line.startswith('baton_api_budget_wait_seconds_total{system="fast",waiter="')
        for waiter in [line.split('waiter="')[1].split('"')[0]]
    }
    assert waits == {"sync": pytest.approx(4.275 / 17.1), "read_ahead": pytest.approx(1 / 17.1)}
    assert 'baton_api_daily_remaining{system="salesforce"} 14999.0' in text
    # by the system of the refused record, as `baton status` groups them; the other at 0
    assert 'baton_dead_letters{status="open",system="hubspot"} 1.0' in text
    assert 'baton_dead_letters{status="open",system="salesforce"} 0.0' in text
    assert 'baton_checkpoint_lag_seconds{object="contacts",system="hubspot"} 90.0' in text


def test_the_dashboard_shows_the_store(store) -> None:  # type: ignore[no-untyped-def]
    with store.begin() as conn:
        add_dead_letter(conn, KEY, Direction.TO_SALESFORCE, {}, "DUPLICATE_VALUE", "dup <b>")
    page = render_dashboard(store, {"hubspot": ApiBudget(hubspot_spec(limit_per_10s=190))})
    assert "1 open dead letters" in page
    assert "dup &lt;b&gt;" in page
    assert "<h2>Checkpoints</h2>" in page
    assert "<th>read ahead waited (s)</th>" in page


def test_a_steady_stream_of_webhooks_does_not_starve_polling() -> None:
    engine = FakeEngine()
    daemon = Daemon(engine, interval_s=0.05)
    keys = iter(range(10**9))

    def endless(
        ks: Any, *, trigger: str, dry_run: bool = False, gone: Any = (), purged: Any = ()
    ) -> FakeReport:
        daemon.queue.put([RecordKey(System.HUBSPOT, "contacts", str(next(keys)))])
        if engine.polls >= 3:
            daemon.stop.set()
        return FakeReport()

    engine.sync_keys = endless  # type: ignore[method-assign]
    daemon.queue.put([KEY])
    thread = threading.Thread(target=daemon.run_forever)
    thread.start()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert engine.polls >= 3


def test_an_address_that_cannot_be_listened_on_names_the_setting_to_change() -> None:
    """A busy port names BATON_HTTP_PORT; an address not of this machine, BATON_HTTP_HOST."""
    app = create_app(ServiceDeps(sink=lambda keys, gone, purged: None))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match="in use; set BATON_HTTP_PORT"):
            HttpServer(app, host="127.0.0.1", port=port).start()
    for host in ("256.1.1.1", "192.0.2.1"):  # not an address; not this machine's (TEST-NET-1)
        with pytest.raises(OSError, match="set BATON_HTTP_HOST"):
            HttpServer(app, host=host, port=0).start()


def test_a_failed_webhook_sync_keeps_its_keys_for_the_next_drain() -> None:
    engine = FakeEngine()
    engine.sync_fails_with = ConnectionError("hubspot unreachable")
    daemon = Daemon(engine, interval_s=60)
    daemon.receive([KEY], gone=[KEY], purged=[KEY])
    with pytest.raises(ConnectionError):
        daemon.drain(batches=1)
    assert daemon.queue.drain() == ([KEY], {KEY}, {KEY})


def _keys(*ids: int) -> list[RecordKey]:
    return [RecordKey(System.SALESFORCE, "Lead", f"00Q{n:015d}") for n in ids]


def test_webhooks_queue_no_more_than_max_keys(store) -> None:  # type: ignore[no-untyped-def]
    """A flood of hints (forged, or a mass import) is refused past the bound, whole and leaving
    nothing behind (a deletion to the recycle bin too: the polls read it); keys already queued
    take no room. Purges are the exception: see the next test."""
    daemon = Daemon(FakeEngine(), interval_s=60, queue=KeyQueue(max_keys=3), store=store)
    daemon.receive(_keys(1, 2))
    with pytest.raises(QueueFull, match="at most 3"):
        daemon.receive(_keys(3, 4), gone=_keys(4))
    assert len(daemon.queue) == 2
    daemon.receive(_keys(1, 2, 3))  # two already queued: one more fits
    assert len(daemon.queue) == 3
    daemon.drain()
    daemon.receive(_keys(4, 5, 6))  # room again once synced
    assert len(daemon.queue) == 3


def test_a_webhook_carrying_a_purge_is_queued_past_the_bound(store) -> None:  # type: ignore[no-untyped-def]
    """A privacy deletion is the one hint no poll sees: refused 503, it would wait on the
    sender's retries for as long as the queue stays full. It is kept in the store and queued
    past the bound, with the delivery's other keys; the next delivery without one is refused."""
    daemon = Daemon(FakeEngine(), interval_s=60, queue=KeyQueue(max_keys=2), store=store)
    daemon.receive(_keys(1, 2))

    daemon.receive(_keys(3, 4), gone=_keys(4), purged=_keys(4))

    with store.connect() as conn:
        assert kept_purges(conn) == _keys(4)
    assert len(daemon.queue) == 4
    with pytest.raises(QueueFull):
        daemon.receive(_keys(5))
    keys, gone, purged = daemon.queue.drain()
    assert (keys, gone, purged) == (_keys(1, 2, 3, 4), set(_keys(4)), set(_keys(4)))


def test_keys_put_back_by_a_failed_sync_are_never_refused() -> None:
    """They were accepted (answered 200): going back past the bound loses none of them."""

    class Failing(FakeEngine):
        def sync_keys(self, keys: Any, **_: Any) -> FakeReport:
            daemon.receive(_keys(3, 4))  # webhooks fill the room the drain made meanwhile
            raise ConnectionError("salesforce unreachable")

    daemon = Daemon(Failing(), interval_s=60, queue=KeyQueue(max_keys=2))
    daemon.receive(_keys(1, 2))
    with pytest.raises(ConnectionError):
        daemon.drain(batches=1)
    assert len(daemon.queue) == 4


def test_a_full_queue_answers_webhooks_503_so_the_sender_retries() -> None:
    daemon = Daemon(FakeEngine(), interval_s=60, queue=KeyQueue(max_keys=1))
    daemon.receive(_keys(1))

    def verify(_request: object) -> WebhookReceipt:
        return WebhookReceipt(hints=(ChangeHint(_keys(2)[0], ChangeKind.UPDATED, None),))

    app = create_app(ServiceDeps(sink=daemon.receive, verify_salesforce=verify))
    with TestClient(app) as http:
        assert http.post("/webhooks/salesforce", content=b"<x/>").status_code == 503
        daemon.drain()
        assert http.post("/webhooks/salesforce", content=b"<x/>").status_code == 200
    assert daemon.queue.drain()[0] == _keys(2)


def test_a_full_queue_still_answers_a_privacy_deletion_200(store) -> None:  # type: ignore[no-untyped-def]
    daemon = Daemon(FakeEngine(), interval_s=60, queue=KeyQueue(max_keys=1), store=store)
    daemon.receive(_keys(1))

    def verify(_request: object) -> WebhookReceipt:
        return WebhookReceipt(hints=(ChangeHint(_keys(2)[0], ChangeKind.PURGED, None),))

    app = create_app(ServiceDeps(sink=daemon.receive, verify_hubspot=verify))
    with TestClient(app) as http:
        assert http.post("/webhooks/hubspot", content=b"[]").status_code == 200
    with store.connect() as conn:
        assert kept_purges(conn) == _keys(2)
    assert daemon.queue.drain()[2] == set(_keys(2))


def test_a_purge_hint_is_kept_in_the_store_until_synced_even_across_a_crash(  # type: ignore[no-untyped-def]
    store,
) -> None:
    """A privacy deletion's webhook is its only word: kept before the 200, synced by the next
    process if this one dies first, and dropped once synced."""
    first = Daemon(FakeEngine(), interval_s=60, store=store)
    first.receive([KEY], gone=[KEY], purged=[KEY])  # answered 200; then the process dies
    with store.connect() as conn:
        assert kept_purges(conn) == [KEY]

    engine = FakeEngine()
    Daemon(engine, interval_s=60, store=store).drain()

    assert (engine.synced, engine.purged, engine.gone) == ([[KEY]], [KEY], [KEY])
    with store.connect() as conn:
        assert kept_purges(conn) == []


def test_a_webhook_the_daemon_cannot_keep_is_answered_503_so_the_sender_retries() -> None:
    def failing_sink(*_: Any) -> None:
        raise OSError("disk full")

    receipt = WebhookReceipt((ChangeHint(KEY, ChangeKind.PURGED),))
    deps = ServiceDeps(sink=failing_sink, verify_hubspot=lambda _: receipt)
    client = TestClient(create_app(deps))

    answer = client.post("/webhooks/hubspot", content=b"[]")

    assert answer.status_code == 503


def test_a_poll_error_shown_on_readyz_masks_the_token_it_quotes() -> None:
    engine = FakeEngine()
    token = "pat-na1-11111111-2222-3333-4444-555555555555"
    engine.fail_with = ValueError(f"Invalid header value b'Bearer {token}\\n'")
    daemon = Daemon(engine, interval_s=60)
    with pytest.raises(CycleFailed):
        daemon.cycle()
    sync = daemon.readiness().details["sync"]
    assert isinstance(sync, dict)
    assert token not in sync["last_poll_error"]
    assert "Bearer ***" in sync["last_poll_error"]


def test_a_webhook_sync_that_keeps_failing_backs_off_rather_than_spinning() -> None:
    """A failed batch goes back on the queue (which wakes the loop): it is tried again after a
    back-off, not at once (a daily limit or an outage would burn CPU, log lines and calls)."""
    engine = FakeEngine()
    engine.sync_fails_with = ConnectionError("hubspot unreachable")
    attempts = 0
    sync_keys = engine.sync_keys

    def counted(keys: Any, **kwargs: Any) -> FakeReport:
        nonlocal attempts
        attempts += 1
        return sync_keys(keys, **kwargs)

    engine.sync_keys = counted  # type: ignore[method-assign]
    daemon = Daemon(engine, interval_s=3600)
    thread = threading.Thread(target=daemon.run_forever)
    thread.start()
    try:
        threading.Event().wait(0.05)  # the first cycle has polled
        daemon.queue.put([KEY])
        threading.Event().wait(1.0)
    finally:
        daemon.stop.set()
        daemon.queue.wake.set()
        thread.join(timeout=5)
    assert not thread.is_alive()
    assert 1 <= attempts <= 3, f"{attempts} attempts in about one second"
    assert len(daemon.queue) == 1  # still waiting for its next try


def test_a_purge_webhook_waiting_on_the_store_does_not_block_the_http_server(  # type: ignore[no-untyped-def]
    store,
) -> None:
    """Keeping a purge hint may wait on SQLite's write lock (a unit's commit, a backfill in
    another process): meanwhile the server still answers."""
    daemon = Daemon(FakeEngine(), interval_s=60, store=store)
    receipt = WebhookReceipt((ChangeHint(KEY, ChangeKind.PURGED),))
    app = create_app(ServiceDeps(sink=daemon.receive, verify_hubspot=lambda _: receipt))
    server = HttpServer(app, host="127.0.0.1", port=0)
    server.start()
    lock = store.connect()
    lock.begin()  # BEGIN IMMEDIATE: the write lock, as a unit's commit holds it
    answers: list[int] = []
    url = server.url
    poster = threading.Thread(
        target=lambda: answers.append(
            httpx.post(f"{url}/webhooks/hubspot", content=b"[]", timeout=60).status_code
        )
    )
    try:
        poster.start()
        threading.Event().wait(0.3)  # the webhook now waits on the lock
        health = httpx.get(f"{url}/healthz", timeout=3).status_code
    finally:
        lock.rollback()
        lock.close()
        poster.join(timeout=40)
        server.stop()
    assert health == 200
    assert answers == [200]
    with store.connect() as conn:
        assert kept_purges(conn) == [KEY]


def test_the_cycle_line_counts_writes_refused_for_now() -> None:
    """A write every attempt of which failed for now (a 5xx, a lock) waits for its page to be
    read again: the cycle's log line says how many, or the run looks clean."""
    from baton.facade import summary

    assert summary(FakeReport(retry_later=147))["retry_later"] == 147


def test_the_reconcile_timer_reconciles_only_when_due() -> None:
    """The daemon asks hourly (a cron's `run --once` each time); the engine says whether the
    last reconciliation that succeeded is old enough."""
    from datetime import timedelta

    from baton.wiring import reconcile_timer

    class Engine:
        def __init__(self) -> None:
            self.due = True
            self.asked: list[timedelta] = []
            self.runs = 0

        def reconcile_due(self, every: timedelta) -> bool:
            self.asked.append(every)
            return self.due

        def reconcile(self, **_: object) -> FakeReport:
            self.runs += 1
            return FakeReport()

    engine = Engine()
    timer = reconcile_timer(engine, hours=6)  # type: ignore[arg-type]
    timer.run()
    engine.due = False
    timer.run()
    assert (engine.runs, engine.asked) == (1, [timedelta(hours=6)] * 2)
    assert timer.name == "reconcile"


def test_a_reconciliation_stopped_by_sigterm_ends_the_tick_quietly() -> None:
    """The daemon's stop ends a reconciliation between pages; the tick logs it and returns, so
    the cycle in hand finishes and the process exits without waiting for every page."""

    from baton.wiring import reconcile_timer
    from sync.reconcile import ReconcileStopped

    class Engine:
        stopping: object = None

        def reconcile_due(self, every: timedelta) -> bool:
            return True

        def reconcile(self, *, stopping: object, every: object, into: object) -> FakeReport:
            self.stopping = stopping
            raise ReconcileStopped("stopped while reading salesforce:Lead")

    engine, stop = Engine(), threading.Event()
    reconcile_timer(engine, hours=24, stopping=stop.is_set).run()  # type: ignore[arg-type]
    assert engine.stopping == stop.is_set


def test_a_stop_asked_while_the_loop_holds_its_event_is_not_kept_waiting() -> None:
    """A SIGTERM handler runs on the main thread, which may be inside `Event.wait` holding
    the event's lock: asking to stop there must not wait for that lock (it hung the daemon)."""
    daemon = Daemon(FakeEngine(), interval_s=60)
    with daemon.stop._cond:  # as `Event.wait` holds it when the signal arrives
        daemon.request_stop()  # returns at once
    assert daemon.stop.wait(5)
    assert daemon.queue.wake.wait(5)


class BurstLimitedEngine(FakeEngine):
    """A poll whose call HubSpot keeps refusing with its ten-second 429, through the real
    retry layer: a documented 10 s wait, grown each attempt."""

    def poll(self, *, dry_run: bool = False, stopping: Any = None, into: Any = None) -> FakeReport:
        self.polls += 1

        def refused() -> FakeReport:
            raise RateLimited(
                "ten-second burst limit reached",
                system=System.HUBSPOT,
                status=429,
                retry_after=10.0,
                documented_wait=True,
            )

        retrier = Retrier(system=System.HUBSPOT, policy=RetryPolicy(max_attempts=3))
        return retrier.call(refused, operation="contacts.batch_read")


@pytest.mark.parametrize("once", [False, True])
def test_a_stop_is_not_kept_waiting_on_a_vendors_back_off(once: bool) -> None:
    """SIGTERM while a vendor refuses calls: the retry waits end at the stop, so the daemon
    (and `run --once`) exits within an orchestrator's grace instead of after them (they
    grow to minutes; Kubernetes kills after 30 s, Docker after 10)."""
    engine = BurstLimitedEngine()
    daemon = Daemon(engine, interval_s=3600)
    work = daemon.cycle if once else daemon.run_forever
    thread = threading.Thread(target=lambda: suppress_cycle_failed(work), daemon=True)
    thread.start()
    while not engine.polls:
        time.sleep(0.01)
    time.sleep(0.2)  # in its first wait
    daemon.request_stop()
    thread.join(timeout=5)
    assert not thread.is_alive()


def suppress_cycle_failed(work: Any) -> None:
    with contextlib.suppress(CycleFailed):  # the refusal, raised at once: `run --once` says so
        work()


def _runtime(store: Any, *, webhook_token: str | None = None, failure_limit: int = 20) -> Any:
    """What `service_deps` reads of a `Runtime`: the store, no HubSpot webhook secret (and the
    Outbound Messages' token only if given), no budgets."""
    from types import SimpleNamespace

    return SimpleNamespace(
        store=store,
        budgets={},
        settings=SimpleNamespace(
            baton=SimpleNamespace(sla_hours=24, webhook_failure_limit=failure_limit),
            hubspot=SimpleNamespace(client_secret=None),
            salesforce=SimpleNamespace(webhook_token=webhook_token),
        ),
        hubspot=SimpleNamespace(verify_webhook=None, check_webhook_headers=None),
        salesforce=SimpleNamespace(verify_webhook=lambda _: WebhookReceipt(())),
    )


def test_readyz_stays_200_while_polls_fail_and_says_so_in_its_body(store) -> None:  # type: ignore[no-untyped-def]
    """A Salesforce outage or a spent daily limit must not take the webhook receiver out of a
    load balancer (HubSpot retries a delivery for about a day; a privacy deletion comes only
    by webhook): /readyz stays 200 and carries the poll failure, and so does the dashboard."""
    from baton.wiring import service_deps

    engine = FakeEngine()
    engine.fail_with = DailyLimitExhausted(
        "daily API budget reached its floor", limit=15000, remaining=0, system=System.SALESFORCE
    )
    daemon = Daemon(engine, interval_s=60, store=store, queue=KeyQueue(max_keys=1))
    with pytest.raises(CycleFailed):
        daemon.cycle()
    daemon.receive(_keys(1))  # and the queue is full
    http = TestClient(create_app(service_deps(_runtime(store), daemon, BatonMetrics())))

    answer = http.get("/readyz")

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["ready"], body["problems"]) == (True, [])
    assert body["sync"]["last_poll_error"].startswith("DailyLimitExhausted: salesforce")
    assert body["queue"] == {"keys": 1, "max_keys": 1, "full": True}
    assert "last poll FAILED: DailyLimitExhausted" in http.get("/").text


@pytest.mark.parametrize("limit", [0, 3])
def test_the_webhook_failure_limit_comes_from_its_setting_and_0_is_off(store, limit: int) -> None:  # type: ignore[no-untyped-def]
    from baton.wiring import service_deps

    metrics = BatonMetrics()
    deps = service_deps(
        _runtime(store, failure_limit=limit), Daemon(FakeEngine(), interval_s=60), metrics
    )
    if limit == 0:
        assert deps.guard is None
        return
    assert deps.guard is not None
    assert deps.guard.limit == 3
    deps.guard.failed("34.120.0.1")
    assert not deps.guard.failed("34.120.0.1")
    assert deps.guard.failed("34.120.0.1")
    assert "baton_webhook_senders_waiting 1.0" in metrics.render().decode()


def test_readyz_is_503_when_the_store_cannot_keep_what_webhooks_bring(tmp_path: Path) -> None:
    """What does stop the receiver: a store it cannot reach or that is not migrated (a purge is
    kept there before it is answered)."""
    from baton.wiring import service_deps

    bare = open_store(str(sqlite_url(tmp_path / "bare.db")), upgrade=False)
    try:
        daemon = Daemon(FakeEngine(), interval_s=60, store=bare)
        http = TestClient(create_app(service_deps(_runtime(bare), daemon, BatonMetrics())))
        answer = http.get("/readyz")
    finally:
        bare.dispose()
    assert answer.status_code == 503
    (problem,) = answer.json()["problems"]
    assert "run 'baton db upgrade'" in problem


def test_readyz_on_a_store_a_newer_baton_migrated_does_not_say_to_upgrade(tmp_path: Path) -> None:
    """'run baton db upgrade' cannot help there: this Baton does not have that migration."""
    from sqlalchemy import text

    from baton.wiring import service_deps

    newer = open_store(str(sqlite_url(tmp_path / "newer.db")))
    try:
        with newer.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '0099'"))
        daemon = Daemon(FakeEngine(), interval_s=60, store=newer)
        http = TestClient(create_app(service_deps(_runtime(newer), daemon, BatonMetrics())))
        answer = http.get("/readyz")
    finally:
        newer.dispose()
    assert answer.status_code == 503
    (problem,) = answer.json()["problems"]
    assert problem.startswith("the store is at migration 0099, newer than this Baton knows")
    assert "db upgrade" not in problem


@pytest.mark.parametrize(("token", "status"), [(None, 404), ("0f3a9c" * 4, 200)])
def test_outbound_messages_are_received_only_with_a_token_set(
    store: Any, token: str | None, status: int
) -> None:
    """The org id is in every Web-to-Lead form: without BATON_SALESFORCE_WEBHOOK_TOKEN anyone
    could make Baton spend the org's API calls reading forged ids, so the route is off."""
    from baton.wiring import service_deps

    daemon = Daemon(FakeEngine(), interval_s=60, store=store)
    deps = service_deps(_runtime(store, webhook_token=token), daemon, BatonMetrics())
    http = TestClient(create_app(deps))

    answer = http.post("/webhooks/salesforce", content=b"<x/>")

    assert answer.status_code == status, answer.text
    if status == 404:
        assert answer.text == "salesforce webhooks are not configured\n"


def _samples(metrics: BatonMetrics, name: str) -> dict[str, float]:
    """One metric's samples, by their label text."""
    found = {}
    for line in metrics.render().decode().splitlines():
        if line.startswith(name + "{"):
            labels, _, value = line.rpartition(" ")
            found[labels.removeprefix(name)] = float(value)
    return found


def test_a_failing_timer_is_logged_and_counted_and_the_next_timer_still_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An SLA check that fails must not stop the reconciliation after it; the failure is one
    log line, a count in /metrics and an entry in /readyz's body, and `run --once` still fails."""
    at = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    ran: list[str] = []

    def sla() -> None:
        raise RuntimeError("sla check failed\non two lines")

    metrics = BatonMetrics(now=lambda: at)
    daemon = Daemon(
        FakeEngine(),
        interval_s=60,
        metrics=metrics,
        timers=[Timer("sla", 60, sla), Timer("reconcile", 60, lambda: ran.append("reconcile"))],
    )
    with caplog.at_level("INFO", logger="baton.daemon"), pytest.raises(CycleFailed) as caught:
        daemon.cycle()

    assert ran == ["reconcile"]
    assert str(caught.value) == "timer sla failed: RuntimeError: sla check failed on two lines"
    failures = [r for r in caplog.records if r.getMessage() == "timer failed"]
    assert [r.kv["timer"] for r in failures] == ["sla"]  # type: ignore[attr-defined]
    assert _samples(metrics, "baton_timer_runs_total") == {
        '{outcome="failed",timer="sla"}': 1.0,
        '{outcome="ok",timer="reconcile"}': 1.0,
    }
    assert _samples(metrics, "baton_last_success_timestamp_seconds") == {
        '{job="poll"}': at.timestamp(),
        '{job="reconcile"}': at.timestamp(),
    }
    sync = daemon.readiness().details["sync"]
    assert isinstance(sync, dict)
    assert sync["timer_errors"] == {"sla": "RuntimeError: sla check failed on two lines"}


def test_a_failed_timer_is_not_logged_again_as_a_failed_cycle(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def sla() -> None:
        raise RuntimeError("sla check failed")

    daemon = Daemon(FakeEngine(), interval_s=3600, timers=[Timer("sla", 3600, sla)])
    thread = threading.Thread(target=daemon.run_forever)
    with caplog.at_level("INFO", logger="baton.daemon"):
        thread.start()
        threading.Event().wait(0.2)
        daemon.request_stop()
        thread.join(timeout=5)
    messages = [r.getMessage() for r in caplog.records]
    assert messages.count("timer failed") == 1
    assert "cycle failed" not in messages


def test_the_reconciliation_counts_what_it_read_in_metrics() -> None:
    from baton.wiring import reconcile_timer

    class Engine:
        def reconcile_due(self, every: timedelta) -> bool:
            return True

        def reconcile(self, **_: object) -> FakeReport:
            return FakeReport(read=Counter({"salesforce:Lead": 40, "hubspot:contacts": 60}))

    metrics = BatonMetrics()
    reconcile_timer(Engine(), hours=24, metrics=metrics).run()  # type: ignore[arg-type]
    assert _samples(metrics, "baton_records_read_total") == {
        '{object="Lead",system="salesforce"}': 40.0,
        '{object="contacts",system="hubspot"}': 60.0,
    }


def test_what_a_failed_reconciliation_read_before_it_failed_is_counted_in_metrics() -> None:
    """`TooManyVanished` fails the run once the other objects are done: their reads count."""
    from baton.wiring import reconcile_timer
    from sync.reconcile import TooManyVanished

    class Engine:
        def reconcile_due(self, every: timedelta) -> bool:
            return True

        def reconcile(self, *, into: Any = None, **_: object) -> FakeReport:
            if into is not None:  # Salesforce's Leads, read and committed
                into.read["salesforce:Lead"] += 40
            raise TooManyVanished("30 of 60 linked hubspot:contacts records are gone")

    metrics = BatonMetrics()
    with pytest.raises(TooManyVanished):
        reconcile_timer(Engine(), hours=24, metrics=metrics).run()  # type: ignore[arg-type]
    assert _samples(metrics, "baton_records_read_total") == {
        '{object="Lead",system="salesforce"}': 40.0
    }


def test_the_webhook_queue_depth_is_a_gauge() -> None:
    metrics = BatonMetrics()
    daemon = Daemon(FakeEngine(), interval_s=60, metrics=metrics)
    daemon.receive(_keys(1, 2, 3))
    assert "baton_webhook_queue_keys 3.0" in metrics.render().decode()
    daemon.drain()
    assert "baton_webhook_queue_keys 0.0" in metrics.render().decode()


class _OneKeyFails(FakeEngine):
    """Fails every batch holding `bad`, as a record the engine or a system chokes on would."""

    def __init__(self, bad: RecordKey, error: Exception) -> None:
        super().__init__()
        self.bad, self.error = bad, error
        self.tried: list[list[RecordKey]] = []

    def sync_keys(self, keys: Any, **kwargs: Any) -> FakeReport:
        self.tried.append(list(keys))
        if self.bad in keys:
            raise self.error
        return super().sync_keys(keys, **kwargs)


def _drain_until_empty(daemon: Daemon, *, at_most: int = 20) -> int:
    failures = 0
    for _ in range(at_most):
        if not len(daemon.queue):
            return failures
        try:
            daemon.drain(batches=1)
        except Exception:
            failures += 1
    raise AssertionError(f"the queue still holds {len(daemon.queue)} keys")


@pytest.mark.parametrize(
    "error",
    [ValueError("salesforce:Account is not a person object"), PermanentError("MALFORMED_ID")],
)
def test_a_key_that_fails_its_batch_is_tried_alone_then_dropped_and_the_others_sync(
    error: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    """One key a batch fails for (not an outage) no longer holds every later webhook behind it:
    the batch's keys are synced one at a time, and the one that still fails alone is dropped
    after `TRIES_ALONE` tries, logged and counted (the polls read its record)."""
    good, bad, other = _keys(1, 2, 3)
    engine = _OneKeyFails(bad, error)
    metrics = BatonMetrics()
    daemon = Daemon(engine, interval_s=60, metrics=metrics)
    daemon.receive([good, bad, other])
    with caplog.at_level("ERROR", logger="baton.daemon"):
        failures = _drain_until_empty(daemon)
    assert engine.synced == [[good], [other]]  # each alone, once
    assert engine.tried.count([bad]) == TRIES_ALONE
    assert failures == 1 + TRIES_ALONE - 1  # the batch, then the tries alone but the last
    dropped = [r for r in caplog.records if r.getMessage() == "webhook key dropped"]
    assert len(dropped) == 1
    assert dropped[0].kv["key"] == str(bad)  # type: ignore[attr-defined]
    assert str(error) in dropped[0].kv["error"]  # type: ignore[attr-defined]
    sample = metrics.registry.get_sample_value(
        "baton_webhook_keys_dropped_total", {"system": "salesforce"}
    )
    assert sample == 1.0
    daemon.receive(_keys(4, 5))  # later webhooks are batched again
    daemon.drain()
    assert engine.synced[-1] == _keys(4, 5)


@pytest.mark.parametrize(
    "outage",
    [
        TransientError("hubspot answered 503"),
        OperationalError("SELECT 1", None, Exception("could not connect to server")),
        PoolTimeout("QueuePool limit of size 5 overflow 10 reached, connection timed out"),
    ],
)
def test_a_batch_failed_by_an_outage_is_tried_again_whole(outage: Exception) -> None:
    """A system or the store down is no key's doing: the batch stays one batch and nothing is
    dropped."""
    keys = _keys(1, 2)
    engine = FakeEngine()
    engine.sync_fails_with = outage
    daemon = Daemon(engine, interval_s=60)
    daemon.receive(keys)
    for _ in range(TRIES_ALONE + 1):
        with pytest.raises(type(outage)):
            daemon.drain(batches=1)
    engine.sync_fails_with = None
    daemon.drain()
    assert engine.synced == [keys]


def test_a_key_that_syncs_alone_is_batched_again_afterwards() -> None:
    good, flaky = _keys(1, 2)
    engine = _OneKeyFails(flaky, PermanentError("refused once"))
    daemon = Daemon(engine, interval_s=60)
    daemon.receive([good, flaky])
    with pytest.raises(PermanentError):
        daemon.drain(batches=1)
    engine.bad = RecordKey(System.HUBSPOT, "contacts", "none")  # it syncs from now on
    _drain_until_empty(daemon)
    assert sorted(map(str, [k for batch in engine.synced for k in batch])) == sorted(
        map(str, [good, flaky])
    )
    daemon.receive([flaky, *_keys(3)])
    daemon.drain()
    assert engine.synced[-1] == [flaky, *_keys(3)]


def _wait_for(condition: Any, seconds: float = 5.0) -> bool:
    deadline = threading.Event()
    for _ in range(int(seconds / 0.01)):
        if condition():
            return True
        deadline.wait(0.01)
    return bool(condition())


def _running(daemon: Daemon) -> threading.Thread:
    thread = threading.Thread(target=daemon.run_forever)
    thread.start()
    return thread


def _stopped(daemon: Daemon, thread: threading.Thread) -> None:
    daemon.stop.set()
    daemon.queue.wake.set()
    thread.join(timeout=5)
    assert not thread.is_alive()


def test_a_second_daemon_on_a_store_stands_by_unready_and_takes_over_when_the_first_ends(  # type: ignore[no-untyped-def]
    store, caplog: pytest.LogCaptureFixture
) -> None:
    """Two daemons polling one store would read both systems twice and spend both API
    budgets twice: the second waits, not ready, and polls once the first has stopped."""
    first_engine, second_engine = FakeEngine(), FakeEngine()
    metrics = BatonMetrics(store=store)
    first = Daemon(first_engine, interval_s=3600, store=store, lease_retry_s=0.05)
    second = Daemon(
        second_engine, interval_s=3600, store=store, lease_retry_s=0.05, metrics=metrics
    )
    first_thread = _running(first)
    second_thread = None
    try:
        assert _wait_for(lambda: first_engine.polls == 1)
        second_thread = _running(second)
        assert _wait_for(lambda: second.state.standby)
        readiness = second.readiness()
        assert not readiness.ok
        assert readiness.problems[0].startswith("standby: another baton daemon holds")
        assert first.readiness().ok
        assert "baton_daemon_standby 1.0" in metrics.render().decode()
        threading.Event().wait(0.2)  # several tries at the lease, all refused
        assert second_engine.polls == 0
        assert [r.message for r in caplog.records].count("standby") == 1  # said once
        _stopped(first, first_thread)
        assert _wait_for(lambda: second_engine.polls == 1)
        assert not second.state.standby
        assert second.readiness().ok
        assert "baton_daemon_standby 0.0" in metrics.render().decode()
    finally:
        if first_thread.is_alive():
            _stopped(first, first_thread)
        if second_thread is not None:
            _stopped(second, second_thread)


def test_a_daemon_whose_lease_was_lost_to_another_stands_by(store) -> None:  # type: ignore[no-untyped-def]
    """A PostgreSQL session lock ends with its session (a server restart): the daemon asks
    before each pass, and one whose lease another daemon took meanwhile stops polling."""
    daemon = Daemon(FakeEngine(), interval_s=3600, store=store)
    assert daemon.hold_lease()
    assert daemon._lease is not None
    daemon._lease.release()  # as the end of its session would
    other = Daemon(FakeEngine(), interval_s=3600, store=store)
    assert other.hold_lease()  # the other daemon took it
    assert not daemon.hold_lease()
    assert daemon.state.standby
    other.release_lease()
    assert daemon.hold_lease()  # and takes it back once free
    assert not daemon.state.standby
    daemon.release_lease()


def test_budgets_the_store_cannot_keep_are_one_line_a_cycle_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A store down fails every cycle's budget record: a traceback each time buried the log."""
    daemon = Daemon(FakeEngine(), interval_s=60)

    def down() -> None:
        raise OperationalError("INSERT", {}, Exception("connection refused"))

    monkeypatch.setattr(daemon, "record_budgets", down)
    daemon.cycle()
    [line] = [r for r in caplog.records if r.message == "could not record API budgets"]
    assert line.exc_info is None
    assert "connection refused" in line.kv["error"]  # type: ignore[attr-defined]


def test_a_store_that_cannot_be_asked_for_the_lease_stops_no_daemon(  # type: ignore[no-untyped-def]
    store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """PostgreSQL down at start-up or after a lost session: asking for the lease fails, and
    the loop waits for the store as a cycle would, rather than end the process."""
    engine = FakeEngine()
    daemon = Daemon(engine, interval_s=3600, store=store, lease_retry_s=0.02)
    down = OperationalError("SELECT pg_try_advisory_lock", {}, Exception("connection refused"))
    tries: list[int] = []
    taken = take_lease

    def asked(*args: Any) -> Any:
        tries.append(1)
        if len(tries) < 4:
            raise down
        return taken(*args)

    monkeypatch.setattr("baton.daemon.take_lease", asked)
    thread = _running(daemon)
    try:
        assert _wait_for(lambda: engine.polls == 1)  # the store back: it polls
    finally:
        _stopped(daemon, thread)
    said = [r for r in caplog.records if r.message == "store lease not taken"]
    assert len(said) == 1  # once, not every try
    assert "connection refused" in said[0].kv["error"]  # type: ignore[attr-defined]
