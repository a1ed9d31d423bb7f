"""Gathering a unit of work: its records mapped, their people resolved, each person's other
records read by id, and the snapshots each was last synced with.

Records that say nothing new (read again at a time already seen, or with the same source digest
or the same synced values as their snapshot) are set aside here, before any plan: the fast paths
of a poll. What is gathered (`Gathered`) is all the planner and the commit need.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy import Connection

from connectors.protocol import Connector
from connectors.records import FieldValue, RecordKey, SourceRecord, System
from mappings.apply import OPPORTUNITY, Mapper, addresses, converted_lead
from mappings.model import Person
from sync import deletes
from sync.changes import any_changed
from sync.following import Follower
from sync.identity import IDENTITY_FIELD, Identity, ambiguous_rule
from sync.plan import Planner, unsent_fields
from sync.report import CycleReport
from sync.store.addresses import addresses_of
from sync.store.decisions import Decision, note_about, people_with_rule
from sync.store.links import active_keys_for, associated, deleted_links, find_links, restored_links
from sync.store.pending import (
    Baseline,
    PendingCreate,
    PendingUpdate,
    pending_creates,
    pending_updates,
)
from sync.store.people import people_by_emails
from sync.store.snapshots import UNREAD, snapshot_states, snapshot_values
from sync.twins import Read, TwinCache
from sync.values import OUTCOME, STAGE, Values, keeping

EMAIL_TAKEN = "email_taken"  # the rule of a note saying why a person gets no HubSpot contact
#: The rule of a note saying a record was linked, or moved, to a person by an address the
#: person's record in the other system keeps (`sync.identity.Addressed`).
ADDITIONAL_EMAIL = "additional_email"
#: Lead fields the conversion is followed from (`Follower.follow_conversions`): part of the digest.
CONVERSION_FIELDS = ("ConvertedContactId", "ConvertedOpportunityId")
OPPORTUNITY_ID = CONVERSION_FIELDS[1]  # a converted Lead's Opportunity


@dataclass
class Gathered:
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
    quiet: dict[RecordKey, datetime] = field(default_factory=dict)  # see Gatherer._quiet
    restamp: dict[RecordKey, Values] = field(default_factory=dict)  # quiet, snapshot to renew
    digests: dict[RecordKey, str] = field(default_factory=dict)  # Mapper.source_digest
    deletions: list[deletes.Deletion] = field(default_factory=list)
    unreadable: dict[RecordKey, uuid.UUID] = field(default_factory=dict)  # and their people
    pending: set[tuple[uuid.UUID, System]] = field(default_factory=set)  # see `_found_creates`
    assumed: set[RecordKey] = field(default_factory=set)  # snapshots only a pending write kept
    updates_found: set[uuid.UUID] = field(default_factory=set)  # people with pending updates
    # Records whose baseline the pending updates of a person with one landed gave
    # (`Gatherer._landed`), with the snapshot it stands in for (None: none stored): the lost
    # commit's, stored whatever this unit's writes do (`sync.commit`)
    landed: dict[RecordKey, Values | None] = field(default_factory=dict)
    # Records such an update landed on without moving their funnel values, with when the lost
    # unit read them: the position they say was said by then (the lost commit dated it so),
    # not at their modification since, Baton's own write (`Planner.facts`)
    read_at: dict[RecordKey, datetime] = field(default_factory=dict)
    # Baselines a record new to Baton took from its predecessor (a merge's survivor, a
    # conversion's Contact): stored whatever the writes do (`sync.commit`)
    inherited: set[RecordKey] = field(default_factory=set)
    # People waiting for a twin in a recycle bin (`twins_in_bins`)
    binned: set[uuid.UUID] = field(default_factory=set)
    # HubSpot contacts whose addresses changed since kept (none: deleted), to keep (`_addresses`)
    addresses: dict[RecordKey, frozenset[str]] = field(default_factory=dict)

    @property
    def stalled(self) -> set[uuid.UUID]:
        """People planned without a side that could not be read (or is in a recycle bin):
        their snapshots keep their values whatever the commit does (`sync.commit`)."""
        return set(self.unreadable.values()) | self.binned


class Gatherer:
    """Gathers units: maps, resolves and reads what their people's plans need."""

    def __init__(
        self,
        *,
        connectors: Mapping[System, Connector],
        mapper: Mapper,
        planner: Planner,
        read: Read,
        propagate_deletes: bool,
    ) -> None:
        self.connectors = connectors
        self.mapper = mapper
        self.planner = planner
        self.read = read
        self.following = Follower(
            connectors=connectors, mapper=mapper, read=read, propagate_deletes=propagate_deletes
        )

    def gather(
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
    ) -> Gathered:
        """What planning `records` needs: the records saying nothing new set aside (the fast
        paths, with `fast`), the rest mapped and their people resolved, merges, conversions
        and contact roles followed, each person's other records read by id (from `twins`
        first) and their snapshots found. `roles` and `converted` keep what Salesforce was
        asked across a unit's passes, so it is asked once per unit."""
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
        merged, orphaned = self.following.follow_gone(
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
            self.following.succeed_gone(
                identity, claims, merged, notes, trigger, now, run_id, twins
            )
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
            # A converted Lead in hand names its Opportunity: `follow_conversions` links it.
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
                made = self.following.follow_made_by_conversions(
                    identity, unlinked, {} if converted is None else converted
                )
                unlinked = [key for key in unlinked if key not in made]
            if unlinked:
                self.following.follow_contact_roles(
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
            extra = self.following.follow_conversions(
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
                fetched = as_planned(fetched, identity.planned, now)
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
            twins_in_bins(conn, identity, maybe_binned, notes, trigger, now, run_id)
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
        unsettled = pending_updates(conn, touched)
        landed: dict[RecordKey, Values | None] = {}
        read_at: dict[RecordKey, datetime] = {}
        for pid, sent in unsettled.items():
            for baseline, wrote in self._landed(pid, sent, identity, in_hand, values, stored):
                key = baseline.key
                synced = stored.get(key) if key not in assumed else None
                landed[key] = synced[0] if synced is not None else None
                stored[key] = (baseline.values, baseline.modified_at)
                assumed.add(key)
                if wrote is not None:
                    if baseline.modified_at is not None and _said_as_read(
                        wrote, values[key], baseline.values
                    ):
                        read_at[key] = baseline.modified_at
                    why = (
                        f"{key} holds what an update no commit settled wrote (the run was "
                        "interrupted): taken as Baton's own write, so only edits made since "
                        "are changes"
                    )
                    notes.append(
                        note_about(pid, "record", "update_found", trigger, now, run_id, key, why)
                    )
        # A survivor new to Baton starts from what the record merged into it was last synced
        # with: only what the merge changed reads as its change, not every field (a first
        # sync, where the most recent record would win them all). So does a Contact new to
        # Baton that a conversion made the person's record, from its Lead's: an edit made on
        # the contact before the conversion is a one-sided change, carried as it would have
        # been to the Lead, not lost to the Contact's creation, the most recent modification.
        contacts = {
            contact: lead
            for contact, lead in identity.converted_from.items()
            if contact in wanted and contact not in stored
        }
        predecessors = [*merged.values(), *contacts.values()]
        inherited = snapshot_values(conn, predecessors) if predecessors else {}
        baselines: set[RecordKey] = set()
        for successor, former in [*merged.items(), *contacts.items()]:
            if successor not in stored and former in inherited:
                last = inherited[former][0]
                if successor in contacts:
                    last = self._mapped(successor, last)
                stored[successor] = (last, None)
                assumed.add(successor)
                baselines.add(successor)
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
        return Gathered(
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
            updates_found=set(unsettled),
            landed=landed,
            read_at=read_at,
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

    def _mapped(self, key: RecordKey, values: Values) -> Values:
        """`values` (another object's snapshot: a converted Lead's) less the fields `key`'s
        object does not map (a Contact has no company or lead status): it cannot say them, so
        they are no change of its own. The funnel position is kept."""
        remote = self.planner.remote
        return {
            name: value
            for name, value in values.items()
            if name in (STAGE, OUTCOME) or remote(key, name) is not None
        }

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
                    continue  # the upsert matched another person's record: see `sync.commit`
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
    def _landed(
        pid: uuid.UUID,
        kept: Sequence[PendingUpdate],
        identity: Identity,
        in_hand: Mapping[RecordKey, SourceRecord],
        values: Mapping[RecordKey, Values],
        stored: Mapping[RecordKey, tuple[Values, datetime | None]],
    ) -> list[tuple[Baseline, tuple[str, ...] | None]]:
        """When one of a person's unsettled updates landed (its record, modified since it was
        read, holds every field as written), the baselines they give, each with the fields its
        own update wrote if that landed (None: it did not, or none was made there). Those that
        did not (never went out, edited over since) are taken as refused: their fields keep
        the values last stored on each of the person's records, as a commit keeps a refused
        update's (`sync.commit`), so they are planned again while the echo of those that
        landed is Baton's own. With none landed, or a record written gone or unread (nothing
        can be told), none is used: the snapshots stay as the last commit stored them, which
        plans every write again."""
        mine = set(identity.records_of(pid).values())
        landed: set[RecordKey] = set()
        unsent: set[str] = set()
        for update in kept:
            if update.written is None:
                continue
            key = update.baseline.key
            current, record = values.get(key), in_hand.get(key)
            if current is None or record is None or key not in mine:
                return []
            written, read_at = update.baseline.values, update.baseline.modified_at
            # A record not modified since it was read holds no write (an echo is stamped later:
            # `sync.commit`), though one changing only what the snapshot does not hold (a
            # funnel label) holds "as written" all the same.
            if (read_at is None or record.modified_at > read_at) and all(
                current.get(f) == written.get(f) for f in update.written
            ):
                landed.add(key)
            else:
                unsent |= unsent_fields(update.written)
        if not landed:
            return []
        baselines: list[tuple[Baseline, tuple[str, ...] | None]] = []
        for update in kept:
            key = update.baseline.key
            if key in mine:
                old = stored.get(key)
                values_kept = keeping(update.baseline.values, old[0] if old else None, unsent)
                baseline = Baseline(key, values_kept, update.baseline.modified_at)
                baselines.append((baseline, update.written if key in landed else None))
        return baselines

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


def _said_as_read(written: Collection[str], current: Values, baseline: Values) -> bool:
    """Whether a record said its funnel position already when the unit that wrote `written`
    read it: the write moved neither its stage nor its outcome (a funnel label written alone
    respells the position it says), and it says what the write left it saying."""
    return all(f not in written and current.get(f) == baseline.get(f) for f in (STAGE, OUTCOME))


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


def twins_in_bins(
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


def as_planned(
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


def _upsert_key(value: object) -> str:
    """An upsert key as the systems match it: case and surrounding spaces ignored."""
    return str(value or "").strip().casefold()


def _not_before(at: datetime | None, then: datetime | None) -> bool:
    return at is not None and (then is None or at >= then)
