"""Build the store's SQLAlchemy engine from a URL the caller supplies (settings live in baton/).

SQLite (the default, one file, zero setup) gets, on every new connection:
- WAL, so readers never block the writer, with synchronous=NORMAL, which in WAL mode survives
  a killed process (only an OS crash may lose the last commits);
- a checkpoint every `WAL_CHECKPOINT_PAGES` pages rather than SQLite's 1,000: a page of the
  engine writes a few hundred pages of snapshots, which at 1,000 were copied into the database
  every other commit (half the time the engine bench's commits took), whereas pages written
  again before a checkpoint are copied once; the file the WAL leaves is kept under
  `WAL_SIZE_LIMIT`;
- foreign keys ON (SQLite leaves them off), and a busy timeout so a second process waits
  instead of failing.

Transactions are begun by us with BEGIN IMMEDIATE instead of by the sqlite3 module: a
transaction that reads and then writes can otherwise fail with SQLITE_BUSY mid-way when another
process committed first, whereas BEGIN IMMEDIATE queues on the busy timeout. It also makes
savepoints and Alembic's DDL transactional. Code that only reads (status, dashboard) should use
`for_reading(engine)`: a plain deferred BEGIN, so a long-lived reader never holds the write
lock the daemon needs.

PostgreSQL URLs (`postgresql://`, `postgres://`) are pointed at the psycopg 3 driver, the one
installed, with `PG_TIMEOUTS` (unless the URL sets them): libpq's own defaults wait on the
operating system, so a server that accepts and never answers held a connect for ever, a host
gone from the network about two minutes per connect and a query in flight about fifteen (a
failover): the daemon's loop, `/readyz` and a SIGTERM all waited. JSON is encoded with orjson
on both backends (the snapshot page path is hot).
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import URL, Engine, create_engine, event, make_url

BUSY_TIMEOUT_MS = 30_000
WAL_CHECKPOINT_PAGES = 10_000  # about 40 MB of 4 KiB pages
WAL_SIZE_LIMIT = 64 * 1024 * 1024
_BEGIN_OPTION = "baton_sqlite_begin"
#: libpq connection parameters: a connect fails after 10 s, and a connection whose server
#: stops acknowledging (gone from the network) after 30 s, idle ones probed by keepalives.
PG_TIMEOUTS: dict[str, int] = {
    "connect_timeout": 10,
    "tcp_user_timeout": 30_000,  # milliseconds
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}


def sqlite_url(path: str | Path) -> URL:
    """The URL of a SQLite database file (the default store)."""
    return URL.create("sqlite+pysqlite", database=str(path))


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _json_loads(value: str | bytes | float) -> Any:
    # SQLite gives a JSON column NUMERIC affinity: a bare JSON number comes back as a number.
    if isinstance(value, int | float):
        return value
    return orjson.loads(value)


def make_engine(
    url: str | URL, *, echo: bool = False, busy_timeout_ms: int = BUSY_TIMEOUT_MS
) -> Engine:
    """Create an engine for `url`; nothing is connected until first use."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    common: dict[str, Any] = {
        "echo": echo,
        "json_serializer": _json_dumps,
        "json_deserializer": _json_loads,
    }
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(parsed, **common)
        in_memory = parsed.database in (None, "", ":memory:")
        _configure_sqlite(engine, in_memory=in_memory, busy_timeout_ms=busy_timeout_ms)
        return engine
    # connect_args win over the URL's query: only the parameters the URL leaves out
    timeouts = {k: v for k, v in PG_TIMEOUTS.items() if k not in parsed.query}
    return create_engine(parsed, pool_pre_ping=True, connect_args=timeouts, **common)


def for_reading(engine: Engine) -> Engine:
    """The same engine, whose SQLite transactions start deferred (read-only callers)."""
    return engine.execution_options(**{_BEGIN_OPTION: "BEGIN"})


def _configure_sqlite(engine: Engine, *, in_memory: bool, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms:d}")
            if not in_memory:
                _switch_to_wal(cursor, busy_timeout_ms)
                cursor.execute("PRAGMA synchronous=NORMAL")
                cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES:d}")
                cursor.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT:d}")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        begin = connection.get_execution_options().get(_BEGIN_OPTION, "BEGIN IMMEDIATE")
        connection.exec_driver_sql(begin)


def _switch_to_wal(cursor: Any, busy_timeout_ms: int) -> None:
    """Put the file in WAL mode, waiting out another connection that holds it.

    SQLite does not call the busy handler for a journal-mode change: two processes opening a
    brand-new store at once (the daemon and a CLI command) had one fail at once with "database
    is locked". WAL is a property of the file, so once anyone has switched it the others find
    it done."""
    deadline = time.monotonic() + busy_timeout_ms / 1000
    pause = 0.005
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.1)
