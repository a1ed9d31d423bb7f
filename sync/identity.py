"""Identity: which person a record belongs to, decided once per unit of work and never guessed.

Order of evidence, strongest first:
1. a stored link (active, or inactive: a converted Lead's late echo still names its person; a
   record deleted and restored from a recycle bin, whose person has no record in its system
   any more, becomes that record again);
2. the cross-system id (`baton_id` in HubSpot, `Baton_Id__c` in Salesforce), written on both
   sides so links survive a lost store; a Contact carrying the id of a person linked to a Lead
   is that Lead converted (relink, reason `conversion`), and a converted Lead carrying the id
   of a person whose record is already the Contact it names is that person's former record
   (an inactive link, reason `conversion`: the order a lost store's records are read in does
   not matter);
3. a converted Lead's `ConvertedContactId`: a Lead converted into a Contact that is a person's
   record (Salesforce's "convert into an existing Contact": a person back with a new
   Opportunity), or into one a Lead of the same page stands for, is that person's former record
   (an inactive link, reason `conversion`), checked before any email match: such Leads are
   never email twins of the Contact or of each other;
4. the normalized email, when exactly one person has it and that person has no record in the
   record's system yet. A record of the other system that keeps the email as an address it is
   also found by (a HubSpot contact's additional emails, where a merge keeps the merged-away
   contact's address) names its person too, as HubSpot itself resolves it: a Salesforce
   record with that email pairs with the contact's person (reason `additional_email`, told by
   a note: `addressed`) rather than getting a create whose upsert would land on the contact.
   A person linked by email before the contact's addresses were known (read in the same poll,
   later) whose only record that is moves there (`regroup`).

Anything else is ambiguous: two records of one system with one email, or a cross-id claimed by
two records. Ambiguous records are reported (counted and logged as an `identity` decision with
rule `ambiguous:<system>`), left unlinked, and stay ambiguous on later sightings: the log is
checked before any email match, so a later page never quietly links one of the twins.

New people get a deterministic id (uuid5 of the first record's key), so a unit of work that
crashed after writing but before committing recomputes the same id and its upserts on the
cross-system id find the records it already created instead of duplicating them.
Decisions are held in memory and written by `persist` in the unit's one transaction.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from connectors.records import FieldValue, RecordKey, SourceRecord, System
from mappings.apply import CONTACT, LEAD, OPPORTUNITY, addresses, converted_lead
from mappings.model import Person
from sync.store._sql import Db
from sync.store.addresses import holders_of
from sync.store.decisions import people_with_rule
from sync.store.links import (
    Link,
    LinkReason,
    active_keys_for,
    associate,
    find_links,
    link_many,
    page_links,
    relink,
)
from sync.store.people import (
    add_people_with_ids,
    existing_people,
    people_by_email,
    people_by_emails,
    set_emails,
)

NAMESPACE = uuid.UUID("6f1d3c1e-7a52-4d5e-9a0b-2b8f3b0c7d11")
IDENTITY_FIELD = "identity"
_NO_RECORDS: Mapping[System, RecordKey] = MappingProxyType({})


def _converted_into(items: Iterable[tuple[SourceRecord, Person]]) -> dict[RecordKey, RecordKey]:
    """The Contact each converted Lead without a cross-system id names (a Lead that has one
    is its person's by it: `Identity._by_cross_id`)."""
    return {
        record.key: RecordKey(record.key.system, CONTACT, contact_id)
        for record, person in items
        if converted_lead(record)
        and parse_baton_id(person.baton_id) is None
        and isinstance(contact_id := record.get("ConvertedContactId"), str)
        and contact_id
    }


def ambiguous_rule(system: System) -> str:
    return f"ambiguous:{system}"


def person_id_for(key: RecordKey) -> uuid.UUID:
    """The id of a person first seen as `key`: the same on every retry."""
    return uuid.uuid5(NAMESPACE, str(key))


def parse_baton_id(value: str | None) -> uuid.UUID | None:
    if not value:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class Addressed:
    """A record linked (or moved) to a person because its email is an address the person's
    record in the other system is also found by."""

    person_id: uuid.UUID
    key: RecordKey
    holder: RecordKey  # the record keeping the email as an address of its own
    email: str
    why: str


class IdentityRaced(Exception):
    """Another process's commit settled a record or an email this unit resolved otherwise
    (two processes on one store); `str()` is the one line to log."""


@dataclass(frozen=True, slots=True)
class Ambiguity:
    """A record that could belong to more than one person (or clashes with another record)."""

    key: RecordKey
    person_id: uuid.UUID  # the person the decision is logged against
    email: str | None
    why: str
    # A cross-system id's claim: the record that is the person's in the claimant's system
    holder: RecordKey | None = None


@dataclass
class Identity:
    """One unit of work's identity decisions, over the store plus what this unit decided."""

    db: Db
    person_of: dict[RecordKey, uuid.UUID] = field(default_factory=dict)
    active: dict[uuid.UUID, dict[System, RecordKey]] = field(default_factory=dict)
    new_people: dict[uuid.UUID, str | None] = field(default_factory=dict)
    new_links: list[tuple[uuid.UUID, RecordKey, LinkReason]] = field(default_factory=list)
    moves: list[tuple[uuid.UUID, RecordKey, LinkReason]] = field(default_factory=list)
    # Each record a conversion made its person's (a Contact), with the one it replaced (the
    # Lead): a Contact new to Baton starts from that Lead's snapshot (`sync.gather`)
    converted_from: dict[RecordKey, RecordKey] = field(default_factory=dict)
    associations: list[tuple[uuid.UUID, RecordKey, LinkReason]] = field(default_factory=list)
    ambiguous: list[Ambiguity] = field(default_factory=list)
    restored: set[uuid.UUID] = field(default_factory=set)  # people `_restore` gave a record back
    # People read with a record a propagated delete ended (`PageLinks.bereft`): with
    # `restored`, the people a record restored alone may leave waiting (`sync.gather.twins_in_bins`)
    bereft: set[uuid.UUID] = field(default_factory=set)
    # Stored people's Opportunities (inactive links), read with their records by `resolve`: a
    # person without an entry was not read that way (ask the store: `sync.store.links.associated`)
    opportunities: dict[uuid.UUID, list[RecordKey]] = field(default_factory=dict)
    # A dry run's planned updates, by record: its later units read those records as the real
    # run would after writing them (`sync.unit.Worker` overlays them), not as they were
    planned: dict[RecordKey, dict[str, FieldValue]] = field(default_factory=dict)
    _email_people: dict[str, list[uuid.UUID]] = field(default_factory=dict)
    _born_by_email: dict[uuid.UUID, str] = field(default_factory=dict)  # new: no one had it
    _flagged: dict[System, set[uuid.UUID]] = field(
        default_factory=lambda: {system: set() for system in System}
    )
    # Contacts Leads were converted into: their person as stored (None: no one's), and the
    # person a Lead converted into one no one had stands for it in this unit
    _stored_contacts: dict[RecordKey, uuid.UUID | None] = field(default_factory=dict)
    _standing: dict[RecordKey, uuid.UUID] = field(default_factory=dict)
    # Each moved record's person when this unit decided the move (None: no one's, as far as
    # it knew): another process linking it since is a race (`_check_unraced`)
    _moved_from: dict[RecordKey, uuid.UUID | None] = field(default_factory=dict)
    # Records linked or moved by an address (`Addressed`), for the decision log; people left
    # without records by such a move, whose email then names no one (`regroup`)
    addressed: list[Addressed] = field(default_factory=list)
    vacated: set[uuid.UUID] = field(default_factory=set)
    # Addresses of records this unit read (`read_addresses`): they override the store's
    _addresses: dict[RecordKey, frozenset[str]] = field(default_factory=dict)
    _read_holders: dict[str, set[RecordKey]] = field(default_factory=dict)  # by address
    _kept_holders: dict[str, list[RecordKey]] = field(default_factory=dict)  # as stored

    # -- reading ---------------------------------------------------------------------------------

    def resolve(self, items: Sequence[tuple[SourceRecord, Person]]) -> None:
        """Decide the person of every record (ambiguous ones stay out of `person_of`). The
        caller has read the unit's addresses first (`read_addresses`, all its records: the
        quiet and deleted ones' too), so those the records carry now count."""
        keys = [record.key for record, _ in items]
        page = page_links(self.db, [k for k in keys if k not in self.person_of], OPPORTUNITY)
        stored = page.people
        self.person_of.update(stored)
        self._load_active(stored.values(), found=page.records)
        for pid, opportunities in page.associated.items():
            self.opportunities.setdefault(pid, opportunities)
        self.bereft |= page.bereft
        self._restore([record for record, _ in items if record.key in stored])
        unlinked = [(r, p) for r, p in items if r.key not in self.person_of]
        if not unlinked:
            return
        claimed = {
            bid
            for _, p in unlinked
            if (bid := parse_baton_id(p.baton_id)) is not None and bid not in self.new_people
        }
        known = existing_people(self.db, sorted(claimed)) if claimed else set()
        self._load_active(known)
        converted = _converted_into(unlinked)
        self._stored_owners(converted.values())
        people = {record.key: person for record, person in unlinked}
        for lead, into in list(converted.items()):
            if (owner := self._former_owner(people[lead], into)) is not None:
                self.associate(owner, lead, LinkReason.CONVERSION)
                del converted[lead]
        unlinked = [(r, p) for r, p in unlinked if r.key not in self.person_of]
        emails = [
            p.email
            for _, p in unlinked
            if p.email and parse_baton_id(p.baton_id) is None and p.email not in self._email_people
        ]
        if emails:
            self._email_people.update(people_by_emails(self.db, emails))
            candidates = [pid for e in emails for pid in self._email_people.get(e, [])]
            self._load_active(candidates)
            for system in System:
                self._flagged[system] |= people_with_rule(
                    self.db, candidates, IDENTITY_FIELD, ambiguous_rule(system)
                )
        self.load_holders(
            p.email for _, p in unlinked if p.email and parse_baton_id(p.baton_id) is None
        )
        # Leads converted into one Contact, and that Contact, are one human's records: one
        # twin between them, not several.
        grouped: dict[tuple[System, str], set[RecordKey]] = defaultdict(set)
        for record, person in unlinked:
            if person.email and parse_baton_id(person.baton_id) is None:
                grouped[(record.key.system, person.email)].add(
                    converted.get(record.key, record.key)
                )
        twins = {twin: len(keys) for twin, keys in grouped.items()}
        # Converted Leads last: their Contact, when in the page, is resolved first; records
        # with addresses of their own first, so the records those name find their person.
        for record, person in sorted(
            unlinked, key=lambda item: (item[0].key in converted, not item[0].other_emails)
        ):
            if record.key in self.person_of:
                continue  # a duplicate within the page
            contact = converted.get(record.key)
            if contact is not None and (owner := self._former_owner(person, contact)) is not None:
                # its Contact, or a Lead converted into it, was resolved in this page
                self.associate(owner, record.key, LinkReason.CONVERSION)
                continue
            bid = parse_baton_id(person.baton_id)
            if bid is not None:
                self._by_cross_id(record, bid, person.email, known)
            elif person.email:
                self._by_email(record.key, person.email, twins[(record.key.system, person.email)])
            else:
                self._new_person(record.key, None, LinkReason.CROSS_ID)
            if contact is None and converted_lead(record):
                # a converted Lead resolved by its cross-system id (a lost store) stands for
                # its Contact too, when it is its person's current record
                named = record.get("ConvertedContactId")
                holder = self.person_of.get(record.key)
                if (
                    isinstance(named, str)
                    and named
                    and holder is not None
                    and self.active.get(holder, _NO_RECORDS).get(record.key.system) == record.key
                ):
                    self._standing.setdefault(RecordKey(record.key.system, CONTACT, named), holder)
            if contact is not None and record.key in self.person_of:
                # the first Lead converted into a Contact no one has yet stands for it (it is
                # moved there: `Follower.follow_conversions`); the others are its former ones
                self._standing[contact] = self.person_of[record.key]

    def follow(self, associated: Mapping[RecordKey, uuid.UUID]) -> None:
        """Records that only point at their person (an Opportunity, by its inactive link): the
        person's current records are loaded too, so the person is planned with them."""
        for key, pid in associated.items():
            self.person_of.setdefault(key, pid)
        self._load_active(associated.values())

    def _restore(self, linked: Iterable[SourceRecord]) -> None:
        """A live record whose link a propagated delete ended (reason `deleted`) came back from
        the recycle bin: it is its person's record again, unless the person has another record
        in that system by now. Links ended otherwise (a conversion, a merge, a move) stay
        ended."""
        candidates = [
            record.key
            for record in linked
            if record.key.system not in self.active.get(self.person_of[record.key], _NO_RECORDS)
        ]
        if not candidates:
            return
        for key, link_ in find_links(self.db, candidates).items():
            if link_.reason is LinkReason.DELETED and not link_.active:
                self.move(link_.person_id, key, LinkReason.RESTORED)
                self.restored.add(link_.person_id)

    def _load_active(
        self,
        person_ids: Iterable[uuid.UUID],
        *,
        found: Mapping[uuid.UUID, dict[System, RecordKey]] | None = None,
    ) -> None:
        """Each person's current records, unless this unit holds them already (`found`: read
        with the people themselves)."""
        wanted = [p for p in dict.fromkeys(person_ids) if p not in self.active]
        if not wanted:
            return
        if found is None:
            found = active_keys_for(self.db, wanted)
        for pid in wanted:
            self.active[pid] = found.get(pid, {})

    def _stored_owners(self, contacts: Iterable[RecordKey]) -> None:
        """Read whose current record each Contact is, as stored, unless this unit knows."""
        unseen = [
            c for c in set(contacts) if c not in self.person_of and c not in self._stored_contacts
        ]
        if not unseen:
            return
        found = find_links(self.db, unseen)
        for contact in unseen:
            link_ = found.get(contact)
            self._stored_contacts[contact] = link_.person_id if link_ and link_.active else None
        self._load_active(p for p in self._stored_contacts.values() if p is not None)

    def _former_owner(self, lead: Person, contact: RecordKey) -> uuid.UUID | None:
        """The person a converted Lead is the former record of: its Contact's (`_owner`),
        unless the Lead's email is another person's (a rep converting someone's Lead into
        the wrong Contact): that Lead is left to the email match, and the conversion's
        follower reports it rather than hand it to the Contact's person."""
        owner = self._owner(contact)
        if owner is None or not lead.email:
            return owner
        others = [p for p in self._people_with_email(lead.email) if p != owner]
        return None if others else owner

    def _owner(self, contact: RecordKey) -> uuid.UUID | None:
        """The person whose current record `contact` is (in this unit, or as stored), or who
        stands for it (a Lead converted into it, resolved in this unit)."""
        pid = self.person_of.get(contact)
        if pid is None:
            pid = self._stored_contacts.get(contact)
        if pid is not None and self.active.get(pid, _NO_RECORDS).get(contact.system) == contact:
            return pid
        return self._standing.get(contact)

    def _by_cross_id(
        self, record: SourceRecord, bid: uuid.UUID, email: str | None, known: set[uuid.UUID]
    ) -> None:
        key = record.key
        if bid not in known and bid not in self.new_people and bid not in self.active:
            self.new_people[bid] = email  # the store was lost, or never saw this person
            self.active[bid] = {}
        current = self.active.setdefault(bid, {}).get(key.system)
        if current is None:
            self._link(bid, key, LinkReason.CROSS_ID)
        elif current.object == LEAD and key.object == CONTACT:
            self.move(bid, key, LinkReason.CONVERSION)
        elif (
            current.object == CONTACT
            and converted_lead(record)
            and record.get("ConvertedContactId") == current.id
        ):
            # The Lead the person's Contact was converted from, read after it (a lost store
            # rebuilt in that order): the person's former record, as the Lead-first order
            # leaves it, still naming the person for its late echoes and its Opportunity.
            self.associate(bid, key, LinkReason.CONVERSION)
        else:
            why = f"{key} and {current} carry the same baton id {bid}"
            self.ambiguous.append(Ambiguity(key, bid, email, why, holder=current))

    def _by_email(self, key: RecordKey, email: str, twins: int) -> None:
        by_email = self._people_with_email(email)
        named = self.named_by(email, key.system)
        candidates = list(dict.fromkeys([*by_email, *(o for _, o in named if o is not None)]))
        flagged = self._flagged[key.system] & set(candidates)
        holders = [p for p in candidates if key.system in self.active.get(p, {})]
        free = [p for p in candidates if p not in holders]
        nameless = [holder for holder, owner in named if owner is None]
        if twins > 1 or flagged or holders or len(free) > 1 or nameless:
            if nameless:
                why = (
                    f"{nameless[0]} keeps {email} as an additional email and is no one's "
                    "record yet: not linked, and no record is made that would land on it"
                )
            elif holders:
                record = self.active[holders[0]][key.system]
                why = f"{record} already has the email {email}"
                if holders[0] not in by_email:
                    holder = next(h for h, o in named if o == holders[0])
                    why = (
                        f"{holder} keeps {email} as an additional email (a HubSpot merge), "
                        f"and its person already has {record}"
                    )
            elif twins > 1 or flagged:
                # the same words whether the twins were read together or one alone (a
                # webhook), so a note is logged once per change (`unrepeated`), not per read
                why = f"more than one {key.system} record has the email {email}"
            else:
                why = f"{len(free)} people share the email {email}"
                if any(p not in by_email for p in free):
                    holder = next(h for h, o in named if o in free)
                    why += f" (one by {holder}'s additional emails)"
            target = (holders or free)[0] if holders or free else self._new_person(key, email, None)
            self._ambiguous(key, target, email, why)
        elif free and free[0] not in by_email:
            holder = next(h for h, o in named if o == free[0])
            self._link(free[0], key, LinkReason.ADDITIONAL_EMAIL)
            self._addressed(free[0], key, holder, email)
        elif free:
            self._link(free[0], key, LinkReason.EMAIL)
        else:
            self._new_person(key, email, LinkReason.EMAIL)

    # -- addresses ---------------------------------------------------------------------------------

    def read_addresses(self, records: Iterable[SourceRecord]) -> None:
        """What these records say of their addresses now (a deleted record: none), over what
        the store kept of them."""
        for record in records:
            now = addresses(record)
            before = self._addresses.get(record.key)
            self._addresses[record.key] = now
            for gone in before - now if before else ():
                self._read_holders[gone].discard(record.key)
            for address in now:
                self._read_holders.setdefault(address, set()).add(record.key)

    def load_holders(self, emails: Iterable[str]) -> None:
        """Read the records the store keeps these addresses for, their people, and whether
        those were reported ambiguous: one query for a page of addresses (`named_by` asks
        for one at a time), and no more when no record keeps any."""
        unseen = [e for e in dict.fromkeys(emails) if e not in self._kept_holders]
        if not unseen:
            return
        found = holders_of(self.db, unseen)
        for email in unseen:
            self._kept_holders[email] = found.get(email, [])
        held = {key for keys in found.values() for key in keys}
        if not held:
            return
        self._stored_owners(held)
        owners = [p for key in held if (p := self._owner(key)) is not None]
        for system in System:
            self._flagged[system] |= people_with_rule(
                self.db, owners, IDENTITY_FIELD, ambiguous_rule(system)
            )

    def named_by(self, email: str, system: System) -> list[tuple[RecordKey, uuid.UUID | None]]:
        """The records outside `system` that keep `email` as an address of their own (as this
        unit read them, else as stored), each with its person (None: no one's current record):
        whom a `system` record with that email belongs to."""
        self.load_holders([email])
        kept = [
            key
            for key in self._kept_holders[email]
            if key not in self._addresses and key.system is not system
        ]
        read = [key for key in self._read_holders.get(email, ()) if key.system is not system]
        named = sorted({*kept, *read})
        self._stored_owners(named)  # read this unit, yet not resolved in it (a quiet one)
        return [(key, self._owner(key)) for key in named]

    def _addressed(self, pid: uuid.UUID, key: RecordKey, holder: RecordKey, email: str) -> None:
        why = (
            f"{key} has the email {email}, which {holder} keeps as an additional email (a "
            f"HubSpot merge keeps the merged-away contact's address there): {key} is paired "
            f"with {holder}, as HubSpot finds {holder} by it, and the field rules decide "
            "their values"
        )
        self.addressed.append(Addressed(pid, key, holder, email, why))

    def regroup(self, items: Iterable[tuple[SourceRecord, Person]]) -> None:
        """Records linked by email before the other system's record keeping that email as an
        address was read (both read in one poll, this one first): when the record is its
        person's only one, and the address's person has none in the record's system and no
        other record of the unit claims it so, the record moves to that person (reason
        `additional_email`). Any other case is left to the creation guard (`sync.gather`),
        which makes no record that would land on the address's holder."""
        wanted: dict[RecordKey, tuple[uuid.UUID, str]] = {}
        for record, person in items:
            key = record.key
            pid = self.person_of.get(key)
            if pid is None or not person.email or record.deleted:
                continue
            if self.active.get(pid, _NO_RECORDS) != {key.system: key}:
                continue  # not the person's only record (or not its current one)
            wanted[key] = (pid, person.email)
        if not wanted:
            return
        self.load_holders(email for _, email in wanted.values())
        claims: dict[uuid.UUID, list[tuple[RecordKey, RecordKey, str]]] = defaultdict(list)
        for key, (pid, email) in wanted.items():
            named = self.named_by(email, key.system)
            owners = {owner for _, owner in named}
            if len(named) != 1 or None in owners or pid in owners:
                continue
            [(holder, owner)] = named
            assert owner is not None
            if key.system not in self.active.get(owner, _NO_RECORDS):
                claims[owner].append((key, holder, email))
        for owner, claimed in claims.items():
            if len(claimed) != 1:
                continue  # several records name one contact: none is picked
            [(key, holder, email)] = claimed
            left = self.person_of[key]
            self.move(owner, key, LinkReason.ADDITIONAL_EMAIL)
            self.active[left].pop(key.system, None)
            self.vacated.add(left)
            self._addressed(owner, key, holder, email)

    def _people_with_email(self, email: str) -> list[uuid.UUID]:
        if email not in self._email_people:
            found = list(people_by_email(self.db, email))
            self._email_people[email] = found
            self._load_active(found)
            for system in System:
                self._flagged[system] |= people_with_rule(
                    self.db, found, IDENTITY_FIELD, ambiguous_rule(system)
                )
        return self._email_people[email]

    def _new_person(
        self, key: RecordKey, email: str | None, reason: LinkReason | None
    ) -> uuid.UUID:
        pid = person_id_for(key)
        self.new_people[pid] = email
        self.active[pid] = {}
        if email:
            self._people_with_email(email).append(pid)
            self._born_by_email[pid] = email
        if reason is not None:
            self._link(pid, key, reason)
        return pid

    def _link(self, pid: uuid.UUID, key: RecordKey, reason: LinkReason) -> None:
        self.person_of[key] = pid
        self.active.setdefault(pid, {})[key.system] = key
        self.new_links.append((pid, key, reason))

    def _ambiguous(self, key: RecordKey, pid: uuid.UUID, email: str | None, why: str) -> None:
        self.ambiguous.append(Ambiguity(key, pid, email, why))

    # -- moving links ----------------------------------------------------------------------------

    def move(self, pid: uuid.UUID, key: RecordKey, reason: LinkReason) -> None:
        """Make `key` the person's record in its system (conversion, merge). The person's
        other records are loaded first: a merge is followed before the unit resolves anyone,
        and the person must keep its record in the other system."""
        self._load_active([pid])
        self._moved_from.setdefault(key, self._holder(key))
        self.person_of[key] = pid
        before = self.active.setdefault(pid, {}).get(key.system)
        if reason is LinkReason.CONVERSION and before is not None and before != key:
            self.converted_from[key] = before
        self.active[pid][key.system] = key
        self.moves.append((pid, key, reason))

    def _holder(self, key: RecordKey) -> uuid.UUID | None:
        """The person whose current record `key` is, as this unit knows it so far (in this
        unit, or as stored when read: `_stored_contacts`), else None."""
        pid = self.person_of.get(key)
        if pid is not None and self.active.get(pid, _NO_RECORDS).get(key.system) == key:
            return pid
        return self._stored_contacts.get(key)

    def succeed(self, claim: Ambiguity) -> None:
        """A cross-system id's claimant takes the place of the person's record, which is gone
        for good (a merge's loser purged before its merge was read): the claim is no longer
        ambiguous."""
        self.ambiguous.remove(claim)
        self.move(claim.person_id, claim.key, LinkReason.MERGE)

    def claim(self, pid: uuid.UUID, key: RecordKey) -> None:
        """Link a record a lost commit had linked (the source of a create no commit settled,
        which carries the person's cross-system id or soon will): the caller checked that
        neither the record nor the person's place in its system is taken."""
        self._link(pid, key, LinkReason.CROSS_ID)

    def associate(self, pid: uuid.UUID, key: RecordKey, reason: LinkReason) -> None:
        """A record that speaks about the person without being its record (an Opportunity)."""
        if key not in self.person_of:
            self.person_of[key] = pid
            self.associations.append((pid, key, reason))

    def created(self, pid: uuid.UUID, key: RecordKey) -> None:
        """Link a record we created for the person (after the write succeeded)."""
        current = self.active.setdefault(pid, {}).get(key.system)
        if current == key:
            return
        if current is None:
            self._link(pid, key, LinkReason.CREATED)
        else:
            self.move(pid, key, LinkReason.CREATED)

    def counterpart(self, pid: uuid.UUID, system: System) -> RecordKey | None:
        return self.active.get(pid, _NO_RECORDS).get(system)

    def records_of(self, pid: uuid.UUID) -> Mapping[System, RecordKey]:
        """The person's active record per system (`counterpart` for every system at once)."""
        return self.active.get(pid, _NO_RECORDS)

    # -- writing ---------------------------------------------------------------------------------

    def _check_unraced(self, db: Db, already: Mapping[RecordKey, Link]) -> None:
        """Whether what this unit resolved still holds: a record it links is not linked to
        someone else since, a record it moves (a conversion, a merge) is not now the current
        record of someone it did not see holding it, and the email of a person it makes (no
        one had it) is still no one else's. Otherwise two people would share one record or
        one email for good, or a move would take a record from the person another process
        just gave it to."""
        raced = [
            str(key)
            for pid, key, _ in self.new_links
            if (found := already.get(key)) is not None and found.person_id != pid
        ]
        moved = {key: pid for pid, key, _ in self.moves}
        for key, link_ in find_links(db, list(moved)).items() if moved else ():
            if link_.active and link_.person_id not in (moved[key], self._moved_from.get(key)):
                raced.append(str(key))
        made = {email: pid for pid, email in self._born_by_email.items() if pid in self.new_people}
        for email, holders in people_by_emails(db, list(made)).items() if made else ():
            if any(h != made[email] and h not in self.new_people for h in holders):
                raced.append(email)
        if raced:
            raise IdentityRaced(
                f"another process linked {raced[0]} while this unit ran"
                + (f" (and {len(raced) - 1} more)" if len(raced) > 1 else "")
                + ": nothing of the unit is stored, and its records are read again"
            )

    def persist(self, db: Db, *, at: datetime | None = None) -> None:
        """Write the new people, links and moves (inside the caller's transaction, which
        must hold `sync.store.locks.UNIT_COMMITS`). Raises `IdentityRaced`, writing nothing,
        when another process's commit decided otherwise since this unit resolved."""
        when = at
        fresh = {key for _, key, _ in self.new_links}
        already = find_links(db, fresh) if fresh else {}
        self._check_unraced(db, already)
        add_people_with_ids(db, list(self.new_people.items()), at=when)
        link_many(db, [(p, k, r) for p, k, r in self.new_links if k not in already], at=when)
        for pid, key, reason in self.moves:
            relink(db, pid, key, reason, at=when)
        associate(db, self.associations, at=when)
        # a person whose only record moved by an address is no one now: its email must not
        # make it a candidate beside the person it moved to
        emptied = [p for p in self.vacated if not self.active.get(p)]
        if emptied:
            set_emails(db, [(p, None) for p in sorted(emptied)])
