"""The engine against both sandboxes through the real connectors (real SDKs, real sockets).

Given 200 HubSpot contacts and a Salesforce org of 100 Leads (half of them the same people)
plus 50 Contacts, when the engine backfills, then both systems agree per the dictionary, and a
second run writes nothing (the sandboxes count zero API writes). Then: echoes, a validation
rejection that becomes a dead letter and passes after the data is fixed, a conversion that
relinks, an ambiguous email that is reported instead of guessed, and a HubSpot archive that
deletes the Salesforce Lead when deletes propagate (and is only flagged when they do not).

The tests of this module share one world and run in order (each builds on the last backfill).

The dictionary is the default one minus `country`, `state` and `original_campaign`: the
Salesforce connector's object table does not list `Country`, `State`, `MailingCountry`,
`MailingState` or `Original_Campaign__c` as writable yet, so those writes would be refused up
front (reported to the lead; the engine itself handles the fields, see the unit tests).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from connectors.errors import AuthError
from connectors.records import RecordKey, System
from sandbox.hubspot import HubSpotSandbox
from sandbox.salesforce import SalesforceSandbox
from sandbox.shared.faults import FaultPlan
from sync.engine import SyncEngine, SyncPolicy
from sync.store.checkpoints import Checkpoint, get_checkpoint
from sync.store.dead_letters import list_dead_letters
from sync.store.decisions import decisions_for
from sync.store.engine import make_engine, sqlite_url
from sync.store.links import find_link
from sync.store.migrate import upgrade
from tests.e2e.stack import Stack, agree, open_stack

CONTACTS, LEADS = 200, 100


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    directory = tmp_path_factory.mktemp("engine-sandbox")
    with open_stack(directory, contacts=CONTACTS, leads=LEADS) as built:
        yield built


def test_backfill_makes_both_systemsagree(stack: Stack) -> None:
    report = stack.engine.backfill()
    assert report.read["hubspot:contacts"] == CONTACTS
    assert report.read["salesforce:Lead"] >= LEADS
    assert report.writes > 0
    assert report.created["salesforce:Lead"] > 0  # MQL handoffs
    assert report.ambiguous > 0  # the seed's shared addresses
    assert report.dead_letters == len(list_dead_letters(stack.read()))
    pairs = stack.pairs()
    assert len(pairs) >= CONTACTS // 2
    disagreements = {
        f"{hs_id}/{sf_key}": bad for hs_id, sf_key in pairs if (bad := agree(stack, hs_id, sf_key))
    }
    letters = {str(letter.key) for letter in list_dead_letters(stack.read())}
    unexplained = {k: v for k, v in disagreements.items() if k.split("/")[1] not in letters}
    assert unexplained == {}


def test_second_run_writes_nothing(stack: Stack) -> None:
    before = stack.writes()
    stack.later()
    dry = stack.engine.backfill(dry_run=True)
    held = {str(letter.key) for letter in list_dead_letters(stack.read())}
    # Only writes the org already refused are still planned (and held back, not re-sent).
    assert {f"{w.system}:{w.object}:{w.key}" for w in dry.planned} <= held
    again = stack.engine.backfill()
    stack.later()
    polled = stack.engine.poll()
    assert stack.writes() == before, (again.updated, polled.updated, polled.created)
    assert again.writes == 0
    assert polled.writes == 0


def test_a_fresh_store_meeting_the_synced_systems_writes_nothing(
    stack: Stack, tmp_path: Path
) -> None:
    """The store lost (or a second one beside it): its first poll meets pairs that carry each
    other's cross-system ids and agree per the dictionary, and has nothing to write."""
    url = sqlite_url(tmp_path / "fresh.db")
    upgrade(url)
    fresh = make_engine(url)
    engine = SyncEngine(
        hubspot=stack.hubspot,
        salesforce=stack.salesforce,
        dictionary=stack.dictionary,
        db=fresh,
        policy=SyncPolicy(page_size=100),
        now=stack.clock.now_dt,
    )
    before = stack.writes()
    stack.later()
    try:
        report = engine.poll()
    finally:
        fresh.dispose()
    assert stack.writes() == before, (report.updated, report.created)


def test_echo_of_a_synced_change_writes_nothing_more(stack: Stack) -> None:
    hs_id, sf_key = next(p for p in stack.pairs() if p[1].object == "Lead")
    stack.hs_box.update("contacts", hs_id, {"jobtitle": "Chief Echo Officer"})
    stack.later()
    before = stack.writes()
    report = stack.engine.poll()
    [lead] = stack.salesforce.read_by_ids("Lead", [sf_key.id])
    assert lead.get("Title") == "Chief Echo Officer"
    assert report.updated["salesforce:Lead"] >= 1
    assert stack.writes() > before
    stack.later()
    quiet = stack.writes()
    echo = stack.engine.poll()
    assert stack.writes() == quiet, echo.updated
    assert echo.read["salesforce:Lead"] >= 1  # our write was read back, and planned nothing


