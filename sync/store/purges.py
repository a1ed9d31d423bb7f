"""Purge hints: records a webhook said were deleted for good, kept until a unit synced them.

A HubSpot privacy (GDPR) deletion leaves nothing for a poll to read, not even a recycle-bin
row, and HubSpot sends its webhook once when answered 200. So the receiver keeps each such
record here (`keep_purges`, a transaction of its own) before answering, the daemon drops the
rows once the unit that synced them committed (`forget_purges`), and a daemon started after a
crash queues what is left (`kept_purges`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, select

from connectors.records import RecordKey, System
from sync.store._sql import Db, chunked, connection, keys_by_object, upsert
from sync.store.schema import PurgeHint as Row
from sync.store.types import utcnow


def keep_purges(db: Db, keys: Iterable[RecordKey], *, at: datetime | None = None) -> None:
    """Keep these records as hinted purged (a hint received twice is kept once)."""
    when = at or utcnow()
    rows = [
        {"system": k.system.value, "object": k.object, "record_id": k.id, "received_at": when}
        for k in dict.fromkeys(keys)
    ]
    if rows:
        conn = connection(db)
        conn.execute(upsert(conn, Row).values(rows).on_conflict_do_nothing())


def kept_purges(db: Db) -> list[RecordKey]:
    """Every record hinted purged and not synced since, oldest hint first."""
    rows = connection(db).execute(
        select(Row.system, Row.object, Row.record_id).order_by(Row.received_at)
    )
    return [RecordKey(System(system), obj, record_id) for system, obj, record_id in rows]


def forget_purges(db: Db, keys: Iterable[RecordKey]) -> None:
    """Drop these hints: a unit synced their records and committed."""
    conn = connection(db)
    for (system, obj), ids in keys_by_object(keys).items():
        for chunk in chunked(list(ids)):
            conn.execute(
                delete(Row).where(
                    Row.system == system.value, Row.object == obj, Row.record_id.in_(chunk)
                )
            )
