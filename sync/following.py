"""Following a unit's records to every record of their people: merges, conversions and
Opportunities' contact roles.

A record merged away hands its person to the survivor; a converted Lead's person moves to its
Contact and takes the conversion's Opportunity; an Opportunity made on an existing Contact names
its person by its contact roles (one query per unit). `sync.gather` calls these before planning,
so each person is planned with all of their records.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime

from sqlalchemy import Connection

from connectors.protocol import Connector
from connectors.records import ContactRole, RecordKey, SourceRecord, System
from mappings.apply import CONTACT, LEAD, OPPORTUNITY, Mapper, converted_lead
from mappings.model import Person
from sync.identity import Ambiguity, Identity, parse_baton_id
from sync.report import CycleReport
from sync.store.decisions import Decision, note_about
from sync.store.links import Link, LinkReason, find_links
from sync.store.people import people_by_emails
from sync.twins import Read, TwinCache

_EPOCH = datetime.min.replace(tzinfo=UTC)  # orders contact roles without a creation time


class Follower:
    """Relinks a unit's people as their records' merges, conversions and contact roles say."""

    def __init__(
        self,
        *,
        connectors: Mapping[System, Connector],
        mapper: Mapper,
        read: Read,
        propagate_deletes: bool,
    ) -> None:
        self.connectors = connectors
        self.mapper = mapper
        self.read = read
        self.propagate_deletes = propagate_deletes  # see sync.deletes

    def follow_gone(
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

    def succeed_gone(
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

    def follow_made_by_conversions(
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
        person (the first Lead by id that is someone's), as `follow_conversions` has it when
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

    def follow_contact_roles(
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

    def follow_conversions(
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
            if told not in notes:  # asked again in each round of `Gatherer.gather`'s reads
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
