"""The unit of work: sync the people of a batch of records, in one transaction.

Map the records, resolve identities, read each person's other side (and a converted Lead's
Opportunity) by id, find the person of an Opportunity linked to no one by its contact role (one
query per unit: `sync.following`), plan per person, send the writes in batches, then
commit links, snapshots, decisions, dead letters, funnel transitions and the page's checkpoint
in ONE transaction. A crash before that commit replays the unit: reads are repeatable, creates
are upserts on the cross-system id (or email) and person ids are deterministic, so nothing is
duplicated and the echo of a write already made plans nothing; a create is also kept as pending
until a commit settles it (`sync.store.pending`), so the record it made is found and planned
against, never overwritten with the source's old values, and so is an update, so its echo is
Baton's own, not an edit newer than one made meanwhile. No state survives between calls, so
units can later run on several workers (webhooks and retries feed them through
`SyncEngine.sync_keys`).

Funnel history (`sync.entries`) is worked out only for people whose records say something new
(a write, or values that differ from a snapshot): what an unchanged snapshot said was recorded
when that snapshot was taken, so a steady poll costs the history nothing.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy

from connectors.protocol import Connector
from connectors.records import FieldValue, RecordKey, SourceRecord, System
from mappings.apply import PERSON_OBJECTS, Mapper
from sync import collector, deletes
from sync.commit import POSITION, Committer, handoff_notes, keep_landed, letter_key
from sync.execute import Result, send
from sync.gather import Gathered, Gatherer, as_planned, twins_in_bins
from sync.identity import Identity, IdentityRaced
from sync.plan import PersonPlan, Planner, Side, Write
from sync.report import CycleReport, PlannedWrite
from sync.store import dead_letters as letters_repo
from sync.store.checkpoints import advance_checkpoint
from sync.store.decisions import unrepeated
from sync.store.engine import for_reading
from sync.store.locks import UNIT_COMMITS, UNIT_RUNS, held, hold
from sync.store.pending import (
    Baseline,
    PendingCreate,
    PendingUpdate,
    hold_creates,
    hold_updates,
)
from sync.twins import TwinCache

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a page ends, for the checkpoint advanced in the page's transaction."""

    system: System
    object: str
    modified_at: datetime
    id: str


