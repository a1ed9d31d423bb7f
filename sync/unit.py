"""The unit of work: sync the people of a batch of records, in one transaction.

Map the records, resolve identities, read each person's other side (and a converted Lead's
Opportunity) by id, find the person of an Opportunity linked to no one by its contact role (one
query per unit: `_follow_contact_roles`), plan per person, send the writes in batches, then
commit links, snapshots, decisions, dead letters, funnel transitions and the page's checkpoint
in ONE transaction. A crash before that commit replays the unit: reads are repeatable, creates
are upserts on the cross-system id (or email) and person ids are deterministic, so nothing is
duplicated and the echo of a write already made plans nothing; a create is also kept as pending
until a commit settles it (`sync.store.pending`), so the record it made is found and planned
against, never overwritten with the source's old values. No state survives between calls, so
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
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from itertools import compress

import sqlalchemy
from sqlalchemy import Connection

from connectors.protocol import Connector
from connectors.records import ContactRole, FieldValue, RecordKey, SourceRecord, System
from mappings.apply import (
    CONTACT,
    LEAD,
    OPPORTUNITY,
    PERSON_OBJECTS,
    Mapper,
    addresses,
    converted_lead,
)
from mappings.model import FUNNEL_STAGE, Person
from sync import collector, deletes
from sync.changes import LIFECYCLE_FIELD, any_changed
from sync.entries import REJECTIONS, explanation, first_entries, history_changed, history_values
from sync.execute import Result, Sent, send
from sync.identity import (
    IDENTITY_FIELD,
    Ambiguity,
    Identity,
    IdentityRaced,
    ambiguous_rule,
    parse_baton_id,
)
from sync.plan import (
    LEAD_STATUS,
    OUTCOME_REASON,
    FieldDecision,
    PersonPlan,
    Planner,
    Side,
    Write,
)
from sync.report import CycleReport, PlannedWrite
from sync.store import dead_letters as letters_repo
from sync.store.addresses import addresses_of, keep_addresses
from sync.store.checkpoints import advance_checkpoint
from sync.store.dead_letters import Direction, NewDeadLetter
from sync.store.decisions import (
    Decision,
    held_rule,
    latest_of_fields,
    note_about,
    people_with_rule,
    record_decisions,
    unheld,
    unrepeated,
)
from sync.store.engine import for_reading
from sync.store.links import (
    Link,
    LinkReason,
    active_keys_for,
    associated,
    deleted_links,
    find_links,
    restored_links,
)
from sync.store.locks import UNIT_COMMITS, UNIT_RUNS, held, hold
from sync.store.pending import (
    Baseline,
    PendingCreate,
    forget_creates,
    hold_creates,
    pending_creates,
)
from sync.store.people import people_by_emails, set_emails
from sync.store.snapshots import (
    UNREAD,
    SnapshotWrite,
    put_snapshots,
    snapshot_states,
    snapshot_values,
    touch_snapshots,
    unread_snapshots,
)
from sync.store.transitions import (
    Explanation,
    Transition,
    explain_rejections,
    record_transitions,
    recorded_stages,
    unexplained_rejections,
)
from sync.twins import TwinCache
from sync.values import OUTCOME, STAGE, Values

log = logging.getLogger(__name__)

POSITION = (STAGE, OUTCOME)  # the canonical values a funnel move writes
FUNNEL_MOVED = frozenset({*POSITION, FUNNEL_STAGE})  # a write's changes that say it moved one

NEW_PREFIX = "new:"  # dead letters of creates: "new:<person id>"
EMAIL = "email"  # the canonical field people are matched on (`Identity.resolve`)
WRITE_WARNING = "write_warning"  # the rule of a note saying what a write cut (`Write.warnings`)
EMAIL_TAKEN = "email_taken"  # the rule of a note saying why a person gets no HubSpot contact
#: The rule of a note saying a record was linked, or moved, to a person by an address the
#: person's record in the other system keeps (`sync.identity.Addressed`).
ADDITIONAL_EMAIL = "additional_email"
#: The rule of a note saying why a HubSpot contact at MQL or later gets no Salesforce Lead
#: (`PersonPlan.not_handed_off`): logged once per change, counted in `CycleReport.not_handed_off`.
NOT_HANDED_OFF = "not_handed_off"
#: Lead fields the conversion is followed from (`_follow_conversions`): part of the digest.
CONVERSION_FIELDS = ("ConvertedContactId", "ConvertedOpportunityId")
OPPORTUNITY_ID = CONVERSION_FIELDS[1]  # a converted Lead's Opportunity
_EPOCH = datetime.min.replace(tzinfo=UTC)  # orders contact roles without a creation time


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a page ends, for the checkpoint advanced in the page's transaction."""

    system: System
    object: str
    modified_at: datetime
    id: str


