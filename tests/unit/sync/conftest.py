"""An engine over fake connectors and a migrated SQLite file per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlalchemy
from sqlalchemy import make_url

from mappings.apply import Mapper
from mappings.loader import load_default
from sync.engine import SyncEngine, SyncPolicy
from sync.store.engine import for_reading, make_engine, sqlite_url
from sync.store.migrate import upgrade
from tests.conftest import require_service
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


PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(scope="session")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("store") / "template.db"
    upgrade(sqlite_url(path))
    return path


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A migrated PostgreSQL database each test copies (CREATE DATABASE ... TEMPLATE)."""
    admin = make_engine(PG_ADMIN_URL).execution_options(isolation_level="AUTOCOMMIT")
    name = f"baton_sync_tmpl_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except Exception as error:  # any connect failure means "no server here"
        admin.dispose()
        require_service(f"PostgreSQL not reachable: {str(error).splitlines()[0]}")
    upgrade(make_url(PG_ADMIN_URL).set(database=name))
    try:
        yield name
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


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
    name = f"baton_sync_{uuid.uuid4().hex[:10]}"
    admin = make_engine(PG_ADMIN_URL).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    db = make_engine(make_url(PG_ADMIN_URL).set(database=name))
    try:
        yield db
    finally:
        db.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture
def world(store: sqlalchemy.Engine) -> Iterator[World]:
    clock = FakeClock()
    world = World(clock, hubspot(clock), salesforce(clock), store)
    declare_fields(world.hs, world.sf, Mapper(load_default()))
    yield world
    for conn in world.opened:
        conn.close()
