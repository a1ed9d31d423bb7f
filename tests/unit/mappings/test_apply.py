"""Records <-> canonical people: every mapped value, the fallbacks, and stable round trips."""

from __future__ import annotations

import string
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.records import FieldSchema, RecordKey, SourceRecord, System
from mappings import places
from mappings.apply import Mapper
from mappings.loader import load_default
from mappings.model import Outcome, Person, Stage
from mappings.stages import LEAD_STAGES

OWNERS = {"005000000000001AAA": "101", "005000000000002AAA": "102"}
D = load_default().model_copy(update={"owners": OWNERS})
M = Mapper(D)
NOW = datetime(2026, 3, 1, tzinfo=UTC)
HS_KEY = RecordKey(System.HUBSPOT, "contacts", "901")
LEAD_KEY = RecordKey(System.SALESFORCE, "Lead", "00Q000000000001AAA")
CONTACT_KEY = RecordKey(System.SALESFORCE, "Contact", "003000000000001AAA")
OPP_KEY = RecordKey(System.SALESFORCE, "Opportunity", "006000000000001AAA")


def record(key: RecordKey, **fields: object) -> SourceRecord:
    return SourceRecord(key, fields, NOW)  # type: ignore[arg-type]


# -- every value the dictionary maps ------------------------------------------------------------


def meanings(system: str, field: str) -> list[tuple[str, Stage | Outcome]]:
    out: list[tuple[str, Stage | Outcome]] = []
    for key, spec in [*D.stages.items(), *D.outcomes.items()]:
        out += [(value, key) for value in getattr(getattr(spec, system), field)]
    return out


@pytest.mark.parametrize(("value", "meaning"), meanings("hubspot", "lifecyclestage"))
def test_every_hubspot_lifecycle_stage(value: str, meaning: Stage | Outcome) -> None:
    person = M.to_person(record(HS_KEY, lifecyclestage=value)).value
    assert (person.stage, person.outcome) == (
        (meaning, None) if isinstance(meaning, Stage) else (None, meaning)
    )


@pytest.mark.parametrize(("value", "meaning"), meanings("hubspot", "hs_lead_status"))
def test_every_hubspot_lead_status(value: str, meaning: Stage | Outcome) -> None:
    person = M.to_person(record(HS_KEY, hs_lead_status=value)).value
    assert (person.stage, person.outcome) == (
        (meaning, None) if isinstance(meaning, Stage) else (None, meaning)
    )


@pytest.mark.parametrize(("value", "meaning"), meanings("salesforce", "lead_status"))
def test_every_salesforce_lead_status(value: str, meaning: Stage | Outcome) -> None:
    person = M.to_person(record(LEAD_KEY, Status=value, LastName="X", Company="Y")).value
    assert (person.stage, person.outcome) == (
        (meaning, None) if isinstance(meaning, Stage) else (None, meaning)
    )


@pytest.mark.parametrize(("value", "meaning"), meanings("salesforce", "opportunity_stage"))
def test_every_opportunity_stage(value: str, meaning: Stage | Outcome) -> None:
    signal = M.signal(record(OPP_KEY, StageName=value))
    closed = value.startswith("Closed")
    assert signal.open_opportunity is not closed
    assert signal.closed_opportunity is closed
    if isinstance(meaning, Outcome):
        assert signal.outcome is meaning
    else:
        assert (signal.stage, signal.outcome) == (meaning, None)


def test_an_unknown_opportunity_stage_falls_back_on_salesforces_flags() -> None:
    won = M.signal(record(OPP_KEY, StageName="Signed", IsClosed=True, IsWon=True))
    lost = M.signal(record(OPP_KEY, StageName="Gone", IsClosed=True, IsWon=False))
    open_ = M.signal(record(OPP_KEY, StageName="Demo", IsClosed=False, IsWon=False))
    assert (won.stage, won.outcome) == (Stage.CUSTOMER, None)
    assert lost.outcome is Outcome.LOST
    assert (open_.stage, open_.open_opportunity) == (Stage.OPPORTUNITY, True)


