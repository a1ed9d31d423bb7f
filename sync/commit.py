"""Committing a unit of work: what its writes did, stored in the unit's one transaction.

Links, snapshots (what each record now holds, as written or as read), decisions and notes,
dead letters (a refused write kept with the vendor's own error), pending writes settled, and
funnel transitions with the rejection reasons that explain them. Snapshots are stored only for
what is known to be in the record: a write not sent keeps the record's old values
(`sync.values.keeping`).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from itertools import compress

from sqlalchemy import Connection

from connectors.records import FieldValue, RecordKey, System
from mappings.model import FUNNEL_STAGE
from sync.changes import LIFECYCLE_FIELD
from sync.entries import REJECTIONS, explanation, first_entries, history_changed, history_values
from sync.execute import Result, Sent
from sync.gather import Gathered
from sync.identity import IDENTITY_FIELD, Identity, ambiguous_rule
from sync.plan import OUTCOME_REASON, FieldDecision, PersonPlan, Planner, Write, unsent_fields
from sync.report import CycleReport
from sync.store import dead_letters as letters_repo
from sync.store.addresses import keep_addresses
from sync.store.dead_letters import Direction, NewDeadLetter
from sync.store.decisions import (
    Decision,
    held_rule,
    latest_of_fields,
    note_about,
    record_decisions,
    unheld,
    unrepeated,
)
from sync.store.links import find_links
from sync.store.pending import forget_creates, forget_updates
from sync.store.people import set_emails
from sync.store.snapshots import SnapshotWrite, put_snapshots, touch_snapshots, unread_snapshots
from sync.store.transitions import (
    Explanation,
    Transition,
    explain_rejections,
    record_transitions,
    recorded_stages,
    unexplained_rejections,
)
from sync.values import OUTCOME, STAGE, Values, keeping

POSITION = (STAGE, OUTCOME)  # the canonical values a funnel move writes
NEW_PREFIX = "new:"  # dead letters of creates: "new:<person id>"
EMAIL = "email"  # the canonical field people are matched on (`Identity.resolve`)
WRITE_WARNING = "write_warning"  # the rule of a note saying what a write cut (`Write.warnings`)
#: The rule of a note saying why a HubSpot contact at MQL or later gets no Salesforce Lead
#: (`PersonPlan.not_handed_off`): logged once per change, counted in `CycleReport.not_handed_off`.
NOT_HANDED_OFF = "not_handed_off"


class Committer:
    """Commits units' outcomes (`commit`), in the caller's transaction."""

    def __init__(self, *, planner: Planner) -> None:
        self.planner = planner
        self.history = history_values(planner.dictionary.fields)  # see `commit`

    def commit(
        self,
        tx: Connection,
        gathered: Gathered,
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
        """Store what the unit's writes did in `tx`, the unit's one transaction, so a crash
        before it replays the whole unit. `held` are the writes not sent because an open dead
        letter (in `refused`) refused that very payload, `holding` their fields; with
        `waits_as_letters`, a write refused for now is kept as a dead letter."""
        identity = gathered.identity
        failed = {s.person_id for s in sent if s.result is not Result.OK}
        failed |= {pid for pid, _ in held}
        # A refused (or held) update leaves its fields' snapshots as they were, so the change
        # it carried is still a change next time; the rest of its person's records are stored
        # as carried, or a later edit would read as a conflict with what was carried already.
        unsent = _unsent_fields(sent, held)
        # A person whose other record could not be read (or is in a recycle bin: `twins_in_bins`)
        # was planned with one side: what that side says is not carried yet, so its snapshots
        # keep their values (the change is still a change when the record is back, and the
        # unread record's snapshot says to plan it in full); only their marks move, so reading
        # the side again costs nothing.
        stalled = gathered.stalled
        # People whose lost commit this one stands in for (`Gatherer._landed`): what it would
        # have stored is stored here (below), whatever this unit's writes do.
        found = {identity.person_of.get(key) for key in gathered.landed}
        snapshots: dict[RecordKey, SnapshotWrite] = {}
        emails: list[tuple[uuid.UUID, str | None]] = []  # people's addresses to keep current
        letters: list[NewDeadLetter] = []
        settled: list[int] = []  # open letters of records a write has now reached
        # a record read again says nothing new (a contact still not handed off: logged once)
        notes = unrepeated(tx, [*gathered.notes, *handoff_notes(plans, trigger, now, run_id)])
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
                key = letter_key(s.person_id, s.write)
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
            if (letter := refused.get(letter_key(s.person_id, s.write))) is not None:
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
            # skipped as old news (`Gatherer.gather`), not taken as an edit to carry back. The
            # write's own echo is stamped later, so it is still read and compared.
            planned = None if s.write.creates else gathered.records.get(key)
            at = planned.modified_at if planned is not None else None
            if s.person_id not in failed:
                snapshots[key] = SnapshotWrite(
                    key, s.write.expected, written_by_us=True, source_modified_at=at
                )
            elif kept := unsent.get(s.person_id):
                values = keeping(s.write.expected, gathered.snapshots.get(key), kept)
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
            news = bool(plan.writes) or plan.person_id in found  # a lost commit's writes too
            for key, (values, modified) in plan.seen.items():
                known = gathered.snapshots.get(key)
                if kept:
                    if key in snapshots:
                        continue
                    values = keeping(values, known, kept)
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
        # What a lost commit would have stored (its update landed): stored whatever this
        # unit's writes did, for a person whose snapshots stay too (failed, stalled), or the
        # echo of that update reads as an edit again once the pending rows are gone or replaced.
        for landed in landed_snapshots(gathered):
            snapshots.setdefault(landed.key, landed)
        transitions, explanations = self._transitions(tx, learning, now, gathered.read_at)
        identity.persist(tx, at=now)
        keep_addresses(tx, gathered.addresses)
        unstored = {pid for pid in failed if not unsent.get(pid)}  # kept every snapshot
        unstored -= found  # their lost commit's snapshots are stored
        # An address a lost commit would have kept is new to the store too.
        before = {**gathered.snapshots}
        before.update((key, kept) for key, kept in gathered.landed.items() if kept is not None)
        emails += _edited_emails(identity, plans, unstored, snapshots, before)
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
        _settle_updates(tx, gathered, sent)
        explain_rejections(tx, explanations)
        record_transitions(tx, transitions, at=now)

    @staticmethod
    def _keep_unsent(
        gathered: Gathered,
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
            values = keeping(values, known, kept)
            if values != known:
                snapshots[key] = SnapshotWrite(
                    key, values, source_modified_at=gathered.seen_at.get(key)
                )

    @staticmethod
    def _settle_creates(
        tx: Connection,
        gathered: Gathered,
        sent: Sequence[Sent],
        *,
        waiting: Collection[uuid.UUID],
    ) -> None:
        """Forget the pending creates of people whose snapshots this commit stores. A failed
        (or stalled: see `commit`) person's stay: a create answered "retry later" may have
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
        self,
        tx: Connection,
        plans: Sequence[PersonPlan],
        now: datetime,
        read_at: Mapping[RecordKey, datetime],
    ) -> tuple[list[Transition], list[Explanation]]:
        """First entries the plans' evidence adds to the people's recorded histories, and the
        reasons it gives for rejections recorded without one (see `explanation`); `read_at`
        dates what records a lost unit wrote said when it read them (`Gathered.read_at`)."""
        if not plans:
            return [], []
        recorded = recorded_stages(tx, [plan.person_id for plan in plans])
        facts_of = []
        for plan in plans:
            assert plan.funnel is not None
            facts_of.append((plan, self.planner.facts(plan.funnel, read_at)))
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


