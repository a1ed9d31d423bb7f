"""An engine over fake connectors and a migrated SQLite file per test."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy

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
