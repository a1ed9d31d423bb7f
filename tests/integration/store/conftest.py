"""The store suite runs once per backend: a SQLite file, and PostgreSQL in its own database.

PostgreSQL: a uniquely named database is created on 127.0.0.1:5432 for this test session and
dropped at the end. Without a server the PostgreSQL half skips locally and fails in CI.
Each test gets a connection inside a transaction that is rolled back afterwards, so tests do
not see each other's rows; tests about commits use `engine` and unique keys instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import URL, Connection, Engine

from sync.store.engine import make_engine, sqlite_url
from sync.store.migrate import upgrade
from tests.conftest import scratch_database


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[URL]:
    with scratch_database("baton_test") as url:
        yield url


@pytest.fixture
def empty_url(backend: str, tmp_path: Path) -> Iterator[URL]:
    """An empty database of `backend`, dropped after the test (for migration tests)."""
    if backend == "sqlite":
        yield sqlite_url(tmp_path / "fresh.db")
        return
    with scratch_database("baton_test_empty") as url:
        yield url


@pytest.fixture(
    scope="session", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def engine(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """A migrated store on `backend`, shared by the session's tests."""
    if backend == "sqlite":
        url = sqlite_url(tmp_path_factory.mktemp("store") / "baton.db")
    else:
        url = request.getfixturevalue("postgres_url")
    built = make_engine(url)
    upgrade(built)
    yield built
    built.dispose()


@pytest.fixture
def db(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction that is rolled back after the test."""
    with engine.connect() as conn:
        transaction = conn.begin()
        try:
            yield conn
        finally:
            transaction.rollback()
