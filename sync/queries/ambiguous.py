"""`baton status --ambiguous`: the worklist of people the engine left unlinked, not guessed.

A person is in it once the decision log holds an `identity` note with rule `ambiguous:<system>`
about them (`sync.identity`): two records of one system with one email, a cross-system id
claimed by two records, a record whose email is that of a person who has one there already;
and until every record refused them has become theirs (`_open`).
Each person comes with their email, their current records, and every record the engine
refused them (`system:object:id`) with why, as last logged, and whose record it is now (a user
who settled it by giving the record the person's cross-system id sees it linked). The newest
first, so what the last polls met comes first; `limit` bounds it.

Two counts, two units: `total` counts those people (as `baton status` does), `records` the
distinct records their notes name (as `baton demo`'s summary does): a pair of twins is one
person and two records.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from connectors.records import RecordKey, System
from sync.store._sql import Db, chunked, connection
from sync.store.links import Link, active_keys_for, find_links
from sync.store.schema import Decision as DecisionRow
from sync.store.schema import Person

#: How the engine logs an ambiguous identity (sync.identity: field `identity`, rule
#: `ambiguous:<system>`); kept here as data so the read side need not import the engine.
IDENTITY_FIELD = "identity"
AMBIGUOUS_RULE_PREFIX = "ambiguous:"


@dataclass(frozen=True, slots=True)
class Candidate:
    """A record the engine would not link to the person, as its latest note says."""

    key: RecordKey
    why: str
    noted_at: datetime
    owner: uuid.UUID | None  # whose current record it is now; None: still no one's


@dataclass(frozen=True, slots=True)
class AmbiguousPerson:
    person_id: uuid.UUID
    email: str | None
    noted_at: datetime  # the latest note about them: the list's order
    records: tuple[RecordKey, ...]  # the person's current records, one per system at most
    candidates: tuple[Candidate, ...]  # newest note first


@dataclass(frozen=True, slots=True)
class AmbiguousList:
    total: int  # people with an ambiguous identity logged (`baton status` counts these)
    records: int  # distinct records their notes name (`baton demo` counts these)
    people: tuple[AmbiguousPerson, ...]  # the `limit` newest, newest first


def _ambiguous() -> Any:
    return (DecisionRow.field == IDENTITY_FIELD) & DecisionRow.rule.startswith(
        AMBIGUOUS_RULE_PREFIX, autoescape=True
    )


def count_people(db: Db) -> int:
    """People left unlinked by an ambiguous match, and not settled since (`_open`)."""
    conn = connection(db)
    return len(_open(conn, _notes(conn))[0])


def ambiguous(db: Db, *, limit: int = 50) -> AmbiguousList:
    """The `limit` people most recently noted ambiguous, with their candidate records."""
    conn = connection(db)
    waiting, links = _open(conn, _notes(conn))
    latest = {pid: max(at for _, at in by_key.values()) for pid, by_key in waiting.items()}
    newest = sorted(latest.items(), key=lambda item: (item[1], str(item[0])), reverse=True)
    newest = newest[:limit]
    chosen = [person_id for person_id, _ in newest]
    emails: dict[uuid.UUID, str | None] = {}
    for chunk in chunked(chosen):
        emails.update(
            conn.execute(
                select(Person.baton_id, Person.email_normalized).where(Person.baton_id.in_(chunk))
            ).all()
        )
    current = active_keys_for(conn, chosen) if chosen else {}
    people = []
    for person_id, noted_at in newest:
        candidates = [
            Candidate(key, why, at, _owner(links.get(key)))
            for key, (why, at) in waiting[person_id].items()
        ]
        candidates.sort(key=lambda c: (c.noted_at, str(c.key)), reverse=True)
        records = tuple(sorted(current.get(person_id, {}).values(), key=str))
        people.append(
            AmbiguousPerson(person_id, emails.get(person_id), noted_at, records, tuple(candidates))
        )
    total = len(waiting)
    named = len({key for by_key in waiting.values() for key in by_key})
    return AmbiguousList(total, named, tuple(people))


_Notes = dict[uuid.UUID, dict[RecordKey, tuple[str, datetime]]]


def _notes(conn: Connection) -> _Notes:
    """Every ambiguous note, by person and the record it refused them (the latest words win).
    They are few (one per change of what was met, `unrepeated`): read whole."""
    notes: _Notes = {}
    rows = conn.execute(
        select(
            DecisionRow.person_id,
            DecisionRow.decided_at,
            DecisionRow.hubspot_old,
            DecisionRow.hubspot_new,
            DecisionRow.salesforce_old,
            DecisionRow.salesforce_new,
        )
        .where(_ambiguous())
        .order_by(DecisionRow.decided_at, DecisionRow.id)
    )
    for person_id, at, hubspot_old, hubspot_new, salesforce_old, salesforce_new in rows:
        by_key = notes.setdefault(person_id, {})
        noted = _record_and_why(hubspot_old, hubspot_new, salesforce_old, salesforce_new)
        if noted is not None:
            by_key[noted[0]] = (noted[1], at)
    return notes


def _open(conn: Connection, notes: _Notes) -> tuple[_Notes, dict[RecordKey, Link]]:
    """The people some record refused them is still not theirs, and the links of the records
    named. One whose every refused record has since become theirs is settled: a user gave it
    their id, or a webhook met a converted Lead's Contact before the conversion linked it."""
    named = {key for by_key in notes.values() for key in by_key}
    links = find_links(conn, named) if named else {}
    waiting = {
        pid: by_key
        for pid, by_key in notes.items()
        if any(_owner(links.get(key)) != pid for key in by_key)
    }
    return waiting, links


def _owner(link_: Link | None) -> uuid.UUID | None:
    return link_.person_id if link_ is not None and link_.active else None


def _record_and_why(
    hubspot_old: object, hubspot_new: object, salesforce_old: object, salesforce_new: object
) -> tuple[RecordKey, str] | None:
    """The record a note is about and its words (`sync.store.decisions.note_about`: the key in
    its system's "old" column, the words in that system's "new", or in older notes the
    other's)."""
    for old, new, other in (
        (hubspot_old, hubspot_new, salesforce_new),
        (salesforce_old, salesforce_new, hubspot_new),
    ):
        key = _record_key(old)
        if key is not None:
            words = new if isinstance(new, str) else other
            return key, words if isinstance(words, str) else ""
    return None


def _record_key(value: object) -> RecordKey | None:
    """'system:object:id' as a key; anything else (a value, not a record) None."""
    if not isinstance(value, str):
        return None
    system, _, rest = value.partition(":")
    obj, _, record_id = rest.partition(":")
    if system not in {s.value for s in System} or not obj or not record_id:
        return None
    return RecordKey(System(system), obj, record_id)
