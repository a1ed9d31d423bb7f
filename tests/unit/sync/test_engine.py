"""The engine end to end on fake connectors: given records on both sides, when a cycle runs,
then both sides agree per the dictionary and a second cycle writes nothing."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

import sync.engine
from connectors.records import FieldValue, RecordKey, System
from sync.store.dead_letters import DeadLetterStatus, list_dead_letters
from sync.store.decisions import decisions_for
from sync.store.links import LinkReason, find_link, history
from sync.store.runs import RunKind, get_run, recent_runs
from sync.store.schema import Person as PersonRow
from sync.store.transitions import first_entries, recorded_stages
from tests.unit.sync.conftest import World, lose_first_create_commit
from tests.unit.sync.fakes import junk_phone_rule

HS_CONTACT = {
    "email": "ann@example.com",
    "firstname": "Ann",
    "lastname": "Lee",
    "jobtitle": "CTO",
    "country": "France",
    "lifecyclestage": "lead",
}
SF_LEAD = {
    "Email": "Ann@Example.com",
    "FirstName": "Ann",
    "LastName": "Lee",
    "Company": "Acme",
    "Status": "Open - Not Contacted",
    "IsConverted": False,
}


def pair(
    world: World, hs: dict[str, Any] | None = None, sf: dict[str, Any] | None = None
) -> tuple[str, str]:
    hs_id = world.hs.put("contacts", {**HS_CONTACT, **(hs or {})})
    sf_id = world.sf.put("Lead", {**SF_LEAD, **(sf or {})})
    world.clock.advance(10)
    return hs_id, sf_id


def settle(world: World, engine: Any) -> None:
    """Run cycles until one writes nothing (at most 3), moving time past the settle window."""
    for _ in range(3):
        before = world.writes()
        world.clock.advance(10)
        engine.poll()
        if world.writes() == before:
            return
    raise AssertionError("the engine did not converge in 3 cycles")


def quiet(world: World, engine: Any) -> None:
    before = world.writes()
    world.clock.advance(10)
    report = engine.poll()
    assert world.writes() == before, report
    assert report.writes == 0


def test_given_a_pair_by_email_then_both_agree_and_the_next_poll_writes_nothing(
    world: World,
) -> None:
    hs_id, sf_id = pair(world)
    engine = world.engine()
    report = engine.poll()
    lead, contact = world.sf.get("Lead", sf_id), world.hs.get("contacts", hs_id)
    assert lead["Title"] == "CTO"  # two_way, Salesforce blank on the first sync
    assert lead["Country"] == "France"  # prefer_hubspot_unless_blank
    assert contact["company"] == "Acme"  # prefer_salesforce_unless_blank
    assert contact["baton_id"] == lead["Baton_Id__c"]  # the cross-system id on both sides
    assert contact["lifecyclestage"] == "marketingqualifiedlead"  # the Lead says MQL
    assert report.updated == {"hubspot:contacts": 1, "salesforce:Lead": 1}
    link = find_link(world.read(), RecordKey(System.SALESFORCE, "Lead", sf_id))
    assert link is not None
    assert link.reason is LinkReason.EMAIL
    quiet(world, engine)
    runs = recent_runs(world.read())
    assert len(runs) == 2
    assert all(r.status == "succeeded" for r in runs)


def test_echo_of_our_write_produces_no_write_back(world: World) -> None:
    hs_id, sf_id = pair(world)
    engine = world.engine()
    settle(world, engine)
    world.hs.put("contacts", {"jobtitle": "CEO"}, id=hs_id)
    world.clock.advance(10)
    report = engine.poll()
    assert world.sf.get("Lead", sf_id)["Title"] == "CEO"
    assert report.updated == {"salesforce:Lead": 1}
    # The Lead's modification (our write) is read back next cycle: it must not bounce.
    quiet(world, engine)


def test_the_echo_of_a_value_cut_to_salesforces_limit_leaves_hubspots_whole(
    world: World,
) -> None:
    """A title longer than the Lead's 128 characters reaches Salesforce cut, and reads back
    cut: what Salesforce can hold of HubSpot's value is the pair in step, not a change, so
    HubSpot keeps the whole title. An edit past the cut has nothing more to carry; an edit
    within it is carried, cut again."""
    long = "Vice President " + "x" * 150
    hs_id, sf_id = pair(world, hs={"jobtitle": long})
    engine = world.engine()
    settle(world, engine)
    assert world.sf.get("Lead", sf_id)["Title"] == long[:128]
    assert world.hs.get("contacts", hs_id)["jobtitle"] == long
    link_ = find_link(world.read(), RecordKey(System.SALESFORCE, "Lead", sf_id))
    assert link_ is not None
    [cut] = [d for d in decisions_for(world.read(), link_.person_id, "record")]
    assert (cut.rule, cut.salesforce_old) == ("write_warning", f"salesforce:Lead:{sf_id}")
    assert cut.salesforce_new == "Title: 165 characters truncated to the limit of 128"
    world.hs.put("contacts", {"jobtitle": long + "y"}, id=hs_id)
    quiet(world, engine)
    world.hs.put("contacts", {"jobtitle": "Senior " + long}, id=hs_id)
    settle(world, engine)
    assert world.sf.get("Lead", sf_id)["Title"] == ("Senior " + long)[:128]
    assert world.hs.get("contacts", hs_id)["jobtitle"] == "Senior " + long


def test_a_value_cut_where_a_space_falls_reads_back_in_step_too(world: World) -> None:
    """Salesforce reads the cut title without the space it ends in: still the pair in step."""
    long = "Vice President " + "x" * 112 + " of everything in the whole wide world"
    assert long[127] == " "
    hs_id, sf_id = pair(world, hs={"jobtitle": long})
    engine = world.engine()
    settle(world, engine)
    assert world.hs.get("contacts", hs_id)["jobtitle"] == long
    assert world.sf.get("Lead", sf_id)["Title"] == long[:128]
    quiet(world, engine)


def test_a_lead_sales_accepted_gets_its_funnel_label_moved_too(world: World) -> None:
    """Its Status says SAL, its label still MQL: no canonical value differs (the position is
    worked out from the Status too), yet the label is written, and logged as it was."""
    hs_id, sf_id = pair(world, hs={"lifecyclestage": "marketingqualifiedlead"})
    engine = world.engine()
    settle(world, engine)
    assert world.sf.get("Lead", sf_id)["Funnel_Stage__c"] == "MQL"
    world.sf.put("Lead", {"Status": "Working - Contacted"}, id=sf_id)
    settle(world, engine)
    assert world.sf.get("Lead", sf_id)["Funnel_Stage__c"] == "SAL"
    assert world.hs.get("contacts", hs_id)["funnel_stage"] == "SAL"
    quiet(world, engine)
    link_ = find_link(world.read(), RecordKey(System.SALESFORCE, "Lead", sf_id))
    assert link_ is not None
    [moved] = [d for d in decisions_for(world.read(), link_.person_id, "funnel_stage")][-1:]
    assert (moved.salesforce_old, moved.salesforce_new) == ("MQL", "SAL")
    assert moved.rule.startswith("funnel:")


def test_conflict_most_recent_wins_and_is_logged(world: World) -> None:
    hs_id, sf_id = pair(world)
    engine = world.engine()
    settle(world, engine)
    world.hs.put("contacts", {"jobtitle": "VP Sales"}, id=hs_id)
    world.sf.put("Lead", {"Title": "Head of Sales"}, id=sf_id)  # later
    world.clock.advance(10)
    report = engine.poll()
    assert report.conflicts == 1
    assert world.hs.get("contacts", hs_id)["jobtitle"] == "Head of Sales"
    pid = find_link(world.read(), RecordKey(System.HUBSPOT, "contacts", hs_id))
    assert pid is not None
    logged = decisions_for(world.read(), pid.person_id, "job_title")
    last = logged[-1]
    assert last.rule == "two_way:conflict"
    assert (last.hubspot_old, last.salesforce_old) == ("VP Sales", "Head of Sales")
    assert last.hubspot_new == "Head of Sales"
    assert last.winner is System.SALESFORCE
    assert last.hubspot_modified_at is not None
    assert last.salesforce_modified_at is not None
    assert last.trigger == "poll"
    quiet(world, engine)


def test_stale_side_never_overwrites_a_fresh_change(world: World) -> None:
    """Only fields changed since the snapshot are proposed: touching another field of the
    Salesforce record later must not push its old title over HubSpot's new one."""
    hs_id, sf_id = pair(world)
    engine = world.engine()
    settle(world, engine)
    world.hs.put("contacts", {"jobtitle": "CFO"}, id=hs_id)
    world.sf.put("Lead", {"LastName": "Lee-Smith"}, id=sf_id)  # later, another field
    world.clock.advance(10)
    report = engine.poll()
    assert report.conflicts == 0
    assert world.sf.get("Lead", sf_id)["Title"] == "CFO"
    assert world.hs.get("contacts", hs_id)["lastname"] == "Lee-Smith"
    quiet(world, engine)


