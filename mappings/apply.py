"""System records <-> canonical people, through the dictionary's field maps and funnel values.

`Mapper(dictionary)` compiles the field maps once; then
- `to_person(record)` reads a HubSpot contact or a Salesforce Lead/Contact into a `Person`;
- `signal(record)` says what any record (including an Opportunity) tells about the funnel;
- `to_patch(person, key)` writes a `Person` back as a `RecordPatch` for a HubSpot contact or a
  Salesforce Lead, Contact or Opportunity.

Reading then writing is stable: `read(write(read(write(p)))) == read(write(p))`. Every value
that cannot be carried as typed (a junk phone, a truncated title, an owner without a HubSpot
counterpart) is reported in `warnings`, never dropped silently.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from operator import attrgetter
from typing import Any, Generic, TypeVar

import orjson

from connectors.records import FieldSchema, FieldValue, RecordKey, RecordPatch, SourceRecord, System
from mappings.dictionary import Dictionary, FieldMap, Rule, StageKey, required_fallbacks
from mappings.model import ENTERED_PREFIX, FUNNEL_STAGE, REASON_REQUIRED, Outcome, Person, Stage
from mappings.stages import Resolution, Signal, resolve
from mappings.transforms import (
    QUIET_READS,
    Context,
    ReadFn,
    Result,
    Value,
    WriteFn,
    get,
    normalise_email,
    same,
    truncate,
)
from mappings.vocabulary import Vocabulary

T = TypeVar("T")

HUBSPOT_CONTACTS = "contacts"
LEAD, CONTACT, OPPORTUNITY = "Lead", "Contact", "Opportunity"
PERSON_OBJECTS: Mapping[System, tuple[str, ...]] = {
    System.HUBSPOT: (HUBSPOT_CONTACTS,),
    System.SALESFORCE: (LEAD, CONTACT),
}
SchemaKey = tuple[System, str, str]  # (system, object, field)


@dataclass(frozen=True, slots=True)
class Mapped(Generic[T]):
    value: T
    warnings: tuple[str, ...] = ()


_PLAIN, _ENTERED, _LABEL, _PLACED = 0, 1, 2, 3
#: The canonical field a placed read (`Transform.placed`: a state) is read in the light of.
COUNTRY = "country"
# (remote, fallback, read, kind, canonical, entered stage): one field map, flat, for reading.
_Reader = tuple[str, str | None, ReadFn | None, int, str, Stage | None]
# (remote, fallback, quiet read, read, target): one field map as `to_person` reads it, the
# read as a plain function of the value (`QUIET_READS`) when it never warns; the target is the
# canonical name, or the stage of an `entered.<stage>` map.
_PersonReader = tuple[str, str | None, Callable[[Value], Value] | None, ReadFn | None, Any]


@dataclass(frozen=True, slots=True)
class _PersonReading:
    """An object's field maps grouped by kind for `to_person`, with the plain canonical fields
    all blank: `to_person` starts from a copy of those and visits the maps of each kind in
    turn, without deciding a kind per field. `placed` are plain fields read once the
    person's country is (`Transform.placed`)."""

    plain: tuple[_PersonReader, ...]
    entered: tuple[_PersonReader, ...]
    label: tuple[_PersonReader, ...]
    blanks: dict[str, Any]
    placed: tuple[_PersonReader, ...] = ()


#: Identities are written whole: an address cut to a field's length is another address (a
#: deliverable one, as often as not), not a shorter copy; a system that refuses the whole one
#: keeps the write as a dead letter, in its own words, for a person to fix.
NEVER_CUT = frozenset({"email", "baton_id"})


