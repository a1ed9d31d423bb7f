"""A state is read in the light of the person's country: a code names a state only there."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connectors.records import FieldValue, RecordKey, SourceRecord, System
from mappings import places
from mappings.apply import Mapper
from mappings.loader import load_default

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("country", "state", "read"),
    [
        ("Australia", "WA", "Western Australia"),
        ("AUS", "nt", "Northern Territory"),
        ("USA", "WA", "Washington"),
        ("Canada", "NT", "Northwest Territories"),
        ("Canada", "Québec", "Quebec"),
        (None, "WA", "Washington"),  # no country: read as before countries were asked
        (None, "NSW", "New South Wales"),
        ("Mexico", "NL", "NL"),  # Nuevo León, not Newfoundland and Labrador
        ("Germany", "BE", "BE"),
        ("United States", "New South Wales", "New South Wales"),  # kept as typed, not moved
        ("Atlantis", "CA", "CA"),  # a country not known: its states are not guessed
    ],
)
def test_a_state_is_read_for_its_country(country: str | None, state: str, read: str) -> None:
    mapper = Mapper(load_default())
    contact: dict[str, FieldValue] = {"email": "a@x.com", "country": country, "state": state}
    lead: dict[str, FieldValue] = {"Email": "a@x.com", "Country": country, "State": state}
    for system, obj, fields in (
        (System.HUBSPOT, "contacts", contact),
        (System.SALESFORCE, "Lead", lead),
        (System.SALESFORCE, "Contact", {"Email": "a@x.com", "MailingCountry": country,
                                        "MailingState": state}),
    ):  # fmt: skip
        person = mapper.to_person(SourceRecord(RecordKey(system, obj, "1"), fields, AT)).value
        assert person.state == read, (system, obj)


def test_a_state_read_is_written_as_read() -> None:
    """A code kept for its country is written as it was read, not read again as another
    country's (Nuevo León's NL written to Salesforce as Newfoundland and Labrador)."""
    mapper = Mapper(load_default())
    record = SourceRecord(
        RecordKey(System.HUBSPOT, "contacts", "1"),
        {"email": "a@x.com", "country": "Mexico", "state": "NL"},
        AT,
    )
    person = mapper.to_person(record).value
    patch = mapper.to_patch(person, RecordKey(System.SALESFORCE, "Lead", "00Q1")).value
    assert (patch.fields["Country"], patch.fields["State"]) == ("Mexico", "NL")


def test_every_listed_state_has_one_name_per_code_in_its_country() -> None:
    seen: dict[tuple[str, str], str] = {}
    for country, code, name in places.STATES:
        assert seen.setdefault((country, code), name) == name
        assert places.state_code(name) == code
        assert places.state_name(code, country) == name
