"""Planning one person: from both sides' records to the writes that make them agree.

Pure (no I/O): the engine hands in each side's record, mapped person, canonical values and
snapshot; the planner returns the patches to send, the snapshots to keep and a decision for
every write, so `baton why` can tell the story and a dry run can print it.

Per person:
- shared fields follow their dictionary rule (`sync.rules`), counting only changes since each
  side's snapshot; a Salesforce email that is one of the HubSpot contact's additional emails
  agrees with the contact's email (HubSpot finds the contact by either: the pair was linked
  by it), so neither side's address is written over the other's, and a value Salesforce holds
  as HubSpot's own (a text cut to its limit, a lead status several HubSpot values share)
  agrees with it, so the coarser copy is not written back over HubSpot's;
- the funnel position is computed by the state machine from both sides (`Mapper.derive`, rules
  R1-R4) and written to whichever side says otherwise;
- the cross-system id (`baton_id`) is written on both sides, so links survive a lost store;
- the person's records and resolved position are kept (`FunnelInputs`) so the funnel history
  can learn first entries from them (`Planner.facts`, `sync.entries`);
- a person present on one side only gets a counterpart by the creation policy: a HubSpot
  contact meeting the shared MQL definition becomes a Salesforce Lead (upserted on
  `Baton_Id__c`), a Salesforce Lead or Contact becomes a HubSpot contact (upserted by email, or
  by `baton_id` when there is no email) - so a retried create can never duplicate.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from connectors.records import FieldValue, RecordKey, SourceRecord, System
from mappings.apply import HUBSPOT_CONTACTS, LEAD, OPPORTUNITY, Mapper, addresses, converted_lead
from mappings.dictionary import FieldMap
from mappings.model import ENTERED_PREFIX, FUNNEL_STAGE, REASON_REQUIRED, Outcome, Person, Stage
from mappings.stages import Resolution, Signal, qualifies_for_mql, resolve
from sync.changes import LIFECYCLE_FIELD, STAMPED, field_changed, overlay, stamped
from sync.entries import CLOSE_DATE, FunnelFacts, created_at, day_at, evidence, merge_dated
from sync.rules import FieldState, decide
from sync.values import OUTCOME, STAGE, CanonicalView, Values, plain

BATON_ID = "baton_id"
EMAIL = "email"  # the canonical field people are matched on (`sync.identity`)
OUTCOME_REASON = "outcome_reason"
LEAD_STATUS = "lead_status"
FUNNEL_MOVED = frozenset({STAGE, OUTCOME, FUNNEL_STAGE})  # a write's changes that say it moved one
# Status fields that may be blank, so leaving an outcome can clear them (HubSpot's lead status;
# a Salesforce Lead always has a Status).
CLEARABLE_STATUS: Mapping[tuple[System, str], str] = {
    (System.HUBSPOT, HUBSPOT_CONTACTS): "hs_lead_status",
}
STAGE_RULE = "funnel"  # decisions about the funnel position name the resolution rule, e.g. R3
# Native fields that express the funnel position (written with the stage, not by a field map).
FUNNEL_NATIVES: Mapping[tuple[System, str], frozenset[str]] = {
    (System.HUBSPOT, HUBSPOT_CONTACTS): frozenset({"lifecyclestage", "hs_lead_status"}),
    (System.SALESFORCE, LEAD): frozenset({"Status"}),
}


@dataclass(frozen=True, slots=True)
class Side:
    """One system's record of the person, mapped, with its snapshot (None: never synced)."""

    record: SourceRecord
    person: Person
    values: Values
    snapshot: Values | None

    @property
    def key(self) -> RecordKey:
        return self.record.key


@dataclass(frozen=True, slots=True)
class FieldDecision:
    """One field's decision for the log: both sides before and after, the rule and why."""

    field: str
    rule: str
    winner: System | None
    why: str
    hubspot_old: FieldValue = None
    hubspot_new: FieldValue = None
    salesforce_old: FieldValue = None
    salesforce_new: FieldValue = None
    hubspot_at: datetime | None = None
    salesforce_at: datetime | None = None
    conflict: bool = False


@dataclass(frozen=True, slots=True)
class Write:
    """A patch for one record (`key.id == ""`: create) and the snapshot it leaves behind."""

    key: RecordKey
    fields: Mapping[str, FieldValue]
    match_on: str | None
    changes: Mapping[str, tuple[FieldValue, FieldValue]]  # canonical field -> (old, new)
    expected: Values
    reason: str
    # what writing it cut or could not carry as typed, as "<field>: what happened" (a title
    # cut to Salesforce's limit): logged for the person once written (`write_warning`)
    warnings: tuple[str, ...] = ()

    @property
    def creates(self) -> bool:
        return not self.key.id