def test_a_converted_lead_is_an_sql() -> None:
    person = M.to_person(record(LEAD_KEY, IsConverted=True, LastName="X", Company="Y")).value
    assert person.stage is Stage.SQL


@pytest.mark.parametrize("reason", D.rejection_reasons, ids=lambda r: r.code)
def test_every_rejection_reason_from_salesforce_reaches_hubspot(reason: object) -> None:
    from mappings.dictionary import ReasonSpec

    assert isinstance(reason, ReasonSpec)
    lead = record(
        LEAD_KEY,
        Status=reason.salesforce.lead_status,
        Rejection_Reason__c=reason.salesforce.rejection_reason,
        Funnel_Stage__c="SAL",
        LastName="X",
        Company="Y",
    )
    person = M.to_person(lead).value
    assert person.outcome is reason.outcome
    assert person.outcome_reason == reason.code
    patch = M.to_patch(person, HS_KEY).value.fields
    assert patch["hs_lead_status"] == reason.hubspot.hs_lead_status
    assert patch["rejection_reason"] == reason.hubspot.rejection_reason
    assert patch["funnel_stage"] == D.outcomes[reason.outcome].label


@pytest.mark.parametrize("stage", list(Stage))
def test_every_stage_label_reads_back(stage: Stage) -> None:
    label = D.stages[stage].label
    for key in (HS_KEY, CONTACT_KEY):
        person = M.to_person(record(key, funnel_stage=label, Funnel_Stage__c=label)).value
        assert person.stage is stage


# -- field maps ----------------------------------------------------------------------------------

HUBSPOT_CONTACT = {
    "email": " Ada@Example.COM ",
    "firstname": "Ada",
    "lastname": "Lovelace",
    "company": "Acme",
    "jobtitle": "CFO",
    "phone": "(415) 555-0100",
    "country": "USA",
    "state": "CA",
    "lead_source": "Webinar",
    "original_campaign": "Ebook: The Lead Handoff",
    "hubspotscore": "72",
    "hubspot_owner_id": "101",
    "hs_lead_status": "NEW",
    "lifecyclestage": "marketingqualifiedlead",
    "hs_lifecyclestage_marketingqualifiedlead_date": "1772323200000",
    "baton_id": "b-1",
}
CANONICAL = Person(
    baton_id="b-1",
    email="ada@example.com",
    hubspot_id="901",
    first_name="Ada",
    last_name="Lovelace",
    company="Acme",
    job_title="CFO",
    phone="+14155550100",
    country="United States",
    state="California",
    lead_source="Webinar",
    original_campaign="Ebook: The Lead Handoff",
    score=72,
    owner="005000000000001AAA",
    lead_status="new",
    stage=Stage.MQL,
    entered={Stage.MQL: NOW},
)


def test_a_hubspot_contact_reads_into_the_canonical_person() -> None:
    mapped = M.to_person(record(HS_KEY, **HUBSPOT_CONTACT))
    assert mapped.value == CANONICAL
    assert mapped.warnings == ()


def test_the_handoff_to_a_salesforce_lead_follows_the_rules() -> None:
    mapped = M.to_patch(CANONICAL, RecordKey(System.SALESFORCE, "Lead", ""))
    assert dict(mapped.value.fields) == {
        "Baton_Id__c": "b-1",
        "Email": "ada@example.com",
        "FirstName": "Ada",
        "LastName": "Lovelace",
        "Company": "Acme",
        "Title": "CFO",
        "Phone": "+14155550100",
        "Country": "United States",
        "State": "California",
        "LeadSource": "Webinar",
        "Original_Campaign__c": "Ebook: The Lead Handoff",
        "Marketing_Score__c": 72,
        "Status": "Open - Not Contacted",
        "Funnel_Stage__c": "MQL",
        "MQL_Date__c": "2026-03-01T00:00:00.000+0000",
    }  # the owner is Salesforce's to set (salesforce_to_hubspot)
    assert mapped.value.match_on == "Baton_Id__c"
    assert mapped.warnings == ()


