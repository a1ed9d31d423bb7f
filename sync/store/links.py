"""Identity links: which HubSpot and Salesforce records are the same person.

Rules the schema enforces: a record belongs to at most one person; a person has at most one
active link per system. `link` creates a first link and refuses to move anything; `relink` is
the one way to move (Lead conversion, merges, an operator's fix) and always leaves a
`LinkChange` in the history with its reason. Nothing here commits: the caller's transaction
makes "link + snapshot + checkpoint" atomic.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Row, String, bindparam, func, insert, literal, select, tuple_, update
from sqlalchemy.orm import aliased

from connectors.records import RecordKey, System
from sync.store._bulk import AnySelect, Batch, Lookup
from sync.store._sql import Db, chunked, connection, keys_by_object, upsert
from sync.store.schema import IdentityLink, LinkEvent
from sync.store.types import utcnow


class LinkReason(StrEnum):
    CREATED = "created"  # we created the counterpart record
    CROSS_ID = "cross_id"  # matched by the cross-system id property written on both sides
    EMAIL = "email"  # matched by normalised email
    # matched by an address the other system also finds its record by (HubSpot's additional
    # emails: a merge keeps the merged-away contact's address there)
    ADDITIONAL_EMAIL = "additional_email"
    CONVERSION = "conversion"  # a Lead was converted; the link moved to its Contact
    MERGE = "merge"  # records or people were merged on either side
    MANUAL = "manual"  # an operator said so
    DELETED = "deleted"  # (an ended link) its record was deleted and the delete propagated
    RESTORED = "restored"  # a record whose link ended (deleted) came back from a recycle bin
    # (an inactive link) an Opportunity found its person by its contact role's Contact
    CONTACT_ROLE = "contact_role"


class LinkConflict(Exception):
    """A link that would break an identity rule; the engine must decide (usually: relink)."""


@dataclass(frozen=True, slots=True)
class Link:
    person_id: uuid.UUID
    key: RecordKey
    active: bool
    reason: LinkReason
    linked_at: datetime
    unlinked_at: datetime | None


@dataclass(frozen=True, slots=True)
class LinkChange:
    """One entry of a person's link history: `key` became theirs, replacing `previous_key`."""

    person_id: uuid.UUID
    key: RecordKey
    previous_key: RecordKey | None
    previous_person_id: uuid.UUID | None
    reason: LinkReason
    at: datetime


_LINK_COLUMNS = (
    IdentityLink.person_id,
    IdentityLink.system,
    IdentityLink.object,
    IdentityLink.record_id,
    IdentityLink.active,
    IdentityLink.reason,
    IdentityLink.linked_at,
    IdentityLink.unlinked_at,
)


_SYSTEMS: dict[str, System] = {system.value: system for system in System}


def _key(system: str, obj: str, record_id: str) -> RecordKey:
    return RecordKey(_SYSTEMS[system], obj, record_id)


_LinkRow = Row[uuid.UUID, str, str, str, bool, str, datetime, datetime | None] | tuple[Any, ...]


def _link(row: _LinkRow) -> Link:
    person_id, system, obj, record_id, active, reason, linked_at, unlinked_at = row
    return Link(
        person_id, _key(system, obj, record_id), active, LinkReason(reason), linked_at, unlinked_at
    )


def _where_key(key: RecordKey) -> tuple[Any, ...]:
    return (
        IdentityLink.system == key.system.value,
        IdentityLink.object == key.object,
        IdentityLink.record_id == key.id,
    )


def find_link(db: Db, key: RecordKey) -> Link | None:
    """The link of `key`, active or not (an inactive one still names the person it was)."""
    row = connection(db).execute(select(*_LINK_COLUMNS).where(*_where_key(key))).first()
    return _link(row) if row is not None else None


def find_links(db: Db, keys: Iterable[RecordKey]) -> dict[RecordKey, Link]:
    """Links for a page of keys, one query per (system, object) and chunk."""
    conn = connection(db)
    found: dict[RecordKey, Link] = {}
    for (system, obj), ids in keys_by_object(keys).items():
        for row in _LINKS_BY_ID.rows(conn, list(ids), system=system.value, object=obj):
            link_ = _link(row)
            found[link_.key] = link_
    return found