@dataclass(frozen=True, slots=True)
class _Field:
    """One field map compiled for one system object: transforms chained, rule pre-decided."""

    canonical: str
    remote: str
    read: ReadFn | None
    write: WriteFn | None
    get: Callable[[Person], Value]
    entered: Stage | None  # set for `entered.<stage>` maps
    is_label: bool  # the funnel_stage map
    placed: bool  # read in the light of the person's country (`Transform.placed`)
    writes_here: bool  # whether the rule ever writes this system
    synced: bool  # whether the rule syncs at all (not `none`): what a new record starts with
    # HubSpot's own values flowing one way out (`hubspot_to_salesforce`: the score HubSpot
    # calculates, its read-only lifecycle dates): a new contact is not made with them
    outbound_only: bool
    max_length: int | None
    fallback: str | None


def _kind(spec: _Field) -> int:
    """How `to_person` reads a field map: the funnel label, a stage date, a placed field (read
    after the country) or a plain one."""
    if spec.is_label:
        return _LABEL
    if spec.entered is not None:
        return _ENTERED
    return _PLACED if spec.placed else _PLAIN


def _chain(fns: Sequence[ReadFn]) -> ReadFn | None:
    """One function for a transform chain (None when there is nothing to do)."""
    fns = [fn for fn in fns if fn is not same]
    if not fns:
        return None
    if len(fns) == 1:
        return fns[0]

    def chained(value: Value, ctx: Context) -> Result:
        warnings: tuple[str, ...] = ()
        for fn in fns:
            result = fn(value, ctx)
            value = result.value
            warnings += result.warnings
        return Result(value, warnings)

    return chained


def _getter(name: str, labels: Mapping[StageKey, str]) -> Callable[[Person], Value]:
    if name == FUNNEL_STAGE:

        def funnel_label(person: Person) -> Value:
            key: StageKey | None = person.outcome or person.stage
            return labels.get(key) if key is not None else None

        return funnel_label
    if name.startswith(ENTERED_PREFIX):
        stage = Stage(name.removeprefix(ENTERED_PREFIX))
        return lambda person: person.entered.get(stage)
    getter: Callable[[Person], Value] = attrgetter(name)
    return getter