def test_the_hubspot_patch_leaves_out_what_hubspot_owns_alone() -> None:
    fields = dict(M.to_patch(CANONICAL, HS_KEY).value.fields)
    assert "hubspotscore" not in fields  # hubspot_to_salesforce
    assert "lead_source" not in fields  # always_hubspot
    assert fields["hubspot_owner_id"] == "101"
    assert fields["lifecyclestage"] == "marketingqualifiedlead"


def test_a_contact_uses_contact_field_names() -> None:
    fields = dict(M.to_patch(CANONICAL, CONTACT_KEY, respect_rules=False).value.fields)
    assert fields["MailingCountry"] == "United States"
    assert fields["MailingState"] == "California"
    assert "Company" not in fields
    assert "Status" not in fields


def test_blank_required_fields_get_the_documented_fallback_and_read_back_blank() -> None:
    person = Person(email="x@example.com", first_name="X")
    fields = M.to_patch(person, LEAD_KEY).value.fields
    assert fields["LastName"] == "[not provided]"
    assert fields["Company"] == "[not provided]"
    back = M.to_person(record(LEAD_KEY, **fields)).value
    assert back.last_name is None
    assert back.company is None


def test_a_users_fallback_is_used() -> None:
    custom = D.model_copy(update={"salesforce_required": {"Lead": {"Company": "Unknown"}}})
    fields = Mapper(custom).to_patch(Person(last_name="Y"), LEAD_KEY).value.fields
    assert fields["Company"] == "Unknown"


def test_long_values_are_truncated_and_reported() -> None:
    person = CANONICAL.model_copy(update={"job_title": "T" * 130})
    mapped = M.to_patch(person, LEAD_KEY)
    assert mapped.value.fields["Title"] == "T" * 128
    assert mapped.warnings == (f"{LEAD_KEY}.Title: 130 characters truncated to the limit of 128",)


def test_describe_lengths_override_the_dictionarys() -> None:
    schemas = {(System.SALESFORCE, "Lead", "Title"): FieldSchema("Title", "string", length=10)}
    mapped = Mapper(D, schemas=schemas).to_patch(CANONICAL, LEAD_KEY)
    assert mapped.value.fields["Title"] == "CFO"
    long = CANONICAL.model_copy(update={"job_title": "Chief Financial Officer"})
    assert Mapper(D, schemas=schemas).to_patch(long, LEAD_KEY).value.fields["Title"] == "Chief Fina"


def test_an_owner_without_a_hubspot_counterpart_is_reported() -> None:
    person = CANONICAL.model_copy(update={"owner": "005999999999999AAA"})
    mapped = M.to_patch(person, HS_KEY)
    assert "hubspot_owner_id" not in mapped.value.fields
    assert mapped.warnings == (
        f"{HS_KEY}.hubspot_owner_id: owner '005999999999999AAA' has no hubspot value; not written",
    )


def test_read_warnings_name_the_record_and_field() -> None:
    mapped = M.to_person(record(HS_KEY, phone="n/a", hubspotscore="lots"))
    assert mapped.warnings == (
        f"{HS_KEY}.phone: phone 'n/a' is not a recognisable number; kept as typed",
        f"{HS_KEY}.hubspotscore: 'lots' is not a number; dropped",
    )


@pytest.mark.parametrize("stamp", ["253402300800000", "12345678901234567890", "nan"])
def test_a_date_no_datetime_holds_reads_as_blank_with_a_warning(stamp: str) -> None:
    field = "hs_lifecyclestage_marketingqualifiedlead_date"
    mapped = M.to_person(record(HS_KEY, email="a@x.com", **{field: stamp}))
    assert mapped.value.entered == {}
    assert mapped.warnings == (f"{HS_KEY}.{field}: '{stamp}' is not a date and time; dropped",)
    mql = M.to_person(record(LEAD_KEY, Email="a@x.com", MQL_Date__c=stamp))
    assert mql.value.entered == {}