class Worker:
    """Runs units of work against both connectors and the store."""

    def __init__(
        self,
        *,
        connectors: Mapping[System, Connector],
        mapper: Mapper,
        planner: Planner,
        db: sqlalchemy.Engine,
        now: Callable[[], datetime],
        propagate_deletes: bool = False,
    ) -> None:
        self.connectors = connectors
        self.mapper = mapper
        self.planner = planner
        self.db = db
        self.reader = for_reading(db)
        self.now = now
        self.gatherer = Gatherer(
            connectors=connectors,
            mapper=mapper,
            planner=planner,
            read=self.read,
            propagate_deletes=propagate_deletes,  # see sync.deletes
        )
        self.committer = Committer(planner=planner)

    # -- reading ---------------------------------------------------------------------------------

    def read(self, keys: Iterable[RecordKey], twins: TwinCache | None = None) -> list[SourceRecord]:
        """The records of `keys`: those `twins` still holds, the rest read by id."""
        wanted = list(dict.fromkeys(keys))
        records: list[SourceRecord] = []
        if twins is not None:
            kept = twins.take(wanted)
            records.extend(kept.values())
            wanted = [key for key in wanted if key not in kept]
        by_object: dict[tuple[System, str], list[str]] = {}
        for key in wanted:
            by_object.setdefault((key.system, key.object), []).append(key.id)
        for (system, obj), ids in by_object.items():
            records.extend(self.connectors[system].read_by_ids(obj, list(dict.fromkeys(ids))))
        return records

    # -- the unit of work ------------------------------------------------------------------------

    def run(
        self,
        records: Sequence[SourceRecord],
        *,
        trigger: str,
        dry_run: bool,
        run_id: uuid.UUID | None,
        allow_create: bool = True,
        cursor: Cursor | None = None,
        carry: Identity | None = None,
        fast: bool = False,
        twins: TwinCache | None = None,
        retrying: bool = False,
        purged: Collection[RecordKey] = (),
        look_first: bool = False,
        waits_as_letters: bool = False,
        unpropagated: Collection[RecordKey] = (),
    ) -> tuple[CycleReport, bool]:
        """Sync the people of `records`; returns the report and whether the page is blocked
        (a write to retry later: the checkpoint stays, so the page is read again). With
        `twins`, records are taken from it before reading by id, and the Salesforce records
        of people still without a HubSpot record are kept in it (see `sync.twins`).
        `retrying` (a retry of dead letters) sends even writes an open letter refused with the
        same payload, and keeps a write refused for now as a letter (no page will be read
        again to send it). `purged`: records deleted for good (a privacy deletion a webhook
        told of), in no recycle bin a poll would read them from: a delete they call for that
        is refused for now is kept as a letter too. `look_first` (records read by id, with no
        listing of the other system behind them: webhooks, retries): before a create is sent,
        the records it would land on or duplicate are looked up (`_unseen_matches`), and found
        ones join the unit, so their person is synced as a pair rather than created over.
        `waits_as_letters`: a write refused for now is kept as a dead letter, as when
        `retrying`, and does not block the page (its object was held too long by such
        writes: `SyncPolicy.wait_limit`). `unpropagated`: deleted records whose deletion is
        flagged even with propagation on (a Salesforce record not found by id may be hidden
        from the integration user, not deleted).

        A unit that writes runs alone among the processes on the store (`UNIT_RUNS`): its
        writes are out before its commit stores their snapshots, and another process's unit
        planned in between would take them for edits (a conflict, an edit made after them
        overwritten)."""
        with collector.paused(), nullcontext() if dry_run else held(self.db, UNIT_RUNS):
            return self._run(
                records,
                trigger=trigger,
                dry_run=dry_run,
                run_id=run_id,
                allow_create=allow_create,
                cursor=cursor,
                carry=carry,
                fast=fast,
                twins=twins,
                retrying=retrying,
                purged=purged,
                look_first=look_first,
                waits_as_letters=waits_as_letters,
                unpropagated=unpropagated,
            )

    def _run(
        self,
        records: Sequence[SourceRecord],
        *,
        trigger: str,
        dry_run: bool,
        run_id: uuid.UUID | None,
        allow_create: bool,
        cursor: Cursor | None,
        carry: Identity | None,
        fast: bool,
        twins: TwinCache | None,
        retrying: bool,
        purged: Collection[RecordKey],
        look_first: bool,
        waits_as_letters: bool,
        unpropagated: Collection[RecordKey],
    ) -> tuple[CycleReport, bool]:
        report = CycleReport()
        now = self.now()
        if carry is not None and carry.planned:
            records = as_planned(records, carry.planned, now)
        latest: dict[RecordKey, SourceRecord] = {}
        kinds = Counter((record.key.system, record.key.object) for record in records)
        for (system, obj), count in kinds.items():
            report.read[f"{system}:{obj}"] += count
        for record in records:
            seen = latest.get(record.key)
            if seen is None or record.modified_at >= seen.modified_at:
                latest[record.key] = record
        contacts_made = allow_create and self.planner.policy.create_contacts_from_salesforce
        # Asked of Salesforce once per unit: see `Follower.follow_contact_roles` and
        # `Follower.follow_made_by_conversions`.
        roles: dict[str, str | None] = {}
        converted: dict[str, tuple[str, ...]] = {}
        for last_look in (not look_first, True):
            found = CycleReport()  # what gathering says, kept once the plans are final
            with self.reader.connect() as conn:
                gathered = self.gatherer.gather(
                    conn,
                    list(latest.values()),
                    found,
                    trigger,
                    run_id,
                    now,
                    carry,
                    fast=fast,
                    twins=twins,
                    contacts_made=contacts_made,
                    unpropagated=unpropagated,
                    roles=roles,
                    converted=converted,
                )
            plans = self._plan(gathered, allow_create=allow_create, now=now)
            unseen = [] if last_look else self._unseen_matches(gathered, plans, latest)
            if not unseen:
                break
            for record in unseen:
                latest[record.key] = record
                report.read[f"{record.key.system}:{record.key.object}"] += 1
        report += found
        plans = self._spare_binned_twins(gathered, plans, trigger, now, run_id)
        if twins is not None:
            twins.keep(_alone_in_salesforce(gathered, plans))
        for plan in plans:
            if not plan.writes:
                report.unchanged += 1
        if dry_run:
            self._rehearse(report, gathered, plans, carry, trigger, now)
            return report, False
        writes = [(plan.person_id, w) for plan in plans for w in plan.writes]
        refused = {} if retrying else self._refused(writes)
        held = _held(writes, refused)
        outgoing = [pw for n, pw in enumerate(writes) if n not in held]
        self._hold_sends(gathered, plans, outgoing, now)
        sent = send(self.connectors, outgoing)
        removed = deletes.send(self.connectors, gathered.deletions)
        if twins is not None:  # what this run changed: copies read before are stale
            twins.mark_written(
                RecordKey(s.write.key.system, s.write.key.object, s.id or s.write.key.id)
                for s in sent
            )
            twins.mark_written(d.twin for d in gathered.deletions if d.twin is not None)
        blocked = not waits_as_letters and (
            any(s.result is Result.RETRY for s in sent) or deletes.blocked(removed)
        )
        _count_moves(
            report,
            plans,
            carried={
                s.person_id
                for s in sent
                if s.result is Result.OK and not s.write.changes.keys().isdisjoint(POSITION)
            },
        )
        try:
            with self.db.begin() as tx:
                hold(tx, UNIT_COMMITS)
                self.committer.commit(
                    tx,
                    gathered,
                    plans,
                    sent,
                    report,
                    trigger,
                    run_id,
                    now,
                    held=[writes[n] for n in held],
                    refused=refused,
                    holding=_holding(writes, held),
                    waits_as_letters=retrying or waits_as_letters,
                )
                deletes.commit(
                    tx,
                    removed,
                    report,
                    trigger=trigger,
                    run_id=run_id,
                    now=now,
                    letter_retries=waits_as_letters,
                    purged=purged,
                )
                if cursor is not None and not blocked:
                    advance_checkpoint(
                        tx, cursor.system, cursor.object, cursor.modified_at, cursor.id, at=now
                    )
        except IdentityRaced as raced:
            # What was sent stands; the records are read again (the page is blocked, a
            # webhook's records come with the next poll), and the store's links then win.
            log.warning("unit not stored", extra={"kv": {"trigger": trigger, "why": str(raced)}})
            report.retry_later += 1
            return report, True
        return report, blocked

    def _unseen_matches(
        self,
        gathered: Gathered,
        plans: Sequence[PersonPlan],
        in_hand: Mapping[RecordKey, SourceRecord],
    ) -> list[SourceRecord]:
        """Live records, not in hand, that the creates of `plans` would land on (their upsert
        key) or duplicate (a person record with the person's email): a unit of records read
        by id has not listed the other system, and an upsert would overwrite one Baton has not
        read yet (a HubSpot contact made since the last poll, a lost store), or a create would
        make a second Lead beside a rep's. One lookup per object and key field."""
        lookups: dict[tuple[System, str, str], set[str]] = {}
        for plan in plans:
            for write in plan.writes:
                if not write.creates:
                    continue
                system = write.key.system
                upsert = write.fields.get(write.match_on) if write.match_on else None
                if write.match_on and upsert:
                    lookups.setdefault((system, write.key.object, write.match_on), set()).add(
                        str(upsert)
                    )
                for key in gathered.identity.records_of(plan.person_id).values():
                    person = gathered.people.get(key)
                    if person is None or not person.email:
                        continue
                    for obj in PERSON_OBJECTS[system]:
                        remote = self.mapper.remote(system, obj, "email")
                        if remote is not None:
                            lookups.setdefault((system, obj, remote), set()).add(person.email)
        found: dict[RecordKey, SourceRecord] = {}
        for (system, obj, name), values in lookups.items():
            for record in self.connectors[system].find_by(obj, name, sorted(values)):
                if not record.deleted and record.key not in in_hand:
                    found[record.key] = record
        return list(found.values())

    def _rehearse(
        self,
        report: CycleReport,
        gathered: Gathered,
        plans: Sequence[PersonPlan],
        carry: Identity | None,
        trigger: str,
        now: datetime,
    ) -> None:
        """A dry run's report of what the live run would send: writes a system already refused
        with this very payload are held back there (`_held`), so they are left out here too."""
        writes = [(plan.person_id, w) for plan in plans for w in plan.writes]
        held = _held(writes, self._refused(writes))
        going = [pw for n, pw in enumerate(writes) if n not in held]
        report.conflicts += sum(plan.conflicts for plan in plans)
        carried = {pid for pid, w in going if not w.changes.keys().isdisjoint(POSITION)}
        _count_moves(report, plans, carried=carried)
        report.planned = [_planned_write(w) for _, w in going]
        for _, write in going:
            bucket = report.created if write.creates else report.updated
            bucket[f"{write.key.system}:{write.key.object}"] += 1
            if carry is not None and not write.creates:  # later units see it as written
                carry.planned.setdefault(write.key, {}).update(write.fields)
        deletes.rehearse(report, gathered.deletions)
        with self.reader.connect() as conn:  # what a live run would note as new
            noted = unrepeated(conn, handoff_notes(plans, trigger, now, None))
        report.not_handed_off += len(noted)

    def _refused(
        self, writes: Sequence[tuple[uuid.UUID, Write]]
    ) -> dict[RecordKey, tuple[int, Mapping[str, FieldValue]]]:
        """The open dead letters of the records these writes are for (by letter key: a
        create's is "new:<person>"), with their ids and refused payloads."""
        if not writes:
            return {}
        with self.reader.connect() as conn:
            return letters_repo.open_letters(conn, [letter_key(pid, w) for pid, w in writes])

    def _hold_sends(
        self,
        gathered: Gathered,
        plans: Sequence[PersonPlan],
        writes: Sequence[tuple[uuid.UUID, Write]],
        now: datetime,
    ) -> None:
        """Keep the writes about to be sent, committed before sending (`sync.store.pending`):
        each create with the record it was made from as read (before this unit's own write to
        it: a replay then sees that write's echo, not an edit), and each updated person's
        records as this unit's commit would store them; what the lost commits of updates this
        unit found landed would have stored is stored first (`keep_landed`)."""
        creates: list[PendingCreate] = []
        updated: dict[uuid.UUID, list[Write]] = {}
        for pid, w in writes:
            if not w.creates:
                updated.setdefault(pid, []).append(w)
                continue
            value = w.fields.get(w.match_on) if w.match_on else None
            if w.match_on is None or value is None:
                continue
            source = None
            for system, key in gathered.identity.records_of(pid).items():
                record = gathered.records.get(key)
                if system is not w.key.system and record is not None and key in gathered.values:
                    source = Baseline(key, gathered.values[key], record.modified_at)
            creates.append(
                PendingCreate(
                    pid, w.key.system, w.key.object, w.match_on, str(value), w.expected, source
                )
            )
        stalled = gathered.stalled  # their commit keeps the old snapshots: nothing to stand in for
        updates = [
            update
            for plan in plans
            if plan.person_id in updated and plan.person_id not in stalled
            for update in _as_committed(gathered, plan, updated[plan.person_id])
        ]
        if creates or updates:
            with self.db.begin() as tx:
                keep_landed(tx, gathered, plans, at=now)
                hold_creates(tx, creates, at=now)
                hold_updates(tx, updates, at=now)

    def _plan(
        self,
        gathered: Gathered,
        *,
        allow_create: bool,
        now: datetime,
        only: Collection[uuid.UUID] | None = None,
    ) -> list[PersonPlan]:
        """A plan per touched person (or only these)."""
        identity = gathered.identity
        # Records of a person that are no longer its active ones (a converted Lead) still say
        # where the person stands in the funnel: their signals join the resolution.
        former: dict[uuid.UUID, list[SourceRecord]] = {}
        for key, pid in identity.person_of.items():
            record = gathered.records.get(key)
            if record is not None and identity.counterpart(pid, key.system) != key:
                former.setdefault(pid, []).append(record)
        plans = []
        for pid in gathered.touched if only is None else only:
            records = identity.records_of(pid)
            plans.append(
                self.planner.plan(
                    pid,
                    _side(gathered, records.get(System.HUBSPOT)),
                    _side(gathered, records.get(System.SALESFORCE)),
                    opportunities=former.get(pid, ()),
                    allow_create=allow_create and pid not in gathered.no_create,
                    now=now,
                )
            )
        return plans

    def _spare_binned_twins(
        self,
        gathered: Gathered,
        plans: list[PersonPlan],
        trigger: str,
        now: datetime,
        run_id: uuid.UUID | None,
    ) -> list[PersonPlan]:
        """Plans that would create a twin for a record restored from a recycle bin while its
        old twin is still in the other system's bin, planned again without the create (see
        `twins_in_bins`). Only plans that create are checked: the store is asked once, rarely."""
        creating = [p.person_id for p in plans if any(w.creates for w in p.writes)]
        if not creating:
            return plans
        with self.reader.connect() as conn:
            binned = twins_in_bins(
                conn, gathered.identity, creating, gathered.notes, trigger, now, run_id
            )
        if not binned:
            return plans
        gathered.no_create |= binned
        gathered.binned |= binned
        again = {
            p.person_id: p for p in self._plan(gathered, allow_create=False, now=now, only=binned)
        }
        return [again.get(p.person_id, p) for p in plans]


