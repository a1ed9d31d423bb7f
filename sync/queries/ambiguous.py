"""`baton status --ambiguous`: the worklist of people the engine left unlinked, not guessed.

A person is in it once the decision log holds an `identity` note with rule `ambiguous:<system>`
about them (`sync.identity`): two records of one system with one email, a cross-system id
claimed by two records, a record whose email is that of a person who has one there already.
Each person comes with their email, their current records, and every record the engine
refused them (`system:object:id`) with why, as last logged, and whose record it is now (a user
who settled it by giving the record the person's cross-system id sees it linked). The newest
first, so what the last polls met comes first; `limit` bounds it.

Two counts, two units: `total` counts people (as `baton status` does), `records` the distinct
records their notes name (as `baton demo`'s summary does): a pair of twins is one person and
two records.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from connectors.records import RecordKey, System
from sync.store._sql import Db, chunked, connection
from sync.store.decisions import records_named
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
    """People with an ambiguous identity logged (they stay so until someone resolves it)."""
    query = select(func.count(func.distinct(DecisionRow.person_id))).where(_ambiguous())
    return int(connection(db).execute(query).scalar_one())


def ambiguous(db: Db, *, limit: int = 50) -> AmbiguousList:
    """The `limit` people most recently noted ambiguous, with their candidate records."""
    conn = connection(db)
    latest = func.max(DecisionRow.decided_at).label("latest")
    newest = conn.execute(
        select(DecisionRow.person_id, latest)
        .where(_ambiguous())
        .group_by(DecisionRow.person_id)
        .order_by(latest.desc(), DecisionRow.person_id)
        .limit(limit)
    ).all()
    chosen = [person_id for person_id, _ in newest]
    notes: dict[uuid.UUID, dict[RecordKey, tuple[str, datetime]]] = {p: {} for p in chosen}
    emails: dict[uuid.UUID, str | None] = {}
    for chunk in chunked(chosen):
        rows = conn.execute(
            select(
                DecisionRow.person_id,
                DecisionRow.decided_at,
                DecisionRow.hubspot_old,
                DecisionRow.hubspot_new,
                DecisionRow.salesforce_old,
                DecisionRow.salesforce_new,
            )
            .where(_ambiguous(), DecisionRow.person_id.in_(chunk))
            .order_by(DecisionRow.decided_at, DecisionRow.id)
        )
        for person_id, at, hubspot_old, hubspot_new, salesforce_old, salesforce_new in rows:
            noted = _record_and_why(hubspot_old, hubspot_new, salesforce_old, salesforce_new)
            if noted is not None:
                notes[person_id][noted[0]] = (noted[1], at)  # the latest words win
        emails.update(
            conn.execute(
                select(Person.baton_id, Person.email_normalized).where(Person.baton_id.in_(chunk))
            ).all()
        )
    current = active_keys_for(conn, chosen) if chosen else {}
    named = {key for by_key in notes.values() for key in by_key}
    links = find_links(conn, named) if named else {}
    people = []
    for person_id, noted_at in newest:
        candidates = [
            Candidate(key, why, at, _owner(links.get(key)))
            for key, (why, at) in notes[person_id].items()
        ]
        candidates.sort(key=lambda c: (c.noted_at, str(c.key)), reverse=True)
        records = tuple(sorted(current.get(person_id, {}).values(), key=str))
        people.append(
            AmbiguousPerson(person_id, emails.get(person_id), noted_at, records, tuple(candidates))
        )
    return AmbiguousList(count_people(conn), count_records(conn), tuple(people))


def _owner(link_: Link | None) -> uuid.UUID | None:
    return link_.person_id if link_ is not None and link_.active else None


def count_records(db: Db) -> int:
    """Distinct records the ambiguous notes name, whoever they were logged against."""
    rules = [f"{AMBIGUOUS_RULE_PREFIX}{system}" for system in System]
    return len(records_named(db, IDENTITY_FIELD, rules))


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