class Mapper:
    """The dictionary compiled for mapping records in both directions."""

    def __init__(
        self, dictionary: Dictionary, *, schemas: Mapping[SchemaKey, FieldSchema] | None = None
    ) -> None:
        self.dictionary = dictionary
        self.vocabulary = Vocabulary.of(dictionary)
        schemas = schemas or {}
        self._fields: dict[tuple[System, str], tuple[_Field, ...]] = {}
        self._compiled_readers: dict[tuple[System, str], tuple[_Reader, ...]] = {}
        self._digested: dict[tuple[System, str], tuple[str, ...]] = {}
        self._plain_readers: dict[tuple[System, str], dict[str, list[_PlainReader]]] = {}
        self._person_reading: dict[tuple[System, str], _PersonReading] = {}
        self._positions: dict[tuple[Any, ...], tuple[Stage | None, Outcome | None]] = {}
        self._salt = _salt(dictionary, schemas)
        for system, objects in PERSON_OBJECTS.items():
            for obj in objects:
                self._fields[(system, obj)] = tuple(
                    self._compile(system, obj, name, fmap, schemas)
                    for name, fmap in dictionary.fields.items()
                    if _remote(system, obj, fmap) is not None
                )

    def _compile(
        self,
        system: System,
        obj: str,
        name: str,
        fmap: FieldMap,
        schemas: Mapping[SchemaKey, FieldSchema],
    ) -> _Field:
        remote = _remote(system, obj, fmap) or ""
        transforms = [get(t) for t in fmap.transforms]
        schema = schemas.get((system, obj, remote))
        limit = schema.length if schema and schema.length else None
        if limit is None and system is System.SALESFORCE:
            limit = fmap.max_length
        if name in NEVER_CUT:
            limit = None
        fallback = required_fallbacks(self.dictionary, obj).get(remote)
        hubspot = system is System.HUBSPOT
        return _Field(
            canonical=name,
            remote=remote,
            read=_chain([t.read for t in transforms]),
            write=_chain([t.write for t in reversed(transforms)]),
            get=_getter(name, self.vocabulary.labels),
            entered=Stage(name.removeprefix(ENTERED_PREFIX))
            if name.startswith(ENTERED_PREFIX)
            else None,
            is_label=name == FUNNEL_STAGE,
            placed=any(t.placed for t in transforms),
            writes_here=fmap.rule.writes_hubspot if hubspot else fmap.rule.writes_salesforce,
            synced=fmap.rule is not Rule.NONE,
            outbound_only=hubspot and fmap.rule is Rule.HUBSPOT_TO_SALESFORCE,
            max_length=limit,
            fallback=None if hubspot else fallback,
        )

    def fields_for(self, system: System, obj: str) -> tuple[str, ...]:
        """The system field names a person-object record must carry to be fully mapped."""
        return tuple(f.remote for f in self._person_fields(system, obj))

    def remote(self, system: System, obj: str, name: str) -> str | None:
        """The system field that canonical field `name` is mapped to on `obj` (None: not
        mapped there)."""
        spec = self._field(system, obj, name)
        return spec.remote if spec is not None else None

    def length_limit(self, system: System, obj: str, name: str) -> int | None:
        """The most characters canonical field `name` keeps when written to `obj` (its
        schema's length, or the dictionary's `max_length` for Salesforce); longer text is cut
        (`to_patch`)."""
        spec = self._field(system, obj, name)
        return spec.max_length if spec is not None else None

    def read_back(self, system: System, obj: str, name: str, value: Value) -> Value:
        """Canonical `value` of field `name` as `obj` reads it back once written: through the
        field's write transforms, cut to its limit (`to_patch`), then its read transforms (a
        cut ending in a space reads without it)."""
        spec = self._field(system, obj, name)
        if spec is None:
            raise ValueError(f"{name} is not mapped on {system}:{obj}")
        ctx = self.vocabulary.contexts[system]
        if spec.write is not None:
            value = spec.write(value, ctx).value
        value = truncate(value, spec.max_length, label=name).value
        if value is None or value == "":
            return None
        return spec.read(value, ctx).value if spec.read is not None else value

    def _field(self, system: System, obj: str, name: str) -> _Field | None:
        return next((f for f in self._person_fields(system, obj) if f.canonical == name), None)

    def _person_fields(self, system: System, obj: str) -> tuple[_Field, ...]:
        try:
            return self._fields[(system, obj)]
        except KeyError:
            kinds = ", ".join(f"{s}:{o}" for s, o in self._fields)
            raise ValueError(f"{system}:{obj} is not a person object (one of {kinds})") from None

    # -- system -> canonical ------------------------------------------------------------------

    def _readers(self, system: System, obj: str) -> tuple[_Reader, ...]:
        """The field maps of an object as flat tuples for `to_person`, which runs for every
        record read (attribute lookups on `_Field` cost more than the work itself)."""
        found = self._compiled_readers.get((system, obj))
        if found is None:
            found = tuple(
                (
                    spec.remote,
                    spec.fallback,
                    spec.read,
                    _kind(spec),
                    spec.canonical,
                    spec.entered,
                )
                for spec in self._person_fields(system, obj)
            )
            self._compiled_readers[(system, obj)] = found
        return found

    def _person_reading_of(self, system: System, obj: str) -> _PersonReading:
        """`_readers` grouped by kind for `to_person`, which runs for every record read."""
        found = self._person_reading.get((system, obj))
        if found is None:
            kinds: dict[int, list[_PersonReader]] = {
                k: [] for k in (_PLAIN, _ENTERED, _LABEL, _PLACED)
            }
            for remote, fallback, read, kind, name, at in self._readers(system, obj):
                quiet = QUIET_READS.get(read) if read else None
                target = at if kind == _ENTERED else name
                kinds[kind].append((remote, fallback, quiet, None if quiet else read, target))
            blanks = {name: None for *_, name in (*kinds[_PLAIN], *kinds[_PLACED])}
            found = _PersonReading(
                tuple(kinds[_PLAIN]),
                tuple(kinds[_ENTERED]),
                tuple(kinds[_LABEL]),
                blanks,
                tuple(kinds[_PLACED]),
            )
            self._person_reading[(system, obj)] = found
        return found

    def source_digest(self, record: SourceRecord, extra: Sequence[str] = ()) -> str:
        """A fingerprint of every field `to_person` reads from `record` (plus `extra`, and its
        other emails, which identity reads), salted with the dictionary and Baton's version:
        equal digests map to equal people, so a record whose digest did not change need not
        be mapped again. A record without other emails digests as it did before they were."""
        key = (record.key.system, record.key.object)
        names = self._digested.get(key)
        if names is None:
            names = (
                *(spec[0] for spec in self._readers(*key)),
                *_SIGNAL_FIELDS.get(key, ()),
            )
            self._digested[key] = names
        get_field = record.fields.get
        read: list[object] = list(map(get_field, names))
        if extra:
            read.extend(map(get_field, extra))
        if record.other_emails:
            read.append(record.other_emails)
        encoded = orjson.dumps(read, default=str)
        return hashlib.blake2b(encoded, key=self._salt, digest_size=16).hexdigest()

    def remap(
        self, person: Person, record: SourceRecord, fields: Mapping[str, FieldValue]
    ) -> Person:
        """`person` (what `record` maps to) after `fields` are written to `record`: what
        `to_person` of the updated record returns, computed from the written fields alone when
        none of them feeds the funnel signal (the common case: a plain field copied over)."""
        key = (record.key.system, record.key.object)
        plain = self._plain_readers.get(key)
        if plain is None:
            plain = self._plain_readers[key] = _plain_readers(
                self._readers(*key), _SIGNAL_FIELDS.get(key, ())
            )
        if not fields.keys() <= plain.keys():
            merged = SourceRecord(record.key, {**record.fields, **fields}, record.modified_at)
            return self.to_person(merged).value
        ctx = self.vocabulary.contexts[record.key.system]
        changes: dict[str, Any] = {}
        for remote, value in fields.items():
            for fallback, read, name in plain[remote]:
                got: Value = None if fallback is not None and value == fallback else value
                if read is not None and got is not None:
                    got = read(got, ctx).value
                changes[name] = got
        return Person.model_validate({**person.__dict__, **changes})

    def to_person(self, record: SourceRecord) -> Mapped[Person]:
        key = record.key
        reading = self._person_reading_of(key.system, key.object)
        ctx = self.vocabulary.contexts[key.system]
        warnings: list[str] = []
        get_field = record.fields.get

        def read(remote: str, value: Value, fn: ReadFn, here: Context = ctx) -> Value:
            result = fn(value, here)  # transforms keep blank as blank
            if result.warnings:
                warnings.extend(f"{key}.{remote}: {w}" for w in result.warnings)
            return result.value

        values: dict[str, Any] = reading.blanks.copy()  # a plain field not read stays blank
        for remote, fallback, quiet, fn, name in reading.plain:
            value: Value = get_field(remote)
            if value is None or value == fallback:
                continue  # blank: what `blanks` already says
            if quiet is not None:
                values[name] = quiet(value)
            else:
                values[name] = read(remote, value, fn) if fn is not None else value
        if reading.placed:
            place = None
            for remote, fallback, _, fn, name in reading.placed:
                value = get_field(remote)
                if value is None or value == fallback or fn is None:
                    continue
                if place is None:
                    country = values.get(COUNTRY)
                    place = replace(ctx, country=country if isinstance(country, str) else None)
                values[name] = read(remote, value, fn, place)
        entered: dict[Stage, datetime] = {}
        for remote, fallback, quiet, fn, stage in reading.entered:
            value = get_field(remote)
            if value is None or value == fallback:
                continue
            value = quiet(value) if quiet else read(remote, value, fn) if fn else value
            if isinstance(value, datetime):
                entered[stage] = value
        label: Value = None
        for remote, fallback, quiet, fn, _ in reading.label:
            value = get_field(remote)
            if value is None or value == fallback:
                continue
            label = quiet(value) if quiet else read(remote, value, fn) if fn else value
        stage_, outcome = self._person_position(record, label, values.get("outcome_reason"))
        if key.system is System.HUBSPOT:
            values["hubspot_id"] = key.id or None
        else:
            values["salesforce_id"] = key.id or None
            values["salesforce_object"] = key.object
        values["stage"] = stage_
        values["outcome"] = outcome
        values["entered"] = entered
        return Mapped(Person.model_validate(values), tuple(warnings))

    def signal(self, record: SourceRecord) -> Signal:
        """What one record says about the funnel (Opportunity records included)."""
        key = record.key
        if key.system is System.SALESFORCE and key.object == OPPORTUNITY:
            return self._opportunity_signal(record)
        person = self.to_person(record).value
        return Signal(
            key.system,
            person.stage,
            person.outcome,
            person.outcome_reason,
            at=record.modified_at,
            # converting a Lead reopens it (sales took it on), whatever it said before
            reopened=converted_lead(record),
        )

    def derive(self, records: Sequence[SourceRecord]) -> Resolution:
        """The funnel position both systems' records agree on, by `stages.resolve`'s rules.

        Records alone have no snapshots, so nothing here shows a Lead's Status set back since
        the last sync or marketing re-qualifying a contact (`Signal.requalified` stays False):
        sales' verdict stands, as on the planner's first sight of a pair
        (`sync.plan._requalified`); a conversion still reopens."""
        return resolve([self.signal(r) for r in records], self.dictionary)

    def _person_position(
        self, record: SourceRecord, label: Value, reason: Any
    ) -> tuple[Stage | None, Outcome | None]:
        """The stage and outcome a person record's native fields and funnel label say.

        Remembered per combination of inputs (picklist values, so few of them): every record
        read asks, and the vocabulary lookups cost more than the memo's."""
        key = record.key
        natives = _SIGNAL_FIELDS.get((key.system, key.object), ())
        get_field = record.fields.get
        memo = (key.system, key.object, *map(get_field, natives), label, reason)
        try:
            found = self._positions.get(memo)
        except TypeError:  # a value no connector should give (a list): worked out, not kept
            return self._position_of(record, label, reason)
        if found is None:
            found = self._position_of(record, label, reason)
            if len(self._positions) >= _POSITIONS_KEPT:  # odd values: keep the memo small
                self._positions.clear()
            self._positions[memo] = found
        return found

    def _position_of(
        self, record: SourceRecord, label: Value, reason: Any
    ) -> tuple[Stage | None, Outcome | None]:
        voc = self.vocabulary
        key = record.key
        fields = record.fields
        natives: tuple[StageKey | None, ...]
        converted = False
        if key.system is System.HUBSPOT:
            natives = (
                voc.means("hubspot", "hs_lead_status", fields.get("hs_lead_status")),
                voc.means("hubspot", "lifecyclestage", fields.get("lifecyclestage")),
            )
        elif key.object == LEAD:
            converted = converted_lead(record)
            natives = (
                voc.means("salesforce", "lead_status", fields.get("Status")),
                voc.converted_stage if converted else None,
            )
        else:
            natives = ()
        stages = [n for n in natives if isinstance(n, Stage)]
        outcomes = [n for n in natives if isinstance(n, Outcome)]
        from_label = voc.by_label.get(label.casefold()) if isinstance(label, str) else None
        if isinstance(from_label, Stage):
            stages.append(from_label)
        elif isinstance(from_label, Outcome) and not outcomes:
            reopened = converted or (
                key.system is System.HUBSPOT
                and from_label in REASON_REQUIRED
                and isinstance(natives[0] if natives else None, Stage)
            )
            # Baton writes a recycle or disqualification to HubSpot with its lead status
            # (`_funnel_fields`): a status saying a stage since is someone reopening it
            # (marketing re-qualifying), which the label, ours, must not hide. Lost has no
            # status; a Lead's Status is sales' own, never written with the label. A converted
            # Lead's label predates its conversion, its last word (Baton cannot write to it).
            if not reopened:
                outcomes.append(from_label)
        outcome = outcomes[0] if outcomes else None
        if outcome in REASON_REQUIRED and isinstance(reason, str):
            spec = voc.reasons.get(reason)
            if spec is not None:
                outcome = spec.outcome  # Salesforce spells recycle and disqualify alike
        stage = max(stages, key=_rank) if stages else None
        return stage, outcome

    def _opportunity_signal(self, record: SourceRecord) -> Signal:
        voc = self.vocabulary
        name = record.fields.get("StageName")
        meant = voc.means("salesforce", "opportunity_stage", name)
        flags = voc.opportunity_flags.get(name) if isinstance(name, str) else None
        closed, won = flags or (
            record.fields.get("IsClosed") in (True, "true"),
            record.fields.get("IsWon") in (True, "true"),
        )
        if won:
            stage: Stage | None = Stage.CUSTOMER
        elif isinstance(meant, Stage):
            stage = meant
        else:
            stage = Stage.OPPORTUNITY
        outcome = Outcome.LOST if closed and not won else None
        return Signal(
            System.SALESFORCE,
            stage,
            outcome,
            open_opportunity=not closed,
            closed_opportunity=closed,
            at=record.modified_at,
        )

    # -- canonical -> system ------------------------------------------------------------------

    def to_patch(
        self,
        person: Person,
        key: RecordKey,
        *,
        respect_rules: bool = True,
        clear_blanks: bool = False,
        creating: bool = False,
    ) -> Mapped[RecordPatch]:
        """The fields to write to `key` so it says what `person` says.

        `respect_rules` leaves out fields whose rule never writes this system (the score never
        goes to HubSpot, the owner never to Salesforce). `creating` makes a new record start as
        a full copy of every synced field instead: otherwise its blank would win the next cycle
        under an `always_<this system>` rule and wipe the source's value. A HubSpot contact is
        made without the fields flowing one way out of HubSpot: its blank never clears
        Salesforce's (one-way rules never clear), and HubSpot may not take them at all (its
        lifecycle dates are read-only, its score calculated: a contact made with one is refused
        whole). A Salesforce record still starts as a full copy (the owner marketing assigned
        goes with the handoff). Blank values
        are left out unless `clear_blanks`; Salesforce's required fields get the dictionary's
        fallback.
        """
        if key.system is System.SALESFORCE and key.object == OPPORTUNITY:
            return self._opportunity_patch(person, key)
        specs = self._person_fields(key.system, key.object)
        ctx = self.vocabulary.contexts[key.system]
        warnings: list[str] = []
        out: dict[str, FieldValue] = {}
        for spec in specs:
            if creating:
                if not spec.synced or spec.outbound_only:
                    continue
            elif respect_rules and not spec.writes_here:
                continue
            value = spec.get(person)
            if spec.write is not None:
                result = spec.write(value, ctx)
                value = result.value
                if result.warnings:
                    warnings.extend(f"{key}.{spec.remote}: {w}" for w in result.warnings)
            limit = spec.max_length
            if limit is not None and isinstance(value, str) and len(value) > limit:
                cut = truncate(value, limit, label=f"{key}.{spec.remote}")
                value = cut.value
                warnings.extend(cut.warnings)
            if isinstance(value, datetime):  # a map without a datetime transform: ISO 8601
                value = value.isoformat()
            if value is None or value == "":
                if spec.fallback is not None:
                    out[spec.remote] = spec.fallback
                elif clear_blanks:
                    out[spec.remote] = None
                continue
            out[spec.remote] = value
        self._funnel_fields(person, key, out, status_allowed=not respect_rules or not key.id)
        match_on = None
        if not key.id and person.baton_id:
            match_on = next((s.remote for s in specs if s.canonical == "baton_id"), None)
        return Mapped(RecordPatch(key, out, match_on), tuple(warnings))

    def status_update(self, person: Person, record: SourceRecord) -> dict[str, FieldValue]:
        """The lead status `record` needs to say `person`'s stage, when its own means another
        (a recycled Lead re-qualified, still "Closed - Not Converted"; an opportunity still
        "New" in HubSpot), whatever the lead status map's rule: the state machine decided the
        stage. Empty when the record's status is blank, outside the picklist or says the stage
        already (any of its spellings: a rep's "Connected" stays), or the stage has no status
        of its own."""
        key = record.key
        field, value_field = _STATUS_FIELDS.get((key.system, key.object), ("", ""))
        current = record.fields.get(field)
        if current in (None, "") or person.stage is None or person.outcome is not None:
            return {}
        spelled: dict[str, FieldValue] = {}
        self._funnel_fields(person, key, spelled, status_allowed=True)
        wanted = spelled.get(field)
        voc, system = self.vocabulary, key.system.value
        if wanted is None or voc.means(system, value_field, wanted) != person.stage:
            return {}
        meant = voc.means(system, value_field, current)
        if meant is None or meant == person.stage:  # a value outside the picklist stays as typed
            return {}
        return {field: wanted}

    def status_says(self, key: RecordKey, fields: Mapping[str, Any]) -> StageKey | None:
        """What the lead status in `fields` (`key`'s object's own spelling) means on its own:
        None when `fields` holds none, or a value outside the picklist."""
        field, value_field = _STATUS_FIELDS.get((key.system, key.object), ("", ""))
        if field not in fields:
            return None
        return self.vocabulary.means(key.system.value, value_field, fields[field])

    def _funnel_fields(
        self, person: Person, key: RecordKey, out: dict[str, FieldValue], *, status_allowed: bool
    ) -> None:
        """Native stage fields: HubSpot lifecyclestage, and the lead status.

        Sales' verdict (an outcome with its reason) sets the lead status the dictionary gives
        that reason; otherwise the mapped lead status stands, or the stage's own value fills in.
        The lead status is written only where its field map's rule writes that system, or on a
        create (Salesforce needs a Status; HubSpot should start with one).
        """
        voc = self.vocabulary
        hubspot = key.system is System.HUBSPOT
        if hubspot and person.stage is not None:
            lifecycle = voc.spell("hubspot", "lifecyclestage", person.stage)
            if lifecycle is not None:
                out["lifecyclestage"] = lifecycle
        if not hubspot and key.object != LEAD:
            return  # Contacts have no lead status
        field, value_field = _STATUS_FIELDS[(key.system, HUBSPOT_CONTACTS if hubspot else LEAD)]
        system = key.system.value
        mapped = next(
            (s for s in self._fields[(key.system, key.object)] if s.remote == field), None
        )
        if not (status_allowed or (mapped is not None and mapped.writes_here)):
            return
        reason = voc.reasons.get(person.outcome_reason or "")
        if reason is not None and person.outcome in REASON_REQUIRED:
            verdict = reason.hubspot.hs_lead_status if hubspot else reason.salesforce.lead_status
            out[field] = verdict
            return
        if (
            hubspot
            and person.outcome in REASON_REQUIRED
            and voc.means(key.system.value, value_field, out.get(field)) != person.outcome
        ):
            out.pop(field, None)  # the outcome's own status, not one saying a stage (see above)
        if field in out:
            return
        status: str | None = None
        if person.outcome is not None:
            status = voc.outcome_spelling(system, value_field, person.outcome)
        elif person.stage is not None and (
            hubspot or voc.converted_stage is None or person.stage < voc.converted_stage
        ):  # Salesforce converts leads through convertLead, never by a Status write
            status = voc.spell(system, value_field, person.stage)
        if status is not None:
            out[field] = status

    def _opportunity_patch(self, person: Person, key: RecordKey) -> Mapped[RecordPatch]:
        voc = self.vocabulary
        name: str | None = None
        if person.outcome is Outcome.LOST:
            name = voc.outcome_spelling("salesforce", "opportunity_stage", Outcome.LOST)
        elif person.stage is not None and person.stage >= Stage.SQL:
            name = voc.spell("salesforce", "opportunity_stage", person.stage)
        if name is None:
            return Mapped(RecordPatch(key, {}), (f"{key}: {self._where(person)} has no StageName",))
        return Mapped(RecordPatch(key, {"StageName": name}))

    def _where(self, person: Person) -> str:
        return str(person.outcome or person.stage or "no stage")