def _count_moves(
    report: CycleReport, plans: Sequence[PersonPlan], *, carried: Collection[uuid.UUID]
) -> None:
    """Count the funnel moves of the people a write moving their position went through for
    (`carried`; in a dry run, was planned for). A refused or held write moved nobody, and a
    rerun sending it again must not report the move again."""
    for plan in plans:
        if plan.stage_move and plan.person_id in carried:
            report.stage_moves[plan.stage_move] += 1


def _side(gathered: Gathered, key: RecordKey | None) -> Side | None:
    """A person's record in one system, ready to plan (None: none, or it could not be read)."""
    record = gathered.records.get(key) if key is not None else None
    if key is None or record is None:
        return None
    return Side(record, gathered.people[key], gathered.values[key], gathered.snapshots.get(key))


def _alone_in_salesforce(gathered: Gathered, plans: Sequence[PersonPlan]) -> list[SourceRecord]:
    """The Salesforce records of planned people who have no HubSpot record, unless this unit
    writes to them or deletes them (what they hold would then be stale)."""
    identity = gathered.identity
    changed = {w.key for plan in plans for w in plan.writes}
    changed.update(d.twin for d in gathered.deletions if d.twin is not None)
    alone: list[SourceRecord] = []
    for plan in plans:
        if identity.counterpart(plan.person_id, System.HUBSPOT) is not None:
            continue
        key = identity.counterpart(plan.person_id, System.SALESFORCE)
        record = gathered.records.get(key) if key is not None else None
        if record is not None and key not in changed:
            alone.append(record)
    return alone