def landed_snapshots(gathered: Gathered) -> list[SnapshotWrite]:
    """The snapshots the lost commits of updates found landed (`Gatherer._landed`) would have
    stored."""
    return [
        SnapshotWrite(key, gathered.snapshots[key], source_modified_at=gathered.seen_at.get(key))
        for key in gathered.landed
    ]


def keep_landed(
    tx: Connection, gathered: Gathered, plans: Sequence[PersonPlan], *, at: datetime
) -> None:
    """Store now what the lost commits of updates found landed would have stored (snapshots,
    the addresses they carried): the unit that found them keeps them before sending its own
    writes, whose pending rows replace theirs, so a second crash loses neither."""
    landed = landed_snapshots(gathered)
    if not landed:
        return
    before = {key: kept for key, kept in gathered.landed.items() if kept is not None}
    stored = {snapshot.key: snapshot for snapshot in landed}
    emails = _edited_emails(gathered.identity, plans, (), stored, before)
    put_snapshots(tx, landed, at=at)
    if emails:
        set_emails(tx, emails)


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


def handoff_notes(
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


def letter_key(pid: uuid.UUID, write: Write) -> RecordKey:
    """The key a write's dead letter is kept under ("new:<person>" for a create)."""
    return RecordKey(write.key.system, write.key.object, write.key.id or f"{NEW_PREFIX}{pid}")


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
            fields.update(unsent_fields(write.changes))
    return unsent


def _settle_updates(tx: Connection, gathered: Gathered, sent: Sequence[Sent]) -> None:
    """Forget the pending updates of the people this commit stored: every update's outcome is
    known, or was known before (a refused one's fields keep their old snapshots). A person
    with an update answered "retry later" keeps them: it may have landed, and its fields'
    snapshots stay as they were."""
    updated = {s.person_id for s in sent if not s.write.creates}
    unknown = {s.person_id for s in sent if not s.write.creates and s.result is Result.RETRY}
    settled = (gathered.updates_found | updated) - unknown
    if settled:
        forget_updates(tx, settled)
