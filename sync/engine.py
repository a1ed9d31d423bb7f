"""The sync engine facade: poll, sync these keys, backfill, retry dead letters.

Every entry point funnels into one unit of work (`sync.unit.Worker.run`), committed in one
transaction with the page's checkpoint; this module decides what to read, in which order, and
records each run in `runs` (`sync.recorder`: a heartbeat while it goes). Checkpoints are per
system and object, with a fixed upper bound (now - settle), a lookback and id tie-breaks (a
window's checkpoint never past the system's own clock: `_capped`), and move only once a page's
writes committed; a page with a write to retry later stops its object's cycle so the page is
read again, and a window read to its end moves the checkpoint to its bound.

Salesforce is read before HubSpot: a Salesforce record is linked before the HubSpot pass, so
when a HubSpot contact is still alone after identity resolution it truly has no Salesforce twin
and the MQL handoff may create a Lead. HubSpot contacts for Salesforce-only people are created
in a last pass, once both systems were read and linked, for the same reason. A dry run plans
and writes nothing: no system, no store (it keeps its identity decisions in memory instead).
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable, Collection, Generator, Iterable, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

import sqlalchemy

from connectors.errors import ConnectorError
from connectors.priority import stop_requested
from connectors.protocol import Connector
from connectors.readahead import read_ahead
from connectors.records import RecordKey, SourceRecord, System
from mappings.apply import CONTACT, HUBSPOT_CONTACTS, LEAD, OPPORTUNITY, Mapper
from mappings.dictionary import Dictionary
from sync import collector, deletes
from sync.commit import NEW_PREFIX
from sync.identity import Identity
from sync.listing import Page, cut, cut_records, page_spill
from sync.plan import CreationPolicy, Planner
from sync.reconcile import Guard, ReconcileStopped, TooManyVanished, vanished
from sync.recorder import RunRecorder
from sync.report import CycleReport
from sync.store import dead_letters as letters_repo
from sync.store.checkpoints import (
    Checkpoint,
    advance_checkpoint,
    get_checkpoint,
    note_blocked,
    set_upper_bound,
)
from sync.store.engine import for_reading
from sync.store.links import active_links_for, any_linked, find_links, one_sided
from sync.store.locks import RECONCILE_STARTS, hold
from sync.store.positions import (
    Listing,
    begin_listing,
    forget_listings,
    get_listings,
    save_listing,
)
from sync.store.runs import (
    STALE_AFTER,
    RunKind,
    last_started,
)
from sync.twins import TwinCache
from sync.unit import Cursor, Worker

log = logging.getLogger(__name__)

#: Salesforce first: see the module docstring.
PERSON_OBJECTS: tuple[tuple[System, str], ...] = (
    (System.SALESFORCE, LEAD),
    (System.SALESFORCE, CONTACT),
    (System.HUBSPOT, HUBSPOT_CONTACTS),
)
#: Polled too: an Opportunity's stage is a funnel signal for the person of its converted Lead
#: (or of its contact role's Contact: `sync.following.Follower.follow_contact_roles`).
POLLED_OBJECTS: tuple[tuple[System, str], ...] = (
    *PERSON_OBJECTS[:2],
    (System.SALESFORCE, OPPORTUNITY),
    *PERSON_OBJECTS[2:],
)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _never() -> bool:
    return False


def _synced_keys(keys: Sequence[RecordKey]) -> list[RecordKey]:
    """`keys` of the objects the engine syncs (`POLLED_OBJECTS`); the others are logged, one
    line per object, and dropped."""
    kept: list[RecordKey] = []
    dropped: dict[tuple[str, str], int] = {}
    for key in keys:
        if (key.system, key.object) in POLLED_OBJECTS:
            kept.append(key)
        else:
            kind = (System(key.system).value, key.object)
            dropped[kind] = dropped.get(kind, 0) + 1
    for (system, obj), count in dropped.items():
        kv = {"system": system, "object": obj, "keys": count}
        log.info("hinted records of an object not synced left out", extra={"kv": kv})
    return kept


class BackfillStopped(BaseException):
    """A stop was asked for (`connectors.priority.retries_end_on`) while a vendor refused a
    backfill's read for now: the backfill ends there, its run recorded as interrupted, and the
    next one goes on from the last page each listing committed."""


class PollStopped(BaseException):
    """A stop was asked for (SIGTERM): the poll ends at the record in hand, once the page read
    so far is synced and its checkpoint committed; its run is recorded as interrupted, and the
    next poll goes on from there."""


class _Until:
    """`records` until `stopping()`: then the stream ends at the record in hand, and
    `stopped` says so (the pages it made are synced and committed, the rest read next time)."""

    def __init__(self, records: Iterable[SourceRecord], stopping: Callable[[], bool]) -> None:
        self.records = records
        self.stopping = stopping
        self.stopped = False

    def __iter__(self) -> Iterator[SourceRecord]:
        for record in self.records:
            if self.stopping():
                self.stopped = True
                return
            yield record


@contextmanager
def _cut_short(stopping: Callable[[], bool], stopped: type[BaseException]) -> Iterator[None]:
    """A call refused for now (a retryable `ConnectorError`) that ends the work once
    `stopping()` is the stop: the daemon's stop ends a call's retries rather than wait out the
    vendor's back-off (`connectors.priority.retries_end_on`), so the run is interrupted
    (`stopped`), not failed, and goes on from its last committed page next time."""
    try:
        yield
    except ConnectorError as exc:
        if exc.retryable and stopping():
            raise stopped(f"stopped while {exc}") from exc
        raise


class _NotDue(Exception):
    """A reconciliation found due was begun by another process meanwhile (`reconcile`)."""


@dataclass(frozen=True)
class SyncPolicy:
    create_leads_for_mqls: bool = True  # HubSpot contact reaching MQL -> Salesforce Lead (handoff)
    create_contacts_from_salesforce: bool = True  # Lead/Contact created in SF -> HubSpot contact
    propagate_deletes: bool = False  # default: flag + report; on: see sync.deletes
    lookback: timedelta = timedelta(minutes=2)
    # how long writes refused "for now" may hold an object's checkpoint; after that they are
    # kept as dead letters (with the system's code and message) and its changes move on
    wait_limit: timedelta = timedelta(hours=1)
    # reconciliation: how many records vanishing at once are taken for deletes
    vanish_guard: Guard = field(default_factory=Guard)
    settle: timedelta = timedelta(seconds=2)  # the run's upper bound = now - settle
    page_size: int = 500  # records per unit of work when polling
    backfill_page_size: int = 5_000  # ... when backfilling: fewer part-filled write batches
    heartbeat_every: timedelta = timedelta(seconds=5)  # a running run's beats, at most this often
    pulse_every: timedelta = timedelta(minutes=1)  # ... and at least this often, between pages
    twin_cache_records: int = 50_000  # a backfill keeps this many records to spare re-reads
    twin_cache_age: timedelta = timedelta(minutes=5)  # ... each used while younger than this
    prefetch_records: int = 10_000  # a backfill reads HubSpot this far ahead in memory...
    prefetch_spill_bytes: int = 512 * 2**20  # ... and further on disk, up to this size
    stale_after: timedelta = STALE_AFTER  # a running run silent this long is closed as interrupted


class Progress(Protocol):
    def start(self, label: str, total: int | None, done: int = 0) -> None: ...
    def advance(self, label: str, count: int) -> None: ...
    def finish(self, label: str) -> None: ...


def _dry_identity(reader: sqlalchemy.Engine) -> Identity:
    """An identity overlay a dry run keeps across its units: nothing is stored, yet the
    HubSpot pass must see the Salesforce links the run would have made."""
    with reader.connect() as conn:
        return Identity(conn)


def _read_up_to(checkpoint: Checkpoint | None, since: datetime) -> bool:
    """Whether reading already reached `since`: only then may a backfill of `[since, upper)`
    move the checkpoint to `upper` without leaving changes before `since` unread."""
    return checkpoint is not None and checkpoint.cursor is not None and checkpoint.cursor >= since


class SyncEngine:
    """Keeps HubSpot contacts and Salesforce Leads/Contacts in one funnel language."""

    def __init__(
        self,
        *,
        hubspot: Connector,
        salesforce: Connector,
        dictionary: Dictionary,
        db: sqlalchemy.Engine,
        policy: SyncPolicy = SyncPolicy(),
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.connectors: dict[System, Connector] = {
            System.HUBSPOT: hubspot,
            System.SALESFORCE: salesforce,
        }
        self.mapper = Mapper(dictionary)
        self.planner = Planner(
            self.mapper,
            CreationPolicy(policy.create_leads_for_mqls, policy.create_contacts_from_salesforce),
        )
        self.db = db
        self.reader = for_reading(db)
        self.policy = policy
        self.now = now
        self.worker = Worker(
            connectors=self.connectors,
            mapper=self.mapper,
            planner=self.planner,
            db=db,
            now=now,
            propagate_deletes=policy.propagate_deletes,
        )
        self.runs = RunRecorder(
            db=db,
            now=now,
            heartbeat_every=policy.heartbeat_every,
            pulse_every=policy.pulse_every,
            stale_after=policy.stale_after,
        )

    # -- entry points ----------------------------------------------------------------------------

    def poll(
        self,
        *,
        dry_run: bool = False,
        stopping: Callable[[], bool] = _never,
        into: CycleReport | None = None,
    ) -> CycleReport:
        """One incremental cycle over both systems' person objects, page by page, from each
        checkpoint (minus the lookback) to now - settle. `stopping()` (a SIGTERM) ends it at
        the record in hand with `PollStopped`, what was read so far synced and committed, its
        run recorded as interrupted: a slow vendor does not keep the stop waiting. Each page's
        counts are added to `into` (the caller's report, returned) as it commits, so the caller
        also knows what a poll that failed or stopped part way did."""
        upper = self.now() - self.policy.settle
        # kept by the run as far as it got, should it fail or be interrupted
        report = into if into is not None else CycleReport()

        def body(run_id: uuid.UUID | None) -> CycleReport:
            with _cut_short(stopping, PollStopped):
                return self._poll(upper, run_id, dry_run, report, stopping)

        return self._run(RunKind.DAEMON, dry_run, body, so_far=report)

    def sync_keys(
        self,
        keys: Sequence[RecordKey],
        *,
        trigger: str,
        dry_run: bool = False,
        gone: Collection[RecordKey] = (),
        purged: Collection[RecordKey] = (),
    ) -> CycleReport:
        """Re-read these records by id and sync their people (webhooks, retries). Of `gone`
        (keys a webhook said were deleted), those the read does not find are taken as deleted:
        a record deleted for good (`purged`, a GDPR deletion) is in no recycle bin a poll
        reads, so a delete it calls for that is refused for now is kept as a dead letter.
        A key of an object the engine does not sync (an Outbound Message about an Account, a
        HubSpot app's deal or company event) is left out, logged: it would fail the unit of
        every other key with it, and the daemon would try that unit again for ever."""
        keys = _synced_keys(keys)
        synced = set(keys)
        records = self.worker.read(keys)
        found = {record.key for record in records}
        now = self.now()
        records += [
            SourceRecord(key, {}, now, deleted=True)
            for key in gone
            if key in synced and key not in found
        ]
        report, _ = self.worker.run(
            records,
            trigger=trigger,
            dry_run=dry_run,
            run_id=None,
            purged=[key for key in purged if key in synced and key not in found],
            look_first=True,
        )
        return report

    def backfill(
        self,
        *,
        systems: Sequence[System] | None = None,
        objects: Sequence[str] | None = None,
        since: datetime | None = None,
        dry_run: bool = False,
        progress: Progress | None = None,
        restart: bool = False,
    ) -> CycleReport:
        """Read every live record (bulk listings) and sync, leaving checkpoints at the start
        time so the daemon continues from there. A listing sees no deleted record, so what was
        deleted or merged away since a checkpoint is read before it (`_deletions`): the
        checkpoint moved past would leave it unread.

        Resumable: each listing's position is kept as its pages commit, so a backfill after an
        interrupted one goes on where each listing stopped (`sync.store.positions`). What the
        interrupted run listed was read as of its start, so what changed since is read after
        the listings (`_catch_up`): the run ends as current as an uninterrupted one.
        `restart` lists everything again instead. Rerunning is safe either way: already-synced
        people plan no writes. The last pass, HubSpot contacts for Salesforce people without
        one, waits until HubSpot's contacts have all been read (`_hubspot_read`).

        With `since`, only the records modified in `[since, start)` are read, through the
        change listings (kept positions are left for a full backfill). A checkpoint still
        behind `since` (or absent) is then left alone: moving it to the start would skip the
        changes before `since` the daemon has not read.
        """
        if since is not None and since.utcoffset() is None:
            raise ValueError(f"since must be timezone-aware, got {since.isoformat()}")
        wanted = [
            (system, obj)
            for system, obj in PERSON_OBJECTS
            if (systems is None or system in systems) and (objects is None or obj in objects)
        ]

        upper = self.now() - self.policy.settle
        report = CycleReport()  # kept by the run as far as it got, should it be interrupted

        def body(run_id: uuid.UUID | None) -> CycleReport:
            with _cut_short(stop_requested, BackfillStopped):
                listings = self._listings(wanted, upper, since, dry_run=dry_run, restart=restart)
                self._backfill(wanted, listings, upper, since, run_id, dry_run, progress, report)
            if listings and not dry_run:
                with self.db.begin() as tx:
                    forget_listings(tx, wanted)
            return report

        return self._run(RunKind.BACKFILL, dry_run, body, so_far=report)

    def reconcile(
        self,
        *,
        dry_run: bool = False,
        stopping: Callable[[], bool] = lambda: False,
        every: timedelta | None = None,
        into: CycleReport | None = None,
    ) -> CycleReport | None:
        """Read every actively linked person record again by id and sync those the systems
        no longer have (purged before a poll read them from a bin) as deleted, and merges
        found as merges (`sync.reconcile`). An object where more vanished at once than
        `SyncPolicy.vanish_guard` takes for deletes is left alone and the run fails with
        `TooManyVanished`, after the other objects are done. `stopping()` (a SIGTERM) ends it
        between pages with `ReconcileStopped`, its run recorded as interrupted.

        With `every`, only when due (`reconcile_due`), asked again as its run starts, after
        any other process's start (`RECONCILE_STARTS`): two daemons on one store that both
        found it due start one. None when it was not. Counts go to `into` as in `poll`."""
        # kept by the run as far as it got, should it fail or be interrupted
        report = into if into is not None else CycleReport()

        def body(run_id: uuid.UUID | None) -> CycleReport:
            with _cut_short(stopping, ReconcileStopped):
                return self._reconcile(run_id, dry_run, report, stopping)

        try:
            return self._run(
                RunKind.RECONCILE,
                dry_run,
                body,
                so_far=report,
                claim=None if every is None else functools.partial(self._still_due, every),
            )
        except _NotDue:
            return None

    def _still_due(self, every: timedelta, tx: sqlalchemy.Connection) -> None:
        """In a reconciliation's start transaction: raise `_NotDue` when another process
        began one since it was found due."""
        hold(tx, RECONCILE_STARTS)
        last = last_started(tx, RunKind.RECONCILE)
        if last is not None and self.now() - last < every:
            raise _NotDue

    def _reconcile(
        self,
        run_id: uuid.UUID | None,
        dry_run: bool,
        report: CycleReport,
        stopping: Callable[[], bool],
    ) -> CycleReport:
        """The reconciliation's passes, adding to `report` as each page commits."""
        refused: list[str] = []
        for system, obj in PERSON_OBJECTS:
            gone = vanished(
                self.reader, self.worker.read, system, obj, now=self.now(), stopping=stopping
            )
            if gone.linked:  # every linked record, read again by id
                report.read[f"{system}:{obj}"] += gone.linked
            if self.policy.vanish_guard.refuses(gone.deletes, gone.linked):
                refused.append(
                    f"{gone.deletes} of {gone.linked} linked {system}:{obj} records are gone"
                )
                continue
            for start in range(0, len(gone.records), self.policy.page_size):
                if stopping():
                    raise ReconcileStopped(f"stopped while syncing {system}:{obj}")
                page = gone.records[start : start + self.policy.page_size]
                part, _ = self.worker.run(
                    page,
                    trigger="reconcile",
                    dry_run=dry_run,
                    run_id=run_id,
                    purged=[r.key for r in page if r.key in gone.purged],
                    # Salesforce shares records by user: one it does not return may be hidden
                    unpropagated=gone.purged if system is System.SALESFORCE else (),
                )
                part.read.clear()  # the vanished records: counted once, in `gone.linked`
                report += part
        if refused:
            raise TooManyVanished(
                "; ".join(refused)
                + ": more likely lost access than deletes (the Salesforce integration user's "
                "sharing, another HubSpot portal's token); nothing was flagged for them. Check "
                "the credentials, or raise BATON_VANISH_GUARD_SHARE"
            )
        return report

    def reconcile_due(self, every: timedelta) -> bool:
        """Whether the last reconciliation began `every` ago or more (or none did): the
        daemon's timer asks often, and a cron's `run --once` each time. A failed one waits as
        long too: refused for lost access, it needs a person, not 24 full reads a day. One
        stopped before its end (`ReconcileStopped`) does not count: it is begun again."""
        with self.reader.connect() as conn:
            last = last_started(conn, RunKind.RECONCILE)
        return last is None or self.now() - last >= every

    def retry_dead_letters(self, ids: Sequence[int] | None = None) -> CycleReport:
        """Sync again the people of open dead letters (these ids, or all): their records are
        re-read, so data fixed since is what gets written, even the very payload refused
        before (nothing is held back). A refused delete is sent again itself
        (`sync.deletes.from_letters`), unless the deleted record is back. Letters close once
        the retry's outcome is committed; a new refusal keeps its letter open, with one more
        attempt counted."""
        with self.reader.connect() as conn:
            letters = letters_repo.open_dead_letters(conn, ids)
            deletions = deletes.from_letters(conn, letters)
            keys: list[RecordKey] = []
            pids: list[uuid.UUID] = []
            for letter in letters:
                if deletes.is_delete(letter.payload):
                    continue
                if letter.key.id.startswith(NEW_PREFIX):
                    pids.append(uuid.UUID(letter.key.id.removeprefix(NEW_PREFIX)))
                else:
                    keys.append(letter.key)
            for link_ in find_links(conn, keys).values():
                pids.append(link_.person_id)
            for links in active_links_for(conn, pids).values():
                keys.extend(link_.key for link_ in links.values())

        def body(run_id: uuid.UUID | None) -> CycleReport:
            records = self.worker.read(dict.fromkeys(keys))
            report, _ = self.worker.run(
                records,
                trigger="retry",
                dry_run=False,
                run_id=run_id,
                retrying=True,
                look_first=True,
            )
            gone = self.worker.read([d.gone for d in deletions])  # Salesforce: bin rows too
            back = {r.key for r in gone if not r.deleted}
            to_send, moot = deletes.moot(deletions, back)
            removed = deletes.send(self.connectors, to_send)
            with self.db.begin() as tx:
                deletes.note_moot(tx, moot, trigger="retry", run_id=run_id, now=self.now())
                deletes.commit(
                    tx,
                    removed,
                    report,
                    trigger="retry",
                    run_id=run_id,
                    now=self.now(),
                    letter_retries=True,
                )
                # Closed after the outcome, never before sending: a crash in between leaves
                # the letters open (the next retry finds the writes made and closes them). A
                # letter refused again, even for now, has a new count and stays open.
                letters_repo.close_retried(tx, letters)
            return report

        return self._run(RunKind.RETRY, False, body)

    # -- runs --------------------------------------------------------------------------------------

    def _run(
        self,
        kind: RunKind,
        dry_run: bool,
        body: Callable[[uuid.UUID | None], CycleReport],
        *,
        so_far: CycleReport | None = None,
        claim: Callable[[sqlalchemy.Connection], None] | None = None,
    ) -> CycleReport:
        with collector.cycle_heap_only():
            return self.runs.run(kind, dry_run, body, so_far, claim)

    def _capped(self, system: System, upper: datetime, report: CycleReport) -> datetime:
        """Where a window read to `upper` leaves the checkpoint: there, or at the system's own
        now - settle when its clock is behind ours, as its responses during the read told it.
        The windows are on the system's stamps: a checkpoint ahead of its clock would start
        the next window after edits it stamps later, and past the lookback they are never
        read. A skew beyond half the lookback is logged (once per run) and noted in
        `report`."""
        vendor = self.connectors[system].vendor_now()
        if vendor is None:
            return upper
        skew = vendor - self.now()
        if abs(skew) > self.policy.lookback / 2 and system.value not in report.clock_skew:
            seconds = skew.total_seconds()
            report.clock_skew[system.value] = seconds
            log.warning(
                "clock skew",
                extra={
                    "kv": {
                        "system": system.value,
                        "clock_offset_s": round(seconds, 1),
                        "lookback_s": self.policy.lookback.total_seconds(),
                        "fix": "check NTP on this host",
                    }
                },
            )
        return min(upper, vendor - self.policy.settle)

    def _poll(
        self,
        upper: datetime,
        run_id: uuid.UUID | None,
        dry_run: bool,
        report: CycleReport,
        stopping: Callable[[], bool] = _never,
    ) -> CycleReport:
        """The poll's passes, adding to `report` as each page commits."""
        carry = _dry_identity(self.reader) if dry_run else None
        for system, obj in POLLED_OBJECTS:
            if stopping():
                raise PollStopped(f"stopped before reading {system}:{obj}")
            self._read_changes(
                system,
                obj,
                upper,
                run_id,
                dry_run,
                report,
                carry,
                trigger="poll",
                stopping=stopping,
            )
        if self.policy.create_contacts_from_salesforce:
            if carry is not None:
                report += self._dry_create_missing(carry, trigger="poll")
            else:
                self._create_missing(run_id, None, trigger="poll", into=report, stopping=stopping)
        return report

    def _read_changes(
        self,
        system: System,
        obj: str,
        upper: datetime,
        run_id: uuid.UUID | None,
        dry_run: bool,
        report: CycleReport,
        carry: Identity | None,
        *,
        trigger: str,
        keep: bool = False,
        start: datetime | None = None,
        stopping: Callable[[], bool] = _never,
    ) -> bool:
        """Sync what changed in `obj` since its checkpoint (`start`: since then instead; less
        the lookback either way) up to `upper`, page by page, then move the checkpoint to
        `upper` (`keep`: leave it); False when a page's write waits for a retry (the rest is
        read again next time, from the unmoved checkpoint, which remembers since when: once
        that is `SyncPolicy.wait_limit` ago, such writes are kept as dead letters instead).
        `stopping()` ends the read at the record in hand with `PollStopped`, once the page
        made so far is synced (its checkpoint moved as any page's)."""
        keep = keep or dry_run
        if not keep:
            with self.db.begin() as tx:
                set_upper_bound(tx, system, obj, upper, at=self.now())
        with self.reader.connect() as conn:
            checkpoint = get_checkpoint(conn, system, obj)
        if start is None:
            start = checkpoint.cursor if checkpoint is not None else None
        held_since = checkpoint.blocked_since if checkpoint is not None and not keep else None
        overdue = held_since is not None and self.now() - held_since >= self.policy.wait_limit
        if overdue:
            log.warning(
                "writes kept as dead letters",
                extra={
                    "kv": {
                        "object": f"{system}:{obj}",
                        "held_since": held_since.isoformat() if held_since else None,
                        "why": "refused for now on every try since; see baton errors list",
                    }
                },
            )
        since = start - self.policy.lookback if start is not None else None
        records = _Until(self.connectors[system].read_changes(obj, since, upper), stopping)
        allow = system is System.HUBSPOT  # Salesforce is linked by now (see the docstring)
        for page in (p.records for p in cut_records(records, self.policy.page_size)):
            # A record edited while the window pages comes back in its old place stamped past
            # the bound (Salesforce's queryMore serves current values): the page's position is
            # its last record within the bound, and a later window reads the edited one again.
            within = [(r.modified_at, r.key.id) for r in page if r.modified_at <= upper]
            cursor = None if keep or not within else Cursor(system, obj, *max(within))
            part, blocked = self.worker.run(
                page,
                trigger=trigger,
                dry_run=dry_run,
                run_id=run_id,
                cursor=cursor,
                allow_create=allow,
                carry=carry,
                fast=True,
                waits_as_letters=overdue,
            )
            report += part
            self.runs.beat(run_id)
            if blocked:
                if not keep:
                    with self.db.begin() as tx:
                        note_blocked(tx, system, obj, at=self.now())
                return False
            if overdue and cursor is not None and _past(cursor, checkpoint):
                overdue = False  # that page moved the checkpoint: later refusals wait as usual
        if records.stopped:  # the window was not read to its end: its bound is not reached
            raise PollStopped(f"stopped while reading {system}:{obj}")
        if not keep:
            # The whole window was read: the next one starts from this bound (less the
            # lookback), not from the last change, or a quiet org's polls would keep reading
            # the same last changes again. Never past the system's own now (`_capped`).
            end = self._capped(system, upper, report)
            with self.db.begin() as tx:
                advance_checkpoint(tx, system, obj, end, "", at=self.now())
        return True

    def _listings(
        self,
        wanted: Sequence[tuple[System, str]],
        upper: datetime,
        since: datetime | None,
        *,
        dry_run: bool,
        restart: bool,
    ) -> dict[tuple[System, str], Listing]:
        """The full listings this backfill makes, each begun now or where an interrupted
        backfill left it (`restart`: begun now). None for a `since` backfill; a dry run only
        reads them, so its plan is what the real run would do."""
        if since is not None:
            return {}
        if dry_run:
            if restart:
                return {}
            with self.reader.connect() as conn:
                kept = get_listings(conn)
            return {key: kept[key] for key in wanted if key in kept}
        with self.db.begin() as tx:
            if restart:
                forget_listings(tx, wanted)
            for system, obj in wanted:
                begin_listing(tx, system, obj, upper, at=self.now())
            kept = get_listings(tx)
        return {key: kept[key] for key in wanted}

    def _backfill(
        self,
        wanted: Sequence[tuple[System, str]],
        listings: dict[tuple[System, str], Listing],
        upper: datetime,
        since: datetime | None,
        run_id: uuid.UUID | None,
        dry_run: bool,
        progress: Progress | None,
        report: CycleReport,
    ) -> None:
        """The backfill's passes, adding to `report` as each page commits."""
        carry = _dry_identity(self.reader) if dry_run else None
        twins = TwinCache(
            limit=self.policy.twin_cache_records, max_age=self.policy.twin_cache_age, now=self.now
        )
        todo = [key for key in wanted if key not in listings or not listings[key].done]
        listed = {key for key in wanted if key not in todo}  # read to their end
        for system, obj in wanted:
            begun = listings.get((system, obj))
            if begun is not None and begun.listed:
                report.resumed[f"{system}:{obj}"] += begun.listed

        def pages_of(system: System, obj: str) -> Generator[Page]:
            connector = self.connectors[system]
            size = self.policy.backfill_page_size
            if since is not None:
                return cut_records(connector.read_changes(obj, min(since, upper), upper), size)
            begun = listings.get((system, obj))
            return cut(connector.list_all(obj, begun.position if begun else None), size)

        # The last listing (HubSpot's, the rate-limited one) starts now, in a thread, so its
        # permits are spent while the Salesforce passes compute (see `prefetch_records`). Pages
        # beyond the in-memory depth wait on disk, so the whole head start is spent reading.
        depth = self.policy.prefetch_records // self.policy.backfill_page_size
        early = (
            {
                todo[-1]: read_ahead(
                    pages_of(*todo[-1]),
                    depth,
                    name="backfill-prefetch",
                    spill=page_spill(self.policy.prefetch_spill_bytes)
                    if self.policy.prefetch_spill_bytes > 0
                    else None,
                )
            }
            if len(todo) > 1 and depth > 0
            else {}
        )
        # A Lead is made for an MQL only after the run has listed every Salesforce person: a
        # run that lists none of them (`--system hubspot`, `--object contacts`, a `since`
        # window) first looks up the records each create would duplicate, as a webhook's unit
        # does, or a rep's Lead would get a twin.
        salesforce_listed = since is None and all(
            (System.SALESFORCE, obj) in wanted for obj in (LEAD, CONTACT)
        )
        try:
            for system, obj in todo:
                label = f"{system}:{obj}"
                begun = listings.get((system, obj))
                if progress is not None:
                    total = None if since is not None else self._total(system, obj)
                    progress.start(label, total, done=begun.listed if begun else 0)
                allow = system is System.HUBSPOT  # Salesforce is linked by now (see the docstring)
                prefetched = (system, obj) in early
                # Before the listing, which sees live records only: a merge survivor is then
                # the person's record when its page comes (a delete waiting holds the listing).
                blocked = since is None and self._deletions(
                    system, obj, begun, upper, run_id, dry_run, report, carry, twins
                )
                finished = False
                # Closed however the pass ends: a listing given up must not read on.
                listing = closing(early.get((system, obj)) or pages_of(system, obj))
                unsaved = 0  # records in pages since the last position kept
                with listing as pages:
                    for page in pages:
                        records = page.records
                        if prefetched:
                            records = self._reread_written(records, twins)
                        part, held = self.worker.run(
                            records,
                            trigger="backfill",
                            dry_run=dry_run,
                            run_id=run_id,
                            allow_create=allow,
                            carry=carry,
                            fast=True,
                            twins=twins,
                            look_first=allow and not salesforce_listed,
                        )
                        report += part
                        blocked = blocked or held
                        unsaved += len(page.records)
                        if page.ends and not dry_run:
                            # Before the progress report, where a stop is raised: a run stopped
                            # on its last page has read the whole listing.
                            self._listed(system, obj, begun, since, upper, report, blocked, unsaved)
                            finished = True
                        elif page.reached is not None and begun is not None and not dry_run:
                            with self.db.begin() as tx:
                                save_listing(
                                    tx,
                                    system,
                                    obj,
                                    position=page.reached,
                                    added=unsaved,
                                    held=blocked,
                                    at=self.now(),
                                )
                            unsaved = 0
                        self.runs.beat(run_id)
                        if progress is not None:
                            progress.advance(label, len(page.records))
                if not dry_run and not finished:
                    self._listed(system, obj, begun, since, upper, report, blocked, unsaved)
                listed.add((system, obj))
                if progress is not None:
                    progress.finish(label)
            caught = (
                self._catch_up(wanted, listings, upper, run_id, report, carry)
                if since is None
                else True
            )
            if self.policy.create_contacts_from_salesforce:
                if not caught:
                    report.creation_waits = True  # a write of the catch-up waits for a retry
                elif not self._hubspot_read(listed, since, upper, run_id, dry_run, report, carry):
                    report.creation_waits = True
                elif carry is not None:
                    report += self._dry_create_missing(carry, trigger="backfill")
                else:
                    self._create_missing(run_id, progress, trigger="backfill", into=report)
        finally:
            for stream in early.values():
                stream.close()

    def _deletions(
        self,
        system: System,
        obj: str,
        begun: Listing | None,
        upper: datetime,
        run_id: uuid.UUID | None,
        dry_run: bool,
        report: CycleReport,
        carry: Identity | None,
        twins: TwinCache,
    ) -> bool:
        """Sync what a full listing cannot see: the records deleted or merged away since the
        object's checkpoint (less the lookback) up to the listing's signpost, where the
        listing then moves the checkpoint. Otherwise such a delete is neither flagged nor
        propagated, and a merged-away record's person stays on it. One read (no live record
        read again), before the listing's first page: one resumed past it had them read by the
        run that began it, and what came after its signpost is `_catch_up`'s. None on a store
        with no record of the object linked (a fresh one); all the system keeps where records
        are linked but no checkpoint was set (a first backfill held or restarted). True when a
        delete waits for a retry: the listing then leaves the checkpoint (`_listed`)."""
        if begun is not None and (begun.done or begun.position is not None or begun.listed):
            return False
        bound = begun.upper_bound if begun is not None else upper  # a dry run's: not begun
        with self.reader.connect() as conn:
            checkpoint = get_checkpoint(conn, system, obj)
            cursor = checkpoint.cursor if checkpoint is not None else None
            # Linked by an earlier run: this one's own links (a Contact a Lead was converted
            # into, linked by the Lead's pass) say nothing was read before.
            if cursor is None and not any_linked(conn, system, obj, before=bound):
                return False
        if cursor is not None and cursor >= bound:
            return False
        since = cursor - self.policy.lookback if cursor is not None else None
        records = self.connectors[system].read_deletions(obj, since, bound)
        for page in cut_records(records, self.policy.backfill_page_size):
            part, blocked = self.worker.run(
                page.records,
                trigger="backfill",
                dry_run=dry_run,
                run_id=run_id,
                allow_create=system is System.HUBSPOT,  # as its listing's pages
                carry=carry,
                fast=True,
                twins=twins,
            )
            report += part
            self.runs.beat(run_id)
            if blocked:
                return True
        return False

    def _catch_up(
        self,
        wanted: Sequence[tuple[System, str]],
        listings: Mapping[tuple[System, str], Listing],
        upper: datetime,
        run_id: uuid.UUID | None,
        report: CycleReport,
        carry: Identity | None,
    ) -> bool:
        """What changed since a resumed listing's run began, read as a poll reads it: what an
        interrupted backfill listed was read as of its start, so without this a resumed one
        would end behind an uninterrupted one (a title edited in between would wait for the
        daemon). Listings of this run end at its own start and read nothing here; an object
        never read to a checkpoint is left to the daemon. A dry run (`carry`) reads from where
        the real run's listing would have left the checkpoint, and moves none. False when a
        write waits for a retry (the contacts' then keeps the creation pass waiting)."""
        caught = True
        for key in wanted:
            with self.reader.connect() as conn:
                checkpoint = get_checkpoint(conn, *key)
            start = checkpoint.cursor if checkpoint is not None else None
            begun = listings.get(key)
            if carry is not None:  # where the real run's listing would leave the checkpoint
                if begun is None:
                    continue  # listed from the start: its checkpoint ends at this run's start
                if not begun.held:
                    start = max(start or begun.upper_bound, begun.upper_bound)
            if start is None or start >= upper:
                continue
            read = self._read_changes(
                *key,
                upper,
                run_id,
                carry is not None,
                report,
                carry,
                trigger="backfill",
                start=start,
            )
            caught = caught and (read or key != (System.HUBSPOT, HUBSPOT_CONTACTS))
        return caught

    def _hubspot_read(
        self,
        listed: Collection[tuple[System, str]],
        since: datetime | None,
        upper: datetime,
        run_id: uuid.UUID | None,
        dry_run: bool,
        report: CycleReport,
        carry: Identity | None,
    ) -> bool:
        """Whether every HubSpot contact has been read and linked, the creation pass's premise
        (a Salesforce person still alone truly has no contact); otherwise a create, an upsert
        on email, would overwrite a contact Baton never read (`--system salesforce`).

        Read means up to this run's start: listed by it (its checkpoint then stands there), or
        a checkpoint from before, from which what changed since is read now, as a poll would.
        Never read (no checkpoint): the pass waits for a backfill of HubSpot or the daemon."""
        contacts = (System.HUBSPOT, HUBSPOT_CONTACTS)
        if dry_run and since is None and contacts in listed:
            return True  # a plan: its listing just read them, and it keeps no checkpoint
        with self.reader.connect() as conn:
            checkpoint = get_checkpoint(conn, *contacts)
        if checkpoint is None or checkpoint.cursor is None:
            return False
        if checkpoint.cursor >= upper:
            return True
        if since is not None and contacts in listed:
            # This run read `[since, upper)` already: only the gap before it is left, and the
            # checkpoint stays for the daemon, which reads on from it.
            return self._read_changes(
                *contacts, since, run_id, dry_run, report, carry, trigger="backfill", keep=True
            )
        return self._read_changes(
            *contacts, upper, run_id, dry_run, report, carry, trigger="backfill"
        )

    def _listed(
        self,
        system: System,
        obj: str,
        begun: Listing | None,
        since: datetime | None,
        upper: datetime,
        report: CycleReport,
        blocked: bool,
        added: int,
    ) -> None:
        """A listing read to its end: the checkpoint moves to its signpost, unless a write of
        it waits for a retry (its page must be read again), in this run or the one it resumed.
        A `since` backfill moves it only where reading already reached `since`."""
        with self.db.begin() as tx:
            if begun is not None:
                if not (blocked or begun.held):
                    # This run's bound (a poll running meanwhile may be past the old one); the
                    # cursor only moves forward, to the listing's own signpost at most.
                    set_upper_bound(tx, system, obj, upper, at=self.now())
                    end = self._capped(system, begun.upper_bound, report)
                    advance_checkpoint(tx, system, obj, end, "", at=self.now())
                save_listing(
                    tx,
                    system,
                    obj,
                    position=None,
                    added=added,
                    held=blocked,
                    done=True,
                    at=self.now(),
                )
            elif (
                not blocked
                and since is not None
                and _read_up_to(get_checkpoint(tx, system, obj), since)
            ):
                set_upper_bound(tx, system, obj, upper, at=self.now())
                end = self._capped(system, upper, report)
                advance_checkpoint(tx, system, obj, end, "", at=self.now())

    def _reread_written(self, page: list[SourceRecord], twins: TwinCache) -> list[SourceRecord]:
        """A page read ahead, with the records this run wrote to since read again: the copy
        read before our write would otherwise look like a change and undo it. A record gone
        meanwhile is left out (its deletion is read by the next poll)."""
        stale = {record.key for record in page if twins.was_written(record.key)}
        if not stale:
            return page
        fresh = {record.key: record for record in self.worker.read(stale)}
        return [
            fresh[r.key] if r.key in stale else r
            for r in page
            if r.key not in stale or r.key in fresh
        ]

    def _dry_create_missing(self, carry: Identity, *, trigger: str) -> CycleReport:
        """A dry run's creation pass over the people it linked in memory."""
        keys = [
            links[System.SALESFORCE]
            for links in carry.active.values()
            if set(links) == {System.SALESFORCE}
        ]
        if not keys:
            return CycleReport()
        records = self.worker.read(keys)
        report, _ = self.worker.run(
            records, trigger=trigger, dry_run=True, run_id=None, carry=carry
        )
        report.read.clear()  # read again only to plan; counted once already
        return report

    def _total(self, system: System, obj: str) -> int | None:
        """About how many records a backfill will list, for its progress bar's ETA; a count
        the system refuses costs the ETA only (the listing reports its own failure)."""
        try:
            return self.connectors[system].count_all(obj)
        except ConnectorError:
            return None

    def _create_missing(
        self,
        run_id: uuid.UUID | None,
        progress: Progress | None,
        *,
        trigger: str,
        into: CycleReport,
        stopping: Callable[[], bool] = _never,
    ) -> None:
        """The last pass of a poll or backfill: Salesforce people still without a HubSpot
        contact once both systems were read and linked (a create whose letter is open waits
        for `retry_dead_letters`). Counts go to `into`, the run's report, page by page (kept
        should the pass be interrupted: a backfill's `progress`, a poll's `stopping()` with
        `PollStopped`)."""
        label = "create:hubspot"
        if progress is not None:
            progress.start(label, None)
        report = into
        after: RecordKey | None = None
        while True:
            if stopping():
                raise PollStopped("stopped while creating HubSpot contacts")
            with self.reader.connect() as conn:
                batch = one_sided(
                    conn, after=after, limit=self.policy.page_size, system=System.SALESFORCE
                )
                links = [link_ for link_ in batch if link_.key.system is System.SALESFORCE]
                waiting = letters_repo.open_payloads(
                    conn,
                    [
                        RecordKey(
                            System.HUBSPOT, HUBSPOT_CONTACTS, f"{NEW_PREFIX}{link_.person_id}"
                        )
                        for link_ in links
                    ],
                )
            if not batch:
                break
            after = batch[-1].key
            links = [
                link_
                for link_ in links
                if RecordKey(System.HUBSPOT, HUBSPOT_CONTACTS, f"{NEW_PREFIX}{link_.person_id}")
                not in waiting
            ]
            if not links:
                continue
            # Read again, never from the twin cache: a record deleted since must not be made
            records = self.worker.read([link_.key for link_ in links])
            part, _ = self.worker.run(records, trigger=trigger, dry_run=False, run_id=run_id)
            report += part
            self.runs.beat(run_id)
            if progress is not None:
                progress.advance(label, len(links))
        if progress is not None:
            progress.finish(label)


def _past(cursor: Cursor, checkpoint: Checkpoint | None) -> bool:
    """Whether a page's cursor is past where the window's checkpoint stood (a page re-read in
    the lookback moves nothing, so the page that held the checkpoint is still ahead)."""
    if checkpoint is None or checkpoint.cursor is None:
        return True
    return (cursor.modified_at, cursor.id) > (checkpoint.cursor, checkpoint.last_id or "")