def test_junk_phone_is_a_dead_letter_until_the_data_is_fixed(stack: Stack) -> None:
    hs_id = stack.hs_box.create(
        "contacts",
        {
            "email": "junk.phone@example.com",
            "firstname": "Jun",
            "lastname": "Kphone",
            "company": "Initech",
            "hubspotscore": "85",
            "phone": "n/a",
        },
    )
    stack.later()
    report = stack.engine.poll()
    assert report.dead_letters == 1
    [letter] = [
        x
        for x in list_dead_letters(stack.read())
        if x.payload.get("Email") == "junk.phone@example.com"
    ]
    assert letter.vendor_code == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    assert letter.vendor_message
    assert "Phone" in letter.vendor_message
    assert stack.sf_box.find("Lead", equals={"Email": "junk.phone@example.com"}) == []
    stack.hs_box.update("contacts", hs_id, {"phone": "+1 415 555 0100"})
    stack.later()
    retried = stack.engine.retry_dead_letters([letter.id])
    assert retried.created["salesforce:Lead"] == 1
    [lead] = stack.sf_box.find("Lead", equals={"Email": "junk.phone@example.com"})
    assert lead["Phone"] == "+14155550100"
    [contact] = stack.hubspot.read_by_ids("contacts", [hs_id])
    assert lead["Baton_Id__c"] == contact.get("baton_id")
    assert letter.id not in {x.id for x in list_dead_letters(stack.read())}


def test_a_salesforce_lead_with_an_mql_date_and_a_score_gets_its_hubspot_contact(
    stack: Stack,
) -> None:
    """HubSpot refuses a contact made with its read-only lifecycle dates (READ_ONLY_VALUE):
    the create leaves out what flows one way out of HubSpot, and Salesforce keeps its values."""
    lead = stack.sf_box.create(
        "Lead",
        {
            "LastName": "Solo",
            "FirstName": "Sam",
            "Company": "Acme",
            "Email": "sam.solo@example.com",
            "MQL_Date__c": "2026-02-01T10:11:12.345+0000",
            "Marketing_Score__c": 70,
        },
    )
    stack.later()
    report = stack.engine.poll()

    assert report.created["hubspot:contacts"] == 1, report
    assert not [
        x
        for x in list_dead_letters(stack.read())
        if x.payload.get("email") == "sam.solo@example.com"
    ]
    [contact] = stack.hs_box.find("contacts", equals={"email": "sam.solo@example.com"})
    [kept] = stack.sf_box.find("Lead", equals={"Id": lead})
    assert kept["Baton_Id__c"] == contact.get("baton_id")
    assert kept["Marketing_Score__c"] == 70
    assert kept["MQL_Date__c"]
    stack.later()
    assert stack.engine.poll().writes == 0


def test_an_email_too_long_for_salesforce_is_a_dead_letter_not_a_cut_address(
    stack: Stack,
) -> None:
    long_email = "a" * 69 + "@example.com"  # 81 characters; Lead.Email holds 80
    stack.hs_box.create(
        "contacts",
        {"email": long_email, "lastname": "Long", "company": "Initech", "hubspotscore": "85"},
    )
    stack.later()
    stack.engine.poll()

    [letter] = [x for x in list_dead_letters(stack.read()) if x.payload.get("Email") == long_email]
    assert letter.vendor_code == "STRING_TOO_LONG", letter
    assert stack.sf_box.find("Lead", equals={"Email": long_email[:80]}) == []


def test_conversion_moves_the_link_to_the_contact(stack: Stack) -> None:
    hs_id, sf_key = next(
        (h, k)
        for h, k in stack.pairs()
        if k.object == "Lead"
        and stack.sf_box.find(
            "Lead", equals={"Id": k.id, "IsConverted": False, "Status": "Working - Contacted"}
        )
    )
    converted = stack.sf_box.convert_lead(sf_key.id, create_opportunity=False)
    contact_id = str(converted.get("contactId") or converted.get("ContactId"))
    stack.later()
    stack.engine.poll()
    with stack.read() as conn:
        contact_link = find_link(conn, RecordKey(System.SALESFORCE, "Contact", contact_id))
        hs_link = find_link(conn, RecordKey(System.HUBSPOT, "contacts", hs_id))
        lead_link = find_link(conn, sf_key)
    assert contact_link is not None
    assert hs_link is not None
    assert lead_link is not None
    assert contact_link.person_id == hs_link.person_id
    assert contact_link.active
    assert not lead_link.active
    [contact] = stack.hubspot.read_by_ids("contacts", [hs_id])
    assert contact.get("funnel_stage") == "SQL"
    stack.later()
    before = stack.writes()
    stack.engine.poll()
    stack.later()
    stack.engine.poll()
    assert stack.writes() - before <= 2  # at most the Contact's own catch-up, then quiet
    stack.later()
    settled = stack.writes()
    stack.engine.poll()
    assert stack.writes() == settled


