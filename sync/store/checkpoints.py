"""Checkpoints: per system and object, how far reading has safely got.

The cursor is the pair (modification time, record id), so records sharing a timestamp are
ordered by id instead of lost to a strict `>`. `advance_checkpoint` only ever moves it forward
(a conditional upsert, safe against a concurrent writer) and never past the run's upper bound,
the time fixed when the run began. The caller advances it in the same transaction as the
page's writes, after they succeed: a crash then replays the page instead of skipping it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from weakref import WeakKeyDictionary

from sqlalchemy import (
    ColumnElement,
    Connection,
    Dialect,
    bindparam,
    case,
    delete,
    select,
    update,
)
from sqlalchemy.sql.dml import ReturningInsert

from connectors.records import System
from sync.store._sql import Db, connection, upsert
from sync.store.schema import Checkpoint as CheckpointRow
from sync.store.types import utcnow


@dataclass(frozen=True, slots=True)
class Checkpoint:
    system: System
    object: str
    cursor: datetime | None
    last_id: str | None
    upper_bound: datetime | None
    updated_at: datetime
    blocked_since: datetime | None = None  # a write refused for now has held it since


class CheckpointPastBound(ValueError):
    """A cursor beyond the run's upper bound: the window was read wrongly; refuse to store it."""


_COLUMNS = (
    CheckpointRow.system,
    CheckpointRow.object,
    CheckpointRow.cursor_modified_at,
    CheckpointRow.last_id,
    CheckpointRow.run_upper_bound,
    CheckpointRow.updated_at,
    CheckpointRow.blocked_since,
)
# Built once: the engine reads a checkpoint for every page it commits.
_GET = select(*_COLUMNS).where(
    CheckpointRow.system == bindparam("system"), CheckpointRow.object == bindparam("object")
)


def _where(system: System, obj: str) -> tuple[ColumnElement[bool], ...]:
    return (CheckpointRow.system == system.value, CheckpointRow.object == obj)


def get_checkpoint(db: Db, system: System, obj: str) -> Checkpoint | None:
    row = connection(db).execute(_GET, {"system": system.value, "object": obj}).first()
    if row is None:
        return None
    _, _, cursor, last_id, bound, updated, blocked = row
    return Checkpoint(system, obj, cursor, last_id, bound, updated, blocked)


def list_checkpoints(db: Db) -> list[Checkpoint]:
    rows = connection(db).execute(
        select(*_COLUMNS).order_by(CheckpointRow.system, CheckpointRow.object)
    )
    return [Checkpoint(System(s), o, c, i, b, u, h) for s, o, c, i, b, u, h in rows]


def set_upper_bound(
    db: Db, system: System, obj: str, upper_bound: datetime, *, at: datetime | None = None
) -> None:
    """Fix the run's upper bound (its signpost) before reading; the cursor stays where it is.

    The bound only rises: runs overlap (a backfill's catch-up reading while the daemon polls),
    and an earlier run's bound set back under a later one would fail that run's next advance.
    """
    conn = connection(db)
    stmt = upsert(conn, CheckpointRow).values(
        system=system.value, object=obj, run_upper_bound=upper_bound, updated_at=at or utcnow()
    )
    current, new = CheckpointRow.run_upper_bound, stmt.excluded.run_upper_bound
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[CheckpointRow.system, CheckpointRow.object],
            set_={
                "run_upper_bound": case((current.is_(None) | (new > current), new), else_=current),
                "updated_at": stmt.excluded.updated_at,
            },
        )
    )


def _advance(conn: Connection) -> ReturningInsert[tuple[str | None]]:
    """The forward-only upsert of a cursor, built once per dialect (every page commits one):
    its parameters are `system`, `object`, `cursor`, `last_id` and `updated_at`."""
    stmt = upsert(conn, CheckpointRow).values(
        system=bindparam("system"),
        object=bindparam("object"),
        cursor_modified_at=bindparam("cursor", type_=CheckpointRow.cursor_modified_at.type),
        last_id=bindparam("last_id"),
        updated_at=bindparam("updated_at", type_=CheckpointRow.updated_at.type),
    )
    old_cursor, old_id = CheckpointRow.cursor_modified_at, CheckpointRow.last_id
    new_cursor, new_id = stmt.excluded.cursor_modified_at, stmt.excluded.last_id
    forward = (
        old_cursor.is_(None)
        | (old_cursor < new_cursor)
        | ((old_cursor == new_cursor) & (old_id.is_(None) | (old_id < new_id)))
    )
    return stmt.on_conflict_do_update(
        index_elements=[CheckpointRow.system, CheckpointRow.object],
        set_={
            "cursor_modified_at": new_cursor,
            "last_id": new_id,
            "updated_at": stmt.excluded.updated_at,
            "blocked_since": None,  # it moved: nothing holds it
        },
        where=forward,
    ).returning(CheckpointRow.last_id)


_ADVANCE: WeakKeyDictionary[Dialect, ReturningInsert[tuple[str | None]]] = WeakKeyDictionary()


def advance_checkpoint(
    db: Db,
    system: System,
    obj: str,
    cursor: datetime,
    last_id: str,
    *,
    at: datetime | None = None,
) -> bool:
    """Move the cursor to (cursor, last_id) if that is further on; return whether it moved.

    Raises `CheckpointPastBound` when a run upper bound is set and `cursor` is beyond it.
    """
    current = get_checkpoint(db, system, obj)
    if current is not None and current.upper_bound is not None and cursor > current.upper_bound:
        raise CheckpointPastBound(
            f"{system}:{obj} cursor {cursor.isoformat()} is past the run's upper bound "
            f"{current.upper_bound.isoformat()}"
        )
    conn = connection(db)
    statement = _ADVANCE.get(conn.dialect)
    if statement is None:
        statement = _ADVANCE[conn.dialect] = _advance(conn)
    parameters = {
        "system": system.value,
        "object": obj,
        "cursor": cursor,
        "last_id": last_id,
        "updated_at": at or utcnow(),
    }
    result = conn.execute(statement, parameters)
    return result.first() is not None


def note_blocked(db: Db, system: System, obj: str, *, at: datetime) -> None:
    """A write refused for now holds the cursor: remember since when (the first time only;
    the next advance forgets it)."""
    connection(db).execute(
        update(CheckpointRow)
        .where(*_where(system, obj), CheckpointRow.blocked_since.is_(None))
        .values(blocked_since=at)
    )


def reset_checkpoint(db: Db, system: System, obj: str) -> bool:
    """Forget the cursor (an explicit operator action: the next run re-reads everything)."""
    result = connection(db).execute(
        delete(CheckpointRow).where(
            CheckpointRow.system == system.value, CheckpointRow.object == obj
        )
    )
    return result.rowcount > 0
