"""Small helpers the repositories share: the caller's connection, dialect upserts, chunking.

Repositories accept a `Session` or a `Connection` (`Db`). A `Session` is asked for its
connection, which joins the session's transaction; nothing here begins or commits one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from connectors.records import RecordKey, System

Db = Session | Connection
T = TypeVar("T")

#: Rows per IN (...) list: far below SQLite's 32,766 bound-parameter limit.
IN_CHUNK = 500


def connection(db: Db) -> Connection:
    """The connection of the caller's transaction (a Session's current one, or `db` itself)."""
    return db.connection() if isinstance(db, Session) else db


def upsert(conn: Connection, model: Any) -> sqlite.Insert | postgresql.Insert:
    """An INSERT that knows ON CONFLICT, in the dialect of `conn` (SQLite or PostgreSQL)."""
    name = conn.dialect.name
    if name == "sqlite":
        return sqlite.insert(model)
    if name == "postgresql":
        return postgresql.insert(model)
    raise NotImplementedError(f"the store supports SQLite and PostgreSQL, not {name}")


def chunked(items: Sequence[T], size: int = IN_CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def keys_by_object(keys: Iterable[RecordKey]) -> dict[tuple[System, str], dict[str, RecordKey]]:
    """The keys per (system, object), by record id. Lookups return the caller's own key objects
    for the rows they find, so later dict lookups hit them at once (one key object per record)
    instead of comparing equal copies field by field."""
    by_object: dict[tuple[System, str], dict[str, RecordKey]] = {}
    for key in keys:
        ids = by_object.get((key.system, key.object))
        if ids is None:
            ids = by_object[(key.system, key.object)] = {}
        ids[key.id] = key
    return by_object