_LINKS_BY_ID = Lookup.by_record_ids(IdentityLink, *_LINK_COLUMNS)
_ACTIVE_KEYS = Lookup(
    lambda _: select(
        IdentityLink.person_id, IdentityLink.system, IdentityLink.object, IdentityLink.record_id
    ).where(IdentityLink.person_id.in_(bindparam("people", expanding=True)), IdentityLink.active),
    "people",
)


def active_links(db: Db, person_id: uuid.UUID) -> dict[System, Link]:
    """The person's current record in each system."""
    rows = connection(db).execute(
        select(*_LINK_COLUMNS).where(IdentityLink.person_id == person_id, IdentityLink.active)
    )
    return {link_.key.system: link_ for link_ in map(_link, rows)}


def link(
    db: Db, person_id: uuid.UUID, key: RecordKey, reason: LinkReason, *, at: datetime | None = None
) -> Link:
    """Link `key` to the person; idempotent when already so. Raises `LinkConflict` otherwise."""
    existing = find_link(db, key)
    if existing is not None:
        if existing.person_id == person_id and existing.active:
            return existing
        raise LinkConflict(f"{key} is already linked to person {existing.person_id}; use relink")
    current = active_links(db, person_id).get(key.system)
    if current is not None:
        raise LinkConflict(f"person {person_id} already has {current.key}; use relink")
    when = at or utcnow()
    link_many(db, [(person_id, key, reason)], at=when)
    return Link(person_id, key, True, reason, when, None)


def link_many(
    db: Db,
    links: Sequence[tuple[uuid.UUID, RecordKey, LinkReason]],
    *,
    at: datetime | None = None,
) -> None:
    """First links for a page (backfill), in two executemany statements, without the checks
    `link` makes: the constraints still hold, so a violation raises IntegrityError."""
    if not links:
        return
    when = at or utcnow()
    conn = connection(db)
    _LINK.execute(
        conn,
        [
            (person_id, key.system.value, key.object, key.id, True, reason.value, when, None)
            for person_id, key, reason in links
        ],
    )
    _FIRST_EVENT.execute(
        conn,
        [
            (person_id, key.system.value, key.object, key.id, reason.value, when)
            for person_id, key, reason in links
        ],
    )


_ROW = (
    "person_id",
    "system",
    "object",
    "record_id",
    "active",
    "reason",
    "linked_at",
    "unlinked_at",
)
_LINK = Batch(lambda _: insert(IdentityLink), _ROW)
_FIRST_EVENT = Batch(
    lambda _: insert(LinkEvent), ("person_id", "system", "object", "record_id", "reason", "at")
)
_ASSOCIATE = Batch(
    lambda conn: upsert(conn, IdentityLink).on_conflict_do_nothing(
        index_elements=[IdentityLink.system, IdentityLink.object, IdentityLink.record_id]
    ),
    _ROW,
)


def relink(
    db: Db, person_id: uuid.UUID, key: RecordKey, reason: LinkReason, *, at: datetime | None = None
) -> Link | None:
    """Make `key` the person's active record in its system, moving it from another person if
    need be; returns the link it replaced (now inactive), or None. Appends one history entry."""
    when = at or utcnow()
    conn = connection(db)
    current = active_links(db, person_id).get(key.system)
    if current is not None and current.key == key:
        return None
    if current is not None:
        conn.execute(
            update(IdentityLink)
            .where(*_where_key(current.key))
            .values(active=False, unlinked_at=when)
        )
    existing = find_link(db, key)
    if existing is None:
        conn.execute(
            insert(IdentityLink).values(
                person_id=person_id,
                system=key.system.value,
                object=key.object,
                record_id=key.id,
                active=True,
                reason=reason.value,
                linked_at=when,
            )
        )
    else:
        conn.execute(
            update(IdentityLink)
            .where(*_where_key(key))
            .values(
                person_id=person_id,
                active=True,
                reason=reason.value,
                linked_at=when,
                unlinked_at=None,
            )
        )
    moved_from = existing.person_id if existing and existing.person_id != person_id else None
    previous_key = current.key if current is not None else None
    conn.execute(
        insert(LinkEvent).values(_event(person_id, key, previous_key, moved_from, reason, when))
    )
    if current is None:
        return None
    return Link(person_id, current.key, False, current.reason, current.linked_at, when)