def test_one_way_field_is_not_pulled_back(world: World) -> None:
    hs_id, sf_id = pair(world, hs={"hubspotscore": "40"})
    engine = world.engine()
    settle(world, engine)
    assert world.sf.get("Lead", sf_id)["Marketing_Score__c"] == 40
    world.sf.put("Lead", {"Marketing_Score__c": 99}, id=sf_id)
    world.clock.advance(10)
    engine.poll()
    assert world.hs.get("contacts", hs_id)["hubspotscore"] == "40"  # hubspot_to_salesforce


def test_sales_verdict_reaches_hubspot_with_its_reason(world: World) -> None:
    hs_id, sf_id = pair(world)
    engine = world.engine()
    settle(world, engine)
    world.sf.put(
        "Lead", {"Status": "Closed - Not Converted", "Rejection_Reason__c": "Bad Timing"}, id=sf_id
    )
    world.clock.advance(10)
    report = engine.poll()
    contact = world.hs.get("contacts", hs_id)
    assert contact["hs_lead_status"] == "BAD_TIMING"
    assert contact["rejection_reason"] == "Bad Timing"
    assert contact["funnel_stage"] == "Recycled"
    assert report.stage_moves == {"mql->recycled": 1}
    quiet(world, engine)


def test_two_salesforce_records_with_one_email_are_reported_not_guessed(world: World) -> None:
    world.sf.put("Lead", {**SF_LEAD})
    world.sf.put("Lead", {**SF_LEAD, "FirstName": "Anne"})
    world.hs.put("contacts", {**HS_CONTACT, "hubspotscore": "90", "company": "Acme"})
    world.clock.advance(10)
    engine = world.engine()
    report = engine.poll()
    assert report.ambiguous == 2
    assert len(world.sf.live("Lead")) == 2  # no third Lead for the qualifying contact
    conn = world.read()
    for lead_id in world.sf.live("Lead"):
        assert find_link(conn, RecordKey(System.SALESFORCE, "Lead", lead_id)) is None
    # Seen again later (one twin edited), still not guessed.
    world.sf.put("Lead", {"Title": "CEO"}, id=next(iter(world.sf.live("Lead"))))
    world.clock.advance(10)
    again = engine.poll()
    assert again.ambiguous >= 1
    for lead_id in world.sf.live("Lead"):
        assert find_link(conn, RecordKey(System.SALESFORCE, "Lead", lead_id)) is None
    assert len(world.sf.live("Lead")) == 2


def test_lead_conversion_moves_the_link_to_the_contact(world: World) -> None:
    hs_id, sf_id = pair(world)
    engine = world.engine()
    settle(world, engine)
    contact_id = world.sf.convert(sf_id)
    world.clock.advance(10)
    engine.poll()
    conn = world.read()
    hs_link = find_link(conn, RecordKey(System.HUBSPOT, "contacts", hs_id))
    contact_link = find_link(conn, RecordKey(System.SALESFORCE, "Contact", contact_id))
    lead_link = find_link(conn, RecordKey(System.SALESFORCE, "Lead", sf_id))
    assert hs_link is not None
    assert contact_link is not None
    assert lead_link is not None
    assert contact_link.person_id == hs_link.person_id
    assert contact_link.active
    assert not lead_link.active
    assert any(c.reason is LinkReason.CONVERSION for c in history(conn, hs_link.person_id))
    assert len(world.hs.live("contacts")) == 1  # no contact created for the Contact
    assert world.hs.get("contacts", hs_id)["funnel_stage"] == "SQL"  # converted = sql
    settle(world, engine)
    quiet(world, engine)


def test_hubspot_merge_relinks_to_the_survivor(world: World) -> None:
    hs_id, sf_id = pair(world)
    engine = world.engine()
    settle(world, engine)
    survivor = world.hs.put("contacts", {"email": "ann.lee@example.com", "firstname": "Ann"})
    world.hs.remove("contacts", hs_id, merged_into=survivor)
    world.clock.advance(10)
    engine.poll()
    conn = world.read()
    link = find_link(conn, RecordKey(System.HUBSPOT, "contacts", survivor))
    lead = find_link(conn, RecordKey(System.SALESFORCE, "Lead", sf_id))
    assert link is not None
    assert lead is not None
    assert link.person_id == lead.person_id
    assert link.reason is LinkReason.MERGE


def test_deletes_are_flagged_not_propagated(world: World) -> None:
    hs_id, sf_id = pair(world)
    engine = world.engine()
    settle(world, engine)
    world.sf.remove("Lead", sf_id)
    world.clock.advance(10)
    report = engine.poll()
    assert report.deletes_flagged == 1
    assert hs_id in world.hs.live("contacts")


def test_a_twin_in_the_recycle_bin_read_by_id_is_waited_for_not_written(world: World) -> None:
    """Salesforce reads recycle-bin rows by id too (flagged deleted): the person whose Lead is
    in the bin waits for it, as when the read finds nothing, instead of writing to it."""
    world.sf.ids_read_bin = True
    hs_id, sf_id = pair(world)
    engine = world.engine()
    settle(world, engine)
    world.sf.remove("Lead", sf_id)
    world.clock.advance(10)
    engine.poll()
    world.hs.put("contacts", {"jobtitle": "CEO"}, id=hs_id)
    world.clock.advance(10)
    writes = world.sf.write_calls
    report = engine.poll()
    assert world.sf.write_calls == writes
    assert report.dead_letters == 0
    link = find_link(world.read(), RecordKey(System.HUBSPOT, "contacts", hs_id))
    assert link is not None
    notes = [d.rule for d in decisions_for(world.read(), link.person_id, "record")]
    assert "unreadable" in notes


