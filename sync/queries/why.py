"""`baton why <email> [field]`: the story of one person, so "it keeps changing back" has an answer.

For each person with that email, or whose record the address names (a HubSpot contact keeping
it as an additional email, where a merge keeps the merged-away contact's address) - more than
one means the address is shared or duplicated, and the engine reported the ambiguity rather
than guess - or, when nobody has it now, for each person whose logged `email` decisions name
it (a former address, changed in either system; the report says so): the records they are
linked to, now and before, with every relink and its reason; the first time they entered each
funnel stage; and the decision log (both sides' values before and after, the rule, the winner,
the trigger), merged into one timeline in time order; and the open dead letters of their
records (a write a system refused, held back until the data changes or `baton errors retry`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import select

from connectors.records import RecordKey, System
from sync.store._sql import Db, chunked, connection
from sync.store.addresses import holders_of
from sync.store.dead_letters import COLUMNS, DeadLetter, DeadLetterStatus, letter_from_row
from sync.store.decisions import Decision, decisions_for, people_with_value
from sync.store.links import LinkChange, LinkReason, find_links, history
from sync.store.people import people_by_email
from sync.store.schema import DeadLetter as DeadLetterRow
from sync.store.schema import IdentityLink, Person
from sync.store.transitions import Transition, first_entries

EventKind = Literal["link", "stage", "decision"]

EMAIL = "email"  # the canonical field people are matched on (`sync.identity`)


@dataclass(frozen=True, slots=True)
class LinkedRecord:
    key: RecordKey
    active: bool
    reason: LinkReason
    linked_at: datetime
    unlinked_at: datetime | None


@dataclass(frozen=True, slots=True)
class Event:
    """One line of the timeline; `item` is the link change, stage entry or decision itself."""

    at: datetime
    kind: EventKind
    item: LinkChange | Transition | Decision


@dataclass(frozen=True, slots=True)
class PersonStory:
    person_id: uuid.UUID
    email: str | None
    created_at: datetime
    links: tuple[LinkedRecord, ...]
    link_history: tuple[LinkChange, ...]
    stages: tuple[Transition, ...]
    decisions: tuple[Decision, ...]
    timeline: tuple[Event, ...]
    dead_letters: tuple[DeadLetter, ...] = ()  # open ones, of the person's records, by id


@dataclass(frozen=True, slots=True)
class WhyReport:
    email: str
    field: str | None
    people: tuple[PersonStory, ...]
    former: bool = False  # nobody has the address now: the people the log says had it

    @property
    def found(self) -> bool:
        return bool(self.people)


def normalize_email(email: str) -> str:
    """Trimmed and lower-cased, as the mapping layer's `email` transform stores it."""
    return email.strip().lower()


def why(db: Db, email: str, field: str | None = None) -> WhyReport:
    """The story of everyone with this email (nobody: of everyone who had it, `former`);
    `field` narrows the decisions to one field.

    With a field, the timeline holds that field's decisions only (links and stages are still
    in the story); without, it holds every link change, stage entry and decision.
    """
    normalized = normalize_email(email)
    named = find_links(db, holders_of(db, [normalized]).get(normalized, []))
    people = [
        *people_by_email(db, normalized),
        *(link_.person_id for link_ in named.values() if link_.active),
    ]
    former = not people
    if former:  # only then: reading the log for it costs a whole scan
        people = people_with_value(db, EMAIL, normalized)
    stories = tuple(_story(db, pid, field) for pid in dict.fromkeys(people))
    return WhyReport(normalized, field, stories, former=former and bool(stories))


def _story(db: Db, person_id: uuid.UUID, field: str | None) -> PersonStory:
    conn = connection(db)
    email, created_at = conn.execute(
        select(Person.email_normalized, Person.created_at).where(Person.baton_id == person_id)
    ).one()
    links = tuple(
        LinkedRecord(RecordKey(System(s), o, r), active, LinkReason(reason), linked, unlinked)
        for s, o, r, active, reason, linked, unlinked in conn.execute(
            select(
                IdentityLink.system,
                IdentityLink.object,
                IdentityLink.record_id,
                IdentityLink.active,
                IdentityLink.reason,
                IdentityLink.linked_at,
                IdentityLink.unlinked_at,
            )
            .where(IdentityLink.person_id == person_id)
            .order_by(IdentityLink.active.desc(), IdentityLink.system, IdentityLink.linked_at)
        )
    )
    changes = tuple(history(db, person_id))
    stages = tuple(first_entries(db, person_id).values())
    decisions = tuple(decisions_for(db, person_id, field))
    events: list[Event] = [Event(d.decided_at, "decision", d) for d in decisions]
    if field is None:
        events += [Event(c.at, "link", c) for c in changes]
        events += [Event(t.entered_at, "stage", t) for t in stages]
    order = {"link": 0, "stage": 1, "decision": 2}
    # Stable sort: within one kind the store's own order (time, then insertion) is kept.
    events.sort(key=lambda e: (e.at, order[e.kind]))
    letters = open_letters_of(db, person_id, [link_.key for link_ in links])
    return PersonStory(
        person_id, email, created_at, links, changes, stages, decisions, tuple(events), letters
    )


#: The record id a refused create's letter is kept under ("new:<person id>", `sync.engine`).
NEW_PREFIX = "new:"


def open_letters_of(
    db: Db, person_id: uuid.UUID, keys: Sequence[RecordKey]
) -> tuple[DeadLetter, ...]:
    """The open dead letters of these records (a person's, linked now or before) and of the
    records the person's creates would have made, by id."""
    wanted = {(k.system.value, k.object, k.id) for k in keys}
    made = f"{NEW_PREFIX}{person_id}"
    conn = connection(db)
    found: list[DeadLetter] = []
    for chunk in chunked(sorted({k.id for k in keys} | {made})):
        rows = conn.execute(
            select(*COLUMNS).where(
                DeadLetterRow.status == DeadLetterStatus.OPEN.value,
                DeadLetterRow.record_id.in_(chunk),
            )
        )
        for row in rows:
            letter = letter_from_row(row)
            key = (letter.key.system.value, letter.key.object, letter.key.id)
            if key in wanted or letter.key.id == made:
                found.append(letter)
    return tuple(sorted(found, key=lambda letter: letter.id))
