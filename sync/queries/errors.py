"""`baton errors list|retry|drop`: the records a system refused, in the vendor's own words.

Listing filters by status and system. Retrying is the engine's job (`retry_dead_letters` marks
the letters `retried`, re-reads and syncs their people; a new refusal reopens the letter), so
this module only finds letters for it. Dropping closes letters for good and keeps the
operator's reason where people look for explanations: a decision-log entry on the linked person
(field `dead_letter`, rule `dropped`), written as the engine writes its record notes: the
record key in its own system's column, the explanation (reason and the vendor's error) in the
other's, so `baton why <email>` tells that story too.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from connectors.records import RecordKey, System
from sync.store._sql import Db, chunked, connection
from sync.store.dead_letters import (
    COLUMNS,
    DeadLetter,
    DeadLetterStatus,
    drop_dead_letters,
    letter_from_row,
)
from sync.store.decisions import Decision, record_decisions
from sync.store.links import Link, find_links
from sync.store.people import person_exists
from sync.store.schema import DeadLetter as DeadLetterRow

#: The record id the engine gives a refused create: "new:<person id>" (sync.engine.NEW_PREFIX).
NEW_PREFIX = "new:"
DROP_FIELD = "dead_letter"
DROP_RULE = "dropped"
DROP_TRIGGER = "operator"


@dataclass(frozen=True, slots=True)
class Dropped:
    """What `drop` did: the letters closed, the ids that were not open, the reasons logged."""

    dropped: tuple[DeadLetter, ...]
    not_open: tuple[int, ...]
    reasons_logged: int


def list_errors(
    db: Db,
    *,
    status: DeadLetterStatus | None = DeadLetterStatus.OPEN,
    system: System | None = None,
    limit: int = 100,
) -> tuple[DeadLetter, ...]:
    """Dead letters in one status (None: any) and system (None: both), oldest first."""
    query = select(*COLUMNS).order_by(DeadLetterRow.first_seen_at, DeadLetterRow.id)
    if status is not None:
        query = query.where(DeadLetterRow.status == status.value)
    if system is not None:
        query = query.where(DeadLetterRow.system == system.value)
    return tuple(letter_from_row(row) for row in connection(db).execute(query.limit(limit)))


def get_errors(db: Db, ids: Sequence[int]) -> tuple[DeadLetter, ...]:
    """These dead letters, whatever their status, by id."""
    found: list[DeadLetter] = []
    for chunk in chunked(sorted(set(ids))):
        query = select(*COLUMNS).where(DeadLetterRow.id.in_(chunk)).order_by(DeadLetterRow.id)
        found.extend(letter_from_row(row) for row in connection(db).execute(query))
    return tuple(found)


def drop(db: Db, ids: Sequence[int], *, reason: str, at: datetime) -> Dropped:
    """Close these open letters for good, logging `reason` on each linked person."""
    if not reason.strip():
        raise ValueError("a drop needs a reason")
    if not ids:
        return Dropped((), (), 0)
    dropped = tuple(drop_dead_letters(db, list(ids)))
    links = find_links(db, [letter.key for letter in dropped])
    entries = []
    for letter in dropped:
        person_id = _person_of(db, letter, links)
        if person_id is None:
            continue
        refused = f"{letter.vendor_code or 'error'}: {letter.vendor_message or ''}".strip()
        detail = f"dropped by an operator: {reason} (refused with {refused})"
        record = str(letter.key)
        values: dict[str, Any] = (
            {"salesforce_old": record, "hubspot_new": detail}
            if letter.key.system is System.SALESFORCE
            else {"hubspot_old": record, "salesforce_new": detail}
        )
        entries.append(
            Decision(
                person_id=person_id,
                field=DROP_FIELD,
                rule=DROP_RULE,
                trigger=DROP_TRIGGER,
                decided_at=at,
                **values,
            )
        )
    record_decisions(db, entries)
    return Dropped(dropped, _missing(ids, dropped), len(entries))


def _person_of(db: Db, letter: DeadLetter, links: Mapping[RecordKey, Link]) -> uuid.UUID | None:
    """The person a letter is about: its record's link, or the person a refused create was for."""
    link = links.get(letter.key)
    if link is not None:
        return link.person_id
    if not letter.key.id.startswith(NEW_PREFIX):
        return None
    try:
        person_id = uuid.UUID(letter.key.id.removeprefix(NEW_PREFIX))
    except ValueError:
        return None
    return person_id if person_exists(db, person_id) else None


def _missing(ids: Sequence[int] | None, moved: Sequence[DeadLetter]) -> tuple[int, ...]:
    if ids is None:
        return ()
    done = {letter.id for letter in moved}
    return tuple(sorted(set(ids) - done))