def history(db: Db, person_id: uuid.UUID) -> list[LinkChange]:
    """Every link change of the person (as new owner or as the one a record moved from)."""
    rows = connection(db).execute(
        select(
            LinkEvent.person_id,
            LinkEvent.system,
            LinkEvent.object,
            LinkEvent.record_id,
            LinkEvent.previous_object,
            LinkEvent.previous_record_id,
            LinkEvent.previous_person_id,
            LinkEvent.reason,
            LinkEvent.at,
        )
        .where((LinkEvent.person_id == person_id) | (LinkEvent.previous_person_id == person_id))
        .order_by(LinkEvent.at, LinkEvent.id)
    )
    changes = []
    for owner, system, obj, record_id, prev_obj, prev_id, prev_person, reason, at in rows:
        previous = _key(system, prev_obj, prev_id) if prev_obj and prev_id else None
        changes.append(
            LinkChange(
                owner, _key(system, obj, record_id), previous, prev_person, LinkReason(reason), at
            )
        )
    return changes


def _event(
    person_id: uuid.UUID,
    key: RecordKey,
    previous_key: RecordKey | None,
    previous_person_id: uuid.UUID | None,
    reason: LinkReason,
    at: datetime,
) -> dict[str, Any]:
    return {
        "person_id": person_id,
        "system": key.system.value,
        "object": key.object,
        "record_id": key.id,
        "previous_object": previous_key.object if previous_key else None,
        "previous_record_id": previous_key.id if previous_key else None,
        "previous_person_id": previous_person_id,
        "reason": reason.value,
        "at": at,
    }


def active_keys_for(
    db: Db, person_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, dict[System, RecordKey]]:
    """Each person's current record per system (`active_links_for`, keys only)."""
    conn = connection(db)
    found: dict[uuid.UUID, dict[System, RecordKey]] = defaultdict(dict)
    systems = _SYSTEMS
    for person_id, system, obj, record_id in _ACTIVE_KEYS.rows(
        conn, list(dict.fromkeys(person_ids))
    ):
        kind = systems[system]
        found[person_id][kind] = RecordKey(kind, obj, record_id)
    return dict(found)


@dataclass(frozen=True, slots=True)
class PageLinks:
    """What the identity hot path needs of a page of keys, read in one query (`page_links`)."""

    # the person each key is linked to (active link or not: a converted Lead's late echo still
    # names its person)
    people: dict[RecordKey, uuid.UUID]
    # those people's current record per system (`active_keys_for`); none for a person without
    records: dict[uuid.UUID, dict[System, RecordKey]]
    # their inactive links on the object asked for (every person of `people` has an entry)
    associated: dict[uuid.UUID, list[RecordKey]]
    # those of them with a record a propagated delete ended (`end_links`): the people a record
    # restored alone may have left waiting for its twin (rare: usually empty)
    bereft: set[uuid.UUID] = field(default_factory=set)


def page_links(db: Db, keys: Iterable[RecordKey], associated: str | None = None) -> PageLinks:
    """The people of a page of keys and their current records, in one query per (system,
    object) and chunk; with `associated` (an object), each of those people's inactive links on
    it too (`associated(db, people, object)`: a converted Lead's Opportunity), from the same
    query, which visits all of a person's links anyway, as it does their deleted ones."""
    conn = connection(db)
    people: dict[RecordKey, uuid.UUID] = {}
    records: dict[uuid.UUID, dict[System, RecordKey]] = {}
    also: dict[uuid.UUID, list[RecordKey]] = {}
    bereft: set[uuid.UUID] = set()
    deleted = LinkReason.DELETED.value
    by_object = keys_by_object(keys)
    systems = _SYSTEMS
    for (system, obj), ids in by_object.items():
        rows = _PAGE_LINKS.rows(
            conn, list(ids), system=system.value, object=obj, associated=associated
        )
        for record_id, person_id, active, linked_system, linked_object, linked_id, why in rows:
            people[ids.get(record_id) or RecordKey(system, obj, record_id)] = person_id
            others = also.get(person_id)
            if others is None:
                others = also[person_id] = []
            if linked_id is None:  # the person has no other link to read
                continue
            kind = systems[linked_system]
            given = by_object.get((kind, linked_object))
            key = (given.get(linked_id) if given is not None else None) or RecordKey(
                kind, linked_object, linked_id
            )
            if not active:
                if why == deleted:
                    bereft.add(person_id)
                if linked_object == associated and key not in others:  # two keys, one person
                    others.append(key)
                continue
            found = records.get(person_id)
            if found is None:
                found = records[person_id] = {}
            found[kind] = key
    return PageLinks(people, records, also if associated is not None else {}, bereft)