def addresses(record: SourceRecord) -> frozenset[str]:
    """The addresses besides its email field the record's system finds it by, as the `email`
    transform reads them (a deleted record's are free: none)."""
    if record.deleted or not record.other_emails:
        return frozenset()
    return frozenset(a for e in record.other_emails if (a := normalise_email(e)) is not None)


def converted_lead(record: SourceRecord) -> bool:
    """Whether `record` is a converted Salesforce Lead (kept by Salesforce, read-only)."""
    return record.key.object == LEAD and record.fields.get("IsConverted") in (True, "true")


def _rank(stage: Stage) -> int:
    return stage.rank


#: `Mapper._person_position` answers remembered at most (a bound, not an expected size).
_POSITIONS_KEPT = 4096
#: The lead status field of each person object that has one, and its name in the dictionary.
_STATUS_FIELDS: dict[tuple[System, str], tuple[str, str]] = {
    (System.HUBSPOT, HUBSPOT_CONTACTS): ("hs_lead_status", "hs_lead_status"),
    (System.SALESFORCE, LEAD): ("Status", "lead_status"),
}
#: Native fields `_person_position` reads besides the mapped ones.
_SIGNAL_FIELDS: dict[tuple[System, str], tuple[str, ...]] = {
    (System.HUBSPOT, HUBSPOT_CONTACTS): ("hs_lead_status", "lifecyclestage"),
    (System.SALESFORCE, LEAD): ("Status", "IsConverted"),
}