@dataclass(frozen=True, slots=True)
class FunnelInputs:
    """A person's records and resolved position, kept so the funnel evidence (`Planner.facts`)
    is worked out only for people whose records say something new."""

    sides: tuple[Side, ...]
    others: tuple[SourceRecord, ...]
    resolution: Resolution | None  # None: resolve from the sides and others


@dataclass
class PersonPlan:
    person_id: uuid.UUID
    writes: list[Write] = field(default_factory=list)
    seen: dict[RecordKey, tuple[Values, datetime]] = field(default_factory=dict)
    decisions: list[FieldDecision] = field(default_factory=list)
    stage_move: str | None = None
    conflicts: int = 0
    funnel: FunnelInputs | None = None  # what the person's funnel history may learn from
    # Why a HubSpot contact HubSpot calls an MQL (or later) gets no Salesforce Lead: its
    # record and the reason, logged as a note once per change (`sync.commit`, NOT_HANDED_OFF).
    not_handed_off: tuple[RecordKey, str] | None = None


@dataclass(frozen=True, slots=True)
class CreationPolicy:
    create_leads_for_mqls: bool = True
    create_contacts_from_salesforce: bool = True


#: A field a HubSpot contact shares with a Salesforce object: canonical name, map, and both
#: system fields.
_SharedField = tuple[str, FieldMap, str, str]


