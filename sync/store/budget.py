"""The API budget as last observed, per system and window, shared through the database.

Today each process paces itself from the systems' headers and records what it saw here (for
`baton status` and metrics); with several workers the same rows become the shared budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from connectors.records import System
from sync.store._sql import Db, connection, upsert
from sync.store.schema import ApiBudget


@dataclass(frozen=True, slots=True)
class Budget:
    system: System
    window: str
    used: int
    remaining: int
    observed_at: datetime


def observe_budget(
    db: Db, system: System, window: str, *, used: int, remaining: int, at: datetime
) -> None:
    """Store an observation unless a newer one for the same window is already there."""
    conn = connection(db)
    stmt = upsert(conn, ApiBudget).values(
        system=system.value, window=window, used=used, remaining=remaining, observed_at=at
    )
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[ApiBudget.system, ApiBudget.window],
            set_={
                "used": stmt.excluded.used,
                "remaining": stmt.excluded.remaining,
                "observed_at": stmt.excluded.observed_at,
            },
            where=ApiBudget.observed_at <= stmt.excluded.observed_at,
        )
    )


def budgets(db: Db, system: System | None = None) -> list[Budget]:
    query = select(
        ApiBudget.system,
        ApiBudget.window,
        ApiBudget.used,
        ApiBudget.remaining,
        ApiBudget.observed_at,
    ).order_by(ApiBudget.system, ApiBudget.window)
    if system is not None:
        query = query.where(ApiBudget.system == system.value)
    return [Budget(System(s), w, u, r, o) for s, w, u, r, o in connection(db).execute(query)]