@pytest.mark.parametrize(
    ("person", "stage_name"),
    [
        (Person(stage=Stage.SQL), "Qualification"),
        (Person(stage=Stage.OPPORTUNITY), "Needs Analysis"),
        (Person(stage=Stage.CUSTOMER), "Closed Won"),
        (Person(stage=Stage.OPPORTUNITY, outcome=Outcome.LOST), "Closed Lost"),
    ],
)
def test_opportunity_patches_carry_the_stage_name(person: Person, stage_name: str) -> None:
    assert dict(M.to_patch(person, OPP_KEY).value.fields) == {"StageName": stage_name}


def test_a_person_before_sql_has_no_opportunity_stage() -> None:
    mapped = M.to_patch(Person(stage=Stage.MQL), OPP_KEY)
    assert dict(mapped.value.fields) == {}
    assert mapped.warnings == (f"{OPP_KEY}: mql has no StageName",)


def test_a_sal_is_written_as_an_mql_where_hubspot_has_no_sal() -> None:
    fields = M.to_patch(Person(stage=Stage.SAL), HS_KEY).value.fields
    assert fields["lifecyclestage"] == "marketingqualifiedlead"
    assert fields["hs_lead_status"] == "IN_PROGRESS"


def test_derive_combines_both_systems() -> None:
    hubspot = record(HS_KEY, lifecyclestage="lead")
    opportunity = record(OPP_KEY, StageName="Needs Analysis")
    resolution = M.derive([hubspot, opportunity])
    assert (resolution.stage, resolution.outcome, resolution.rule) == (
        Stage.OPPORTUNITY,
        None,
        "R1",
    )


def test_non_person_objects_are_refused_with_the_kinds_allowed() -> None:
    with pytest.raises(ValueError, match="salesforce:Account is not a person object"):
        M.to_person(record(RecordKey(System.SALESFORCE, "Account", "001")))


# -- round trips ----------------------------------------------------------------------------------

words = (
    st.text(alphabet=string.ascii_letters + "éøñ' -", min_size=1, max_size=30)
    .map(str.strip)
    .filter(bool)
)
emails = st.builds(
    lambda user, host: f"{user}@{host}.example",
    st.text(alphabet=string.ascii_lowercase + string.digits + ".", min_size=1, max_size=20),
    st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=10),
)
phones = st.builds(
    lambda area, rest: f"+1{area}{rest:07d}", st.integers(200, 999), st.integers(0, 9_999_999)
)
moments = st.integers(1_500_000_000_000, 2_000_000_000_000).map(
    lambda ms: datetime.fromtimestamp(ms / 1000, tz=UTC)
)
# Lead statuses that name a stage, not a verdict (a verdict comes with an outcome and reason).
lead_statuses = st.sampled_from(
    [
        row.canonical
        for row in D.picklists["lead_status"]
        if not isinstance(M.vocabulary.means("hubspot", "hs_lead_status", row.hubspot), Outcome)
    ]
)


@st.composite
def funnel(draw: st.DrawFn) -> dict[str, object]:
    stage = draw(st.sampled_from(list(Stage)))
    choice = draw(st.sampled_from(["none", "rejected", "lost"]))
    if choice == "rejected" and stage in LEAD_STAGES:
        reason = draw(st.sampled_from(D.rejection_reasons))
        return {"stage": stage, "outcome": reason.outcome, "outcome_reason": reason.code}
    if choice == "lost" and stage in (Stage.SQL, Stage.OPPORTUNITY):
        return {"stage": stage, "outcome": Outcome.LOST}
    return {"stage": stage}


@st.composite
def people(draw: st.DrawFn) -> Person:
    maybe = lambda strategy: draw(st.none() | strategy)  # noqa: E731
    return Person(
        baton_id=maybe(st.uuids().map(str)),
        email=maybe(emails),
        first_name=maybe(words),
        last_name=maybe(words),
        company=maybe(words),
        job_title=maybe(words),
        phone=maybe(phones),
        country=maybe(st.sampled_from([row[0] for row in places.COUNTRIES])),
        state=maybe(st.sampled_from([name for _, _, name in places.STATES])),
        score=maybe(st.integers(0, 1000)),
        lead_source=maybe(words),
        original_campaign=maybe(words),
        owner=maybe(st.sampled_from(list(OWNERS))),
        lead_status=maybe(lead_statuses),
        entered=draw(st.dictionaries(st.just(Stage.MQL), moments)),
        **draw(funnel()),
    )


