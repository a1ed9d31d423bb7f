"""make_engine: SQLite connection settings, driver choice, JSON round trip; migrations' home."""

from __future__ import annotations

import socket
import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import JSON, Column, MetaData, Table, event, insert, select, text
from sqlalchemy.exc import IntegrityError, OperationalError

from sync.store.engine import (
    BUSY_TIMEOUT_MS,
    PG_TIMEOUTS,
    WAL_CHECKPOINT_PAGES,
    WAL_SIZE_LIMIT,
    for_reading,
    make_engine,
    sqlite_url,
)
from sync.store.migrate import SCRIPT_LOCATION, alembic_config, head_revision


def test_sqlite_file_connections_get_wal_foreign_keys_and_busy_timeout(tmp_path: Path) -> None:
    engine = make_engine(sqlite_url(tmp_path / "baton.db"))
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == BUSY_TIMEOUT_MS
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
            wal_pages = conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
            assert wal_pages == WAL_CHECKPOINT_PAGES
            assert conn.exec_driver_sql("PRAGMA journal_size_limit").scalar() == WAL_SIZE_LIMIT
    finally:
        engine.dispose()


def test_sqlite_enforces_foreign_keys_and_rolls_back_savepoints() -> None:
    engine = make_engine("sqlite://")
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE parent (id INTEGER PRIMARY KEY)"))
            conn.execute(text("CREATE TABLE child (parent_id INTEGER REFERENCES parent(id))"))
        with engine.connect() as conn, conn.begin():
            with pytest.raises(IntegrityError), conn.begin_nested():
                conn.execute(text("INSERT INTO child VALUES (7)"))
            conn.execute(text("INSERT INTO parent VALUES (7)"))
            with conn.begin_nested() as savepoint:
                conn.execute(text("INSERT INTO child VALUES (7)"))
                savepoint.rollback()
            assert conn.execute(text("SELECT count(*) FROM child")).scalar() == 0
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "given",
    [
        "postgresql://u@db/baton",
        "postgres://u@db/baton",
        "postgresql+psycopg://u@db/baton",
    ],
)
def test_postgresql_urls_use_psycopg_3(given: str) -> None:
    engine = make_engine(given)  # builds a pool; connects only on first use
    try:
        assert engine.url.drivername == "postgresql+psycopg"
        assert engine.url.database == "baton"
    finally:
        engine.dispose()


def test_json_round_trips_scalars_despite_sqlite_numeric_affinity() -> None:
    table = Table("t", MetaData(), Column("value", JSON(none_as_null=True)))
    engine = make_engine("sqlite://")
    samples = [42, 1.5, "42", True, None, {"a": [1, "b"]}, "text"]
    try:
        with engine.begin() as conn:
            table.create(conn)
            conn.execute(insert(table), [{"value": v} for v in samples])
            assert list(conn.execute(select(table.c.value)).scalars()) == samples
    finally:
        engine.dispose()


def test_migrations_are_found_in_the_package_with_one_head() -> None:
    assert alembic_config().get_main_option("script_location") == SCRIPT_LOCATION
    assert head_revision() == "0012"


def test_writers_queue_on_the_write_lock_while_readers_do_not(tmp_path: Path) -> None:
    engine = make_engine(sqlite_url(tmp_path / "baton.db"), busy_timeout_ms=50)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (n INTEGER)"))
        with engine.connect() as writer, writer.begin():
            writer.execute(text("INSERT INTO t VALUES (1)"))  # holds the write lock
            with for_reading(engine).connect() as reader, reader.begin():
                assert reader.execute(text("SELECT count(*) FROM t")).scalar() == 0
            with engine.connect() as second, pytest.raises(OperationalError, match="locked"):
                second.execute(text("SELECT 1"))  # BEGIN IMMEDIATE waits, then gives up
    finally:
        engine.dispose()


def _hold_write_lock_on_a_new_file(path: Path) -> sqlite3.Connection:
    """Another process opening the store first: its write transaction on the brand-new file
    (still in the default rollback journal) is where SQLite refuses a journal-mode change at
    once, without calling the busy handler."""
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    return holder


def test_a_new_store_held_by_another_connection_is_waited_for_not_refused(tmp_path: Path) -> None:
    path = tmp_path / "baton.db"
    holder = _hold_write_lock_on_a_new_file(path)
    release = threading.Timer(0.2, holder.commit)
    release.start()
    engine = make_engine(sqlite_url(path))
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        release.join()
        holder.close()
        engine.dispose()


def test_a_store_held_past_the_busy_timeout_still_fails_with_sqlites_error(tmp_path: Path) -> None:
    path = tmp_path / "baton.db"
    holder = _hold_write_lock_on_a_new_file(path)
    engine = make_engine(sqlite_url(path), busy_timeout_ms=100)
    try:
        with pytest.raises(OperationalError, match="locked"), engine.connect():
            pass
    finally:
        holder.close()
        engine.dispose()


class _Connecting(Exception):
    """Raised by a `do_connect` listener: the parameters were seen, no connection is made."""


def test_a_postgresql_store_that_never_answers_fails_the_connect_instead_of_hanging(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """libpq's default waits for ever on a server that accepted and says nothing (a hung
    store, a proxy to one): the daemon's loop, /readyz and a SIGTERM waited with it."""
    monkeypatch.setitem(PG_TIMEOUTS, "connect_timeout", 1)  # 10 s as shipped
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never answers
        engine = make_engine(f"postgresql://baton@127.0.0.1:{silent.getsockname()[1]}/baton")
        failed: list[Exception] = []

        def connect() -> None:
            try:
                engine.connect().close()
            except OperationalError as exc:
                failed.append(exc)

        attempt = threading.Thread(target=connect, daemon=True)
        attempt.start()
        attempt.join(timeout=10)
        assert failed, "the connect still waits on the silent server"
    engine.dispose()


def test_postgresql_timeouts_a_url_sets_are_kept() -> None:
    engine = make_engine("postgresql://baton@127.0.0.1:1/baton?connect_timeout=60")
    seen: dict[str, object] = {}

    @event.listens_for(engine, "do_connect")
    def capture(
        _dialect: object, _record: object, _args: object, params: dict[str, object]
    ) -> None:
        seen.update(params)
        raise _Connecting

    with pytest.raises(_Connecting):
        engine.connect()
    assert seen["connect_timeout"] == "60"  # the URL's own
    assert seen["tcp_user_timeout"] == PG_TIMEOUTS["tcp_user_timeout"]
    engine.dispose()