def test_an_opportunity_made_on_a_contact_reaches_hubspot_by_its_contact_role(
    stack: Stack,
) -> None:
    """No Lead is converted: a rep adds a deal to a linked Contact, its primary contact role
    naming the Contact; the deal's stages reach the HubSpot contact."""
    hs_id, contact = next((h, k) for h, k in stack.pairs() if k.object == "Contact")
    deal = stack.sf_box.create(
        "Opportunity", {"Name": "Upsell", "StageName": "Needs Analysis", "CloseDate": "2026-06-30"}
    )
    stack.sf_box.create(
        "OpportunityContactRole",
        {"OpportunityId": deal, "ContactId": contact.id, "IsPrimary": True},
    )
    stack.later()
    stack.engine.poll()
    with stack.read() as conn:
        link = find_link(conn, RecordKey(System.SALESFORCE, "Opportunity", deal))
        person = find_link(conn, contact)
    assert link is not None
    assert person is not None
    assert (link.person_id, link.active, link.reason) == (person.person_id, False, "contact_role")
    [hubspot] = stack.hubspot.read_by_ids("contacts", [hs_id])
    assert hubspot.get("lifecyclestage") == "opportunity"
    stack.sf_box.update("Opportunity", deal, {"StageName": "Closed Won"})
    stack.later()
    report = stack.engine.poll()
    [hubspot] = stack.hubspot.read_by_ids("contacts", [hs_id])
    assert hubspot.get("lifecyclestage") == "customer"
    assert hubspot.get("funnel_stage") == "Customer"
    assert report.stage_moves == {"opportunity->customer": 1}
    stack.later()
    stack.engine.poll()
    stack.later()
    settled = stack.writes()
    stack.engine.poll()
    assert stack.writes() == settled


def test_ambiguous_email_is_reported_not_guessed(stack: Stack) -> None:
    email = "twins@example.com"
    for first in ("Ann", "Anne"):
        stack.sf_box.create(
            "Lead", {"Email": email, "FirstName": first, "LastName": "Twin", "Company": "Acme"}
        )
    stack.hs_box.create(
        "contacts", {"email": email, "firstname": "Ann", "company": "Acme", "hubspotscore": "90"}
    )
    stack.later()
    report = stack.engine.poll()
    assert report.ambiguous >= 2
    twins = stack.sf_box.find("Lead", equals={"Email": email})
    assert len(twins) == 2  # no third Lead for the qualifying contact
    with stack.read() as conn:
        for twin in twins:
            assert find_link(conn, RecordKey(System.SALESFORCE, "Lead", str(twin["Id"]))) is None


def _lead_pairs(stack: Stack) -> list[tuple[str, RecordKey]]:
    """Linked pairs whose Salesforce side is a live, unconverted Lead no letter is about."""
    letters = {letter.key for letter in list_dead_letters(stack.read())}
    return [
        (hs_id, key)
        for hs_id, key in stack.pairs()
        if key.object == "Lead"
        and key not in letters
        and stack.sf_box.find("Lead", equals={"Id": key.id, "IsConverted": False})
    ]


def test_a_hubspot_archive_deletes_the_salesforce_lead_when_configured(stack: Stack) -> None:
    propagating = SyncEngine(
        hubspot=stack.hubspot,
        salesforce=stack.salesforce,
        dictionary=stack.dictionary,
        db=stack.db,
        policy=SyncPolicy(page_size=100, propagate_deletes=True),
        now=stack.clock.now_dt,
    )
    hs_id, sf_key = _lead_pairs(stack)[0]
    [archived] = stack.hubspot.delete("contacts", [hs_id])  # someone deletes the contact
    assert archived.ok
    stack.later()

    report = propagating.poll()

    assert (report.deletes_propagated, report.deletes_flagged) == (1, 0)
    [lead] = stack.salesforce.read_by_ids("Lead", [sf_key.id])
    assert lead.deleted  # in Salesforce's recycle bin
    with stack.read() as conn:
        hs_link = find_link(conn, RecordKey(System.HUBSPOT, "contacts", hs_id))
        sf_link = find_link(conn, sf_key)
        assert hs_link is not None
        assert sf_link is not None
        assert not hs_link.active
        assert not sf_link.active
        notes = decisions_for(conn, hs_link.person_id, "record")
    assert [(d.rule, d.trigger, d.salesforce_old) for d in notes] == [
        ("delete_propagated", "poll", str(sf_key))
    ]
    stack.later()
    before = stack.hs_box.stats.writes
    echo = propagating.poll()  # reads the Lead's deletion: nothing to delete back
    assert (echo.deletes_propagated, echo.deletes_flagged) == (0, 0)
    assert stack.hs_box.stats.writes == before
    assert stack.hubspot.read_by_ids("contacts", [hs_id]) == []