KEYS = [HS_KEY, LEAD_KEY, CONTACT_KEY]
CONTACT_FIELDS = ("baton_id", "email", "first_name", "last_name", "job_title", "phone", "country",
                  "state", "score", "lead_source", "original_campaign", "owner")  # fmt: skip


def trip(person: Person, key: RecordKey) -> Person:
    patch = M.to_patch(person, key, respect_rules=False).value
    return M.to_person(SourceRecord(key, patch.fields, NOW)).value


@pytest.mark.parametrize("key", KEYS, ids=lambda k: k.object)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(person=people())
def test_canonical_to_system_and_back_is_stable(key: RecordKey, person: Person) -> None:
    once = trip(person, key)
    twice = trip(once, key)
    assert twice == once, (person, once, twice)
    for name in CONTACT_FIELDS:
        assert getattr(once, name) == getattr(person, name), name
    if key.object != "Contact":
        assert once.company == person.company
    assert once.outcome == person.outcome
    assert once.outcome_reason == person.outcome_reason
    if person.outcome is None and person.lead_status is None:
        assert once.stage == person.stage
    if key.system is System.SALESFORCE:
        assert once.entered == person.entered


raw_text = st.none() | st.text(max_size=12)


@st.composite
def hubspot_records(draw: st.DrawFn) -> SourceRecord:
    values = {
        name: draw(raw_text)
        for name in ("email", "firstname", "lastname", "company", "jobtitle", "phone", "country",
                     "state", "lead_source", "original_campaign", "baton_id")
    }  # fmt: skip
    values["hubspotscore"] = draw(st.none() | st.integers(0, 200).map(str) | st.just("x"))
    values["hubspot_owner_id"] = draw(st.none() | st.sampled_from(["101", "102", "999"]))
    values["hs_lead_status"] = draw(st.none() | st.sampled_from(
        [row.hubspot for row in D.picklists["lead_status"] if row.hubspot]
    ))  # fmt: skip
    values["lifecyclestage"] = draw(st.none() | st.sampled_from(
        [v for v, _ in meanings("hubspot", "lifecyclestage")]
    ))  # fmt: skip
    values["funnel_stage"] = draw(st.none() | st.sampled_from(list(M.vocabulary.labels.values())))
    values["rejection_reason"] = draw(st.none() | st.sampled_from(
        [r.hubspot.rejection_reason for r in D.rejection_reasons] + ["Too Pricey"]
    ))  # fmt: skip
    return SourceRecord(HS_KEY, values, NOW)


@st.composite
def lead_records(draw: st.DrawFn) -> SourceRecord:
    values: dict[str, object] = {
        name: draw(raw_text)
        for name in ("Email", "FirstName", "LastName", "Company", "Title", "Phone", "Country",
                     "State", "LeadSource", "Original_Campaign__c", "Baton_Id__c")
    }  # fmt: skip
    values["Marketing_Score__c"] = draw(st.none() | st.integers(0, 200))
    values["OwnerId"] = draw(st.none() | st.sampled_from(list(OWNERS)))
    values["Status"] = draw(st.sampled_from([v for v, _ in meanings("salesforce", "lead_status")]))
    values["IsConverted"] = draw(st.booleans())
    values["Funnel_Stage__c"] = draw(
        st.none() | st.sampled_from(list(M.vocabulary.labels.values()))
    )
    values["Rejection_Reason__c"] = draw(st.none() | st.sampled_from(
        [r.salesforce.rejection_reason for r in D.rejection_reasons]
    ))  # fmt: skip
    values["MQL_Date__c"] = draw(st.none() | moments.map(lambda m: m.isoformat()))
    return SourceRecord(LEAD_KEY, values, NOW)  # type: ignore[arg-type]