class Planner:
    """Plans people with the dictionary's rules; one instance per engine (compiled once)."""

    def __init__(self, mapper: Mapper, policy: CreationPolicy) -> None:
        self.mapper = mapper
        self.dictionary = mapper.dictionary
        self.labels = mapper.vocabulary.labels
        self.policy = policy
        self._remotes: dict[tuple[System, str, str], str | None] = {}
        self._canonical = CanonicalView(self.dictionary, self.labels)
        self._shared_maps: dict[str, tuple[tuple[_SharedField, ...], tuple[str, ...]]] = {}
        self._hubspot_canonical = {
            fmap.hubspot: name for name, fmap in self.dictionary.fields.items() if fmap.hubspot
        }

    def side(self, record: SourceRecord, snapshot: Values | None) -> Side:
        person = self.mapper.to_person(record).value
        return Side(record, person, self.values(person), snapshot)

    def values(self, person: Person) -> Values:
        return self._canonical(person)

    def _shared(self, sf_object: str) -> tuple[tuple[_SharedField, ...], tuple[str, ...]]:
        """The field maps a HubSpot contact shares with a Salesforce `sf_object` (the funnel
        position and the cross-system id are planned on their own), and their canonical
        names, compiled once."""
        found = self._shared_maps.get(sf_object)
        if found is None:
            key = RecordKey(System.SALESFORCE, sf_object, "")
            maps = tuple(
                (name, fmap, fmap.hubspot, sf_remote)
                for name, fmap in self.dictionary.fields.items()
                if name not in (FUNNEL_STAGE, BATON_ID)
                and fmap.hubspot is not None
                and (sf_remote := self.remote(key, name)) is not None
            )
            found = self._shared_maps[sf_object] = (maps, tuple(m[0] for m in maps))
        return found

    def _holds(self, sf_object: str, name: str, hubspot: Any, salesforce: Any) -> bool:
        """Whether Salesforce holds HubSpot's value as Baton writes it there and reads it back
        (`Mapper.read_back`): a text cut to the field's limit, a lead status several HubSpot
        values share ("Connected" and "In Progress" are both "Working - Contacted"). The pair
        is in step, and HubSpot keeps its whole value: Salesforce's says nothing it does not."""
        read = self.mapper.read_back(System.SALESFORCE, sf_object, name, hubspot)
        return bool(salesforce == read)

    def remote(self, key: RecordKey, name: str) -> str | None:
        """The system field canonical field `name` maps to on `key`'s object (None: unmapped)."""
        cache_key = (key.system, key.object, name)
        if cache_key not in self._remotes:
            self._remotes[cache_key] = self._find_remote(key, name)
        return self._remotes[cache_key]

    def _find_remote(self, key: RecordKey, name: str) -> str | None:
        fmap = self.dictionary.fields.get(name)
        if fmap is None:
            return None
        if key.system is System.HUBSPOT:
            return fmap.hubspot
        return next((r for o, r in fmap.salesforce.items() if o == key.object), None)

    # -- one person ----------------------------------------------------------------------------

    def plan(
        self,
        person_id: uuid.UUID,
        hubspot: Side | None,
        salesforce: Side | None,
        *,
        opportunities: Sequence[SourceRecord] = (),
        allow_create: bool = True,
        now: datetime,
    ) -> PersonPlan:
        out = PersonPlan(person_id)
        if hubspot is not None and salesforce is not None:
            self._pair(out, hubspot, salesforce, opportunities, now)
        elif hubspot is not None:
            self._hubspot_only(out, hubspot, allow_create, now)
        elif salesforce is not None:
            self._salesforce_only(out, salesforce, allow_create, now, opportunities)
        alone = hubspot or salesforce
        if out.funnel is None and alone is not None:
            out.funnel = FunnelInputs((alone,), tuple(opportunities), None)
        return out

    def _pair(
        self,
        out: PersonPlan,
        hs: Side,
        sf: Side,
        opportunities: Sequence[SourceRecord],
        now: datetime,
        *,
        only: System | None = None,
    ) -> None:
        """Plan a linked pair; `only` limits the writes to one side (the other is a record
        being created in the same plan, whose create patch already says everything)."""
        start = len(out.decisions)
        updates: dict[System, dict[str, Any]] = {System.HUBSPOT: {}, System.SALESFORCE: {}}
        touched: dict[System, set[str]] = {System.HUBSPOT: set(), System.SALESFORCE: set()}
        hs_fields, sf_fields = hs.record.fields, sf.record.fields
        hs_values, sf_values = hs.values, sf.values
        hs_get, sf_get = hs_values.get, sf_values.get
        # A field a side did not read is unknown there, not blank: leave it alone.
        shared, names = self._shared(sf.key.object)
        hs_all, sf_all = list(map(hs_get, names)), list(map(sf_get, names))
        differing = (
            []
            if hs_all == sf_all  # the common case of a pair in step: nothing to look at
            else [
                (name, fmap, hv, sv)
                for (name, fmap, hs_remote, sf_remote), hv, sv in zip(
                    shared, hs_all, sf_all, strict=True
                )
                if hv != sv
                and hs_remote in hs_fields
                and sf_remote in sf_fields
                and not (
                    isinstance(hv, str)
                    and sv is not None
                    and self._holds(sf.key.object, name, hv, sv)
                )
                and not (name == EMAIL and sv in addresses(hs.record))
            ]
        )
        for name, fmap, hv, sv in differing:
            hs_changed = field_changed(name, hs_values, hs.snapshot)
            sf_changed = field_changed(name, sf_values, sf.snapshot)
            verdict = decide(
                fmap.rule,
                FieldState(hv, hs_changed, hs.record.modified_at, hs.snapshot is None),
                FieldState(sv, sf_changed, sf.record.modified_at, sf.snapshot is None),
            )
            if verdict.winner is None:
                continue
            source, target = (hs, sf) if verdict.winner is System.HUBSPOT else (sf, hs)
            if _entered_no_later(name, target, source) or _synced_stamp(name, target, source):
                continue
            updates[target.key.system].update(_typed(source.person, name))
            touched[target.key.system].add(name)
            out.decisions.append(
                FieldDecision(
                    name,
                    fmap.rule.value,
                    verdict.winner,
                    verdict.why,
                    hubspot_old=hv,
                    hubspot_new=sv if target is hs else hv,
                    salesforce_old=sv,
                    salesforce_new=hv if target is sf else sv,
                    hubspot_at=hs.record.modified_at,
                    salesforce_at=sf.record.modified_at,
                    conflict=verdict.conflict,
                )
            )
        baton_id = str(out.person_id)
        for side in (hs, sf):
            if side.person.baton_id != baton_id:
                updates[side.key.system][BATON_ID] = baton_id
                touched[side.key.system].add(BATON_ID)
        position = self._funnel(out, hs, sf, opportunities, updates, touched, now)
        written: set[str] = set()
        for side in (hs, sf):
            system = side.key.system
            if only is None or system is only:
                write = self._update(out, side, updates[system], touched[system], position)
                written |= set(write.changes) if write is not None else set()
        # Log what was decided and written; a verdict nothing could carry (an owner without a
        # HubSpot counterpart) would otherwise be logged again on every cycle.
        if written & {STAGE, OUTCOME, LIFECYCLE_FIELD}:
            written.add(FUNNEL_STAGE)
        kept = [d for d in out.decisions[start:] if d.field in written]
        out.decisions[start:] = kept
        out.conflicts += sum(d.conflict for d in kept)

    def _funnel(
        self,
        out: PersonPlan,
        hs: Side,
        sf: Side,
        opportunities: Sequence[SourceRecord],
        updates: dict[System, dict[str, Any]],
        touched: dict[System, set[str]],
        now: datetime,
    ) -> Stage | Outcome | None:
        """Resolve the funnel position from both sides and queue it for the side(s) saying
        otherwise; returns the position. Positions compare as their label does (an outcome,
        else the stage): a Contact that says "Disqualified" agrees with a HubSpot contact at
        inquiry and disqualified, since it has no field for the stage under the outcome."""
        # Both sides saying one position (and no Opportunity) is what the state machine then
        # says too: it is asked only when a side must move (the common case asks nothing).
        resolution: Resolution | None = None
        stage, outcome = hs.person.stage, hs.person.outcome
        if opportunities or _position(hs.person) != _position(sf.person) or self._reopened(sf):
            resolution = self._resolve([hs, sf], opportunities)
            stage, outcome = resolution.stage, resolution.outcome
        position = outcome or stage
        out.funnel = FunnelInputs((hs, sf), tuple(opportunities), resolution)
        label = self._label(stage, outcome)
        said = {
            System.HUBSPOT: hs.values.get(FUNNEL_STAGE),
            System.SALESFORCE: sf.values.get(FUNNEL_STAGE),
        }
        for side in (hs, sf):
            remote = self.remote(side.key, FUNNEL_STAGE)
            stale_label = (
                remote is not None
                and remote in side.record.fields
                and position is not None
                and side.record.fields.get(remote) != label
            )
            if stale_label and remote is not None:
                said[side.key.system] = side.record.fields.get(remote)
            behind = self.lifecycle_behind(side.record, position)
            if _position(side.person) == position and not stale_label and not behind:
                continue
            if resolution is None:
                resolution = self._resolve([hs, sf], opportunities)
                out.funnel = FunnelInputs((hs, sf), tuple(opportunities), resolution)
            system = side.key.system
            updates[system].update(stage=resolution.stage, outcome=resolution.outcome)
            updates[system].update(_reason_update(resolution))
            touched[system].add(FUNNEL_STAGE)
            before = self._label(side.person.stage, side.person.outcome)
            if out.stage_move is None and before != label:
                out.stage_move = f"{before}->{label}".lower()
        if resolution is None:  # nothing moved
            return position
        out.decisions.append(
            FieldDecision(
                FUNNEL_STAGE,
                f"{STAGE_RULE}:{resolution.rule}",
                None,
                resolution.explanation,
                hubspot_old=said[System.HUBSPOT],
                hubspot_new=label,
                salesforce_old=said[System.SALESFORCE],
                salesforce_new=label,
                hubspot_at=hs.record.modified_at,
                salesforce_at=sf.record.modified_at,
            )
        )
        return position

    def lifecycle_behind(self, record: SourceRecord, position: Stage | Outcome | None) -> bool:
        """Whether `record` is a HubSpot contact at stage `position` whose lifecycle stage
        says an earlier one than the stage's own spelling (set back to subscriber at SAL).
        HubSpot reads the furthest of its lead status and lifecycle stage, so the contact
        still says the stage by its lead status and no canonical value moved: the engine plans
        it anyway (`UnitOfWork._quiet`), and the lifecycle stage is moved forward to the
        spelling, a move HubSpot accepts, after which it is not behind. A lifecycle stage
        outside the vocabulary, or blank, is left as typed; so is one under an outcome (a
        recycled contact set back to nurture)."""
        if record.key.system is not System.HUBSPOT or not isinstance(position, Stage):
            return False
        voc = self.mapper.vocabulary
        now = voc.means("hubspot", LIFECYCLE_FIELD, record.fields.get(LIFECYCLE_FIELD))
        spelled = voc.spell("hubspot", LIFECYCLE_FIELD, position)
        wanted = voc.means("hubspot", LIFECYCLE_FIELD, spelled)
        return isinstance(now, Stage) and isinstance(wanted, Stage) and now < wanted

    def _resolve(self, sides: Sequence[Side], others: Sequence[SourceRecord]) -> Resolution:
        """`Mapper.derive` without mapping the sides' records a second time."""
        hubspot = next((s for s in sides if s.key.system is System.HUBSPOT), None)
        signals = [
            Signal(s.key.system, s.person.stage, at=s.record.modified_at, reopened=True)
            if self._reopened(s) or _sales_stand_first(s, hubspot)
            else Signal(
                s.key.system,
                s.person.stage,
                s.person.outcome,
                s.person.outcome_reason,
                at=s.record.modified_at,
                requalified=_requalified(s),
            )
            for s in sides
        ]
        return resolve([*signals, *(self.mapper.signal(r) for r in others)], self.dictionary)

    def _reopened(self, side: Side) -> bool:
        """Whether sales set a recycled or disqualified Lead's Status back to a stage since the
        last sync: the Lead still reads as the outcome, by the funnel label Baton wrote (a
        Lead's Status is sales' own: Baton writes the outcome to it only as the label)."""
        if side.key.object != LEAD or side.person.outcome not in REASON_REQUIRED:
            return False
        meant = self.mapper.vocabulary.means(
            "salesforce", LEAD_STATUS, side.record.fields.get("Status")
        )
        return (
            isinstance(meant, Stage)
            and side.snapshot is not None
            and field_changed(LEAD_STATUS, side.values, side.snapshot)
        )

    def facts(
        self, inputs: FunnelInputs, read_at: Mapping[RecordKey, datetime] | None = None
    ) -> FunnelFacts:
        """The evidence for the person's funnel history (see `sync.entries`). Records this
        plan is about to create say only what we decided, so they are not evidence. `read_at`:
        records that said their position already when read at that time, before a write of
        Baton's since moved their modification on (`Gathered.read_at`)."""
        sides, others = inputs.sides, inputs.others
        resolution = inputs.resolution or self._resolve(sides, others)
        real = [s for s in sides if s.key.id]
        position = resolution.outcome or resolution.stage
        records: list[tuple[SourceRecord, Person | None]] = [(s.record, s.person) for s in real]
        # A converted Lead keeps its own dates (MQL date, creation, conversion): map it too.
        records.extend((r, self.mapper.to_person(r).value) for r in others if r.key.object == LEAD)
        dated, created = evidence(records, converted_stage=self.mapper.vocabulary.converted_stage)
        said_by: SourceRecord | None = None
        for side in sorted(real, key=lambda s: s.key.system is not System.SALESFORCE):
            # a reopened Lead says its stage by its Status, under Baton's old outcome label
            reopened = side.person.stage == position and self._reopened(side)
            if _position(side.person) == position or reopened:
                said_by = side.record
                break
        for other in others:
            if other.key.object != OPPORTUNITY:
                continue
            signal = self.mapper.signal(other)
            if said_by is None and (signal.outcome or signal.stage) == position:
                said_by = other
            if signal.closed_opportunity:
                closed = signal.outcome or signal.stage
                at = day_at(other.fields.get(CLOSE_DATE), other)
                if closed is not None:
                    merge_dated(dated, str(closed), at, System.SALESFORCE)
        if said_by is None:
            pool = real or sides
            said_by = max((s.record for s in pool), key=lambda r: r.modified_at)
        observed_at = said_by.modified_at
        if read_at and (read := read_at.get(said_by.key)) is not None and read < observed_at:
            observed_at = read
        return FunnelFacts(
            stage=resolution.stage,
            outcome=resolution.outcome,
            reason=resolution.reason,
            observed_at=observed_at,
            observed_by=said_by.key.system,
            dated=dated,
            created=created,
            passed=frozenset(str(s.person.stage) for s in real if s.person.stage is not None),
        )

    def _label(self, stage: Stage | None, outcome: Outcome | None) -> str:
        key = outcome or stage
        return self.labels.get(key, str(key)) if key is not None else "none"

    def _update(
        self,
        out: PersonPlan,
        side: Side,
        updates: dict[str, Any],
        touched: set[str],
        position: Stage | Outcome | None,
    ) -> Write | None:
        """Patch `side` with `updates` (canonical), keeping only fields that really change.

        The funnel position decided by the state machine wins over the lead status field map:
        copying a lead status that would move the side away from that position is dropped.
        A converted Lead is never patched: Salesforce refuses every update to one
        (CANNOT_UPDATE_CONVERTED_LEAD); it is a person's record still only when its conversion
        could not be followed, and the note about that says why nothing reaches it.
        """
        if _converted_lead(side):
            out.seen[side.key] = (side.values, side.record.modified_at)
            return None
        fields, expected, warnings = self._patch(side, updates, touched)
        # The copied status must say the position by itself too: the side reads the furthest
        # of its status and its funnel label, and the label this patch writes would hide a
        # status one stage behind (sales' old "new" copied over HubSpot's "Connected" at SAL).
        says = self.mapper.status_says(side.key, fields) if LEAD_STATUS in touched else None
        if (
            fields
            and LEAD_STATUS in touched
            and (
                _position_of(expected) != _plain_position(position)
                or (says is not None and says != position)
            )
        ):
            updates = {k: v for k, v in updates.items() if k != LEAD_STATUS}
            fields, expected, warnings = self._patch(side, updates, touched - {LEAD_STATUS})
            why = f"not copied: it would contradict the funnel position {position}"
            out.decisions = [
                replace(d, rule=f"{d.rule}:yields", why=f"{d.why}; {why}", winner=None)
                if d.field == LEAD_STATUS
                else d
                for d in out.decisions
            ]
        status = (
            self.mapper.status_update(_apply(side.person, updates), side.record)
            if FUNNEL_STAGE in touched and isinstance(position, Stage)
            else {}
        )
        if status and not status.keys() & fields.keys():
            # A stage the side's own lead status contradicts (sales' verdict still on a Lead
            # marketing re-qualified, which would win it back on the Lead's next edit; an
            # opportunity still "New"; a contact's "Unqualified" sales do not say): the state
            # machine's stage wins the status too.
            respelled = {**fields, **status}
            after = self.values(self.mapper.remap(side.person, side.record, respelled))
            if _position_of(after) == _plain_position(position):
                fields, expected = respelled, after
        clear = CLEARABLE_STATUS.get((side.key.system, side.key.object))
        if (
            FUNNEL_STAGE in touched
            and clear is not None
            and _position_of(expected) != _plain_position(position)
            and side.record.fields.get(clear) not in (None, "")
            and clear not in fields
        ):
            # The target stage has no lead status of its own (sql in HubSpot; a stage that has
            # one got it above), yet the old one still says "bad timing": clear it, or the
            # person never leaves the outcome there.
            cleared = {**fields, clear: None}
            after = self.values(self.mapper.remap(side.person, side.record, cleared))
            if _position_of(after) == _plain_position(position):
                fields, expected = cleared, after
        # The funnel label field says the position in words; a stale one (a Lead's sales
        # accepted, its label still "MQL") changes no canonical value, yet it is written.
        label = self.remote(side.key, FUNNEL_STAGE)
        relabel = label is not None and label in fields
        # A lifecycle stage set back under the stage the contact still says by its lead
        # status changes no canonical value either, yet it is moved forward again.
        lifecycle = (
            LIFECYCLE_FIELD
            if LIFECYCLE_FIELD in fields and self.lifecycle_behind(side.record, position)
            else None
        )
        if not fields or (expected == side.values and not relabel and lifecycle is None):
            out.seen[side.key] = (side.values, side.record.modified_at)
            return None
        if expected == side.values:
            # Only the label (or a lifecycle stage behind) is stale: the other fields the patch
            # holds say nothing new here (a lifecycle stage HubSpot would refuse to move back, a
            # lead status it cannot read).
            fields = {
                name: fields[name]
                for name in (label if relabel else None, lifecycle)
                if name is not None
            }
        if side.key.system is System.HUBSPOT:
            expected = stamped(expected, side.record, fields, self._hubspot_canonical)
        changes = {
            name: (side.values.get(name), value)
            for name, value in expected.items()
            if side.values.get(name) != value and value != STAMPED
        }
        if relabel and label is not None and FUNNEL_STAGE not in changes:
            changes[FUNNEL_STAGE] = (side.record.fields.get(label), fields[label])
        if lifecycle is not None and lifecycle in fields:
            changes[lifecycle] = (side.record.fields.get(lifecycle), fields[lifecycle])
        said = tuple(w for w in map(_unkeyed, warnings) if w.partition(": ")[0] in fields)
        write = Write(side.key, fields, None, changes, expected, "update", said)
        out.writes.append(write)
        return write

    def _patch(
        self, side: Side, updates: dict[str, Any], touched: set[str]
    ) -> tuple[dict[str, FieldValue], Values, tuple[str, ...]]:
        if not updates:
            return {}, side.values, ()
        target = _apply(side.person, updates)
        mapped = self.mapper.to_patch(target, side.key, clear_blanks=True)
        patch = mapped.value
        remotes = {r for name in touched if (r := self.remote(side.key, name)) is not None}
        if FUNNEL_STAGE in touched:
            remotes |= FUNNEL_NATIVES.get((side.key.system, side.key.object), frozenset())
            remotes |= {r for n in (OUTCOME_REASON,) if (r := self.remote(side.key, n))}
        fields = {
            name: value
            for name, value in patch.fields.items()
            if name in remotes
            and name in side.record.fields  # never write a field the record was not read with
            and not _same(side.record.fields.get(name), value)
        }
        if not fields:
            return fields, side.values, ()  # the record stays as read
        expected = self.values(self.mapper.remap(side.person, side.record, fields))
        return fields, expected, mapped.warnings

    # -- one side only: the creation policy ------------------------------------------------------

    def _hubspot_only(self, out: PersonPlan, hs: Side, allow_create: bool, now: datetime) -> None:
        if not (allow_create and self.policy.create_leads_for_mqls):
            out.seen[hs.key] = (hs.values, hs.record.modified_at)
            return
        person = hs.person
        # The handoff is the move into MQL: people already past it (or out of the funnel) who
        # have no Salesforce record are a data problem to report, not a Lead to create.
        at_handoff = person.stage is None or person.stage <= Stage.MQL
        if person.outcome is not None or not at_handoff:
            out.seen[hs.key] = (hs.values, hs.record.modified_at)
            if person.outcome is None and person.stage is not None:
                out.not_handed_off = (
                    hs.key,
                    f"not handed off: HubSpot says {self._label(person.stage, None)}, past the "
                    "handoff, and there is no Salesforce record (a Lead is made only at the "
                    "move into MQL)",
                )
            return
        qualified = qualifies_for_mql(person, self.dictionary)
        if not qualified.allowed:
            out.seen[hs.key] = (hs.values, hs.record.modified_at)
            if person.stage is Stage.MQL:  # HubSpot calls it an MQL: say why sales lack it
                out.not_handed_off = (
                    hs.key,
                    f"not handed off: {qualified.explanation} (the shared MQL definition), "
                    "so no Salesforce Lead is made though HubSpot says MQL",
                )
            return
        stage = Stage.MQL
        entered = dict(person.entered)
        entered.setdefault(Stage.MQL, hs.record.modified_at)
        handoff = person.model_copy(
            update={"baton_id": str(out.person_id), "stage": stage, "entered": entered}
        )
        key = RecordKey(System.SALESFORCE, LEAD, "")
        self._create(out, hs, handoff, key, "handoff: reached MQL", now)

    def _salesforce_only(
        self,
        out: PersonPlan,
        sf: Side,
        allow_create: bool,
        now: datetime,
        former: Sequence[SourceRecord],
    ) -> None:
        if not (allow_create and self.policy.create_contacts_from_salesforce):
            self._alone(out, sf, former, now)
            return
        resolution = self._resolve([sf], former)
        person = sf.person.model_copy(
            update={
                "baton_id": str(out.person_id),
                "stage": resolution.stage,
                "outcome": resolution.outcome,
                "outcome_reason": resolution.reason or sf.person.outcome_reason,
            }
        )
        key = RecordKey(System.HUBSPOT, HUBSPOT_CONTACTS, "")
        reason = f"created in Salesforce as a {sf.key.object}"
        self._create(out, sf, person, key, reason, now, former)

    def _alone(
        self, out: PersonPlan, side: Side, former: Sequence[SourceRecord], now: datetime
    ) -> None:
        """A one-sided person: only its own former records (a converted Lead) can move its
        funnel position (the Contact a Lead became says SQL from the start)."""
        if not former:
            out.seen[side.key] = (side.values, side.record.modified_at)
            return
        resolution = self._resolve([side], former)
        position = resolution.outcome or resolution.stage
        if _position(side.person) == position:
            out.seen[side.key] = (side.values, side.record.modified_at)
            return
        updates: dict[str, Any] = {"stage": resolution.stage, "outcome": resolution.outcome}
        updates.update(_reason_update(resolution))
        self._update(out, side, updates, {FUNNEL_STAGE}, position)

    def _create(
        self,
        out: PersonPlan,
        source: Side,
        person: Person,
        key: RecordKey,
        reason: str,
        now: datetime,
        former: Sequence[SourceRecord] = (),
    ) -> None:
        """Create the counterpart, then plan the source side as a pair with what the new record
        will say, so the source learns the cross-system id and the funnel in the same cycle
        (the next cycle then finds both sides agreeing and writes nothing)."""
        mapped = self.mapper.to_patch(person, key, creating=True)
        patch = mapped.value
        match_on = patch.match_on
        if key.system is System.HUBSPOT and person.email and "email" in patch.fields:
            match_on = "email"  # HubSpot keeps email unique: the upsert finds an unseen twin
        record = overlay(SourceRecord(key, {}, source.record.modified_at), patch.fields, key)
        made = self.mapper.to_person(record).value
        expected = self.values(made)
        changes = {name: (None, value) for name, value in expected.items() if value is not None}
        after = expected
        if key.system is System.HUBSPOT:
            after = stamped(expected, None, patch.fields, self._hubspot_canonical)
        out.writes.append(
            Write(
                key,
                patch.fields,
                match_on,
                changes,
                after,
                reason,
                tuple(map(_unkeyed, mapped.warnings)),
            )
        )
        out.decisions.append(
            FieldDecision(
                "record",
                "create_lead_for_mql" if key.system is System.SALESFORCE else "create_contact",
                source.key.system,
                reason,
            )
        )
        new = Side(record, made, expected, None)
        hs, sf = (source, new) if source.key.system is System.HUBSPOT else (new, source)
        self._pair(out, hs, sf, former, now, only=source.key.system)


