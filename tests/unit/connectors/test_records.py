"""`RecordKey`: a value type whose hash is computed once, yet equal, ordered and copied by value."""

from __future__ import annotations

import copy
import dataclasses
import pickle

import pytest

from connectors.records import RecordKey, System

KEY = RecordKey(System.SALESFORCE, "Lead", "00Q1")


def test_keys_made_apart_are_one_key() -> None:
    same = RecordKey(System.SALESFORCE, "Lead", "00Q1")
    assert same == KEY
    assert same is not KEY
    assert hash(same) == hash(KEY) == hash((System.SALESFORCE, "Lead", "00Q1"))
    assert {KEY: 1}[same] == 1
    assert RecordKey(System.SALESFORCE, "Contact", "00Q1") != KEY
    assert KEY != ("salesforce", "Lead", "00Q1")  # a key is not a tuple


def test_a_key_is_a_frozen_dataclass_of_its_three_fields() -> None:
    assert [f.name for f in dataclasses.fields(KEY)] == ["system", "object", "id"]
    moved = dataclasses.replace(KEY, id="00Q2")
    assert moved == RecordKey(System.SALESFORCE, "Lead", "00Q2")
    assert hash(moved) == hash((System.SALESFORCE, "Lead", "00Q2"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        KEY.id = "x"  # type: ignore[misc]
    assert str(KEY) == "salesforce:Lead:00Q1"
    assert (
        repr(KEY) == "RecordKey(system=<System.SALESFORCE: 'salesforce'>, object='Lead', id='00Q1')"
    )


@pytest.mark.parametrize(
    "copied",
    [
        pickle.loads(pickle.dumps(KEY)),  # noqa: S301 (our own bytes)
        copy.deepcopy(KEY),
        copy.copy(KEY),
    ],
)
def test_keys_copy_by_value(copied: RecordKey) -> None:
    assert copied == KEY
    assert hash(copied) == hash(KEY)


def test_keys_order_by_their_fields() -> None:
    keys = [RecordKey(System.SALESFORCE, "Lead", "2"), RecordKey(System.HUBSPOT, "contacts", "9")]
    assert sorted(keys) == [keys[1], keys[0]]
