"""Reconciliation: linked records gone without a trace a poll could read.

Polls learn of deletes from the recycle bins (Salesforce `queryAll`, HubSpot's archived
listing). A record purged before a poll read it leaves nothing to read: Salesforce empties its
bin after 15 days (an admin sooner, a hard delete at once), HubSpot keeps 90 days, and a daemon
that was down longer misses them. Its link would stay active for good, its person waiting on a
record that is not there. Reconciliation reads every actively linked record again by id and
hands back those the system no longer has, as deleted records to sync like any other: flagged,
or propagated with the policy (purged: a delete refused for now is kept as a dead letter, no
bin will bring it back). A merge the read finds (a HubSpot merged-away id's stub, a Salesforce
bin row naming its master) is synced as the merge it is.

Lost access reads the same as a mass delete (a Salesforce sharing rule or another integration
user hides records; a token for another HubSpot portal finds none of them), so an object where
more than `Guard.share` of the linked records vanish at once (and more than `Guard.least`) is
refused whole, with a line that says what to check.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine

from connectors.records import RecordKey, SourceRecord, System
from sync.deletes import FLAGGED
from sync.store.decisions import noted_records
from sync.store.links import active_links_of

Read = Callable[[Sequence[RecordKey]], list[SourceRecord]]


@dataclass(frozen=True, slots=True)
class Guard:
    """How many vanished records of one object are taken for deletes rather than lost access."""

    share: float = 0.1  # of the object's linked records
    least: int = 50  # up to this many always pass (a small org's ordinary deletes)

    def refuses(self, vanished: int, linked: int) -> bool:
        return vanished > self.least and vanished > self.share * linked


class TooManyVanished(Exception):
    """An object lost more linked records at once than `Guard` takes for deletes."""


class ReconcileStopped(BaseException):
    """A stop was asked for (SIGTERM): the reconciliation ends at the page in hand, its run is
    recorded as interrupted, and the next process begins it again."""


@dataclass(slots=True)
class Vanished:
    """One object's linked records the system no longer has (`records`, as deleted records to
    sync), of `linked` read; `purged` are in no bin at all."""

    linked: int = 0
    records: list[SourceRecord] = field(default_factory=list)
    purged: set[RecordKey] = field(default_factory=set)

    @property
    def deletes(self) -> int:
        """The records that vanished for good or to a bin (merges are not deletes)."""
        return sum(not r.merged_into for r in self.records)


def vanished(
    db: Engine,
    read: Read,
    system: System,
    obj: str,
    *,
    now: datetime,
    stopping: Callable[[], bool] = lambda: False,
    page: int = 500,
) -> Vanished:
    """Every active link to `obj` read again by id, a page at a time; a delete already
    flagged (its link kept, by policy) is not handed back again. Raises `ReconcileStopped`
    between pages once `stopping()`."""
    found = Vanished()
    people: dict[RecordKey, uuid.UUID] = {}
    after: str | None = None
    while True:
        if stopping():
            raise ReconcileStopped(f"stopped while reading {system}:{obj}")
        with db.connect() as conn:
            links = active_links_of(conn, system, obj, after=after, limit=page)
        if not links:
            break
        after = links[-1].key.id
        found.linked += len(links)
        wanted = {link_.key: link_.person_id for link_ in links}
        seen: set[RecordKey] = set()
        for record in read(list(wanted)):
            if record.key not in wanted:
                continue  # a survivor a merged-away id resolved to: its stub says so
            seen.add(record.key)
            if record.deleted:
                found.records.append(record)
                people[record.key] = wanted[record.key]
        for key, pid in wanted.items():
            if key not in seen:
                found.records.append(SourceRecord(key, {}, now, deleted=True))
                found.purged.add(key)
                people[key] = pid
    if people:
        with db.connect() as conn:
            flagged = noted_records(conn, people, FLAGGED)
        found.records = [r for r in found.records if r.key not in flagged]
        found.purged -= flagged
    return found
