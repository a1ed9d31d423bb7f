"""An engine over fake connectors and a migrated SQLite file per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy

from connectors.records import RecordPatch, WriteOutcome
from mappings.apply import Mapper
from mappings.loader import load_default
from sync.engine import SyncEngine, SyncPolicy
from sync.store.engine import for_reading, make_engine, sqlite_url
from sync.store.migrate import upgrade
from tests.conftest import scratch_database
from tests.unit.sync.fakes import FakeClock, FakeConnector, declare_fields, hubspot, salesforce


@dataclass
class World:
    clock: FakeClock
    hs: FakeConnector
    sf: FakeConnector
    db: sqlalchemy.Engine
    opened: list[sqlalchemy.Connection] = field(default_factory=list)

    def engine(self, **policy: object) -> SyncEngine:
        return SyncEngine(
            hubspot=self.hs,
            salesforce=self.sf,
            dictionary=load_default(),
            db=self.db,
            policy=SyncPolicy(**policy),  # type: ignore[arg-type]
            now=self.clock,
        )

    def read(self) -> sqlalchemy.Connection:
        """A reading connection (deferred BEGIN: never holds the write lock the engine needs)."""
        conn = for_reading(self.db).connect()
        self.opened.append(conn)
        return conn

    def writes(self) -> int:
        return self.hs.writes + self.sf.writes


@pytest.fixture(scope="session")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("store") / "template.db"
    upgrade(sqlite_url(path))
    return path


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A migrated PostgreSQL database each test copies (CREATE DATABASE ... TEMPLATE)."""
    with scratch_database("baton_sync_tmpl") as url:
        upgrade(url)
        assert url.database is not None
        yield url.database


@pytest.fixture(params=["sqlite", "postgresql"])
def store(
    request: pytest.FixtureRequest, migrated: Path, tmp_path: Path
) -> Iterator[sqlalchemy.Engine]:
    """A migrated, empty store per test, on both backends the design supports."""
    if request.param == "sqlite":
        path = tmp_path / "state.db"
        path.write_bytes(migrated.read_bytes())
        db = make_engine(sqlite_url(path))
        yield db
        db.dispose()
        return
    template: str = request.getfixturevalue("pg_template")
    with scratch_database("baton_sync", template=template) as url:
        db = make_engine(url)
        try:
            yield db
        finally:
            db.dispose()


@pytest.fixture
def world(store: sqlalchemy.Engine) -> Iterator[World]:
    clock = FakeClock()
    world = World(clock, hubspot(clock), salesforce(clock), store)
    declare_fields(world.hs, world.sf, Mapper(load_default()))
    yield world
    for conn in world.opened:
        conn.close()


@pytest.fixture
def lose_store(
    world: World, request: pytest.FixtureRequest, migrated: Path, tmp_path: Path
) -> Iterator[Callable[[], None]]:
    """Point the world at a fresh, empty store of the same backend (the old one is lost)."""
    with ExitStack() as stack:

        def lose() -> None:
            if request.node.callspec.params["store"] == "sqlite":
                fresh = tmp_path / "fresh.db"
                fresh.write_bytes(migrated.read_bytes())
                world.db = make_engine(sqlite_url(fresh))
            else:
                template: str = request.getfixturevalue("pg_template")
                url = stack.enter_context(scratch_database("baton_sync", template=template))
                world.db = make_engine(url)
            stack.callback(world.db.dispose)

        yield lose
        for conn in world.opened:  # before the fresh store goes
            conn.close()
        world.opened.clear()


def lose_first_create_commit(
    engine: SyncEngine,
    monkeypatch: pytest.MonkeyPatch,
    killed: type[BaseException] = RuntimeError,
) -> None:
    """The commit of the first unit that created a record dies after its writes were sent (a
    SIGKILL between the two), raising `killed`."""
    real = engine.worker.committer.commit
    crashed: list[bool] = []

    def crash_once(tx: Any, gathered: Any, plans: Any, sent: Any, *args: Any, **kw: Any) -> None:
        if not crashed and any(s.write.creates for s in sent):
            crashed.append(True)
            raise killed("killed between write and commit")
        real(tx, gathered, plans, sent, *args, **kw)

    monkeypatch.setattr(engine.worker.committer, "commit", crash_once)


def lose_first_answer(
    connector: FakeConnector, monkeypatch: pytest.MonkeyPatch, *, creates_only: bool = False
) -> None:
    """The first write batch sent to `connector` (with `creates_only`, the first holding a
    create) is applied by the server, but its answer never comes: a read timeout, which the
    engine takes as "retry later"."""
    write = connector.write
    lost: list[bool] = []

    def answer_lost(obj: str, patches: Sequence[RecordPatch]) -> list[WriteOutcome]:
        outcomes = write(obj, patches)
        if lost or (creates_only and all(p.key.id for p in patches)):
            return outcomes
        lost.append(True)
        return [
            WriteOutcome(
                p, None, error_code="TransientError", error_message="read timeout", retryable=True
            )
            for p in patches
        ]

    monkeypatch.setattr(connector, "write", answer_lost)