def test_a_hubspot_archive_is_only_flagged_by_default(stack: Stack) -> None:
    hs_id, sf_key = _lead_pairs(stack)[0]
    stack.hubspot.delete("contacts", [hs_id])
    stack.later()
    before = stack.sf_box.stats.writes

    report = stack.engine.poll()

    assert (report.deletes_flagged, report.deletes_propagated) == (1, 0)
    [lead] = stack.salesforce.read_by_ids("Lead", [sf_key.id])
    assert not lead.deleted
    assert stack.sf_box.stats.writes == before
    with stack.read() as conn:
        sf_link = find_link(conn, sf_key)
        assert sf_link is not None
        assert sf_link.active
        rules = [d.rule for d in decisions_for(conn, sf_link.person_id, "record")]
    assert rules == ["delete_flagged"]


def _checkpoint(stack: Stack, system: System, obj: str) -> Checkpoint | None:
    with stack.read() as conn:
        return get_checkpoint(conn, system, obj)


@pytest.mark.parametrize(
    ("refused", "code", "edited"),
    [
        # a Salesforce session refused again right after the connector logged in anew
        (System.SALESFORCE, "INVALID_SESSION_ID", (System.HUBSPOT, "contacts")),
        # a revoked HubSpot private-app token: nothing to renew
        (System.HUBSPOT, "INVALID_AUTHENTICATION", (System.SALESFORCE, "Lead")),
    ],
)
def test_credentials_refused_on_the_write_path_end_the_poll_and_hold_nothing(
    stack: Stack, refused: System, code: str, edited: tuple[System, str]
) -> None:
    """Loud, not "retry later": no dead letters, and the listing whose changes could not be
    written neither moves nor waits; once the credentials are fine again, the next poll
    writes what the failed one could not."""
    candidates = _lead_pairs(stack)[:6]
    live = {r.key.id for r in stack.hubspot.read_by_ids("contacts", [h for h, _ in candidates])}
    pairs = [(hs_id, sf_key) for hs_id, sf_key in candidates if hs_id in live][:3]
    assert len(pairs) == 3
    title = f"Auth Outage {refused}"
    edited_at = stack.clock.now_dt()
    for hs_id, sf_key in pairs:  # edited on one side, to be written to the refusing one
        if refused is System.SALESFORCE:
            stack.hs_box.update("contacts", hs_id, {"jobtitle": title})
        else:
            stack.sf_box.update("Lead", sf_key.id, {"Title": title})
    stack.later()
    letters = len(list_dead_letters(stack.read()))
    box: HubSpotSandbox | SalesforceSandbox
    if refused is System.SALESFORCE:
        box, writes = stack.sf_box, "/services/data/v59.0/composite/sobjects"
    else:
        box, writes = stack.hs_box, "/crm/v3/objects/contacts/batch/u"  # update and upsert
    box.faults.configure(FaultPlan(expired_session_rate=1.0, path_prefix=writes))
    try:
        with pytest.raises(AuthError) as info:
            stack.engine.poll()
    finally:
        box.faults.clear()

    assert type(info.value) is AuthError
    assert not info.value.retryable
    assert info.value.vendor_code == code
    assert len(list_dead_letters(stack.read())) == letters
    after = _checkpoint(stack, *edited)
    assert after is not None
    assert after.cursor is not None
    assert after.cursor < edited_at + timedelta(seconds=1)  # not past the edits (upper: +10 s)
    assert after.blocked_since is None  # not held as "refused for now" either

    report = stack.engine.poll()
    assert report.dead_letters == 0
    for hs_id, sf_key in pairs:
        if refused is System.SALESFORCE:
            [lead] = stack.salesforce.read_by_ids("Lead", [sf_key.id])
            assert lead.fields["Title"] == title
        else:
            [contact] = stack.hubspot.read_by_ids("contacts", [hs_id])
            assert contact.fields["jobtitle"] == title