def _page_links() -> AnySelect:
    given, linked = aliased(IdentityLink), aliased(IdentityLink)
    return (
        select(
            given.record_id,
            given.person_id,
            linked.active,
            linked.system,
            linked.object,
            linked.record_id,
            linked.reason,
        )
        .select_from(given)
        .outerjoin(
            linked,
            (linked.person_id == given.person_id)
            & (
                linked.active
                | (linked.object == bindparam("associated", type_=String))
                | (linked.reason == LinkReason.DELETED.value)
            ),
        )
        .where(
            given.system == bindparam("system"),
            given.object == bindparam("object"),
            given.record_id.in_(bindparam("ids", expanding=True)),
        )
    )


_PAGE_LINKS = Lookup(lambda _: _page_links(), "ids", ("system", "object", "associated"))


def any_linked(db: Db, system: System, obj: str, *, before: datetime) -> bool:
    """Whether any record of this system's object was linked before `before` (one probe)."""
    query = (
        select(IdentityLink.record_id)
        .where(
            IdentityLink.system == system.value,
            IdentityLink.object == obj,
            IdentityLink.linked_at < before,
        )
        .limit(1)
    )
    return connection(db).execute(query).first() is not None


def active_links_for(
    db: Db, person_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, dict[System, Link]]:
    """Current records of a page of people, one query per chunk (the engine's hot path)."""
    conn = connection(db)
    found: dict[uuid.UUID, dict[System, Link]] = defaultdict(dict)
    for chunk in chunked(list(dict.fromkeys(person_ids))):
        rows = conn.execute(
            select(*_LINK_COLUMNS).where(IdentityLink.person_id.in_(chunk), IdentityLink.active)
        )
        for link_ in map(_link, rows):
            found[link_.person_id][link_.key.system] = link_
    return dict(found)


def one_sided(
    db: Db, *, after: RecordKey | None = None, limit: int = 500, system: System | None = None
) -> list[Link]:
    """Active links of people linked in exactly one system (that one, when `system` is given),
    in key order from `after` (for the creation pass after a backfill: who still lacks a
    counterpart)."""
    conn = connection(db)
    counts = (
        select(IdentityLink.person_id)
        .where(IdentityLink.active)
        .group_by(IdentityLink.person_id)
        .having(func.count() == 1)
        .subquery()
    )
    query = select(*_LINK_COLUMNS).where(
        IdentityLink.active, IdentityLink.person_id.in_(select(counts.c.person_id))
    )
    if system is not None:
        query = query.where(IdentityLink.system == system.value)
    if after is not None:
        query = query.where(
            tuple_(IdentityLink.system, IdentityLink.object, IdentityLink.record_id)
            > tuple_(literal(after.system.value), literal(after.object), literal(after.id))
        )
    query = query.order_by(IdentityLink.system, IdentityLink.object, IdentityLink.record_id)
    return [_link(row) for row in conn.execute(query.limit(limit))]


def active_links_of(
    db: Db, system: System, obj: str, *, after: str | None = None, limit: int = 500
) -> list[Link]:
    """Active links to records of one object, in record id order from `after` (a page at a
    time: reconciliation reads every linked record again)."""
    query = select(*_LINK_COLUMNS).where(
        IdentityLink.active,
        IdentityLink.system == system.value,
        IdentityLink.object == obj,
    )
    if after is not None:
        query = query.where(IdentityLink.record_id > after)
    query = query.order_by(IdentityLink.record_id).limit(limit)
    return [_link(row) for row in connection(db).execute(query)]


