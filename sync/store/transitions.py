"""Funnel transitions: the first time each person entered each stage or outcome.

First entry wins: an insert-if-absent on (person, stage), so a recycle, a replayed page or a
second worker can never rewrite when someone first became an MQL, and reports stay valid. The
one later change a row takes is its reason: a rejection saved before its reason (status first,
reason in a second save) is recorded without one, and `explain_rejections` completes that row
instead of a second rejection being counted.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update

from connectors.records import System
from sync.store._bulk import Batch, Lookup
from sync.store._sql import Db, chunked, connection, upsert
from sync.store.schema import FunnelTransition
from sync.store.types import utcnow


@dataclass(frozen=True, slots=True)
class Transition:
    person_id: uuid.UUID
    stage: str
    entered_at: datetime
    source_system: System
    reason: str | None = None


def record_transition(
    db: Db,
    person_id: uuid.UUID,
    stage: str,
    entered_at: datetime,
    source_system: System,
    reason: str | None = None,
    *,
    at: datetime | None = None,
) -> bool:
    """Record the first entry into `stage`; returns False when one was already recorded."""
    conn = connection(db)
    stmt = upsert(conn, FunnelTransition).values(
        _row(Transition(person_id, stage, entered_at, source_system, reason), at or utcnow())
    )
    inserted = stmt.on_conflict_do_nothing(index_elements=_UNIQUE).returning(FunnelTransition.id)
    return conn.execute(inserted).first() is not None


def record_transitions(
    db: Db, transitions: Sequence[Transition], *, at: datetime | None = None
) -> None:
    """A page of transitions in one executemany; those already recorded are left untouched."""
    if not transitions:
        return
    when = at or utcnow()
    rows = [
        (t.person_id, t.stage, t.entered_at, t.source_system.value, t.reason, when)
        for t in transitions
    ]
    _INSERT_NEW.execute(connection(db), rows)


def first_entries(db: Db, person_id: uuid.UUID) -> dict[str, Transition]:
    """The person's recorded stages, by stage name, in order of entry."""
    rows = connection(db).execute(
        select(
            FunnelTransition.stage,
            FunnelTransition.entered_at,
            FunnelTransition.source_system,
            FunnelTransition.reason,
        )
        .where(FunnelTransition.person_id == person_id)
        .order_by(FunnelTransition.entered_at, FunnelTransition.id)
    )
    return {
        stage: Transition(person_id, stage, entered_at, System(source), reason)
        for stage, entered_at, source, reason in rows
    }


def recorded_stages(
    db: Db, person_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, datetime]]:
    """When each person first entered each recorded stage or outcome (absent: nothing recorded),
    one query per chunk of people."""
    conn = connection(db)
    out: dict[uuid.UUID, dict[str, datetime]] = {}
    for person_id, stage, entered_at in _STAGES.rows(conn, list(dict.fromkeys(person_ids))):
        out.setdefault(person_id, {})[stage] = entered_at
    return out


_STAGES = Lookup(
    lambda _: select(
        FunnelTransition.person_id, FunnelTransition.stage, FunnelTransition.entered_at
    ).where(FunnelTransition.person_id.in_(bindparam("people", expanding=True))),
    "people",
)


def unexplained_rejections(
    db: Db, person_ids: Sequence[uuid.UUID], stages: Sequence[str]
) -> dict[uuid.UUID, str]:
    """Per person, the latest of `stages` (the rejections needing a reason) recorded without its
    reason (rarely asked: only for people whose reason just arrived)."""
    conn = connection(db)
    found: dict[uuid.UUID, str] = {}
    for chunk in chunked(list(dict.fromkeys(person_ids))):
        rows = conn.execute(
            select(FunnelTransition.person_id, FunnelTransition.stage)
            .where(
                FunnelTransition.person_id.in_(chunk),
                FunnelTransition.stage.in_(list(stages)),
                FunnelTransition.reason.is_(None),
            )
            .order_by(FunnelTransition.entered_at, FunnelTransition.id)  # the latest kept
        )
        found.update((person_id, stage) for person_id, stage in rows)
    return found


@dataclass(frozen=True, slots=True)
class Explanation:
    """A rejection recorded without its reason (`stage`), now known: it was `outcome` (the
    reason decides between recycled and disqualified) for `reason`."""

    person_id: uuid.UUID
    stage: str
    outcome: str
    reason: str


def explain_rejections(db: Db, explanations: Sequence[Explanation]) -> None:
    """Complete rejections recorded without their reason: the row keeps its entry time (when
    the rejection was made) and takes the outcome and reason it turned out to be."""
    conn = connection(db)
    for e in explanations:
        conn.execute(
            update(FunnelTransition)
            .where(
                FunnelTransition.person_id == e.person_id,
                FunnelTransition.stage == e.stage,
                FunnelTransition.reason.is_(None),
            )
            .values(stage=e.outcome, reason=e.reason)
        )


_UNIQUE = [FunnelTransition.person_id, FunnelTransition.stage]

_INSERT_NEW = Batch(
    lambda conn: upsert(conn, FunnelTransition).on_conflict_do_nothing(index_elements=_UNIQUE),
    ("person_id", "stage", "entered_at", "source_system", "reason", "recorded_at"),
)


def _row(transition: Transition, at: datetime) -> dict[str, Any]:
    return {
        "person_id": transition.person_id,
        "stage": transition.stage,
        "entered_at": transition.entered_at,
        "source_system": transition.source_system.value,
        "reason": transition.reason,
        "recorded_at": at,
    }