def _converted_lead(side: Side) -> bool:
    return converted_lead(side.record)


def _unkeyed(warning: str) -> str:
    """A mapping warning (`<key>.<field>: what happened`) as `<field>: what happened`: the
    record is named beside it (a create's key has no id yet)."""
    about, _, what = warning.partition(": ")
    return f"{about.rpartition('.')[2]}: {what}"


def _sales_stand_first(side: Side, hubspot: Side | None) -> bool:
    """Whether `side`, a Salesforce record at a sales stage, meets a HubSpot contact never
    synced before whose lead status mirrors a recycle or disqualification: HubSpot's lead
    status copies Salesforce's (`lead_status: salesforce_to_hubspot`), so on first sight the
    Salesforce record says where sales stand (a Lead recycled, then converted before Baton
    first read it, whose conversion this pass does not hold)."""
    return (
        side.key.system is System.SALESFORCE
        and hubspot is not None
        and hubspot.snapshot is None
        and hubspot.person.outcome in REASON_REQUIRED
        and side.person.outcome is None
        and side.person.stage is not None
        and side.person.stage >= Stage.SAL
    )


def _requalified(side: Side) -> bool:
    """Whether HubSpot's own funnel values (lead status, lifecycle stage, label) moved the
    contact's position since the last sync: what marketing re-qualifying a recycled person
    looks like (`stages.resolve`, R3), unlike any other edit, which moves its modified time
    alike. Never on first sight: with no snapshot nothing shows a move, and a contact touched
    after sales' verdict (a score recalculated) must not undo it; sales' verdict stands."""
    return (
        side.key.system is System.HUBSPOT
        and side.snapshot is not None
        and (
            field_changed(STAGE, side.values, side.snapshot)
            or field_changed(OUTCOME, side.values, side.snapshot)
        )
    )