@pytest.mark.parametrize("records", [hubspot_records(), lead_records()], ids=["hubspot", "lead"])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_system_to_canonical_and_back_is_stable(
    records: st.SearchStrategy[SourceRecord], data: st.DataObject
) -> None:
    source = data.draw(records)
    first = M.to_person(source).value
    second = trip(first, source.key)
    assert trip(second, source.key) == second
    for name in (*CONTACT_FIELDS, "company"):
        assert getattr(second, name) == getattr(first, name), name
    assert second.outcome == first.outcome
    if first.outcome is None:
        assert second.stage == first.stage


def test_mapping_leaves_its_inputs_alone() -> None:
    source = record(HS_KEY, **HUBSPOT_CONTACT)
    before = dict(source.fields)
    person = M.to_person(source).value
    M.to_patch(person, LEAD_KEY)
    assert dict(source.fields) == before
    assert person == CANONICAL


@pytest.mark.parametrize(
    ("stage", "outcome"),
    [
        (Stage.SQL, None),
        (Stage.OPPORTUNITY, None),
        (Stage.CUSTOMER, None),
        (Stage.OPPORTUNITY, Outcome.LOST),
    ],
)
def test_opportunity_round_trip(stage: Stage, outcome: Outcome | None) -> None:
    patch = M.to_patch(Person(stage=stage, outcome=outcome), OPP_KEY).value
    signal = M.signal(SourceRecord(OPP_KEY, patch.fields, NOW))
    assert (signal.stage, signal.outcome) == (stage, outcome)


def test_an_existing_leads_status_is_salesforces_but_a_new_lead_gets_one() -> None:
    person = Person(stage=Stage.SAL, last_name="X", company="Y")
    assert "Status" not in M.to_patch(person, LEAD_KEY).value.fields  # salesforce_to_hubspot
    new = M.to_patch(person, RecordKey(System.SALESFORCE, "Lead", "")).value.fields
    assert new["Status"] == "Working - Contacted"


def test_a_converted_stage_is_never_written_as_a_lead_status() -> None:
    new = M.to_patch(Person(stage=Stage.SQL), RecordKey(System.SALESFORCE, "Lead", "")).value
    assert "Status" not in new.fields


def test_a_new_hubspot_contact_is_made_without_hubspots_own_outbound_values() -> None:
    """A Salesforce person with an MQL date and a score: HubSpot's lifecycle dates are
    read-only and its score calculated, so a create carrying them is refused whole (as a
    sandbox run showed: READ_ONLY_VALUE, and the person never got a contact). One-way rules
    never clear, so the new contact's blank leaves Salesforce's values alone."""
    new_contact = RecordKey(System.HUBSPOT, "contacts", "")
    fields = M.to_patch(CANONICAL, new_contact, creating=True).value.fields

    assert "hs_lifecyclestage_marketingqualifiedlead_date" not in fields
    assert "hubspotscore" not in fields
    assert "original_campaign" not in fields
    assert fields["email"] == "ada@example.com"
    assert fields["jobtitle"] == "CFO"


def test_a_new_salesforce_lead_is_still_a_full_copy() -> None:
    fields = M.to_patch(CANONICAL, RecordKey(System.SALESFORCE, "Lead", ""), creating=True)
    assert fields.value.fields["OwnerId"] == "005000000000001AAA"
    assert fields.value.fields["Marketing_Score__c"] == 72


def test_an_email_longer_than_its_field_is_written_whole_never_cut() -> None:
    """Cut to 80 characters, `...@example.com` became `...@example.co`: a valid address of
    someone else. Written whole, Salesforce refuses it, and the refusal is a dead letter."""
    long_email = "a" * 69 + "@example.com"  # 81 characters
    person = CANONICAL.model_copy(update={"email": long_email})
    mapped = M.to_patch(person, RecordKey(System.SALESFORCE, "Lead", ""), creating=True)

    assert mapped.value.fields["Email"] == long_email
    assert not [w for w in mapped.warnings if "Email" in w]
    assert M.length_limit(System.SALESFORCE, "Lead", "email") is None
    assert M.length_limit(System.SALESFORCE, "Lead", "first_name") == 40
