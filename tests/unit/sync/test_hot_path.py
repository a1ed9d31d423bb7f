"""The engine's hot-path shortcuts say exactly what the plain code says."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

import sync.gather
from connectors.records import FieldValue, RecordKey, SourceRecord, System
from mappings.apply import Mapper
from mappings.loader import load_default
from mappings.model import FUNNEL_STAGE, Stage
from mappings.transforms import (
    _EXTENSION,
    _PHONE_JUNK,
    QUIET_READS,
    Context,
    Value,
    normalise_phone,
)
from sync.changes import STAMPED, any_changed, changed_fields, field_changed
from sync.engine import SyncEngine
from sync.plan import CreationPolicy, Planner, Side
from sync.store.checkpoints import get_checkpoint
from sync.store.snapshots import get_snapshot
from sync.values import CanonicalView, canonical
from tests.unit.sync.conftest import World

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("system", "obj", "fields"),
    [
        (System.HUBSPOT, "contacts", {"email": "A@x.com", "lifecyclestage": "lead"}),
        (
            System.HUBSPOT,
            "contacts",
            {
                "email": "b@x.com",
                "hubspotscore": "77",
                "lifecyclestage": "marketingqualifiedlead",
                "hs_lifecyclestage_marketingqualifiedlead_date": "1772323200000",
                "hs_lead_status": "UNQUALIFIED",
                "rejection_reason": "Competitor",
            },
        ),
        (
            System.SALESFORCE,
            "Lead",
            {
                "Email": "c@x.com",
                "Status": "Closed - Not Converted",
                "Rejection_Reason__c": "No Budget",
                "MQL_Date__c": "2026-03-01T10:00:00.000+0000",
                "Phone": "n/a",
            },
        ),
        (System.SALESFORCE, "Contact", {"Email": "d@x.com", "Funnel_Stage__c": "SQL"}),
    ],
)
def test_the_compiled_canonical_view_matches_canonical(
    system: System, obj: str, fields: dict[str, object]
) -> None:
    dictionary = load_default()
    mapper = Mapper(dictionary)
    record = SourceRecord(RecordKey(system, obj, "1"), fields, AT)  # type: ignore[arg-type]
    person = mapper.to_person(record).value
    labels = mapper.vocabulary.labels
    view = CanonicalView(dictionary, labels)(person)
    plain = canonical(person, dictionary, labels)
    assert view == plain
    assert list(view) == list(plain)  # same key order: snapshots and plans read alike


def test_a_record_read_again_unchanged_only_moves_its_snapshots_time(world: World) -> None:
    hs_id = world.hs.put("contacts", {"email": "ann@example.com", "lifecyclestage": "lead"})
    world.clock.advance(10)
    engine = world.engine()
    engine.poll()
    key = RecordKey(System.HUBSPOT, "contacts", hs_id)
    first = get_snapshot(world.read(), key)
    assert first is not None
    world.hs.put("contacts", {}, id=hs_id)  # touched, nothing changed
    world.clock.advance(10)
    report = engine.poll()
    again = get_snapshot(world.read(), key)
    assert again is not None
    assert report.writes == 0
    assert again.values == first.values
    assert again.hash == first.hash
    assert again.version == first.version + 1
    assert again.source_modified_at == world.hs.objects["contacts"][hs_id].modified_at
    assert again.source_modified_at != first.source_modified_at


def _linked_pair(world: World) -> tuple[str, str, SyncEngine]:
    """A HubSpot contact and its Salesforce Lead, synced once and their echoes read."""
    hs_id = world.hs.put("contacts", {"email": "bo@example.com", "lifecyclestage": "lead"})
    sf_id = world.sf.put(
        "Lead",
        {"Email": "bo@example.com", "LastName": "Bo", "Company": "Acme", "IsConverted": False},
    )
    world.clock.advance(10)
    engine = world.engine()
    engine.poll()
    world.clock.advance(10)
    engine.poll()
    world.clock.advance(10)
    return hs_id, sf_id, engine


def test_a_record_whose_mapped_fields_did_not_change_is_not_planned_nor_its_twin_read(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    hs_id, _, engine = _linked_pair(world)
    key = RecordKey(System.HUBSPOT, "contacts", hs_id)
    before = get_snapshot(world.read(), key)
    assert before is not None
    assert before.source_digest is not None
    reads: list[list[str]] = []
    real = world.sf.read_by_ids
    monkeypatch.setattr(
        world.sf, "read_by_ids", lambda obj, ids: reads.append(list(ids)) or real(obj, ids)
    )
    world.hs.put("contacts", {"notes_last_updated": "2026-03-03"}, id=hs_id)  # not synced
    world.clock.advance(10)
    report = engine.poll()
    after = get_snapshot(world.read(), key)
    assert after is not None
    assert report.writes == 0
    assert report.unchanged >= 1
    assert reads == []  # the Lead was not read again to plan an unchanged contact
    assert after.values == before.values
    assert after.source_digest == before.source_digest
    assert after.source_modified_at == world.hs.objects["contacts"][hs_id].modified_at


def test_a_mapped_change_still_goes_through_the_full_path(world: World) -> None:
    hs_id, sf_id, engine = _linked_pair(world)
    key = RecordKey(System.HUBSPOT, "contacts", hs_id)
    before = get_snapshot(world.read(), key)
    world.hs.put("contacts", {"jobtitle": "CTO"}, id=hs_id)
    world.clock.advance(10)
    report = engine.poll()
    after = get_snapshot(world.read(), key)
    assert report.writes == 1
    assert world.sf.get("Lead", sf_id)["Title"] == "CTO"
    assert before is not None
    assert after is not None
    assert after.source_digest != before.source_digest


def test_the_digest_depends_on_the_dictionary_so_a_mapping_change_maps_again() -> None:
    dictionary = load_default()
    record = SourceRecord(
        RecordKey(System.HUBSPOT, "contacts", "1"), {"email": "a@x.com", "jobtitle": "CTO"}, AT
    )
    edited = dictionary.model_copy(
        update={"owners": {**dictionary.owners, "someone@example.com": "005000000000001"}}
    )
    same = Mapper(dictionary).source_digest(record)
    assert Mapper(load_default()).source_digest(record) == same
    assert Mapper(edited).source_digest(record) != same
    touched = SourceRecord(record.key, {**record.fields, "jobtitle": "CEO"}, AT)
    assert Mapper(dictionary).source_digest(touched) != same
    unmapped = SourceRecord(record.key, {**record.fields, "notes_last_updated": "x"}, AT)
    assert Mapper(dictionary).source_digest(unmapped) == same


def test_a_quiet_org_polls_from_the_last_bound_not_the_last_change(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.hs.put("contacts", {"email": "q@example.com", "lifecyclestage": "lead"})
    world.clock.advance(10)
    engine = world.engine(lookback=timedelta(minutes=2))
    engine.poll()
    world.clock.advance(600)  # ten quiet minutes
    asked: list[datetime | None] = []
    real = world.hs.read_changes

    def recording(obj: str, since: datetime | None, until: datetime) -> Iterator[SourceRecord]:
        asked.append(since)
        return real(obj, since, until)

    monkeypatch.setattr(world.hs, "read_changes", recording)
    engine.poll()
    checkpoint = get_checkpoint(world.read(), System.HUBSPOT, "contacts")
    assert checkpoint is not None
    # the first poll read its whole window, so this one starts at its bound less the lookback
    assert asked == [world.clock() - timedelta(seconds=600 + 2 + 120)]
    assert checkpoint.cursor == world.clock() - timedelta(seconds=2)  # this poll's bound


SNAPSHOT = {"email": "a@x.com", "job_title": "Engineer", "entered.mql": STAMPED, "phone": None}


@pytest.mark.parametrize(
    "current",
    [
        dict(SNAPSHOT),
        {**SNAPSHOT, "job_title": "Principal Engineer"},
        {**SNAPSHOT, "entered.mql": "2026-03-02T09:00:00+00:00"},  # the echo of the stamp
        {**SNAPSHOT, "entered.mql": None},
        {**SNAPSHOT, "phone": "+14155550100", "company": "Acme"},
        {"email": "a@x.com"},
    ],
)
def test_the_single_field_change_checks_agree_with_changed_fields(
    current: dict[str, FieldValue],
) -> None:
    changed = changed_fields(current, SNAPSHOT)
    assert any_changed(current, SNAPSHOT) == bool(changed)
    names = {*current, *SNAPSHOT, "unknown"}
    assert {n for n in names if field_changed(n, current, SNAPSHOT)} == changed
    assert {n for n in names if field_changed(n, current, None)} == changed_fields(current, None)


@pytest.mark.parametrize("value", [None, "", "  ", " Ada ", "A@X.com ", 42, 1.5, True])
def test_the_quiet_reads_give_what_their_transforms_read(value: Value) -> None:
    ctx = Context(System.HUBSPOT)
    for read, quiet in QUIET_READS.items():
        result = read(value, ctx)
        assert result.warnings == ()
        assert quiet(value) == result.value


@given(st.text(alphabet="0123456789+ ()-./x#Xet\t\u00a0\u2003\u0663\u00b2", max_size=20))
def test_the_phone_shortcuts_skip_only_substitutions_that_change_nothing(text: str) -> None:
    if not ("x" in text or "X" in text or "#" in text):
        assert _EXTENSION.sub("", text) == text
    if text.lstrip("+").isdigit():
        assert _PHONE_JUNK.sub("", text) == text


def test_a_blank_field_maps_as_a_field_not_read() -> None:
    mapper = Mapper(load_default())
    fields: dict[str, FieldValue] = {"email": "a@x.com", "lifecyclestage": "lead"}
    key = RecordKey(System.HUBSPOT, "contacts", "1")
    blanks = dict.fromkeys(mapper.fields_for(System.HUBSPOT, "contacts"))
    sparse = mapper.to_person(SourceRecord(key, fields, AT))
    full = mapper.to_person(SourceRecord(key, {**blanks, **fields}, AT))
    assert sparse == full
    assert sparse.value.phone is None
    assert sparse.value.email == "a@x.com"


@pytest.mark.parametrize("raw", ["+1²³⁴5678901", "+٤١٥٥٥٥٠١٠١٠٠", "²⁴¹⁵⁵⁵⁵⁰¹⁰¹"])
def test_a_phone_with_digits_other_than_ascii_is_not_e164(raw: str) -> None:
    assert normalise_phone(raw) is None


def _pair_sides(
    planner: Planner, hubspot: dict[str, FieldValue], lead: dict[str, FieldValue]
) -> tuple[Side, Side]:
    hs = SourceRecord(RecordKey(System.HUBSPOT, "contacts", "1"), hubspot, AT)
    sf = SourceRecord(RecordKey(System.SALESFORCE, "Lead", "00Q1"), lead, AT)
    return planner.side(hs, None), planner.side(sf, None)


def test_a_pair_saying_one_position_is_not_resolved_unless_a_side_must_move() -> None:
    planner = Planner(Mapper(load_default()), CreationPolicy())
    agree = {"email": "ann@x.com", "lifecyclestage": "marketingqualifiedlead"}
    hs, sf = _pair_sides(planner, agree, {"Email": "ann@x.com", "Status": "Open - Not Contacted"})
    assert hs.person.stage == sf.person.stage == Stage.MQL

    quiet = planner.plan(uuid.uuid4(), hs, sf, now=AT)

    assert quiet.funnel is not None
    assert quiet.funnel.resolution is None
    assert not any(d.field == FUNNEL_STAGE for d in quiet.decisions)
    resolved = planner._resolve([hs, sf], ())
    assert replace(planner.facts(quiet.funnel), observed_at=AT) == replace(
        planner.facts(replace(quiet.funnel, resolution=resolved)), observed_at=AT
    )
    # HubSpot is behind: it must follow, as the state machine decides and names it.
    behind = {"email": "ann@x.com", "lifecyclestage": "lead"}
    hs, sf = _pair_sides(planner, behind, {"Email": "ann@x.com", "Status": "Open - Not Contacted"})
    assert hs.person.stage != sf.person.stage

    moved = planner.plan(uuid.uuid4(), hs, sf, now=AT)

    resolved = planner._resolve([hs, sf], ())
    [write] = [w for w in moved.writes if w.key.system is System.HUBSPOT]
    assert write.fields["lifecyclestage"] == "marketingqualifiedlead"
    [decision] = [d for d in moved.decisions if d.field == FUNNEL_STAGE]
    assert decision.rule == f"funnel:{resolved.rule}"
    assert moved.funnel is not None
    assert moved.funnel.resolution == resolved


@given(
    st.sampled_from([None, "lead", "marketingqualifiedlead", "customer", "other", 7]),
    st.sampled_from([None, "NEW", "UNQUALIFIED", "BAD_TIMING", "nonsense"]),
    st.sampled_from([None, "MQL", "Disqualified", "Recycled", "SQL", "nope", 3]),
    st.sampled_from([None, "No Budget", "Competitor", "Bad Timing", "unknown"]),
    st.sampled_from(["Open - Not Contacted", "Closed - Not Converted", "Qualified", None]),
    st.sampled_from([True, False, "true", None, 1]),
)
def test_the_remembered_funnel_positions_are_those_worked_out(
    lifecycle: FieldValue,
    lead_status: FieldValue,
    label: Value,
    reason: str | None,
    status: FieldValue,
    converted: FieldValue,
) -> None:
    mapper = Mapper(load_default())
    records = [
        SourceRecord(
            RecordKey(System.HUBSPOT, "contacts", "1"),
            {"lifecyclestage": lifecycle, "hs_lead_status": lead_status},
            AT,
        ),
        SourceRecord(
            RecordKey(System.SALESFORCE, "Lead", "00Q1"),
            {"Status": status, "IsConverted": converted},
            AT,
        ),
        SourceRecord(RecordKey(System.SALESFORCE, "Contact", "0031"), {}, AT),
    ]
    for record in records * 2:  # asked again: remembered
        worked_out = mapper._position_of(record, label, reason)
        assert mapper._person_position(record, label, reason) == worked_out


def test_a_position_from_a_value_no_connector_should_give_is_worked_out_not_kept() -> None:
    mapper = Mapper(load_default())
    odd = SourceRecord(RecordKey(System.SALESFORCE, "Lead", "00Q1"), {"Status": ["x"]}, AT)  # type: ignore[dict-item]
    assert mapper._person_position(odd, None, None) == mapper._position_of(odd, None, None)
    assert mapper._positions == {}


def test_a_linked_persons_opportunities_come_with_its_links_not_from_another_query(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    hs_id, _, engine = _linked_pair(world)
    asked: list[list[uuid.UUID]] = []
    real = sync.gather.associated
    monkeypatch.setattr(
        sync.gather,
        "associated",
        lambda db, people, obj: asked.append(list(people)) or real(db, people, obj),
    )
    world.hs.put("contacts", {"jobtitle": "CTO"}, id=hs_id)
    world.clock.advance(10)
    report = engine.poll()
    assert report.writes == 1
    assert asked == []