def _position(person: Person) -> Stage | Outcome | None:
    return person.outcome or person.stage


def _plain_position(position: Stage | Outcome | None) -> str | None:
    return str(position) if position is not None else None


def unsent_fields(changes: Iterable[str]) -> set[str]:
    """The canonical fields whose snapshots a write of `changes` that was not made leaves as
    they were (`sync.values.keeping`), so what it carried is still a change next time: its
    own, and the lead status where it moved the funnel (a sales reopen is told from a Lead's
    Status against its snapshot: `Planner._reopened`, so it stays one)."""
    fields = set(changes)
    if FUNNEL_MOVED & fields:
        fields.add(LEAD_STATUS)
    return fields


def _position_of(values: Values) -> FieldValue:
    return values.get(OUTCOME) or values.get(STAGE)


def _entered_no_later(name: str, target: Side, source: Side) -> bool:
    """Whether `name` is a stage's first-entered time (`entered.<stage>`) that `target` already
    holds no later than `source`: a first entry is never moved later. (A Lead handed off is
    dated at the contact's qualifying edit; HubSpot stamps its own "Became an MQL date" at the
    later write that moves the contact to MQL.)"""
    stage = _entered_stage(name)
    if stage is None:
        return False
    held, offered = target.person.entered.get(stage), source.person.entered.get(stage)
    return held is not None and offered is not None and held <= offered