def associate(
    db: Db,
    links: Sequence[tuple[uuid.UUID, RecordKey, LinkReason]],
    *,
    at: datetime | None = None,
) -> None:
    """Record that these records belong to a person without making them its active record
    (an inactive link): a converted Lead's Opportunity, or one found by its contact role,
    whose changes must find the person again. Keys already linked are left as they are."""
    if not links:
        return
    when = at or utcnow()
    _ASSOCIATE.execute(
        connection(db),
        [
            (person_id, key.system.value, key.object, key.id, False, reason.value, when, None)
            for person_id, key, reason in links
        ],
    )


def associated(
    db: Db, person_ids: Iterable[uuid.UUID], obj: str
) -> dict[uuid.UUID, list[RecordKey]]:
    """The inactive links of a page of people on one object (e.g. their Opportunities)."""
    conn = connection(db)
    found: dict[uuid.UUID, list[RecordKey]] = defaultdict(list)
    for row in _ASSOCIATED.rows(conn, list(dict.fromkeys(person_ids)), object=obj):
        link_ = _link(row)
        found[link_.person_id].append(link_.key)
    return dict(found)


_ASSOCIATED = Lookup(
    lambda _: select(*_LINK_COLUMNS).where(
        IdentityLink.person_id.in_(bindparam("people", expanding=True)),
        IdentityLink.object == bindparam("object"),
        IdentityLink.active.is_(False),
    ),
    "people",
    ("object",),
)


def end_links(db: Db, keys: Iterable[RecordKey], *, at: datetime | None = None) -> None:
    """Deactivate the links of records that no longer exist (a propagated delete), with reason
    `deleted`: the rows stay, still naming their person, so the deletion read later finds an
    inactive link and does nothing, and a record restored later is known for one. Keys without
    a link, or already inactive, are left alone."""
    when = at or utcnow()
    conn = connection(db)
    for (system, obj), ids in keys_by_object(keys).items():
        for chunk in chunked(list(ids)):
            conn.execute(
                update(IdentityLink)
                .where(
                    IdentityLink.system == system.value,
                    IdentityLink.object == obj,
                    IdentityLink.record_id.in_(chunk),
                    IdentityLink.active,
                )
                .values(active=False, unlinked_at=when, reason=LinkReason.DELETED.value)
            )


def deleted_links(
    db: Db, person_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, list[tuple[RecordKey, datetime | None]]]:
    """The records of these people whose links a propagated delete ended (`end_links`), each
    with when it ended."""
    return _links_made_for(db, person_ids, LinkReason.DELETED, active=False)


def restored_links(
    db: Db, person_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, list[tuple[RecordKey, datetime | None]]]:
    """The records of these people that came back from a recycle bin as theirs, whether still
    their record or not (a restored Lead converted since), each with when it came back."""
    return _links_made_for(db, person_ids, LinkReason.RESTORED)


def _links_made_for(
    db: Db, person_ids: Iterable[uuid.UUID], reason: LinkReason, *, active: bool | None = None
) -> dict[uuid.UUID, list[tuple[RecordKey, datetime | None]]]:
    """Links of these people last made (or ended, for `deleted`) for `reason`, with that
    time: when linked, or for an inactive link when it ended."""
    wanted = list(dict.fromkeys(person_ids))
    conn = connection(db)
    found: dict[uuid.UUID, list[tuple[RecordKey, datetime | None]]] = {}
    columns = (
        IdentityLink.person_id,
        IdentityLink.system,
        IdentityLink.object,
        IdentityLink.record_id,
        IdentityLink.linked_at,
        IdentityLink.unlinked_at,
    )
    for chunk in chunked(wanted):
        query = select(*columns).where(
            IdentityLink.person_id.in_(chunk), IdentityLink.reason == reason.value
        )
        if active is not None:
            query = query.where(IdentityLink.active.is_(active))
        for pid, system, obj, record_id, linked_at, unlinked_at in conn.execute(query):
            at = unlinked_at if reason is LinkReason.DELETED else linked_at
            found.setdefault(pid, []).append((RecordKey(System(system), obj, record_id), at))
    return found