_PlainReader = tuple[str | None, "ReadFn | None", str]  # (fallback, read, canonical name)


def _plain_readers(
    readers: Sequence[_Reader], signal_fields: Sequence[str]
) -> dict[str, list[_PlainReader]]:
    """Per remote field, how `to_person` reads it, for the remote fields whose value reaches
    the person only through their own canonical field (not the funnel signal, the funnel
    label, a stage date, or a placed field's read, nor the country it is placed by). A remote
    field another kind of reader also uses is left out."""
    found: dict[str, list[_PlainReader]] = {}
    excluded = set(signal_fields)
    if any(kind == _PLACED for _, _, _, kind, _, _ in readers):  # the country they depend on
        excluded.update(remote for remote, *_, name, _ in readers if name == COUNTRY)
    for remote, fallback, read, kind, name, _ in readers:
        if kind != _PLAIN or name == "outcome_reason":
            excluded.add(remote)
            continue
        found.setdefault(remote, []).append((fallback, read, name))
    return {remote: plain for remote, plain in found.items() if remote not in excluded}


def _salt(dictionary: Dictionary, schemas: Mapping[SchemaKey, FieldSchema]) -> bytes:
    """What else decides how a record maps: the dictionary, the described field lengths and
    the transforms' code (Baton's version), as a 16-byte key for `source_digest`."""
    try:
        release = version("baton-sync")
    except PackageNotFoundError:  # running from a source tree that was never installed
        release = "source"
    lengths = sorted((str(k), s.length) for k, s in schemas.items())
    material = orjson.dumps([release, dictionary.model_dump(mode="json"), lengths])
    return hashlib.blake2b(material, digest_size=16).digest()


def _remote(system: System, obj: str, fmap: FieldMap) -> str | None:
    if system is System.HUBSPOT:
        return fmap.hubspot
    for name, remote in fmap.salesforce.items():
        if name == obj:
            return remote
    return None