def _held(
    writes: Sequence[tuple[uuid.UUID, Write]],
    refused: Mapping[RecordKey, tuple[int, Mapping[str, FieldValue]]],
) -> dict[int, int]:
    """Writes (by index, with the letter's id) the system already refused with this very
    payload (an open dead letter): sending them again cannot pass, so they wait for the data
    to change or for `retry_dead_letters`; their people keep their snapshots, so nothing is
    lost."""
    held: dict[int, int] = {}
    if not refused:
        return held
    for n, (pid, w) in enumerate(writes):
        letter = refused.get(letter_key(pid, w))
        if letter is not None and dict(letter[1]) == dict(w.fields):
            held[n] = letter[0]
    return held


def _holding(
    writes: Sequence[tuple[uuid.UUID, Write]], held: Mapping[int, int]
) -> dict[tuple[uuid.UUID, str], int]:
    """The fields (per person) of the writes held back, each with its open dead letter's id:
    their decisions are not changes made (`_told`). A create held carries its "record"
    decision too (the record it would have made)."""
    holding: dict[tuple[uuid.UUID, str], int] = {}
    for n, letter_id in held.items():
        pid, write = writes[n]
        for name in [*write.changes, *(["record"] if write.creates else [])]:
            holding[pid, name] = letter_id
    return holding


def _planned_write(write: Write) -> PlannedWrite:
    return PlannedWrite(
        write.key.id or "new",
        write.key.system,
        write.key.object,
        dict(write.changes),
        write.reason,
    )


def _as_committed(
    gathered: Gathered, plan: PersonPlan, updates: Sequence[Write]
) -> list[PendingUpdate]:
    """The snapshots a commit of these updates would store for the person's records: each
    updated record as written (at the modification time it was planned against, as the commit
    stamps it), each other record as read."""
    pid = plan.person_id
    kept: list[PendingUpdate] = []
    for w in updates:
        record = gathered.records.get(w.key)
        at = record.modified_at if record is not None else None
        kept.append(PendingUpdate(pid, Baseline(w.key, w.expected, at), tuple(w.changes)))
    written = {w.key for w in updates}
    kept.extend(
        PendingUpdate(pid, Baseline(key, values, modified))
        for key, (values, modified) in plan.seen.items()
        if key not in written
    )
    return kept