@dataclass
class _Gathered:
    """One unit's reads: records by key, their people, identities, snapshots."""

    identity: Identity
    records: dict[RecordKey, SourceRecord]
    people: dict[RecordKey, Person]
    values: dict[RecordKey, Values]
    snapshots: dict[RecordKey, Values]
    touched: list[uuid.UUID]
    no_create: set[uuid.UUID]
    notes: list[Decision] = field(default_factory=list)
    seen_at: dict[RecordKey, datetime | None] = field(default_factory=dict)
    quiet: dict[RecordKey, datetime] = field(default_factory=dict)  # see Worker._quiet
    restamp: dict[RecordKey, Values] = field(default_factory=dict)  # quiet, snapshot to renew
    digests: dict[RecordKey, str] = field(default_factory=dict)  # Mapper.source_digest
    deletions: list[deletes.Deletion] = field(default_factory=list)
    unreadable: dict[RecordKey, uuid.UUID] = field(default_factory=dict)  # and their people
    pending: set[tuple[uuid.UUID, System]] = field(default_factory=set)  # see `_found_creates`
    assumed: set[RecordKey] = field(default_factory=set)  # snapshots only a pending create kept
    inherited: set[RecordKey] = field(default_factory=set)  # survivors' baselines (merges)
    binned: set[uuid.UUID] = field(default_factory=set)  # waiting for a twin in a bin (`_binned`)
    # HubSpot contacts whose addresses changed since kept (none: deleted), to keep (`_addresses`)
    addresses: dict[RecordKey, frozenset[str]] = field(default_factory=dict)


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
        self.propagate_deletes = propagate_deletes  # see sync.deletes
        self.mapper = mapper
        self.planner = planner
        self.db = db
        self.reader = for_reading(db)
        self.now = now
        self.history = history_values(planner.dictionary.fields)  # see `_commit`

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
            records = _as_planned(records, carry.planned, now)
        latest: dict[RecordKey, SourceRecord] = {}
        kinds = Counter((record.key.system, record.key.object) for record in records)
        for (system, obj), count in kinds.items():
            report.read[f"{system}:{obj}"] += count
        for record in records:
            seen = latest.get(record.key)
            if seen is None or record.modified_at >= seen.modified_at:
                latest[record.key] = record
        contacts_made = allow_create and self.planner.policy.create_contacts_from_salesforce
        roles: dict[str, str | None] = {}  # asked once per unit: see `_follow_contact_roles`
        converted: dict[str, tuple[str, ...]] = {}  # the same: see `_follow_made_by_conversions`
        for last_look in (not look_first, True):
            found = CycleReport()  # what gathering says, kept once the plans are final
            with self.reader.connect() as conn:
                gathered = self._gather(
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
        self._hold_creates(gathered, outgoing, now)
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
                self._commit(
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
        gathered: _Gathered,
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
        gathered: _Gathered,
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
            noted = unrepeated(conn, _handoff_notes(plans, trigger, now, None))
        report.not_handed_off += len(noted)

    def _refused(
        self, writes: Sequence[tuple[uuid.UUID, Write]]
    ) -> dict[RecordKey, tuple[int, Mapping[str, FieldValue]]]:
        """The open dead letters of the records these writes are for (by letter key: a
        create's is "new:<person>"), with their ids and refused payloads."""
        if not writes:
            return {}
        with self.reader.connect() as conn:
            return letters_repo.open_letters(conn, [_letter_key(pid, w) for pid, w in writes])

    def _hold_creates(
        self, gathered: _Gathered, writes: Sequence[tuple[uuid.UUID, Write]], now: datetime
    ) -> None:
        """Keep the creates about to be sent, with the record each was made from as read
        (before this unit's own write to it: a replay then sees that write's echo, not an
        edit), committed before sending (`sync.store.pending`)."""
        creates: list[PendingCreate] = []
        for pid, w in writes:
            value = w.fields.get(w.match_on) if w.match_on else None
            if not w.creates or w.match_on is None or value is None:
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
        if creates:
            with self.db.begin() as tx:
                hold_creates(tx, creates, at=now)

    def _found_creates(
        self,
        conn: Connection,
        identity: Identity,
        people: Collection[uuid.UUID],
        in_hand: dict[RecordKey, SourceRecord],
        twins: TwinCache | None,
    ) -> list[PendingCreate]:
        """Creates for `people` no commit settled (the process died after sending them, or
        the person's writes failed): the records they made, found by their upsert key when
        not linked yet, are linked as created and put in hand (see `_made`)."""
        pending = pending_creates(conn, people)
        lookups: dict[tuple[System, str, str], dict[str, PendingCreate]] = {}
        for create in pending:
            if identity.counterpart(create.person_id, create.system) is None:
                lookup = lookups.setdefault((create.system, create.object, create.match_on), {})
                # One create per key: people sharing an email are ambiguous, never both made.
                lookup[_upsert_key(create.match_value)] = create
        for (system, obj, match_on), by_value in lookups.items():
            found = self.connectors[system].find_by(obj, match_on, list(by_value))
            owners = find_links(conn, [record.key for record in found]) if found else {}
            for record in found:
                made_by = by_value.get(_upsert_key(record.get(match_on)))
                if made_by is None or identity.counterpart(made_by.person_id, system) is not None:
                    continue
                owner = owners.get(record.key)
                if owner is not None and owner.person_id != made_by.person_id:
                    continue  # the upsert matched another person's record: see `_commit`
                if identity.person_of.get(record.key, made_by.person_id) != made_by.person_id:
                    continue  # this unit gave it to someone else
                identity.created(made_by.person_id, record.key)
                in_hand[record.key] = record
        # The record each create was made from: the lost commit linked it too (a person first
        # seen by that unit has no link yet, and a pass reading only the new record would plan
        # them one-sided and keep no baseline for it).
        ambiguous = {a.key for a in identity.ambiguous}  # reported as such: not claimed
        sources = {
            c.source.key: c.person_id
            for c in pending
            if c.source is not None
            and identity.counterpart(c.person_id, c.source.key.system) is None
            and c.source.key not in identity.person_of
            and c.source.key not in ambiguous
        }
        taken = find_links(conn, list(sources)) if sources else {}
        free = [key for key in sources if key not in taken]
        # Read now (the person's records would be read later anyway): a source deleted or
        # merged away since is not claimed, or the person would wait on it for good.
        live = {r.key: r for r in self.read(free, twins) if not r.deleted} if free else {}
        for key in free:
            pid = sources[key]
            if key in live and identity.counterpart(pid, key.system) is None:
                in_hand[key] = live[key]
                identity.claim(pid, key)
        return pending

    @staticmethod
    def _made(
        pending: Sequence[PendingCreate],
        identity: Identity,
        in_hand: Mapping[RecordKey, SourceRecord],
    ) -> list[tuple[RecordKey, PendingCreate]]:
        """Each unsettled create's record, now the person's and in hand: the one its upsert
        key names. What the create wrote becomes its snapshot (an edit made to it since is a
        change to carry, not something the source's values overwrite)."""
        made: list[tuple[RecordKey, PendingCreate]] = []
        for create in pending:
            key = identity.counterpart(create.person_id, create.system)
            record = in_hand.get(key) if key is not None else None
            if (
                key is not None
                and record is not None
                and key.object == create.object
                and _upsert_key(record.get(create.match_on)) == _upsert_key(create.match_value)
            ):
                made.append((key, create))
        return made

    def _gather(
        self,
        conn: Connection,
        records: list[SourceRecord],
        report: CycleReport,
        trigger: str,
        run_id: uuid.UUID | None,
        now: datetime,
        carry: Identity | None,
        *,
        fast: bool,
        twins: TwinCache | None = None,
        contacts_made: bool,
        unpropagated: Collection[RecordKey] = (),
        roles: dict[str, str | None] | None = None,
        converted: dict[str, tuple[str, ...]] | None = None,
    ) -> _Gathered:
        identity = carry or Identity(conn)
        identity.db = conn
        # A dry run's identity carries other units' ambiguities: this unit reports its own.
        met_before = len(identity.ambiguous)
        # Fast paths: a record read again at the modification time we last saw (the lookback's
        # overlap, a replayed page) or an older one (a resumed Bulk job's copy, read before
        # what we saw since), or whose mapped fields did not change (same source digest), has
        # nothing new to say; its person is synced when the other side changes, since that
        # change is read on its own.
        states = snapshot_states(conn, [r.key for r in records if not r.deleted]) if fast else {}
        live: list[SourceRecord] = []
        signals: list[SourceRecord] = []
        digests: dict[RecordKey, str] = {}
        quiet: dict[RecordKey, datetime] = {}
        as_stored: set[RecordKey] = set()  # digests as stored: their addresses kept as read
        for r in records:
            state = states.get(r.key)
            if r.deleted or (
                state is not None
                and state.source_modified_at is not None
                and state.source_modified_at >= r.modified_at
            ):
                continue
            if r.key.object == OPPORTUNITY:
                signals.append(r)
                continue
            digests[r.key] = digest = self.mapper.source_digest(r, CONVERSION_FIELDS)
            if state is not None and state.source_digest == digest:
                quiet[r.key] = r.modified_at
                as_stored.add(r.key)
            else:
                live.append(r)
        known = (
            {
                r.key: (state.values, state.source_modified_at)
                for r in live
                if (state := states.get(r.key)) is not None and state.source_digest != UNREAD
            }
            if fast
            else snapshot_values(conn, [r.key for r in live])
        )
        people = {r.key: self.mapper.to_person(r).value for r in live}
        values = {key: self.planner.values(person) for key, person in people.items()}
        restamp: dict[RecordKey, Values] = {}
        if fast:
            for same, modified in self._quiet(live, people, values, known).items():
                quiet[same] = modified
                if known[same][0] != values[same]:
                    restamp[same] = values[same]  # the date HubSpot stamped where one was due
            live = [r for r in live if r.key not in quiet]
        report.unchanged += len(quiet)
        notes: list[Decision] = []
        touched: dict[uuid.UUID, None] = {}
        # Merges first: the survivor must already be the person's record when it is resolved.
        merged, orphaned = self._follow_gone(
            conn,
            identity,
            records,
            people,
            touched,
            notes,
            report,
            trigger,
            now,
            run_id,
            twins,
            unpropagated,
        )
        earlier = len(identity.ambiguous)  # a dry run's identity carries other pages' too
        addressed = len(identity.addressed)
        identity.read_addresses(records)  # the quiet and deleted ones' too
        identity.resolve([(r, people[r.key]) for r in live])
        claims = [a for a in identity.ambiguous[earlier:] if a.holder is not None]
        holders = (
            self._succeed_gone(identity, claims, merged, notes, trigger, now, run_id, twins)
            if claims
            else {}
        )
        identity.regroup([(r, people[r.key]) for r in live])
        for moved in identity.addressed[addressed:]:
            notes.append(
                note_about(
                    moved.person_id,
                    IDENTITY_FIELD,
                    ADDITIONAL_EMAIL,
                    trigger,
                    now,
                    run_id,
                    moved.key,
                    moved.why,
                )
            )
        if signals:  # an Opportunity's change plans its person, with the person's records
            found = find_links(conn, [r.key for r in signals])
            identity.follow({key: link.person_id for key, link in found.items()})
            # A converted Lead in hand names its Opportunity: `_follow_conversions` links it.
            converting = {
                named
                for r in live
                if converted_lead(r) and isinstance(named := r.get(OPPORTUNITY_ID), str)
            }
            unlinked = [
                r.key
                for r in signals
                if r.key not in identity.person_of and r.key.id not in converting
            ]
            if unlinked:
                # A conversion's Opportunity is its Lead's person's, whatever its roles say.
                made = self._follow_made_by_conversions(
                    identity, unlinked, {} if converted is None else converted
                )
                unlinked = [key for key in unlinked if key not in made]
            if unlinked:
                self._follow_contact_roles(
                    identity,
                    unlinked,
                    {} if roles is None else roles,
                    notes,
                    trigger,
                    now,
                    run_id,
                )
        touched.update(
            dict.fromkeys(
                identity.person_of[r.key] for r in (*live, *signals) if r.key in identity.person_of
            )
        )
        for amb in identity.ambiguous[met_before:]:
            report.ambiguous += 1
            report.ambiguous_people.add(amb.person_id)
            notes.append(
                note_about(
                    amb.person_id,
                    IDENTITY_FIELD,
                    ambiguous_rule(amb.key.system),
                    trigger,
                    now,
                    run_id,
                    amb.key,
                    amb.why,
                )
            )
        # Quiet records stay in hand: a person planned for its other record must not read
        # them again.
        in_hand = {r.key: r for r in (*live, *signals)}
        in_hand.update((r.key, r) for r in records if r.key in quiet)
        for key, record in holders.items():
            in_hand.setdefault(key, record)
            digests.setdefault(key, self.mapper.source_digest(record, CONVERSION_FIELDS))
        pending = self._found_creates(conn, identity, touched, in_hand, twins)
        asked: set[uuid.UUID] = set()  # people whose Opportunities were already looked up
        sought: set[RecordKey] = set()  # records already read by id (found or not)
        for _ in range(3):
            extra = self._follow_conversions(
                identity, in_hand, touched, notes, trigger, now, run_id
            )
            ask = [pid for pid in touched if pid not in asked]
            asked.update(ask)
            # Opportunities came with most people's links (`Identity.resolve`); a new person
            # has none stored.
            unread = [
                p for p in ask if p not in identity.opportunities and p not in identity.new_people
            ]
            stored_opportunities = associated(conn, unread, OPPORTUNITY) if unread else {}
            for pid in ask:
                for opportunity in (
                    identity.opportunities.get(pid) or stored_opportunities.get(pid) or ()
                ):
                    identity.person_of.setdefault(opportunity, pid)
                    extra.add(opportunity)
            missing = {
                key
                for pid in touched
                for key in identity.records_of(pid).values()
                if key not in in_hand and key not in sought
            } | {key for key in extra if key not in in_hand and key not in sought}
            if not missing:
                break
            sought |= missing
            fetched = self.read(missing, twins)
            if identity.planned:  # a dry run: what its earlier units would have written
                fetched = _as_planned(fetched, identity.planned, now)
            for record in fetched:
                # Salesforce hands out recycle-bin rows by id too: such a record is not the
                # person's to plan with (the person waits for it: `unreadable` below).
                if record.key in missing and not record.deleted:
                    in_hand[record.key] = record
                    if record.key.object != OPPORTUNITY:
                        digests[record.key] = self.mapper.source_digest(record, CONVERSION_FIELDS)
        unreadable = {
            key: pid
            for pid in touched
            for key in identity.records_of(pid).values()
            if key not in in_hand
        }
        for key, pid in unreadable.items():
            why = (
                f"{key} could not be read (deleted, or out of Baton's reach): changes to this "
                "person wait until it can be"
            )
            notes.append(note_about(pid, "record", "unreadable", trigger, now, run_id, key, why))
        maybe_binned = [p for p in touched if p in identity.bereft or p in identity.restored]
        binned = (
            _binned(conn, identity, maybe_binned, notes, trigger, now, run_id)
            if maybe_binned
            else set()
        )
        wanted = {key for pid in touched for key in identity.records_of(pid).values()}
        for side in wanted:  # read by id above, or quiet yet the side of a planned person
            if side not in people and (unmapped := in_hand.get(side)) is not None:
                people[side] = person = self.mapper.to_person(unmapped).value
                values[side] = self.planner.values(person)
        # The page's own records came with their snapshots (`states`); the rest are asked for.
        stored = snapshot_values(conn, [k for k in wanted if k not in known and k not in states])
        stored.update(
            (k, (state.values, state.source_modified_at))
            for k, state in states.items()
            if k in wanted and k not in known
        )
        stored.update({k: v for k, v in known.items() if k in wanted})
        assumed: set[RecordKey] = set()  # baselines not stored yet (pending creates, merges)
        for key, create in self._made(pending, identity, in_hand):
            if key not in stored:  # what the create wrote, where no commit stored it
                stored[key] = (create.values, None)
                assumed.add(key)
                why = (
                    f"{key} was made by a create no commit settled (the run was interrupted, "
                    "or the person's writes failed): linked, with the values it was created "
                    "with as what Baton last wrote there"
                )
                notes.append(
                    note_about(
                        create.person_id, "record", "create_found", trigger, now, run_id, key, why
                    )
                )
            source = create.source
            if (
                source is not None
                and source.key not in stored
                and identity.counterpart(create.person_id, source.key.system) == source.key
            ):
                stored[source.key] = (source.values, source.modified_at)
                assumed.add(source.key)
        # A survivor new to Baton starts from what the record merged into it was last synced
        # with: only what the merge changed reads as its change, not every field (a first
        # sync, where the most recent record would win them all).
        inherited = snapshot_values(conn, list(merged.values())) if merged else {}
        baselines: set[RecordKey] = set()
        for survivor, gone_key in merged.items():
            if survivor not in stored and gone_key in inherited:
                stored[survivor] = (inherited[gone_key][0], None)
                assumed.add(survivor)
                baselines.add(survivor)
        for key in assumed:
            if key not in digests and key in in_hand:
                digests[key] = self.mapper.source_digest(in_hand[key], CONVERSION_FIELDS)
        snapshots = {k: values for k, (values, _) in stored.items()}
        seen_at = {k: at for k, (_, at) in stored.items()}
        addressed_now = _addresses(conn, [*records, *in_hand.values()], as_stored)
        lonely = [p for p in touched if identity.counterpart(p, System.SALESFORCE) is None]
        flagged = (
            people_with_rule(conn, lonely, IDENTITY_FIELD, ambiguous_rule(System.SALESFORCE))
            if lonely
            else set()
        )
        flagged |= {a.person_id for a in identity.ambiguous}
        # A contact is made by an upsert on email: none for a person whose email is another
        # person's, who has a contact (it would be overwritten), for as long as that holds.
        contactless = (
            [p for p in touched if identity.counterpart(p, System.HUBSPOT) is None]
            if contacts_made
            else []
        )
        for pid, (contact, holder, email, kept) in _emails_taken(
            conn, identity, people, contactless
        ):
            flagged.add(pid)
            whose = f"person {holder}'s" if holder is not None else "no one's record"
            has = "keeps as an additional email" if kept else "has the email"
            why = (
                f"{contact}, {whose}, {has} {email}: no HubSpot contact is made for this "
                "person while it does (an upsert on email would land on it)"
            )
            notes.append(
                note_about(pid, IDENTITY_FIELD, EMAIL_TAKEN, trigger, now, run_id, contact, why)
            )
        return _Gathered(
            identity,
            in_hand,
            people,
            values,
            snapshots,
            list(touched),
            flagged | set(unreadable.values()) | binned,
            notes,
            seen_at,
            quiet,
            restamp,
            digests,
            deletions=deletes.plan(conn, orphaned),
            unreadable=unreadable,
            pending={(c.person_id, c.system) for c in pending},
            assumed=assumed,
            inherited=baselines,
            binned=binned,
            addresses=addressed_now,
        )

    def _quiet(
        self,
        live: Sequence[SourceRecord],
        people: Mapping[RecordKey, Person],
        values: Mapping[RecordKey, Values],
        known: Mapping[RecordKey, tuple[Values, datetime | None]],
    ) -> dict[RecordKey, datetime]:
        """Records read at a new modification time whose synced values equal their snapshot
        (a field Baton does not map was edited; the echo of our own write): their side says
        nothing new, so their people need no plan and their twins no read. Each side's real
        changes are read on their own. Only linked records have read snapshots (a propagated
        delete that ends links marks theirs `UNREAD`), so a quiet record's identity is settled. A
        converted Lead is never quiet: its conversion is followed from fields the snapshot
        does not hold; nor is a contact whose lifecycle stage was set back under the stage its
        lead status says (`Planner.lifecycle_behind`), which moves no synced value."""
        behind = self.planner.lifecycle_behind
        return {
            r.key: r.modified_at
            for r in live
            if (seen := known.get(r.key)) is not None
            and not any_changed(values[r.key], seen[0])
            and not converted_lead(r)
            and not behind(r, people[r.key].outcome or people[r.key].stage)
        }

    def _follow_gone(
        self,
        conn: Connection,
        identity: Identity,
        records: Sequence[SourceRecord],
        people: Mapping[RecordKey, Person],
        touched: dict[uuid.UUID, None],
        notes: list[Decision],
        report: CycleReport,
        trigger: str,
        now: datetime,
        run_id: uuid.UUID | None,
        twins: TwinCache | None,
        unpropagated: Collection[RecordKey] = (),
    ) -> tuple[dict[RecordKey, RecordKey], list[tuple[uuid.UUID, RecordKey]]]:
        """The page's deleted and merged-away records of linked people: a merge moves the
        person to the survivor (a chain read together, A into B then B into C, to the last);
        a delete is flagged, or with propagation on returned to be propagated. Returns each
        survivor with the record first merged into it, and the people to propagate for."""
        gone = [r for r in records if r.deleted]
        gone_links = find_links(conn, [r.key for r in gone]) if gone else {}
        survivors = [
            RecordKey(r.key.system, r.key.object, r.merged_into) for r in gone if r.merged_into
        ]
        survivor_links = find_links(conn, survivors) if survivors else {}
        owners = {key: link_.person_id for key, link_ in survivor_links.items()}
        decided = self._contested(conn, gone, gone_links, owners, people, twins)
        merged: dict[RecordKey, RecordKey] = {}  # survivor -> the record merged into it
        orphaned: list[tuple[uuid.UUID, RecordKey]] = []  # deleted, with propagation on
        for record in gone:
            link_ = gone_links.get(record.key)
            if link_ is not None and link_.active:
                pid = link_.person_id
            else:  # a survivor this unit moved its person to, merged on in turn (A, B, then C)
                moved_to = identity.person_of.get(record.key)
                if moved_to is None or identity.counterpart(moved_to, record.key.system) != (
                    record.key
                ):
                    continue
                pid = moved_to
            if record.merged_into:
                survivor = RecordKey(record.key.system, record.key.object, record.merged_into)
                owner = decided[survivor] if survivor in decided else owners.get(survivor)
                if owner == pid or (owner is None and survivor not in decided):
                    identity.move(pid, survivor, LinkReason.MERGE)
                    owners[survivor] = pid
                    merged[survivor] = merged.pop(record.key, record.key)
                    touched[pid] = None
                    why = f"{record.key} was merged into {survivor}"
                elif owner is None:
                    why = (
                        f"{record.key} was merged into {survivor} with other people's records, "
                        "and it carries none of their cross-system ids or emails alone: not "
                        "moved (relink it to the right person)"
                    )
                else:
                    why = f"{record.key} was merged into {survivor}, already another person's"
                notes.append(
                    note_about(pid, "record", "merge", trigger, now, run_id, record.key, why)
                )
                continue
            if self.propagate_deletes and record.key not in unpropagated:
                orphaned.append((pid, record.key))
                continue
            report.deletes_flagged += 1
            why = (
                f"{record.key} was not found by id (purged from the recycle bin, or hidden "
                "from Baton's user): not propagated, since a hidden record is not deleted"
                if record.key in unpropagated
                else f"{record.key} was deleted; not propagated (policy)"
            )
            notes.append(
                note_about(pid, "record", "delete_flagged", trigger, now, run_id, record.key, why)
            )
        return merged, orphaned

    def _succeed_gone(
        self,
        identity: Identity,
        claims: Sequence[Ambiguity],
        merged: dict[RecordKey, RecordKey],
        notes: list[Decision],
        trigger: str,
        now: datetime,
        run_id: uuid.UUID | None,
        twins: TwinCache | None,
    ) -> dict[RecordKey, SourceRecord]:
        """Records claiming a person by its cross-system id while the person has another record
        in their system (ambiguous so far): when that record is gone for good (not found by id,
        or deleted and merged into nothing), the one claimant becomes the person's record, as
        a merge's survivor does (`merged`). That is a Salesforce merge read only after its
        loser left the recycle bin: the master kept the loser's Baton id, and no merged-away
        row will ever say so. Returns the holders read live (the unit plans with them)."""
        by_holder: dict[RecordKey, list[Ambiguity]] = {}
        for claim in claims:
            assert claim.holder is not None
            by_holder.setdefault(claim.holder, []).append(claim)
        found = {r.key: r for r in self.read(by_holder, twins)}
        live: dict[RecordKey, SourceRecord] = {}
        for holder, claimants in by_holder.items():
            record = found.get(holder)
            if record is not None and not record.deleted:
                live[holder] = record
                continue
            if (record is not None and record.merged_into) or len(claimants) > 1:
                continue  # a merge followed when read; several claimants: none is picked
            [claim] = claimants
            identity.succeed(claim)
            merged[claim.key] = merged.pop(holder, holder)
            why = f"{holder} is gone; {claim.key} carries its cross-system id"
            notes.append(
                note_about(claim.person_id, "record", "merge", trigger, now, run_id, holder, why)
            )
        return live

    def _contested(
        self,
        conn: Connection,
        gone: Sequence[SourceRecord],
        gone_links: Mapping[RecordKey, Link],
        owners: Mapping[RecordKey, uuid.UUID],
        people: Mapping[RecordKey, Person],
        twins: TwinCache | None,
    ) -> dict[RecordKey, uuid.UUID | None]:
        """Survivors new to Baton that records of several people were merged into: each goes
        to the person whose cross-system id it carries, else to the one claimant with its
        email, else to none (None). The system built it from one of them (its primary); which
        record's merge is read first says nothing."""
        claims: dict[RecordKey, set[uuid.UUID]] = {}
        holders = {key: link_.person_id for key, link_ in gone_links.items() if link_.active}
        for record in gone:  # in order: a chain (A into B, B into C) claims C for A's person
            pid = holders.get(record.key)
            if record.merged_into and pid is not None:
                survivor = RecordKey(record.key.system, record.key.object, record.merged_into)
                holders.setdefault(survivor, pid)
                if survivor not in owners:
                    claims.setdefault(survivor, set()).add(pid)
        contested = {key: pids for key, pids in claims.items() if len(pids) > 1}
        if not contested:
            return {}
        unread = [key for key in contested if key not in people]
        found = {r.key: self.mapper.to_person(r).value for r in self.read(unread, twins)}
        decided: dict[RecordKey, uuid.UUID | None] = {}
        for survivor, claimants in contested.items():
            person = people.get(survivor) or found.get(survivor)
            bid = parse_baton_id(person.baton_id) if person is not None else None
            email = person.email if person is not None else None
            with_email = set(people_by_emails(conn, [email]).get(email, ())) if email else set()
            if bid in claimants:
                decided[survivor] = bid
            elif len(claimants & with_email) == 1:
                decided[survivor] = next(iter(claimants & with_email))
            else:
                decided[survivor] = None
        return decided

    def _follow_made_by_conversions(
        self,
        identity: Identity,
        opportunities: Sequence[RecordKey],
        converted: dict[str, tuple[str, ...]],
    ) -> set[RecordKey]:
        """Opportunities linked to no one that a Lead's conversion made (or joined): the Lead
        names its Opportunity (`ConvertedOpportunityId`), never the other way round, so an
        Opportunity read before its Lead (its webhook or poll page first) would otherwise go
        by its contact roles, perhaps to another person. Salesforce is asked once per unit for
        the Leads converted with all of them (`converted` keeps the answers: for an
        Opportunity's id its Leads' ids, none for none). Such an Opportunity joins its Lead's
        person (the first Lead by id that is someone's), as `_follow_conversions` has it when
        the Lead is read first (an inactive link, reason `conversion`); the person's Lead is
        then read with the person, and its conversion followed. While none of its Leads is
        anyone's it stays unlinked: the Lead's own read links it. Returns the Opportunities a
        conversion made, which contact roles do not place."""
        unasked = [key.id for key in opportunities if key.id not in converted]
        if unasked:
            by_opportunity: dict[str, set[str]] = {}
            for found in self.connectors[System.SALESFORCE].read_conversions(unasked):
                by_opportunity.setdefault(found.opportunity_id, set()).add(found.lead_id)
            converted.update((i, tuple(sorted(by_opportunity.get(i, ())))) for i in unasked)
        made = {
            key: [RecordKey(System.SALESFORCE, LEAD, lead) for lead in converted[key.id]]
            for key in opportunities
            if converted.get(key.id)
        }
        if not made:
            return set()
        leads = list(dict.fromkeys(lead for named in made.values() for lead in named))
        owners = _owners(identity, leads, current=False)
        followed: dict[RecordKey, uuid.UUID] = {}
        for opportunity, named in made.items():
            pid = next((owners[lead] for lead in named if lead in owners), None)
            if pid is not None:
                identity.associate(pid, opportunity, LinkReason.CONVERSION)
                followed[opportunity] = pid
        if followed:
            identity.follow(followed)
        return set(made)

    def _follow_contact_roles(
        self,
        identity: Identity,
        opportunities: Sequence[RecordKey],
        roles: dict[str, str | None],
        notes: list[Decision],
        trigger: str,
        now: datetime,
        run_id: uuid.UUID | None,
    ) -> None:
        """Opportunities linked to no one (made on an existing Contact, not by a Lead's
        conversion) join the person of their contact role's Contact (the primary role, else
        the earliest), as a conversion's Opportunity does (an inactive link, reason
        `contact_role`), so their stages reach the person's funnel. Salesforce is asked once
        per unit for the roles of all of them (`roles` keeps the answers, for an
        Opportunity's id the chosen Contact's, None for none); an Opportunity whose Contact
        is no one's stays unlinked, and is asked about again at its next change."""
        unasked = [key.id for key in opportunities if key.id not in roles]
        if unasked:
            found = self.connectors[System.SALESFORCE].read_contact_roles(unasked)
            roles.update(_chosen_contacts(unasked, found))
        contacts = {
            key: RecordKey(System.SALESFORCE, CONTACT, chosen)
            for key in opportunities
            if (chosen := roles.get(key.id)) is not None
        }
        owners = _owners(identity, list(dict.fromkeys(contacts.values()))) if contacts else {}
        followed: dict[RecordKey, uuid.UUID] = {}
        for opportunity, contact in contacts.items():
            pid = owners.get(contact)
            if pid is None:
                continue
            identity.associate(pid, opportunity, LinkReason.CONTACT_ROLE)
            followed[opportunity] = pid
            why = f"{opportunity} has {contact} in a contact role: the person's Opportunity"
            notes.append(
                note_about(pid, "record", "contact_role", trigger, now, run_id, opportunity, why)
            )
        if followed:
            identity.follow(followed)

    def _follow_conversions(
        self,
        identity: Identity,
        in_hand: dict[RecordKey, SourceRecord],
        touched: dict[uuid.UUID, None],
        notes: list[Decision],
        trigger: str,
        now: datetime,
        run_id: uuid.UUID | None,
    ) -> set[RecordKey]:
        """A converted Lead hands its person to the Contact it became (reason conversion),
        and its Opportunity, if any, joins the person as a source of funnel signals (an
        inactive link, so the Opportunity's own changes find the person again). Returns the
        Opportunities to read.

        A Lead converted into a Contact that is already another person's (Salesforce lets a
        rep pick an existing Contact) does not take it: which of the two people's HubSpot
        contacts is that human is for a person to say, so the conversion is reported (and the
        converted Lead, which Salesforce keeps read-only, gets no writes: `Planner._update`).
        Nor does a Lead converted into an Opportunity that is already another person's (a rep
        may pick an existing one): one deal is one person's, so that is reported too."""
        opportunities: set[RecordKey] = set()
        named: list[tuple[uuid.UUID, RecordKey, RecordKey]] = []  # person, Lead, Opportunity
        conversions: list[tuple[uuid.UUID, RecordKey, RecordKey]] = []
        for record in list(in_hand.values()):
            if not converted_lead(record):
                continue
            contact_id = record.get("ConvertedContactId")
            pid = identity.person_of.get(record.key)
            if pid is None:
                continue
            opportunity_id = record.get("ConvertedOpportunityId")
            if isinstance(opportunity_id, str) and opportunity_id:
                named.append(
                    (pid, record.key, RecordKey(System.SALESFORCE, OPPORTUNITY, opportunity_id))
                )
            if not isinstance(contact_id, str) or not contact_id:
                continue
            if identity.counterpart(pid, System.SALESFORCE) != record.key:
                continue
            conversions.append((pid, record.key, RecordKey(System.SALESFORCE, CONTACT, contact_id)))
        unseen = [key for _, _, key in named if key not in identity.person_of]
        stored = find_links(identity.db, unseen) if unseen else {}
        for pid, lead, opportunity in named:
            holder = identity.person_of.get(opportunity)
            if holder is None and (link_ := stored.get(opportunity)) is not None:
                holder = link_.person_id
            if holder is None or holder == pid:
                identity.associate(pid, opportunity, LinkReason.CONVERSION)
                opportunities.add(opportunity)
                continue
            why = (
                f"{lead} was converted with {opportunity}, already person {holder}'s: it "
                "stays theirs (one deal is one person's funnel signal, never two people's)"
            )
            told = note_about(pid, "record", "conversion", trigger, now, run_id, opportunity, why)
            if told not in notes:  # asked again in each round of `_gather`'s reads
                notes.append(told)
        owners = _owners(identity, [contact for _, _, contact in conversions])
        for pid, lead, contact in conversions:
            owner = owners.get(contact)
            if owner is not None and owner != pid:
                why = (
                    f"{lead} was converted to {contact}, already person {owner}'s: not moved "
                    "(merge the two people's HubSpot contacts, or convert into another Contact)"
                )
            else:
                identity.move(pid, contact, LinkReason.CONVERSION)
                owners[contact] = pid  # a second Lead converted into it is another person
                touched[pid] = None
                why = f"{lead} was converted to {contact}"
            notes.append(note_about(pid, "record", "conversion", trigger, now, run_id, lead, why))
        return opportunities

    def _plan(
        self,
        gathered: _Gathered,
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
        gathered: _Gathered,
        plans: list[PersonPlan],
        trigger: str,
        now: datetime,
        run_id: uuid.UUID | None,
    ) -> list[PersonPlan]:
        """Plans that would create a twin for a record restored from a recycle bin while its
        old twin is still in the other system's bin, planned again without the create (see
        `_binned`). Only plans that create are checked: the store is asked once, rarely."""
        creating = [p.person_id for p in plans if any(w.creates for w in p.writes)]
        if not creating:
            return plans
        with self.reader.connect() as conn:
            binned = _binned(
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

    def _commit(
        self,
        tx: Connection,
        gathered: _Gathered,
        plans: Sequence[PersonPlan],
        sent: Sequence[Sent],
        report: CycleReport,
        trigger: str,
        run_id: uuid.UUID | None,
        now: datetime,
        *,
        held: Sequence[tuple[uuid.UUID, Write]],
        holding: Mapping[tuple[uuid.UUID, str], int],
        waits_as_letters: bool,
        refused: Mapping[RecordKey, tuple[int, Mapping[str, FieldValue]]],
    ) -> None:
        identity = gathered.identity
        failed = {s.person_id for s in sent if s.result is not Result.OK}
        failed |= {pid for pid, _ in held}
        # A refused (or held) update leaves its fields' snapshots as they were, so the change
        # it carried is still a change next time; the rest of its person's records are stored
        # as carried, or a later edit would read as a conflict with what was carried already.
        unsent = _unsent_fields(sent, held)
        # A person whose other record could not be read (or is in a recycle bin: `_binned`)
        # was planned with one side: what that side says is not carried yet, so its snapshots
        # keep their values (the change is still a change when the record is back, and the
        # unread record's snapshot says to plan it in full); only their marks move, so reading
        # the side again costs nothing.
        stalled = set(gathered.unreadable.values()) | gathered.binned
        snapshots: dict[RecordKey, SnapshotWrite] = {}
        emails: list[tuple[uuid.UUID, str | None]] = []  # people's addresses to keep current
        letters: list[NewDeadLetter] = []
        settled: list[int] = []  # open letters of records a write has now reached
        # a record read again says nothing new (a contact still not handed off: logged once)
        notes = unrepeated(tx, [*gathered.notes, *_handoff_notes(plans, trigger, now, run_id)])
        report.not_handed_off += sum(n.rule == NOT_HANDED_OFF for n in notes)
        created_keys = [
            RecordKey(s.write.key.system, s.write.key.object, s.id)
            for s in sent
            if s.result is Result.OK and s.write.creates and s.id
        ]
        owners = find_links(tx, created_keys) if created_keys else {}
        for s in sent:
            bucket = f"{s.write.key.system}:{s.write.key.object}"
            if s.result is Result.RETRY and not waits_as_letters:
                report.retry_later += 1
                continue
            if s.result in (Result.REJECTED, Result.RETRY):
                report.dead_letters += 1
                key = _letter_key(s.person_id, s.write)
                direction = (
                    Direction.TO_HUBSPOT
                    if s.write.key.system is System.HUBSPOT
                    else Direction.TO_SALESFORCE
                )
                letters.append(NewDeadLetter(key, direction, s.write.fields, s.code, s.message))
                why = f"{s.code}: {s.message}"
                notes.append(
                    note_about(s.person_id, "record", "rejected", trigger, now, run_id, key, why)
                )
                continue
            assert s.id is not None
            if (letter := refused.get(_letter_key(s.person_id, s.write))) is not None:
                settled.append(letter[0])  # another payload went through: the data was fixed
            key = RecordKey(s.write.key.system, s.write.key.object, s.id)
            if s.write.creates:
                owner = owners.get(key)
                if owner is not None and owner.person_id != s.person_id:
                    # The upsert found it by email: that is the owner's address by now.
                    emails.append((owner.person_id, _email(s.write.expected)))
                    why = f"the upsert matched {key}, already person {owner.person_id}'s"
                    notes.append(
                        note_about(
                            s.person_id,
                            IDENTITY_FIELD,
                            ambiguous_rule(key.system),
                            trigger,
                            now,
                            run_id,
                            key,
                            why,
                        )
                    )
                    continue
                identity.created(s.person_id, key)
                report.created[bucket] += 1
            else:
                report.updated[bucket] += 1
            if s.write.warnings:
                why = "; ".join(s.write.warnings)
                notes.append(
                    note_about(s.person_id, "record", WRITE_WARNING, trigger, now, run_id, key, why)
                )
            if s.person_id in stalled:
                continue
            # The copy the write was planned against: a copy read later that is no newer (a
            # search index lagging the write, a resumed Bulk job) predates the write, and is
            # skipped as old news (`_gather`), not taken as an edit to carry back. The write's
            # own echo is stamped later, so it is still read and compared.
            planned = None if s.write.creates else gathered.records.get(key)
            at = planned.modified_at if planned is not None else None
            if s.person_id not in failed:
                snapshots[key] = SnapshotWrite(
                    key, s.write.expected, written_by_us=True, source_modified_at=at
                )
            elif kept := unsent.get(s.person_id):
                values = _keeping(s.write.expected, gathered.snapshots.get(key), kept)
                snapshots[key] = SnapshotWrite(
                    key, values, written_by_us=True, source_modified_at=at
                )
        learning: list[PersonPlan] = []
        touched: dict[RecordKey, datetime] = {}  # unchanged values, read at a new time
        digests = gathered.digests
        for key, modified in gathered.quiet.items():
            if key in snapshots:
                continue
            if key in gathered.restamp:
                snapshots[key] = SnapshotWrite(
                    key,
                    gathered.restamp[key],
                    source_modified_at=modified,
                    source_digest=digests[key],
                )
            else:
                touched[key] = modified
        for plan in plans:
            kept = None
            if plan.person_id in failed:
                kept = unsent.get(plan.person_id)
                if not kept or plan.person_id in stalled:  # every snapshot stays as it was
                    continue
            news = bool(plan.writes)
            for key, (values, modified) in plan.seen.items():
                known = gathered.snapshots.get(key)
                if kept:
                    if key in snapshots:
                        continue
                    values = _keeping(values, known, kept)
                    if values is not plan.seen[key][0]:  # not the fields as read: map again
                        if values != known:
                            snapshots[key] = SnapshotWrite(
                                key, values, source_modified_at=gathered.seen_at.get(key)
                            )
                        continue
                fresh = known != values
                news = news or (fresh and history_changed(values, known, self.history))
                if key in snapshots or key in touched:
                    continue
                if plan.person_id in stalled:  # new marks, old values: see `stalled`
                    if gathered.seen_at.get(key) != modified or fresh:
                        touched[key] = modified
                    continue
                if fresh or key in gathered.assumed:  # no row yet: touching would store none
                    snapshots[key] = SnapshotWrite(
                        key, values, source_modified_at=modified, source_digest=digests.get(key)
                    )
                elif gathered.seen_at.get(key) != modified:
                    touched[key] = modified
            # Only records saying something new about the funnel (or being written) can teach
            # the history anything (see `history_changed`).
            if news and plan.funnel is not None:
                learning.append(plan)
        self._keep_unsent(gathered, sent, held, unsent, stalled, snapshots)
        for key in gathered.inherited:  # what was last synced: kept whatever the writes did
            if key not in snapshots:
                snapshots[key] = SnapshotWrite(key, gathered.snapshots[key])
        transitions, explanations = self._transitions(tx, learning, now)
        identity.persist(tx, at=now)
        keep_addresses(tx, gathered.addresses)
        unstored = {pid for pid in failed if not unsent.get(pid)}  # kept every snapshot
        emails += _edited_emails(identity, plans, unstored, snapshots, gathered.snapshots)
        if emails:
            set_emails(tx, emails)
        put_snapshots(tx, list(snapshots.values()), at=now)
        touch_snapshots(
            tx,
            [(k, at, digests.get(k)) for k, at in touched.items() if k not in snapshots],
            at=now,
        )
        unread_snapshots(tx, gathered.unreadable, at=now)
        later = set() if waits_as_letters else _to_retry(sent)
        decided = [
            (plan.person_id, d)
            for plan in plans
            for d in plan.decisions
            if (plan.person_id, d.field) not in later
        ]
        decisions = [_decision(pid, d, trigger, now, run_id, holding) for pid, d in decided]
        told = _told(tx, decisions, holding)  # a conflict is counted once, as it is logged
        report.conflicts += sum(
            d.conflict for (_, d), new in zip(decided, told, strict=True) if new
        )
        record_decisions(tx, [*notes, *compress(decisions, told)])
        letters_repo.settle_dead_letters(tx, settled)
        letters_repo.add_dead_letters(tx, letters, at=now)
        self._settle_creates(tx, gathered, sent, waiting=failed | stalled)
        explain_rejections(tx, explanations)
        record_transitions(tx, transitions, at=now)

    @staticmethod
    def _keep_unsent(
        gathered: _Gathered,
        sent: Sequence[Sent],
        held: Sequence[tuple[uuid.UUID, Write]],
        unsent: Mapping[uuid.UUID, set[str] | None],
        stalled: Collection[uuid.UUID],
        snapshots: dict[RecordKey, SnapshotWrite],
    ) -> None:
        """Snapshots for the records a refused (or held) update was for: what each said that
        was carried is synced too, so only the update's own fields keep their old values (and
        the record is mapped again when read: no digest, its old modification time)."""
        refused = [(s.person_id, s.write) for s in sent if s.result is Result.REJECTED]
        for pid, write in [*refused, *held]:
            kept, key = unsent.get(pid), write.key
            if not kept or pid in stalled or write.creates or key in snapshots:
                continue
            known, values = gathered.snapshots.get(key), gathered.values.get(key)
            if values is None:
                continue
            values = _keeping(values, known, kept)
            if values != known:
                snapshots[key] = SnapshotWrite(
                    key, values, source_modified_at=gathered.seen_at.get(key)
                )

    @staticmethod
    def _settle_creates(
        tx: Connection,
        gathered: _Gathered,
        sent: Sequence[Sent],
        *,
        waiting: Collection[uuid.UUID],
    ) -> None:
        """Forget the pending creates of people whose snapshots this commit stores. A failed
        (or stalled: see `_commit`) person's stay: a create answered "retry later" may have
        landed, and a record made or found for them has its link but no snapshot yet (`_made`
        gives it one next time)."""
        unsettled = gathered.pending | {
            (s.person_id, s.write.key.system) for s in sent if s.write.creates
        }
        maybe_made = {
            (s.person_id, s.write.key.system)
            for s in sent
            if s.write.creates and s.result is Result.RETRY
        }
        identity = gathered.identity
        kept = {
            pid
            for pid, system in unsettled
            if pid in waiting
            and ((pid, system) in maybe_made or identity.counterpart(pid, system) is not None)
        }
        settled = {pid for pid, _ in unsettled} - kept
        if settled:
            forget_creates(tx, settled)

    def _transitions(
        self, tx: Connection, plans: Sequence[PersonPlan], now: datetime
    ) -> tuple[list[Transition], list[Explanation]]:
        """First entries the plans' evidence adds to the people's recorded histories, and the
        reasons it gives for rejections recorded without one (see `explanation`)."""
        if not plans:
            return [], []
        recorded = recorded_stages(tx, [plan.person_id for plan in plans])
        facts_of = []
        for plan in plans:
            assert plan.funnel is not None
            facts_of.append((plan, self.planner.facts(plan.funnel)))
        reasoned = [  # rarely any: a reason given to someone already rejected
            plan.person_id
            for plan, facts in facts_of
            if facts.reason is not None
            and any(stage in recorded.get(plan.person_id, {}) for stage in REJECTIONS)
        ]
        unexplained = unexplained_rejections(tx, reasoned, REJECTIONS) if reasoned else {}
        out: list[Transition] = []
        explanations: list[Explanation] = []
        for plan, facts in facts_of:
            pid = plan.person_id
            known = recorded.get(pid, {})
            rejection = unexplained.get(pid)
            explained = explanation(
                pid, facts, known, rejection, still_rejected=_said(plan, rejection)
            )
            if explained is not None:
                explanations.append(explained)
                entered = known[explained.stage]
                known = {s: at for s, at in known.items() if s != explained.stage}
                known[explained.outcome] = entered  # recorded by now, as that rejection
            out.extend(first_entries(pid, facts, known, now=now))
        return out, explanations


def _said(plan: PersonPlan, rejection: str | None) -> bool:
    """Whether a record of the plan's person said `rejection` without a reason when last read
    (its snapshot): the reason now given completes that very rejection."""
    if rejection is None or plan.funnel is None:
        return False
    return any(
        side.snapshot is not None
        and side.snapshot.get(OUTCOME) == rejection
        and not side.snapshot.get(OUTCOME_REASON)
        for side in plan.funnel.sides
    )


def _as_planned(
    records: Sequence[SourceRecord],
    planned: Mapping[RecordKey, Mapping[str, FieldValue]],
    now: datetime,
) -> list[SourceRecord]:
    """`records` as a dry run's earlier units would have left them: their planned updates
    applied, modified now (a live run reads its own writes back so)."""
    return [
        replace(r, fields={**r.fields, **written}, modified_at=max(r.modified_at, now))
        if not r.deleted and (written := planned.get(r.key)) is not None
        else r
        for r in records
    ]


def _count_moves(
    report: CycleReport, plans: Sequence[PersonPlan], *, carried: Collection[uuid.UUID]
) -> None:
    """Count the funnel moves of the people a write moving their position went through for
    (`carried`; in a dry run, was planned for). A refused or held write moved nobody, and a
    rerun sending it again must not report the move again."""
    for plan in plans:
        if plan.stage_move and plan.person_id in carried:
            report.stage_moves[plan.stage_move] += 1


def _edited_emails(
    identity: Identity,
    plans: Sequence[PersonPlan],
    failed: Collection[uuid.UUID],
    stored: Mapping[RecordKey, SnapshotWrite],
    before: Mapping[RecordKey, Values],
) -> list[tuple[uuid.UUID, str | None]]:
    """People whose email changed on their record since it was last seen (the HubSpot one's,
    else the Salesforce one's: a record seen for the first time has nothing to compare), with
    the new address: what matching by email must find them by."""
    edited: list[tuple[uuid.UUID, str | None]] = []
    for plan in plans:
        if plan.person_id in failed:
            continue
        records = identity.records_of(plan.person_id)
        for key in (records.get(System.HUBSPOT), records.get(System.SALESFORCE)):
            now = stored.get(key) if key is not None else None
            then = before.get(key) if key is not None else None
            if now is not None and then is not None:
                if _email(now.values) != _email(then):
                    edited.append((plan.person_id, _email(now.values)))
                break
    return edited


def _email(values: Values) -> str | None:
    email = values.get(EMAIL)
    return email if isinstance(email, str) else None


def _addresses(
    conn: Connection, records: Iterable[SourceRecord], as_stored: Collection[RecordKey]
) -> dict[RecordKey, frozenset[str]]:
    """The HubSpot contacts (the records with addresses: `SourceRecord.other_emails`) whose
    addresses differ from those kept, with what they say now (a deleted one: none). A record
    whose digest is as stored is skipped: the digest covers its addresses, and they were kept
    in the commit that stored it; the rest are asked for in one query."""
    read = {
        r.key: addresses(r)
        for r in records
        if r.key.system is System.HUBSPOT and r.key not in as_stored
    }
    if not read:
        return {}
    kept = addresses_of(conn, read)
    return {key: now for key, now in read.items() if kept.get(key, frozenset()) != now}


def _emails_taken(
    conn: Connection,
    identity: Identity,
    people: Mapping[RecordKey, Person],
    contactless: Sequence[uuid.UUID],
) -> list[tuple[uuid.UUID, tuple[RecordKey, uuid.UUID | None, str, bool]]]:
    """Of people without a HubSpot contact, those whose Salesforce record's email is another
    person's who has one, or an address a contact not theirs keeps (its additional emails, as
    a HubSpot merge leaves them): (person, (that contact, its person or None, the email, kept
    as an additional email)). That contact is one stored, or one this unit resolved and has not
    stored yet (a unit reads the contacts its creates would land on: `_unseen_matches`): a
    Lead converted into a Contact Baton has not linked gives its person that Contact's email,
    which may be another human's."""
    emails: dict[uuid.UUID, str] = {}
    for pid in contactless:
        key = identity.counterpart(pid, System.SALESFORCE)
        person = people.get(key) if key is not None else None
        if person is not None and person.email:
            emails[pid] = person.email
    if not emails:
        return []
    # This unit's HubSpot contacts with those emails, and whose they are in it: an upsert on
    # the email lands on them whatever the store says.
    in_unit: dict[str, list[tuple[RecordKey, uuid.UUID]]] = {}
    wanted = set(emails.values())
    for key, person in people.items():
        if (
            key.system is System.HUBSPOT
            and (address := person.email) is not None
            and address in wanted
            and (owner := identity.person_of.get(key)) is not None
        ):
            in_unit.setdefault(address, []).append((key, owner))
    holders = people_by_emails(conn, list(dict.fromkeys(emails.values())))
    identity.load_holders(emails.values())
    others = {q for pid, email in emails.items() for q in holders.get(email, ()) if q != pid}
    contacts = active_keys_for(conn, others) if others else {}
    taken: list[tuple[uuid.UUID, tuple[RecordKey, uuid.UUID | None, str, bool]]] = []
    for pid, email in emails.items():
        mine = [(key, owner) for key, owner in in_unit.get(email, ()) if owner != pid]
        stored = [
            (contact, other)
            for other in holders.get(email, ())
            if other != pid and (contact := contacts.get(other, {}).get(System.HUBSPOT)) is not None
        ]
        if mine or stored:
            contact, other = (mine or stored)[0]
            taken.append((pid, (contact, other, email, False)))
            continue
        kept = [(c, o) for c, o in identity.named_by(email, System.SALESFORCE) if o != pid]
        if kept:
            contact, owner = kept[0]
            taken.append((pid, (contact, owner, email, True)))
    return taken


def _owners(
    identity: Identity, keys: Sequence[RecordKey], *, current: bool = True
) -> dict[RecordKey, uuid.UUID]:
    """The person each of `keys` is the current record of (or, not `current`, any record
    of: a converted Lead is its person's former one): in this unit, or as stored."""
    owners = {
        key: pid
        for key in keys
        if (pid := identity.person_of.get(key)) is not None
        and (not current or identity.counterpart(pid, key.system) == key)
    }
    unseen = [key for key in keys if key not in owners]
    if unseen:
        stored = find_links(identity.db, unseen)
        owners.update(
            (key, link_.person_id) for key, link_ in stored.items() if link_.active or not current
        )
    return owners


def _chosen_contacts(
    opportunity_ids: Iterable[str], roles: Iterable[ContactRole]
) -> dict[str, str | None]:
    """For each Opportunity, the Contact of its primary contact role, else of its earliest
    one (by creation, then id); None for an Opportunity without one."""
    by_opportunity: dict[str, list[ContactRole]] = {}
    for role in roles:
        by_opportunity.setdefault(role.opportunity_id, []).append(role)
    chosen: dict[str, str | None] = {}
    for opportunity in opportunity_ids:
        mine = by_opportunity.get(opportunity)
        if not mine:
            chosen[opportunity] = None
            continue
        first = min(
            mine,
            key=lambda r: (not r.primary, r.created_at is None, r.created_at or _EPOCH, r.id),
        )
        chosen[opportunity] = first.contact_id
    return chosen


def _handoff_notes(
    plans: Sequence[PersonPlan], trigger: str, now: datetime, run_id: uuid.UUID | None
) -> list[Decision]:
    """Notes saying why contacts HubSpot calls MQLs (or later) get no Salesforce Lead, so
    `baton why` answers "why did sales never get them"; `unrepeated` keeps one per change."""
    notes = []
    for plan in plans:
        if plan.not_handed_off is not None:
            key, why = plan.not_handed_off
            notes.append(
                note_about(plan.person_id, "record", NOT_HANDED_OFF, trigger, now, run_id, key, why)
            )
    return notes


def _binned(
    conn: Connection,
    identity: Identity,
    people: Iterable[uuid.UUID],
    notes: list[Decision],
    trigger: str,
    now: datetime,
    run_id: uuid.UUID | None,
) -> set[uuid.UUID]:
    """Of `people`, those whose one record came back from a recycle bin while its twin, deleted
    with it, is still in the other system's: no new twin is made for them (it would duplicate
    the one in the bin), and a note says to restore that one too."""
    one_sided = {
        pid: next(iter(records.values()))
        for pid in people
        if len(records := identity.records_of(pid)) == 1
    }
    ended = deleted_links(conn, one_sided) if one_sided else {}
    twins = {
        pid: (twin, ended_at)
        for pid, key in one_sided.items()
        for twin, ended_at in ended.get(pid, ())
        if twin.system is not key.system
    }
    if not twins:
        return set()
    # Restored in this unit, or since the twin's delete (the restored record may have been
    # converted: the person's record is then the Contact, the twin still in the bin all the
    # same); a record restored before an earlier delete says nothing of this one.
    restored = restored_links(conn, [p for p in twins if p not in identity.restored])
    binned: set[uuid.UUID] = set()
    for pid, (twin, ended_at) in twins.items():
        key = one_sided[pid]
        if pid in identity.restored or any(
            back.system is key.system and _not_before(back_at, ended_at)
            for back, back_at in restored.get(pid, ())
        ):
            why = (
                f"{key} was restored; {twin}, deleted with it, is still in the recycle bin: "
                "restore it too (no new twin is made meanwhile)"
            )
            notes.append(
                note_about(pid, "record", "restored_alone", trigger, now, run_id, key, why)
            )
            binned.add(pid)
    return binned


def _not_before(at: datetime | None, then: datetime | None) -> bool:
    return at is not None and (then is None or at >= then)


def _side(gathered: _Gathered, key: RecordKey | None) -> Side | None:
    """A person's record in one system, ready to plan (None: none, or it could not be read)."""
    record = gathered.records.get(key) if key is not None else None
    if key is None or record is None:
        return None
    return Side(record, gathered.people[key], gathered.values[key], gathered.snapshots.get(key))


def _alone_in_salesforce(gathered: _Gathered, plans: Sequence[PersonPlan]) -> list[SourceRecord]:
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


def _upsert_key(value: object) -> str:
    """An upsert key as the systems match it: case and surrounding spaces ignored."""
    return str(value or "").strip().casefold()


def _unsent_fields(
    sent: Sequence[Sent], held: Sequence[tuple[uuid.UUID, Write]]
) -> dict[uuid.UUID, set[str] | None]:
    """Per person with a write not made, the canonical fields those writes would have
    changed; None where the person's snapshots all stay as they were: a create not made (its
    record has none yet) or a write to retry later (it may have landed)."""
    unsent: dict[uuid.UUID, set[str] | None] = {}
    missed = [(s.person_id, s.write, s.result) for s in sent if s.result is not Result.OK]
    for pid, write, result in [*missed, *((pid, w, Result.REJECTED) for pid, w in held)]:
        fields = unsent.setdefault(pid, set())
        if fields is None:
            continue
        if write.creates or result is Result.RETRY:
            unsent[pid] = None
        else:
            fields.update(write.changes)
            if FUNNEL_MOVED & write.changes.keys():
                # the lead status that moved it too: a sales reopen is told from a Lead's
                # Status against its snapshot (`Planner._reopened`), so it stays one
                fields.add(LEAD_STATUS)
    return unsent


def _keeping(values: Values, old: Values | None, fields: Collection[str]) -> Values:
    """`values` with `fields` as `old` has them, or without them where there is no `old` (a
    record seen for the first time: they read as changed there); `values` itself when they
    are already so."""
    old = old or {}
    if all(values.get(f) == old.get(f) and (f in values) == (f in old) for f in fields):
        return values
    out = dict(values)
    for name in fields:
        if name in old:
            out[name] = old[name]
        else:
            out.pop(name, None)
    return out


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
        letter = refused.get(_letter_key(pid, w))
        if letter is not None and dict(letter[1]) == dict(w.fields):
            held[n] = letter[0]
    return held


def _letter_key(pid: uuid.UUID, write: Write) -> RecordKey:
    """The key a write's dead letter is kept under ("new:<person>" for a create)."""
    return RecordKey(write.key.system, write.key.object, write.key.id or f"{NEW_PREFIX}{pid}")


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


def _to_retry(sent: Sequence[Sent]) -> set[tuple[uuid.UUID, str]]:
    """The fields (per person) of the writes refused for now, whose decisions are neither
    logged nor counted as conflicts yet: the page is read again and the write planned and sent
    again, so they are logged (and counted) once, in the cycle the write lands, and the log
    tells only changes made. (A write answered "retry later" that landed all the same, a
    timeout after the system took it, is then not logged: its echo plans nothing.)"""
    fields: set[tuple[uuid.UUID, str]] = set()
    for s in sent:
        if s.result is not Result.RETRY:
            continue
        names = {*s.write.changes, *(["record"] if s.write.creates else [])}
        if names & {STAGE, OUTCOME, LIFECYCLE_FIELD}:  # logged as one funnel move
            names.add(FUNNEL_STAGE)
        fields.update((s.person_id, name) for name in names)
    return fields


def _told(
    tx: Connection, decisions: Sequence[Decision], holding: Mapping[tuple[uuid.UUID, str], int]
) -> list[bool]:
    """Whether each of `decisions` is logged: not those of held writes that say again what the
    latest decision of their field says (the same values, its rule held or not): a write held
    back by an open dead letter is planned again each cycle and would log (and count as a
    conflict) the same unmade change each time. The refusal logged it once (with its
    `rejected` note); a new value while held is logged once more, marked held (`held_rule`)."""
    about = [(d.person_id, d.field) for d in decisions if (d.person_id, d.field) in holding]
    if not about:
        return [True] * len(decisions)
    latest = latest_of_fields(tx, about)
    told = []
    for d in decisions:
        key = (d.person_id, d.field)
        last = latest.get(key)
        new = not (key in holding and last is not None and _same_story(last, d))
        if new:
            latest[key] = d
        told.append(new)
    return told


def _same_story(a: Decision, b: Decision) -> bool:
    return unheld(a.rule)[0] == unheld(b.rule)[0] and (
        a.hubspot_old,
        a.hubspot_new,
        a.salesforce_old,
        a.salesforce_new,
    ) == (b.hubspot_old, b.hubspot_new, b.salesforce_old, b.salesforce_new)


def _decision(
    pid: uuid.UUID,
    d: FieldDecision,
    trigger: str,
    now: datetime,
    run_id: uuid.UUID | None,
    holding: Mapping[tuple[uuid.UUID, str], int],
) -> Decision:
    rule = f"{d.rule}:conflict" if d.conflict else d.rule
    letter_id = holding.get((pid, d.field))
    return Decision(
        person_id=pid,
        field=d.field,
        rule=rule[:48] if letter_id is None else held_rule(rule, letter_id),
        trigger=trigger[:32],
        decided_at=now,
        hubspot_old=d.hubspot_old,
        hubspot_new=d.hubspot_new,
        salesforce_old=d.salesforce_old,
        salesforce_new=d.salesforce_new,
        winner=d.winner,
        hubspot_modified_at=d.hubspot_at,
        salesforce_modified_at=d.salesforce_at,
        run_id=run_id,
    )


def _planned_write(write: Write) -> PlannedWrite:
    return PlannedWrite(
        write.key.id or "new",
        write.key.system,
        write.key.object,
        dict(write.changes),
        write.reason,
    )
