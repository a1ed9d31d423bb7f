"""Record addresses on SQLite and PostgreSQL: a record's set is replaced as read, found by
address, and dropped when the record has none."""

from __future__ import annotations

import pytest
from sqlalchemy import Connection

from connectors.records import RecordKey, System
from sync.store.addresses import addresses_of, holders_of, keep_addresses

ANN = RecordKey(System.HUBSPOT, "contacts", "101")
BOB = RecordKey(System.HUBSPOT, "contacts", "102")


def test_addresses_are_kept_per_record_and_found_by_address(db: Connection) -> None:
    keep_addresses(db, {ANN: ["bob@example.com", "b@example.com"], BOB: ["c@example.com"]})

    assert addresses_of(db, [ANN, BOB]) == {
        ANN: frozenset({"bob@example.com", "b@example.com"}),
        BOB: frozenset({"c@example.com"}),
    }
    assert holders_of(db, ["bob@example.com", "nobody@example.com"]) == {"bob@example.com": [ANN]}


def test_a_record_read_again_keeps_only_what_it_says_now(db: Connection) -> None:
    keep_addresses(db, {ANN: ["bob@example.com", "b@example.com"], BOB: ["c@example.com"]})

    keep_addresses(db, {ANN: ["b@example.com"]})  # one removed in HubSpot
    keep_addresses(db, {BOB: []})  # archived: its addresses are free

    assert addresses_of(db, [ANN, BOB]) == {ANN: frozenset({"b@example.com"})}
    assert holders_of(db, ["bob@example.com", "c@example.com"]) == {}
    keep_addresses(db, {})  # nothing to do
    assert holders_of(db, ["b@example.com"]) == {"b@example.com": [ANN]}


@pytest.mark.parametrize(
    "odd",
    ["a" * 320 + "@example.com", "nul\x00x@example.com"],
    ids=["longer than any address", "NUL byte"],
)
def test_text_no_address_can_be_is_not_kept_and_finds_no_one(db: Connection, odd: str) -> None:
    """A HubSpot contact may list such text among its additional emails; PostgreSQL's column
    holds 320 characters and no NUL, and a refusal here failed every poll that read it."""
    keep_addresses(db, {ANN: [odd, "b@example.com"]})

    assert addresses_of(db, [ANN]) == {ANN: frozenset({"b@example.com"})}
    assert holders_of(db, [odd, "b@example.com"]) == {"b@example.com": [ANN]}
