"""Run heartbeats on a fake clock: beats are rate-limited per run, and a run whose process died
(started, never finished) is closed as interrupted when the next run starts."""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

import sync.recorder
from connectors.records import ListedPage
from sync.store.runs import RunKind, RunStatus, get_run, recent_runs, start_run
from tests.unit.sync.conftest import World
from tests.unit.sync.test_engine import SF_LEAD


class Ticking:
    """Progress that lets 3 s pass per committed page (the engine reports after the beat)."""

    def __init__(self, world: World) -> None:
        self.world = world

    def start(self, label: str, total: int | None, done: int = 0) -> None: ...

    def advance(self, label: str, count: int) -> None:
        self.world.clock.advance(3)

    def finish(self, label: str) -> None: ...


def test_beats_are_at_most_one_per_interval_as_pages_commit(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(6):
        world.sf.put("Lead", {**SF_LEAD, "Email": f"p{n}@example.com"})
    world.clock.advance(10)
    beats: list[datetime] = []
    real = sync.recorder.beat

    def recording(db: object, run_id: uuid.UUID, *, at: datetime | None = None) -> bool:
        assert at is not None
        beats.append(at)
        return real(db, run_id, at=at)  # type: ignore[arg-type]

    monkeypatch.setattr(sync.recorder, "beat", recording)
    engine = world.engine(page_size=1, backfill_page_size=1, heartbeat_every=timedelta(seconds=5))
    # HubSpot (empty) is listed too: contacts are made once it has been read whole.
    report = engine.backfill(objects=["Lead", "contacts"], progress=Ticking(world))

    assert report.created == {"hubspot:contacts": 6}
    # 6 Lead pages then 6 creation pages, 3 s apart (the fake's writes add a few ms): a beat
    # once 5 s passed since the last one (or the start), so every other page from 6 s on.
    assert len(beats) == 5, beats
    gaps = [later - earlier for earlier, later in itertools.pairwise(beats)]
    assert all(timedelta(seconds=5) <= gap < timedelta(seconds=7) for gap in gaps), gaps
    assert report.run_id is not None
    run = get_run(world.read(), report.run_id)
    assert run is not None
    assert run.status is RunStatus.SUCCEEDED
    assert run.heartbeat_at == beats[-1]


def test_the_next_run_closes_a_dead_run_and_leaves_a_live_one(world: World) -> None:
    now = world.clock()
    with world.db.begin() as tx:  # two processes killed with SIGKILL, one still alive
        dead = start_run(tx, RunKind.BACKFILL, at=now - timedelta(minutes=30))
        alive = start_run(tx, RunKind.DAEMON, at=now - timedelta(minutes=3))
    engine = world.engine(stale_after=timedelta(minutes=10))

    report = engine.poll()

    conn = world.read()
    closed = get_run(conn, dead)
    assert closed is not None
    assert closed.status is RunStatus.INTERRUPTED
    assert closed.finished_at == now
    assert closed.error == (
        f"no heartbeat since {(now - timedelta(minutes=30)).isoformat()}; the process likely died"
    )
    live = get_run(conn, alive)
    assert live is not None
    assert live.status is RunStatus.RUNNING
    mine = get_run(conn, report.run_id) if report.run_id else None
    assert mine is not None
    assert mine.status is RunStatus.SUCCEEDED
    assert len(recent_runs(conn)) == 3


def test_a_dry_run_closes_nothing(world: World) -> None:
    with world.db.begin() as tx:
        dead = start_run(tx, RunKind.BACKFILL, at=world.clock() - timedelta(hours=1))
    world.engine().poll(dry_run=True)
    run = get_run(world.read(), dead)
    assert run is not None
    assert run.status is RunStatus.RUNNING


def test_a_run_waiting_inside_one_page_still_beats(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page can wait long (a daily cap, a slow Bulk job): the run's pulse keeps beating, so
    another process does not close it as interrupted meanwhile."""
    world.sf.put("Lead", SF_LEAD)
    world.clock.advance(10)
    beats: list[datetime] = []
    real_beat, real_read = sync.recorder.beat, world.sf.list_all
    beaten = threading.Event()

    def recording(db: object, run_id: uuid.UUID, *, at: datetime | None = None) -> bool:
        assert at is not None
        beats.append(at)
        beaten.set()
        return real_beat(db, run_id, at=at)  # type: ignore[arg-type]

    def waiting(obj: str, start: str | None = None) -> Iterator[ListedPage]:
        world.clock.advance(60)  # a minute passes inside the read...
        assert beaten.wait(5)  # ... and the run beats meanwhile
        yield from real_read(obj, start)

    monkeypatch.setattr(sync.recorder, "beat", recording)
    monkeypatch.setattr(world.sf, "list_all", waiting)
    engine = world.engine(pulse_every=timedelta(milliseconds=20))
    report = engine.backfill(objects=["Lead"])

    assert beats, "no heartbeat while the page waited"
    assert report.run_id is not None
    run = get_run(world.read(), report.run_id)
    assert run is not None
    assert run.status is RunStatus.SUCCEEDED
    assert run.heartbeat_at is not None
    assert run.heartbeat_at >= beats[0]


class Interrupting(Ticking):
    """Progress whose user presses Ctrl-C after `pages` committed pages."""

    def __init__(self, world: World, pages: int) -> None:
        super().__init__(world)
        self.pages = pages

    def advance(self, label: str, count: int) -> None:
        self.pages -= 1
        if self.pages == 0:
            raise KeyboardInterrupt


def test_an_interrupted_backfill_keeps_the_counts_of_what_it_did(world: World) -> None:
    for n in range(6):
        world.sf.put("Lead", {**SF_LEAD, "Email": f"p{n}@example.com"})
    world.clock.advance(10)
    engine = world.engine(backfill_page_size=1)

    with pytest.raises(KeyboardInterrupt):
        engine.backfill(objects=["Lead"], progress=Interrupting(world, pages=4))

    [run] = recent_runs(world.read())
    assert run.status is RunStatus.INTERRUPTED
    assert run.counts["read.salesforce:Lead"] == 4  # the four pages committed before the stop


def test_an_interrupted_creation_pass_keeps_the_contacts_it_made_in_its_counts(
    world: World,
) -> None:
    for n in range(4):
        world.sf.put("Lead", {**SF_LEAD, "Email": f"p{n}@example.com"})
    world.clock.advance(10)
    engine = world.engine(page_size=1, backfill_page_size=4)

    with pytest.raises(KeyboardInterrupt):  # the Lead page, then two creation pages
        engine.backfill(objects=["Lead", "contacts"], progress=Interrupting(world, pages=3))

    [run] = recent_runs(world.read())
    assert run.status is RunStatus.INTERRUPTED
    assert run.counts["created.hubspot:contacts"] == 2 == len(world.hs.live("contacts"))


class Totals(Ticking):
    """Progress that keeps the total each bar starts with (its ETA's denominator)."""

    def __init__(self, world: World) -> None:
        super().__init__(world)
        self.totals: dict[str, int | None] = {}

    def start(self, label: str, total: int | None, done: int = 0) -> None:
        self.totals.setdefault(label, total)


def test_each_backfill_bar_starts_with_the_listings_size(world: World) -> None:
    for n in range(3):
        world.sf.put("Lead", {**SF_LEAD, "Email": f"p{n}@example.com"})
    world.hs.put("contacts", {"email": "solo@example.com", "lastname": "Solo"})
    world.clock.advance(10)
    progress = Totals(world)

    world.engine().backfill(progress=progress)

    assert progress.totals["salesforce:Lead"] == 3
    assert progress.totals["salesforce:Contact"] == 0
    assert progress.totals["hubspot:contacts"] == 1
    assert progress.totals["create:hubspot"] is None  # who is still alone is known as it goes


def test_an_interrupted_poll_keeps_the_counts_of_what_it_did(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(4):
        world.sf.put("Lead", {**SF_LEAD, "Email": f"p{n}@example.com"})
    world.clock.advance(10)
    engine = world.engine(page_size=1)
    units = engine.worker.run
    calls = itertools.count()

    def stopped_on_the_third(*args: object, **kwargs: object) -> object:
        if next(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C (or SIGTERM) between two pages
        return units(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(engine.worker, "run", stopped_on_the_third)
    with pytest.raises(KeyboardInterrupt):
        engine.poll()

    [run] = recent_runs(world.read())
    assert run.status is RunStatus.INTERRUPTED
    assert run.counts["read.salesforce:Lead"] == 2


def test_a_failed_runs_error_is_stored_with_a_urls_password_masked(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`baton status`, the dashboard and /readyz show a run's error: whatever a connector's
    error quotes (a proxy URL with its password, say), the store keeps it masked."""
    engine = world.engine()

    def unreachable(*_args: Any, **_kwargs: Any) -> Any:
        raise ValueError("Unknown scheme for proxy URL URL('http://ops:PROXYPASSzzz@proxy:3128')")

    monkeypatch.setattr(world.sf, "read_changes", unreachable)
    with pytest.raises(ValueError, match="PROXYPASSzzz"):
        engine.poll()

    [run] = recent_runs(world.read())
    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert "proxy URL" in run.error
    assert "PROXYPASSzzz" not in run.error
