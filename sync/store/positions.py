"""Listing positions: how far each full listing of an unfinished backfill got.

A backfill begins each listing with `begin_listing` (insert-if-absent: the row an interrupted
backfill left is kept, with its position and signpost), moves it with `save_listing` after a
page's writes commit, marks it done when the listing ends, and `forget_listings` once the whole
backfill completed. The caller owns the transactions: a crash between a page's commit and the
save replays that page on the next run, never skips one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, true, update

from connectors.records import System
from sync.store._sql import Db, connection, upsert
from sync.store.schema import ListingPosition as Row


@dataclass(frozen=True, slots=True)
class Listing:
    """One object's listing: where it resumes (None: from the start), how many records the
    pages before that held, whether it ended, and the signpost its checkpoint ends at."""

    system: System
    object: str
    position: str | None
    listed: int
    done: bool
    held: bool
    upper_bound: datetime
    started_at: datetime
    updated_at: datetime


_COLUMNS = (
    Row.system,
    Row.object,
    Row.position,
    Row.listed,
    Row.done,
    Row.held,
    Row.run_upper_bound,
    Row.started_at,
    Row.updated_at,
)


def _listing(row: Any) -> Listing:
    system, obj, *rest = row  # the columns of `_COLUMNS`, in the fields' order
    return Listing(System(system), obj, *rest)


def get_listings(db: Db) -> dict[tuple[System, str], Listing]:
    """Every unfinished backfill's listings, by (system, object)."""
    rows = connection(db).execute(select(*_COLUMNS).order_by(Row.system, Row.object))
    return {(found.system, found.object): found for found in map(_listing, rows)}


def begin_listing(db: Db, system: System, obj: str, upper_bound: datetime, *, at: datetime) -> None:
    """Start a listing from the beginning, unless an interrupted backfill left one to go on."""
    conn = connection(db)
    conn.execute(
        upsert(conn, Row)
        .values(
            system=system.value,
            object=obj,
            position=None,
            listed=0,
            done=False,
            held=False,
            run_upper_bound=upper_bound,
            started_at=at,
            updated_at=at,
        )
        .on_conflict_do_nothing(index_elements=[Row.system, Row.object])
    )


def save_listing(
    db: Db,
    system: System,
    obj: str,
    *,
    position: str | None,
    added: int,
    held: bool,
    done: bool = False,
    at: datetime,
) -> None:
    """The listing got to `position` with `added` more records (`done`: it ended); `held`
    marks a write left to retry, and stays marked."""
    connection(db).execute(
        update(Row)
        .where(Row.system == system.value, Row.object == obj)
        .values(
            position=position,
            listed=Row.listed + added,
            held=true() if held else Row.held,
            done=done,
            updated_at=at,
        )
    )


def forget_listings(db: Db, which: Iterable[tuple[System, str]]) -> None:
    """Drop these listings: their backfill completed, or a fresh one was asked for."""
    conn = connection(db)
    for system, obj in which:
        conn.execute(delete(Row).where(Row.system == system.value, Row.object == obj))