def _synced_stamp(name: str, target: Side, source: Side) -> bool:
    """Whether `name` is a stage's first-entered time that HubSpot (`source`) stamped at a
    store's write moving the contact to the stage `target` already said: the pair was synced
    (both records carry one person's cross-system id), and `target`, blank there, is at the
    stage or past it and was made before the date.

    The store that made the write knew the stamp for its echo (`STAMPED`) and never carried
    it; a store that did not (a lost store, a second one: no snapshot of the contact) knows it
    by this. A store with the contact's snapshot tells an echo from marketing's move itself,
    so this guess is not made there (marketing's MQL after sales took the Lead on is carried). A
    stage HubSpot enters by itself comes while the other side is still behind it, or before
    that side's record was made (the Contact a Lead was converted into since): that date is
    carried."""
    stage = _entered_stage(name)
    if stage is None or source.key.system is not System.HUBSPOT or source.snapshot is not None:
        return False
    said = target.person.stage
    if said is None and target.person.outcome is not None:
        said = Stage.MQL  # every outcome is sales' verdict, on a person handed off at MQL
    stamped_at = source.person.entered.get(stage)
    made = created_at(target.record)
    return (
        stamped_at is not None
        and source.person.baton_id is not None
        and source.person.baton_id == target.person.baton_id
        and target.person.entered.get(stage) is None
        and said is not None
        and said >= stage
        and made is not None
        and made < stamped_at
    )


