"""The dictionary against the systems' picklists, given as data."""

from __future__ import annotations

import pytest

from connectors.records import FieldSchema, PicklistOption
from mappings.check import (
    PicklistFileError,
    check,
    expected_values,
    from_schemas,
    parse_picklists,
)
from mappings.loader import load_default

D = load_default()


def options(*values: str) -> list[PicklistOption]:
    return [PicklistOption(value=v, label=v) for v in values]


def systems_as_configured() -> dict[tuple[str, str, str], list[PicklistOption]]:
    """Picklists that agree with the shipped dictionary exactly."""
    return {key: options(*values) for key, values in expected_values(D).items()}


def test_the_fields_compared() -> None:
    assert set(expected_values(D)) == {
        ("hubspot", "contacts", "lifecyclestage"),
        ("hubspot", "contacts", "hs_lead_status"),
        ("hubspot", "contacts", "funnel_stage"),
        ("hubspot", "contacts", "rejection_reason"),
        ("salesforce", "Lead", "Status"),
        ("salesforce", "Opportunity", "StageName"),
        ("salesforce", "Lead", "Funnel_Stage__c"),
        ("salesforce", "Contact", "Funnel_Stage__c"),
        ("salesforce", "Lead", "Rejection_Reason__c"),
        ("salesforce", "Contact", "Rejection_Reason__c"),
    }
    assert expected_values(D)[("hubspot", "contacts", "lifecyclestage")] == [
        "subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity",
        "customer", "evangelist", "other",
    ]  # fmt: skip
    assert expected_values(D)[("salesforce", "Lead", "Status")] == [
        "Open - Not Contacted", "Working - Contacted", "Closed - Converted",
        "Closed - Not Converted",
    ]  # fmt: skip


def test_systems_that_agree_pass() -> None:
    report = check(D, systems_as_configured())
    assert report.ok
    assert report.unchecked == ()


def test_a_value_added_to_a_system_is_unmapped_and_a_removed_one_is_missing() -> None:
    picklists = systems_as_configured()
    picklists[("salesforce", "Lead", "Status")] = options(
        "Open - Not Contacted", "Working - Contacted", "Closed - Converted", "Nurturing"
    )
    report = check(D, picklists)
    assert not report.ok
    (bad,) = [f for f in report.fields if not f.ok]
    assert bad.name == "salesforce.Lead.Status"
    assert bad.unmapped == ("Nurturing",)
    assert bad.missing == ("Closed - Not Converted",)


def test_an_inactive_option_counts_as_missing_and_is_never_unmapped() -> None:
    picklists = systems_as_configured()
    values = expected_values(D)[("hubspot", "contacts", "hs_lead_status")]
    picklists[("hubspot", "contacts", "hs_lead_status")] = [
        PicklistOption(value=v, label=v, active=v != "OPEN") for v in [*values, "RETIRED"]
    ]
    picklists[("hubspot", "contacts", "hs_lead_status")][-1] = PicklistOption(
        "RETIRED", "Retired", active=False
    )
    (bad,) = [f for f in check(D, picklists).fields if not f.ok]
    assert (bad.unmapped, bad.missing) == ((), ("OPEN",))


def test_fields_without_a_picklist_are_listed_as_unchecked_not_failed() -> None:
    picklists = systems_as_configured()
    del picklists[("hubspot", "contacts", "funnel_stage")]
    report = check(D, picklists)
    assert report.ok
    assert [f.name for f in report.unchecked] == ["hubspot.contacts.funnel_stage"]


def test_picklists_from_connector_schemas() -> None:
    schemas = [
        FieldSchema("Status", "picklist", options=tuple(options("Open - Not Contacted"))),
        FieldSchema("Email", "email"),
    ]
    assert from_schemas("salesforce", "Lead", schemas) == {
        ("salesforce", "Lead", "Status"): options("Open - Not Contacted")
    }


def test_parse_picklists_accepts_strings_and_option_objects() -> None:
    parsed = parse_picklists(
        {
            "hubspot": {
                "contacts": {"hs_lead_status": ["NEW", {"value": "OPEN", "label": "Open"}]}
            },
            "salesforce": {"Lead": {"Status": [{"value": "X", "active": False}]}},
        }
    )
    assert parsed == {
        ("hubspot", "contacts", "hs_lead_status"): [
            PicklistOption("NEW", "NEW"),
            PicklistOption("OPEN", "Open"),
        ],
        ("salesforce", "Lead", "Status"): [PicklistOption("X", "X", active=False)],
    }


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "the top level must be an object of systems (hubspot, salesforce)"),
        ({"marketo": {}}, "'marketo' is not a system (hubspot, salesforce)"),
        ({"hubspot": []}, "hubspot: must be an object of objects"),
        ({"hubspot": {"contacts": []}}, "hubspot.contacts: must be an object of fields"),
        ({"hubspot": {"contacts": {"x": "NEW"}}}, "hubspot.contacts.x: must be a list of values"),
        ({"hubspot": {"contacts": {"x": [1]}}},
         "hubspot.contacts.x[0]: must be a string or {\"value\": ...}"),
    ],
)  # fmt: skip
def test_badly_shaped_picklists_name_the_place(data: object, message: str) -> None:
    with pytest.raises(PicklistFileError) as caught:
        parse_picklists(data)
    assert str(caught.value) == message


LIFECYCLE = ("hubspot", "contacts", "lifecyclestage")
STATUS = ("salesforce", "Lead", "Status")


@pytest.mark.parametrize(
    ("key", "system_options", "value", "hint"),
    [
        # HubSpot's custom lifecycle stages have numeric values; the dictionary was given the label
        (
            LIFECYCLE,
            [PicklistOption("51439524", "Evangelist")],
            "evangelist",
            "it is the label of the value '51439524': the dictionary lists values, so write "
            "'51439524' there",
        ),
        (
            STATUS,
            [PicklistOption("Working - contacted ", "Working")],
            "Working - Contacted",
            "the system spells it 'Working - contacted ' (case or spaces differ): use that",
        ),
        (
            STATUS,
            [PicklistOption("Working - Contacted", "Working", active=False)],
            "Working - Contacted",
            "it is inactive in the system: activate it, or take it out of the dictionary",
        ),
        (STATUS, [PicklistOption("Nurturing", "Nurturing")], "Working - Contacted", None),
    ],
)
def test_a_missing_value_nearly_in_the_system_says_what_differs(
    key: tuple[str, str, str],
    system_options: list[PicklistOption],
    value: str,
    hint: str | None,
) -> None:
    picklists = systems_as_configured()
    kept = [o for o in picklists[key] if o.value != value]
    picklists[key] = [*kept, *system_options]
    [field] = [f for f in check(D, picklists).fields if f.key == key]
    assert value in field.missing
    assert field.hint(value) == hint
