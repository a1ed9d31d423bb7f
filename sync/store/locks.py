"""Advisory locks for what must not interleave across processes sharing a PostgreSQL store.

SQLite needs none: every write transaction begins IMMEDIATE (`sync.store.engine`), so one
process writes at a time already. On PostgreSQL two processes (the daemon and a backfill's
catch-up, two overlapping `baton run --once`) commit side by side unless they take one of these.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

UNIT_COMMITS = 0x6261746F6E01  # units' commits: identity is checked, then written, alone
MIGRATIONS = 0x6261746F6E02  # schema upgrades: a second process waits, then finds it done


def hold(conn: Connection, lock: int) -> None:
    """Wait for `lock` and hold it until the caller's transaction ends (PostgreSQL only)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock})