def _entered_stage(name: str) -> Stage | None:
    """The stage of a first-entered time's canonical name (`entered.mql`), else None."""
    return Stage(name.removeprefix(ENTERED_PREFIX)) if name.startswith(ENTERED_PREFIX) else None


def _typed(person: Person, name: str) -> dict[str, Any]:
    """The typed value of canonical field `name`, as a `Person` update."""
    stage = _entered_stage(name)
    if stage is not None:
        return {f"{ENTERED_PREFIX}{stage}": person.entered.get(stage)}
    return {name: getattr(person, name)}


def _reason_update(resolution: Resolution) -> dict[str, str | None]:
    """The outcome reason a side moved to `resolution` is written: the resolution's own, or
    none for a person lost without one (R2: an opportunity closed lost gives none, and every
    reason in the dictionary is a recycle's or a disqualification's: one still on the record is
    an old rejection's, not the loss's). A stage, or a recycle or disqualification without a
    reason, leaves the field as it is."""
    if resolution.outcome is None:
        return {}
    if resolution.reason:
        return {OUTCOME_REASON: resolution.reason}
    return {OUTCOME_REASON: None} if resolution.outcome is Outcome.LOST else {}


def _apply(person: Person, updates: Mapping[str, Any]) -> Person:
    plain_updates = {k: v for k, v in updates.items() if not k.startswith(ENTERED_PREFIX)}
    entered = dict(person.entered)
    for name, at in updates.items():
        if (stage := _entered_stage(name)) is not None:
            if at is None:
                entered.pop(stage, None)
            else:
                entered[stage] = at
    if STAGE in plain_updates and plain_updates.get(OUTCOME) is None:
        plain_updates.setdefault(OUTCOME, None)
    return person.model_copy(update={**plain_updates, "entered": entered})


def _same(current: FieldValue, new: FieldValue) -> bool:
    """Whether a raw value already is what we would write (HubSpot strings vs typed values)."""
    if current in (None, "") and new in (None, ""):
        return True
    if current is None or new is None:
        return False
    return plain(current) == plain(new) or str(current) == str(new)