def test_mql_handoff_creates_one_lead_even_when_the_commit_is_lost(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    hs_id = world.hs.put("contacts", {**HS_CONTACT, "hubspotscore": "75", "company": "Initech"})
    world.clock.advance(10)
    engine = world.engine()
    lose_first_create_commit(engine, monkeypatch)
    with pytest.raises(RuntimeError):
        engine.poll()
    assert len(world.sf.live("Lead")) == 1
    world.clock.advance(10)
    report = engine.poll()  # the replay finds the Lead it made (upsert on Baton_Id__c)
    leads = world.sf.live("Lead")
    assert len(leads) == 1, leads
    lead = next(iter(leads.values()))
    assert lead["Baton_Id__c"] == world.hs.get("contacts", hs_id)["baton_id"]
    assert lead["Company"] == "Initech"
    assert lead["Status"] == "Open - Not Contacted"
    assert report.read["hubspot:contacts"] >= 1
    settle(world, engine)
    quiet(world, engine)


def test_a_contact_below_the_mql_bar_stays_in_hubspot(world: World) -> None:
    world.hs.put("contacts", {**HS_CONTACT, "hubspotscore": "20", "company": "Initech"})
    world.clock.advance(10)
    world.engine().poll()
    assert world.sf.live("Lead") == {}


def test_salesforce_lead_gets_a_hubspot_contact(world: World) -> None:
    sf_id = world.sf.put("Lead", {**SF_LEAD, "Email": "bo@example.com"})
    world.clock.advance(10)
    engine = world.engine()
    report = engine.poll()
    contacts = world.hs.live("contacts")
    assert len(contacts) == 1
    assert report.created == {"hubspot:contacts": 1}
    contact = next(iter(contacts.values()))
    assert contact["email"] == "bo@example.com"
    assert contact["baton_id"] == world.sf.get("Lead", sf_id)["Baton_Id__c"]
    # The create was kept as pending only until its unit committed: no lookup replays it.
    assert world.read().exec_driver_sql("select count(*) from pending_creates").scalar() == 0
    settle(world, engine)
    quiet(world, engine)
    assert world.hs.find_calls == world.sf.find_calls == 0


def test_a_created_contact_starts_with_the_leads_values_so_always_hubspot_wipes_nothing(
    world: World,
) -> None:
    """lead_source is `always_hubspot`: had the new contact been created without it, its blank
    would win the next cycle and clear the Lead's LeadSource (found by the crash test)."""
    sf_id = world.sf.put(
        "Lead", {**SF_LEAD, "Email": "src@example.com", "LeadSource": "Phone Inquiry"}
    )
    world.clock.advance(10)
    engine = world.engine()
    engine.poll()
    contact = next(iter(world.hs.live("contacts").values()))
    assert contact["lead_source"] == "Phone Inquiry"
    settle(world, engine)
    quiet(world, engine)
    assert world.sf.get("Lead", sf_id)["LeadSource"] == "Phone Inquiry"


def test_policy_off_creates_nothing(world: World) -> None:
    world.sf.put("Lead", {**SF_LEAD, "Email": "bo@example.com"})
    world.hs.put(
        "contacts",
        {**HS_CONTACT, "email": "cy@example.com", "hubspotscore": "90", "company": "Initech"},
    )
    world.clock.advance(10)
    world.engine(create_leads_for_mqls=False, create_contacts_from_salesforce=False).poll()
    assert len(world.sf.live("Lead")) == 1
    assert len(world.hs.live("contacts")) == 1


def test_dry_run_plans_and_writes_nothing(world: World) -> None:
    pair(world)
    world.sf.put("Lead", {**SF_LEAD, "Email": "bo@example.com"})
    world.clock.advance(10)
    engine = world.engine()
    report = engine.poll(dry_run=True)
    assert world.writes() == 0
    assert report.planned
    assert report.run_id is None
    systems = {(p.system, p.object, p.key) for p in report.planned}
    assert (System.SALESFORCE, "Lead", next(iter(world.sf.live("Lead")))) in systems
    update = next(p for p in report.planned if p.system is System.SALESFORCE)
    assert update.changes["job_title"] == (None, "CTO")
    conn = world.read()
    assert recent_runs(conn) == []
    assert conn.exec_driver_sql("select count(*) from identity_links").scalar() == 0
    assert conn.exec_driver_sql("select count(*) from snapshots").scalar() == 0


def test_rejected_write_becomes_a_dead_letter_then_succeeds_after_the_fix(world: World) -> None:
    world.sf.rules.append(junk_phone_rule)
    hs_id, sf_id = pair(world, hs={"phone": "n/a"})
    engine = world.engine()
    report = engine.poll()
    assert report.dead_letters == 1
    [letter] = list_dead_letters(world.read())
    assert letter.key == RecordKey(System.SALESFORCE, "Lead", sf_id)
    assert letter.vendor_code == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    assert letter.vendor_message == "Phone must contain digits"
    world.hs.put("contacts", {"phone": "+33 1 23 45 67 89"}, id=hs_id)  # the data is fixed
    retried = engine.retry_dead_letters()
    assert retried.dead_letters == 0
    assert retried.updated["salesforce:Lead"] == 1
    assert world.sf.get("Lead", sf_id)["Phone"] == "+33123456789"
    assert list_dead_letters(world.read()) == []
    statuses = [d.status for d in list_dead_letters(world.read(), None)]
    assert statuses == [DeadLetterStatus.RETRIED]


def test_a_funnel_move_a_refused_write_carried_is_not_reported(world: World) -> None:
    world.sf.rules.append(junk_phone_rule)
    # Sales accepted the person in HubSpot; the Lead's move to SAL goes with the junk phone.
    hs_id, sf_id = pair(
        world,
        hs={
            "phone": "n/a",
            "lifecyclestage": "marketingqualifiedlead",
            "hs_lead_status": "IN_PROGRESS",
        },
    )
    engine = world.engine()
    first = engine.poll()
    assert first.dead_letters == 1
    assert world.sf.get("Lead", sf_id).get("Funnel_Stage__c") is None
    assert first.stage_moves == {}
    rerun = engine.backfill()  # the held write is not sent again, nor its move reported
    assert rerun.stage_moves == {}
    world.hs.put("contacts", {"phone": "+33 1 23 45 67 89"}, id=hs_id)  # the data is fixed
    world.clock.advance(10)
    fixed = engine.poll()
    assert world.sf.get("Lead", sf_id)["Funnel_Stage__c"] == "SAL"
    assert fixed.stage_moves == {"mql->sal": 1}


def test_a_retry_that_dies_before_its_commit_leaves_the_letter_open(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.sf.rules.append(junk_phone_rule)
    hs_id, sf_id = pair(world, hs={"phone": "n/a"})
    engine = world.engine()
    engine.poll()
    [letter] = list_dead_letters(world.read())
    world.hs.put("contacts", {"phone": "+33 1 23 45 67 89"}, id=hs_id)

    def killed(*args: object, **kwargs: object) -> None:
        raise RuntimeError("process killed between the send and its commit")

    monkeypatch.setattr(sync.engine.deletes, "commit", killed)
    with pytest.raises(RuntimeError, match="killed"):
        engine.retry_dead_letters()
    assert [d.id for d in list_dead_letters(world.read())] == [letter.id]  # still open
    monkeypatch.undo()
    assert engine.retry_dead_letters().dead_letters == 0
    assert world.sf.get("Lead", sf_id)["Phone"] == "+33123456789"
    assert list_dead_letters(world.read()) == []


def test_a_retry_refused_for_now_keeps_only_that_letter_open_and_says_so(world: World) -> None:
    world.sf.rules.append(junk_phone_rule)
    ids = []
    for n in range(2):
        hs = world.hs.put("contacts", {**HS_CONTACT, "email": f"p{n}@x.com", "phone": "n/a"})
        sf = world.sf.put("Lead", {**SF_LEAD, "Email": f"p{n}@x.com"})
        ids.append((hs, sf))
    world.clock.advance(10)
    engine = world.engine()
    engine.poll()
    assert len(list_dead_letters(world.read())) == 2
    for hs, _ in ids:
        world.hs.put("contacts", {"phone": "+33 1 23 45 67 89"}, id=hs)
    world.sf.retry_next = 1  # one of the two writes: "locked, retry later"
    report = engine.retry_dead_letters()
    phones = [world.sf.get("Lead", sf).get("Phone") for _, sf in ids]
    assert phones.count("+33123456789") == 1  # one went through
    assert report.dead_letters == 1  # the other is reported, not "all went through"
    [still] = list_dead_letters(world.read())
    assert still.attempts == 2
    not_made = next(sf for (_, sf), phone in zip(ids, phones, strict=True) if phone is None)
    assert still.key.id == not_made  # the letter of the write not made


def _refused_beside(
    world: World,
    lead: dict[str, Any],
    contact: dict[str, Any] | None = None,
    **first: Any,
) -> tuple[Any, str, str]:
    """A synced pair (`first`: `pair`'s overrides) whose Lead is edited (`lead`) while HubSpot
    gets a junk phone (plus `contact`) the Lead's rule refuses; one poll later, with the one
    dead letter it made. Returns the engine, the contact id and the Lead id."""
    world.sf.rules.append(junk_phone_rule)
    hs_id, sf_id = pair(world, **first)
    engine = world.engine()
    settle(world, engine)
    world.sf.put("Lead", lead, id=sf_id)
    world.hs.put("contacts", {"phone": "n/a", **(contact or {})}, id=hs_id)
    world.clock.advance(10)
    assert engine.poll().dead_letters == 1
    return engine, hs_id, sf_id


def test_a_refused_write_keeps_only_its_own_fields_unsynced(world: World) -> None:
    """A person one of whose writes is refused still stores what the others carried: the
    title copied to HubSpot is its snapshot there, so a later edit of the Lead's title is a
    change on one side, not a conflict that HubSpot's unrelated, newer edit would win."""
    engine, hs_id, sf_id = _refused_beside(world, {"Title": "Director"})
    assert world.hs.get("contacts", hs_id)["jobtitle"] == "Director"
    world.sf.put("Lead", {"Title": "Manager"}, id=sf_id)  # sales edits the title again
    world.clock.advance(10)
    world.hs.put("contacts", {}, id=hs_id)  # then a field Baton does not sync, in HubSpot
    world.clock.advance(10)
    report = engine.poll()
    assert report.conflicts == 0
    assert world.hs.get("contacts", hs_id)["jobtitle"] == "Manager"
    assert world.sf.get("Lead", sf_id)["Title"] == "Manager"
    # The refused phone is still a change to carry: once the data is fixed, it goes.
    world.sf.rules.remove(junk_phone_rule)
    world.hs.put("contacts", {"phone": "+33 1 23 45 67 89"}, id=hs_id)
    settle(world, engine)
    assert world.sf.get("Lead", sf_id)["Phone"] == "+33123456789"
    quiet(world, engine)


def test_a_refused_change_is_proposed_again_when_the_person_is_planned_again(
    world: World,
) -> None:
    """The refused write's fields keep their old snapshot, while the rest of the person's
    records move on: planned again, the phone and title are still HubSpot's changes."""
    # The Lead's new company is carried while the Lead refuses HubSpot's phone and title.
    engine, hs_id, sf_id = _refused_beside(world, {"Company": "Acme Ltd"}, {"jobtitle": "VP"})
    assert world.sf.get("Lead", sf_id)["Title"] == "CTO"  # refused with the phone
    assert world.hs.get("contacts", hs_id)["company"] == "Acme Ltd"
    world.sf.rules.remove(junk_phone_rule)  # the rule is relaxed in Salesforce
    world.hs.put("contacts", {"lastname": "Lee-Smith"}, id=hs_id)  # a new payload: sent
    world.clock.advance(10)
    report = engine.poll()
    lead = world.sf.get("Lead", sf_id)
    assert (lead["Phone"], lead["Title"], lead["LastName"]) == ("n/a", "VP", "Lee-Smith")
    assert report.conflicts == 0
    quiet(world, engine)


def test_a_refused_write_keeps_what_its_own_record_carried_too(world: World) -> None:
    """The mirror case: the Lead's title reached HubSpot while the Lead refused HubSpot's
    phone. The Lead's snapshot has that title too, so marketing's later edit of it is a change
    on one side, not a conflict the Lead's unrelated, newer edit would win."""
    engine, hs_id, sf_id = _refused_beside(world, {"Title": "Director"})
    assert world.hs.get("contacts", hs_id)["jobtitle"] == "Director"
    world.hs.put("contacts", {"jobtitle": "VP"}, id=hs_id)  # marketing edits the title
    world.clock.advance(10)
    world.sf.put("Lead", {}, id=sf_id)  # then a field Baton does not sync, in Salesforce
    world.clock.advance(10)
    report = engine.poll()
    assert report.conflicts == 0
    assert world.hs.get("contacts", hs_id)["jobtitle"] == "VP"
    world.sf.rules.remove(junk_phone_rule)
    world.hs.put("contacts", {"phone": "+33 1 23 45 67 89"}, id=hs_id)
    settle(world, engine)
    lead = world.sf.get("Lead", sf_id)
    assert (lead["Title"], lead["Phone"]) == ("VP", "+33123456789")
    quiet(world, engine)


def _no_sql_in_hubspot(obj: str, fields: Mapping[str, FieldValue]) -> tuple[str, str] | None:
    if fields.get("lifecyclestage") == "salesqualifiedlead":
        return ("VALIDATION", "no SQL here")
    return None


def test_a_record_first_written_beside_a_refused_write_keeps_what_was_written(
    world: World,
) -> None:
    """The Contact a Lead was converted into has no snapshot yet: written beside a refused
    write, it keeps what was written (less the refused fields), not nothing, so marketing's
    later title edit is HubSpot's change, not a first sync the Contact's newer edit wins."""
    hs_id, sf_id = pair(world)
    engine = world.engine()
    settle(world, engine)
    world.hs.rules.append(_no_sql_in_hubspot)
    contact_id = world.sf.convert(sf_id)
    world.clock.advance(10)
    report = engine.poll()
    assert report.dead_letters == 1  # HubSpot refuses SQL; the Contact is written
    assert world.sf.get("Contact", contact_id)["Baton_Id__c"]
    world.hs.put("contacts", {"jobtitle": "VP"}, id=hs_id)  # marketing edits the title
    world.clock.advance(10)
    world.sf.put("Contact", {}, id=contact_id)  # then a field Baton does not sync
    world.clock.advance(10)
    engine.poll()
    world.hs.rules.remove(_no_sql_in_hubspot)  # relaxed in HubSpot: the letter is retried
    assert engine.retry_dead_letters().dead_letters == 0
    settle(world, engine)
    assert world.hs.get("contacts", hs_id)["jobtitle"] == "VP"
    assert world.sf.get("Contact", contact_id)["Title"] == "VP"
    assert world.hs.get("contacts", hs_id)["lifecyclestage"] == "salesqualifiedlead"
    quiet(world, engine)


def _stored_email(world: World, hs_id: str) -> str | None:
    link = find_link(world.read(), RecordKey(System.HUBSPOT, "contacts", hs_id))
    assert link is not None
    query = select(PersonRow.email_normalized).where(PersonRow.baton_id == link.person_id)
    email: str | None = world.read().execute(query).scalar_one()
    return email


def test_an_email_carried_beside_a_refused_write_is_the_persons_address(world: World) -> None:
    """Matching by email finds people by the address their records now have: a new
    Salesforce record with it is that person's, never a new person whose contact would be
    made by an upsert on email (overwriting theirs)."""
    engine, hs_id, _ = _refused_beside(world, {"Email": "ann.lee@example.com"})
    assert world.hs.get("contacts", hs_id)["email"] == "ann.lee@example.com"
    assert _stored_email(world, hs_id) == "ann.lee@example.com"
    world.sf.put(
        "Contact", {"Email": "ann.lee@example.com", "FirstName": "Someone", "LastName": "Else"}
    )
    world.clock.advance(10)
    engine.poll()
    assert world.hs.get("contacts", hs_id)["firstname"] == "Ann"


def test_a_funnel_move_carried_beside_a_refused_write_enters_the_history(world: World) -> None:
    """Sales accepting the Lead reaches HubSpot while the Lead refuses HubSpot's phone: the
    person entered SAL, and the history says so then, not never (both records' snapshots
    hold the move once it is carried)."""
    _, hs_id, _ = _refused_beside(
        world, {"Status": "Working - Contacted"}, hs={"lifecyclestage": "marketingqualifiedlead"}
    )
    assert world.hs.get("contacts", hs_id)["funnel_stage"] == "SAL"
    link = find_link(world.read(), RecordKey(System.HUBSPOT, "contacts", hs_id))
    assert link is not None
    assert "sal" in recorded_stages(world.read(), [link.person_id])[link.person_id]


def test_a_retry_sends_the_refused_payload_again_once_the_system_accepts_it(
    world: World,
) -> None:
    """Nothing is held back on retry: the fix can be on the system's side (a validation rule
    relaxed), with the very same data."""
    world.sf.rules.append(junk_phone_rule)
    _hs_id, sf_id = pair(world, hs={"phone": "n/a"})
    engine = world.engine()
    engine.poll()
    assert len(list_dead_letters(world.read())) == 1
    world.sf.rules.remove(junk_phone_rule)
    retried = engine.retry_dead_letters()
    assert retried.dead_letters == 0
    assert world.sf.get("Lead", sf_id)["Phone"] == "n/a"
    assert list_dead_letters(world.read()) == []
    assert retried.run_id is not None  # `baton status` lists it as what it was
    run = get_run(world.read(), retried.run_id)
    assert run is not None
    assert run.kind is RunKind.RETRY


def test_retryable_refusal_keeps_the_checkpoint_and_is_written_next_cycle(world: World) -> None:
    _hs_id, sf_id = pair(world)
    engine = world.engine()
    world.sf.retry_next = 1
    report = engine.poll()
    assert report.retry_later == 1
    assert report.dead_letters == 0
    world.clock.advance(600)  # beyond the lookback: only the unmoved checkpoint brings it back
    engine.poll()
    assert world.sf.get("Lead", sf_id).get("Title") == "CTO"


def test_lost_store_relinks_by_cross_system_id_and_writes_nothing(
    world: World, migrated: Any, tmp_path: Any
) -> None:
    pair(world)
    settle(world, world.engine())
    fresh = tmp_path / "fresh.db"
    fresh.write_bytes(migrated.read_bytes())
    from sync.store.engine import make_engine, sqlite_url

    world.db = make_engine(sqlite_url(fresh))
    engine = world.engine()
    before = world.writes()
    world.clock.advance(10)
    engine.poll()
    assert world.writes() == before
    conn = world.read()
    [lead_id] = world.sf.live("Lead")
    link = find_link(conn, RecordKey(System.SALESFORCE, "Lead", lead_id))
    assert link is not None
    assert link.reason is LinkReason.CROSS_ID


def test_sync_keys_is_idempotent(world: World) -> None:
    hs_id, sf_id = pair(world)
    engine = world.engine()
    keys = [
        RecordKey(System.SALESFORCE, "Lead", sf_id),
        RecordKey(System.HUBSPOT, "contacts", hs_id),
    ]
    first = engine.sync_keys(keys, trigger="webhook")
    assert first.writes == 2
    before = world.writes()
    again = engine.sync_keys(keys[1:], trigger="webhook")  # the linked pair follows either key
    assert world.writes() == before
    assert again.writes == 0


def test_backfill_links_everything_then_creates_missing_contacts(world: World) -> None:
    _hs_id, _sf_id = pair(world)
    world.sf.put("Lead", {**SF_LEAD, "Email": "solo@example.com"})
    world.hs.put("contacts", {**HS_CONTACT, "email": "quiet@example.com"})
    world.clock.advance(10)
    engine = world.engine()
    report = engine.backfill()
    assert report.created == {"hubspot:contacts": 1}
    assert len(world.hs.live("contacts")) == 3
    assert len(world.sf.live("Lead")) == 2
    before = world.writes()
    again = engine.backfill()
    assert world.writes() == before
    assert again.writes == 0
    quiet(world, engine)


def test_an_opportunity_is_a_funnel_signal_and_its_changes_are_followed(world: World) -> None:
    hs_id, sf_id = pair(world)
    engine = world.engine()
    settle(world, engine)
    opp_id = world.sf.put("Opportunity", {"StageName": "Needs Analysis", "IsClosed": False})
    contact_id = world.sf.convert(sf_id)
    world.sf.put("Lead", {"ConvertedOpportunityId": opp_id}, id=sf_id)
    world.clock.advance(10)
    engine.poll()
    contact = world.hs.get("contacts", hs_id)
    assert contact["lifecyclestage"] == "opportunity"
    assert contact["hs_lead_status"] == "OPEN_DEAL"  # the stage's own status, not the MQL's
    assert world.sf.get("Contact", contact_id)["Funnel_Stage__c"] == "Opportunity"
    world.sf.put(
        "Opportunity", {"StageName": "Closed Won", "IsClosed": True, "IsWon": True}, id=opp_id
    )
    world.clock.advance(10)
    report = engine.poll()
    assert world.hs.get("contacts", hs_id)["lifecyclestage"] == "customer"
    assert report.stage_moves == {"opportunity->customer": 1}
    settle(world, engine)
    quiet(world, engine)


def test_a_change_of_a_converted_persons_contact_still_plans_with_its_opportunity(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    hs_id, sf_id = pair(world)
    engine = world.engine(lookback=timedelta(0))  # the next polls read only what changed
    settle(world, engine)
    opp_id = world.sf.put(
        "Opportunity", {"StageName": "Closed Won", "IsClosed": True, "IsWon": True}
    )
    contact_id = world.sf.convert(sf_id)
    world.sf.put("Lead", {"ConvertedOpportunityId": opp_id}, id=sf_id)
    settle(world, engine)
    assert world.hs.get("contacts", hs_id)["lifecyclestage"] == "customer"
    read: list[tuple[str, list[str]]] = []
    by_ids = world.sf.read_by_ids
    monkeypatch.setattr(
        world.sf, "read_by_ids", lambda obj, ids: read.append((obj, list(ids))) or by_ids(obj, ids)
    )
    world.hs.put("contacts", {"jobtitle": "VP Sales"}, id=hs_id)  # the Opportunity is unchanged
    world.clock.advance(10)
    report = engine.poll()
    assert ("Opportunity", [opp_id]) in read  # planned with the person's Opportunity
    assert world.sf.get("Contact", contact_id)["Title"] == "VP Sales"
    assert world.hs.get("contacts", hs_id)["lifecyclestage"] == "customer"
    assert report.stage_moves == {}


def test_ambiguity_is_in_the_decision_log(world: World) -> None:
    world.sf.put("Lead", {**SF_LEAD})
    world.sf.put("Lead", {**SF_LEAD, "FirstName": "Anne"})
    world.clock.advance(10)
    world.engine().poll()
    rows = (
        world.read()
        .exec_driver_sql("select field, rule, salesforce_old, salesforce_new from decisions")
        .all()
    )
    ambiguous = [r for r in rows if r[0] == "identity"]
    assert len(ambiguous) == 2
    assert all(r[1] == "ambiguous:salesforce" for r in ambiguous)
    assert all(
        "more than one salesforce record has the email ann@example.com" in r[3] for r in ambiguous
    )


def test_a_cross_id_claimed_by_two_records_is_ambiguous(world: World) -> None:
    _hs_id, sf_id = pair(world)
    engine = world.engine()
    settle(world, engine)
    baton_id = world.sf.get("Lead", sf_id)["Baton_Id__c"]
    copy = world.sf.put("Lead", {**SF_LEAD, "Email": "copy@example.com", "Baton_Id__c": baton_id})
    world.clock.advance(10)
    report = engine.poll()
    assert report.ambiguous == 1
    assert find_link(world.read(), RecordKey(System.SALESFORCE, "Lead", copy)) is None


def test_a_refused_write_is_not_sent_again_until_the_data_changes(world: World) -> None:
    world.sf.rules.append(junk_phone_rule)
    pair(world, hs={"phone": "n/a"})
    engine = world.engine()
    engine.poll()
    calls = world.sf.write_calls
    world.clock.advance(10)
    report = engine.poll()  # the lookback reads the pair again: same payload, held back
    assert world.sf.write_calls == calls
    assert report.dead_letters == 0
    [letter] = list_dead_letters(world.read())
    assert letter.attempts == 1


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, int | None]] = []

    def start(self, label: str, total: int | None, done: int = 0) -> None:
        self.events.append(("start", label, total))

    def advance(self, label: str, count: int) -> None:
        self.events.append(("advance", label, count))

    def finish(self, label: str) -> None:
        self.events.append(("finish", label, None))


def test_backfill_dry_run_plans_the_creates_and_reports_progress(world: World) -> None:
    pair(world)
    world.sf.put("Lead", {**SF_LEAD, "Email": "solo@example.com"})
    world.clock.advance(10)
    progress = Recorder()
    report = world.engine().backfill(dry_run=True, progress=progress)
    assert world.writes() == 0
    assert report.created == {"hubspot:contacts": 1}  # the Salesforce-only Lead's contact
    assert ("advance", "salesforce:Lead", 2) in progress.events
    assert ("finish", "hubspot:contacts", None) in progress.events
    assert recent_runs(world.read()) == []


def test_salesforce_merge_relinks_to_the_master(world: World) -> None:
    hs_id, sf_id = pair(world)
    engine = world.engine()
    settle(world, engine)
    master = world.sf.put("Lead", {**SF_LEAD, "Email": "ann.lee@example.com"})
    world.sf.remove("Lead", sf_id, merged_into=master)
    world.clock.advance(10)
    engine.poll()
    conn = world.read()
    link = find_link(conn, RecordKey(System.SALESFORCE, "Lead", master))
    contact = find_link(conn, RecordKey(System.HUBSPOT, "contacts", hs_id))
    assert link is not None
    assert contact is not None
    assert link.person_id == contact.person_id
    assert link.reason is LinkReason.MERGE
    assert len(world.hs.live("contacts")) == 1  # no contact created for the master


def _recycled(world: World) -> tuple[str, str, Any]:
    """A synced MQL that sales recycled (Bad Timing), the verdict carried to HubSpot."""
    hs_id, sf_id = pair(world, hs={"lifecyclestage": "marketingqualifiedlead"})
    engine = world.engine()
    settle(world, engine)
    recycle = {"Status": "Closed - Not Converted", "Rejection_Reason__c": "Bad Timing"}
    world.sf.put("Lead", recycle, id=sf_id)
    settle(world, engine)
    assert world.hs.get("contacts", hs_id)["funnel_stage"] == "Recycled"
    return hs_id, sf_id, engine


@pytest.mark.parametrize(
    "requalify",
    [{"hs_lead_status": "OPEN"}, {"hs_lead_status": "OPEN", "funnel_stage": "MQL"}],
    ids=["by-lead-status", "by-lead-status-and-label"],
)
def test_marketing_requalifying_a_recycled_person_reopens_the_lead_and_holds(
    world: World, requalify: dict[str, str]
) -> None:
    """Marketing may re-qualify a recycled person (a new buying cycle, rule R3): HubSpot's
    own lead status says so, whatever Baton's label said; the Lead reopens too, so a later
    edit in Salesforce does not read as sales' verdict again."""
    hs_id, sf_id, engine = _recycled(world)
    world.hs.put("contacts", requalify, id=hs_id)
    settle(world, engine)
    contact, lead = world.hs.get("contacts", hs_id), world.sf.get("Lead", sf_id)
    assert (contact["hs_lead_status"], contact["funnel_stage"]) == ("OPEN", "MQL")
    assert (lead["Status"], lead["Funnel_Stage__c"]) == ("Open - Not Contacted", "MQL")
    world.sf.put("Lead", {"Phone": "+14155550100"}, id=sf_id)  # an unrelated edit by a rep
    settle(world, engine)
    contact = world.hs.get("contacts", hs_id)
    assert (contact["hs_lead_status"], contact["funnel_stage"]) == ("OPEN", "MQL")
    assert world.sf.get("Lead", sf_id)["Status"] == "Open - Not Contacted"


def test_sales_reopening_a_recycled_lead_moves_both_systems_to_its_stage(world: World) -> None:
    """Sales may reopen a recycled person into a sales stage: the Lead's Status set back to
    "Working - Contacted" outranks the "Recycled" label Baton wrote there, and HubSpot
    follows; a later unrelated edit keeps it so."""
    hs_id, sf_id, engine = _recycled(world)
    world.sf.put("Lead", {"Status": "Working - Contacted"}, id=sf_id)
    settle(world, engine)
    contact, lead = world.hs.get("contacts", hs_id), world.sf.get("Lead", sf_id)
    assert (contact["funnel_stage"], lead["Funnel_Stage__c"]) == ("SAL", "SAL")
    assert contact["hs_lead_status"] == "IN_PROGRESS"
    world.hs.put("contacts", {"jobtitle": "VP"}, id=hs_id)  # an unrelated edit by marketing
    settle(world, engine)
    assert world.hs.get("contacts", hs_id)["funnel_stage"] == "SAL"
    assert world.sf.get("Lead", sf_id)["Funnel_Stage__c"] == "SAL"


def test_sales_converting_a_recycled_lead_moves_the_person_to_sql(world: World) -> None:
    """The Contact inherits the Lead's "Recycled" label through the conversion's field
    mapping; the conversion is the Lead's last word, so the person is at SQL on both sides."""
    hs_id, sf_id, engine = _recycled(world)
    contact_id = world.sf.convert(sf_id)
    settle(world, engine)
    assert world.hs.get("contacts", hs_id)["funnel_stage"] == "SQL"
    assert world.hs.get("contacts", hs_id)["lifecyclestage"] == "salesqualifiedlead"
    assert world.sf.get("Contact", contact_id)["Funnel_Stage__c"] == "SQL"
    quiet(world, engine)


@pytest.mark.parametrize("salesforce_first", [False, True])
def test_a_lead_recycled_then_converted_before_baton_first_read_it_is_at_sql(
    world: World, salesforce_first: bool
) -> None:
    """Before Baton: HubSpot mirrored sales' recycle (Bad Timing), then sales converted the
    Lead. First sight pairs the contact with the Contact, the Lead long converted: Salesforce,
    whose lead status HubSpot's mirrors, says where sales stand, so the person is at SQL on
    both sides and stays there."""
    hs_id = world.hs.put(
        "contacts",
        {**HS_CONTACT, "lifecyclestage": "marketingqualifiedlead", "hs_lead_status": "BAD_TIMING"},
    )
    sf_id = world.sf.put("Lead", {**SF_LEAD, "Status": "Working - Contacted"})
    contact_id = world.sf.convert(sf_id)
    world.sf.put("Contact", {"Funnel_Stage__c": "SQL"}, id=contact_id)
    world.clock.advance(10)
    engine = world.engine()
    if salesforce_first:  # the conversion is followed before the contact is paired with it
        engine.backfill(systems=[System.SALESFORCE])
        world.clock.advance(10)
        engine.poll()
    else:
        engine.backfill()
    assert world.hs.get("contacts", hs_id)["funnel_stage"] == "SQL"
    assert world.sf.get("Contact", contact_id)["Funnel_Stage__c"] == "SQL"
    settle(world, engine)
    assert world.hs.get("contacts", hs_id)["funnel_stage"] == "SQL"
    quiet(world, engine)


def _recycled_person(world: World, sf_id: str) -> Any:
    link_ = find_link(world.read(), RecordKey(System.SALESFORCE, "Lead", sf_id))
    assert link_ is not None
    return link_.person_id


def test_a_sales_reopen_is_dated_and_attributed_by_the_lead(world: World) -> None:
    """The Lead still carries Baton's "Recycled" label when sales reopen it, so no record says
    SAL in words: the reopen itself says it, when and where it happened, however much later
    the contact changed."""
    hs_id, sf_id, engine = _recycled(world)
    world.clock.advance(3600)
    world.sf.put("Lead", {"Status": "Working - Contacted"}, id=sf_id)
    reopened_at = world.sf.objects["Lead"][sf_id].modified_at
    world.clock.advance(2 * 86400)  # Baton down two days; marketing edits the contact meanwhile
    world.hs.put("contacts", {"jobtitle": "VP"}, id=hs_id)
    settle(world, engine)
    assert world.hs.get("contacts", hs_id)["funnel_stage"] == "SAL"
    sal = first_entries(world.read(), _recycled_person(world, sf_id))["sal"]
    assert (sal.entered_at, sal.source_system) == (reopened_at, System.SALESFORCE)


def test_a_reopen_whose_label_write_is_refused_still_holds(world: World) -> None:
    """The Lead refuses Baton's label: the reopen, told from its Status against its snapshot,
    is still a reopen on the next poll, and HubSpot stays at SAL."""
    hs_id, sf_id, engine = _recycled(world)

    def label_locked(obj: str, fields: Any) -> tuple[str, str] | None:
        if obj == "Lead" and "Funnel_Stage__c" in fields:
            return ("FIELD_CUSTOM_VALIDATION_EXCEPTION", "label locked")
        return None

    world.sf.rules.append(label_locked)
    world.clock.advance(3600)
    world.sf.put("Lead", {"Status": "Working - Contacted"}, id=sf_id)
    world.clock.advance(10)
    engine.poll()
    assert world.hs.get("contacts", hs_id)["funnel_stage"] == "SAL"
    world.clock.advance(10)
    report = engine.poll()
    assert report.stage_moves == {}
    assert world.hs.get("contacts", hs_id)["funnel_stage"] == "SAL"


def test_a_record_edited_while_the_poll_pages_moves_the_checkpoint_to_the_bound(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Salesforce's queryMore serves a listed record's current values: one edited after the
    query began comes back stamped past the run's upper bound. The checkpoint stops at the
    bound (the next window reads the record again) instead of failing the poll."""
    _hs_id, sf_id = pair(world)
    engine = world.engine()
    settle(world, engine)
    listed = world.sf.read_changes

    def query_then_more(obj: str, since: Any, until: Any) -> Any:
        ids = [r.key.id for r in listed(obj, since, until)]  # the query's result set
        world.sf.put("Lead", {"Title": "Edited mid-poll"}, id=sf_id)  # while paging
        return iter(world.sf.read_by_ids(obj, ids))  # queryMore: current values

    world.sf.put("Lead", {"Company": "Acme Corp"}, id=sf_id)
    world.clock.advance(10)
    monkeypatch.setattr(world.sf, "read_changes", query_then_more)
    engine.poll()
    monkeypatch.undo()
    assert world.hs.get("contacts", _hs_id)["jobtitle"] == "Edited mid-poll"
    world.clock.advance(10)
    engine.poll()  # the edit, past the bound, is read again and found synced
    quiet(world, engine)


def _held_by_a_locked_lead(world: World) -> tuple[Any, str, str]:
    """Ann's and Bob's pairs, synced; Ann's Lead locked for good refuses her new title, which
    holds the contacts' checkpoint; Bob's title edited after it (read on a later page). The
    engine, Ann's Lead and Bob's."""
    hs_id, sf_id = pair(world)
    bob_hs, bob_sf = pair(
        world, {"email": "bob@example.com"}, {"Email": "bob@example.com", "LastName": "Bob"}
    )
    engine = world.engine(page_size=1)  # Bob's change is read on a page after Ann's
    settle(world, engine)
    world.sf.locked.add(sf_id)
    world.hs.put("contacts", {"jobtitle": "VP"}, id=hs_id)
    world.clock.advance(10)
    assert engine.poll().retry_later == 1
    world.hs.put("contacts", {"jobtitle": "Head of Ops"}, id=bob_hs)
    return engine, sf_id, bob_sf


def test_a_write_refused_for_now_for_an_hour_becomes_a_dead_letter_and_changes_move_on(
    world: World,
) -> None:
    """A lasting lock on one Lead would hold the contacts' checkpoint for good, and every
    later change read after it: past `wait_limit` the write is kept as a dead letter, with the
    system's code, and the changes after it are carried."""
    engine, sf_id, bob_sf = _held_by_a_locked_lead(world)
    world.clock.advance(30 * 60)
    assert engine.poll().retry_later == 1
    assert world.sf.get("Lead", bob_sf)["Title"] == "CTO"  # held back behind Ann's write

    world.clock.advance(31 * 60)  # the lock has held the checkpoint for over an hour
    report = engine.poll()

    assert (report.retry_later, report.dead_letters) == (0, 1)
    [letter] = list_dead_letters(world.read(), status=DeadLetterStatus.OPEN)
    assert (letter.key.id, letter.vendor_code) == (sf_id, "UNABLE_TO_LOCK_ROW")
    assert world.sf.get("Lead", bob_sf)["Title"] == "Head of Ops"  # carried at last
    world.sf.locked.clear()
    engine.retry_dead_letters()
    assert world.sf.get("Lead", sf_id)["Title"] == "VP"  # nothing lost


def test_an_edit_past_the_bound_then_a_blocked_page_skips_no_page(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page with the record edited while the window paged keeps its position within the
    bound: a later page of the window that is blocked is read again, not skipped."""
    pairs = []
    for n in range(4):
        hs_id = world.hs.put("contacts", {**HS_CONTACT, "email": f"p{n}@example.com"})
        sf_id = world.sf.put("Lead", {**SF_LEAD, "Email": f"p{n}@example.com"})
        pairs.append((hs_id, sf_id))
    world.clock.advance(10)
    engine = world.engine(page_size=2)
    settle(world, engine)
    for n, (_, sf_id) in enumerate(pairs):
        world.clock.advance(600)  # ten minutes apart: far past the lookback
        world.sf.put("Lead", {"Title": f"T{n}"}, id=sf_id)
    world.clock.advance(10)
    listed = world.sf.read_changes

    def query_then_more(obj: str, since: Any, until: Any) -> Any:
        ids = [r.key.id for r in listed(obj, since, until)]
        if obj == "Lead" and ids:
            world.sf.put("Lead", {"Title": "T0 edited mid-poll"}, id=pairs[0][1])
        return iter(world.sf.read_by_ids(obj, ids))

    monkeypatch.setattr(world.sf, "read_changes", query_then_more)
    world.hs.locked.add(pairs[2][0])  # page 2's first person: its write refused for now
    engine.poll()
    monkeypatch.undo()
    world.hs.locked.clear()
    for _ in range(3):
        world.clock.advance(10)
        engine.poll()
    titles = [world.hs.get("contacts", hs_id)["jobtitle"] for hs_id, _ in pairs]
    assert titles == ["T0 edited mid-poll", "T1", "T2", "T3"]


def test_only_the_page_that_held_the_checkpoint_keeps_its_waits_as_letters(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, _sf_id, bob_sf = _held_by_a_locked_lead(world)
    world.clock.advance(61 * 60)
    world.sf.locked.clear()
    real_write, calls = world.sf.write, []

    def bobs_write_meets_a_brief_lock(obj: str, patches: Any) -> Any:
        calls.append(patches)
        if len(calls) == 2:
            world.sf.retry_next = 1  # Bob's page, after Ann's committed: one brief lock
        return real_write(obj, patches)

    monkeypatch.setattr(world.sf, "write", bobs_write_meets_a_brief_lock)
    report = engine.poll()

    assert report.retry_later == 1  # Bob's write waits as usual, no letter
    assert list_dead_letters(world.read(), status=DeadLetterStatus.OPEN) == []
    monkeypatch.undo()
    world.clock.advance(10)
    engine.poll()
    assert world.sf.get("Lead", bob_sf)["Title"] == "Head of Ops"


def test_a_held_page_behind_a_page_read_again_in_the_lookback_is_still_lettered(
    world: World,
) -> None:
    """Cat's edit, read just before Ann's held page, is read again by every window's lookback
    as its first page: that page moves nothing, so Ann's page is still the one that held the
    checkpoint for an hour, and keeps its wait as a letter."""
    ann_hs, ann_sf = pair(world)
    cat_hs, _ = pair(
        world, {"email": "cat@example.com"}, {"Email": "cat@example.com", "LastName": "Cat"}
    )
    bob_hs, bob_sf = pair(
        world, {"email": "bob@example.com"}, {"Email": "bob@example.com", "LastName": "Bob"}
    )
    engine = world.engine(page_size=1)
    settle(world, engine)
    world.clock.advance(600)
    world.sf.locked.add(ann_sf)
    world.hs.put("contacts", {"jobtitle": "Cat title"}, id=cat_hs)
    world.clock.advance(1)
    world.hs.put("contacts", {"jobtitle": "VP"}, id=ann_hs)
    world.clock.advance(10)
    assert engine.poll().retry_later == 1
    world.hs.put("contacts", {"jobtitle": "Head of Ops"}, id=bob_hs)
    for _ in range(3):
        world.clock.advance(31 * 60)
        engine.poll()
    [letter] = list_dead_letters(world.read(), status=DeadLetterStatus.OPEN)
    assert letter.key.id == ann_sf
    assert world.sf.get("Lead", bob_sf)["Title"] == "Head of Ops"


def test_a_delete_refused_for_now_for_an_hour_becomes_a_dead_letter_too(world: World) -> None:
    ann_hs, _ = pair(world)
    bob_hs, bob_sf = pair(
        world, {"email": "bob@example.com"}, {"Email": "bob@example.com", "LastName": "Bob"}
    )
    engine = world.engine(page_size=1, propagate_deletes=True)
    settle(world, engine)
    world.clock.advance(600)
    world.hs.remove("contacts", ann_hs)
    world.clock.advance(10)
    world.sf.retry_next = 10**6  # Ann's Lead's delete: refused for now, every time
    assert engine.poll().retry_later == 1
    world.hs.put("contacts", {"jobtitle": "Head of Ops"}, id=bob_hs)
    for _ in range(3):
        world.clock.advance(31 * 60)
        engine.poll()
    world.sf.retry_next = 0
    assert len(list_dead_letters(world.read(), status=DeadLetterStatus.OPEN)) == 1
    world.clock.advance(10)
    engine.poll()
    assert world.sf.get("Lead", bob_sf)["Title"] == "Head of Ops"
