"""Additional emails identify a contact as its primary email does (hubspot-api.md §8: "also
unique"): a merged-away contact's address still finds the survivor, by id property, batch
read and upsert, and no second live contact may take it."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hubspot.crm.contacts import (
    ApiException,
    BatchInputSimplePublicObjectBatchInputUpsert,
    BatchReadInputSimplePublicObjectId,
    PublicMergeInput,
    SimplePublicObjectInput,
)
from hubspot.crm.contacts import SimplePublicObjectInputForCreate as ContactCreate


def _contact(api: Any, **props: str) -> str:
    return str(api.crm.contacts.basic_api.create(ContactCreate(properties=props)).id)


def _merged(api: Any, tag: str) -> tuple[str, str, str]:
    """(survivor id, its primary email, the merged-away contact's email)."""
    keep, lose = f"keep.{tag}@example.com", f"lose.{tag}@example.com"
    a = _contact(api, email=keep, firstname="Keep")
    b = _contact(api, email=lose, firstname="Lose")
    api.crm.contacts.basic_api.merge(PublicMergeInput(primary_object_id=a, object_id_to_merge=b))
    return a, keep, lose


def _conflict(call: Any) -> dict[str, Any]:
    with pytest.raises(ApiException) as err:
        call()
    assert err.value.status == 409
    body: dict[str, Any] = orjson.loads(err.value.body)
    return body


def test_a_merged_away_email_finds_the_survivor(api: Any) -> None:
    a, keep, lose = _merged(api, "find")
    got = api.crm.contacts.basic_api.get_by_id(lose, id_property="email", properties=["email"])
    assert (got.id, got.properties["email"]) == (a, keep)
    upper = api.crm.contacts.basic_api.get_by_id(lose.upper(), id_property="email")
    assert upper.id == a
    read = api.crm.contacts.batch_api.read(
        BatchReadInputSimplePublicObjectId(
            inputs=[{"id": lose}, {"id": keep}], id_property="email", properties=["email"]
        )
    )
    assert [r.id for r in read.results] == [a]  # both addresses name the one contact


def test_an_upsert_by_a_merged_away_email_lands_on_the_survivor(api: Any) -> None:
    a, keep, lose = _merged(api, "upsert")
    answer = api.crm.contacts.batch_api.upsert(
        BatchInputSimplePublicObjectBatchInputUpsert(
            inputs=[{"id": lose, "idProperty": "email", "properties": {"email": lose}}]
        )
    )
    [result] = answer.results
    assert (result.id, result.new) == (a, False)
    got = api.crm.contacts.basic_api.get_by_id(a, properties=["email", "hs_additional_emails"])
    # the address named becomes the primary; the old primary is kept as an additional one
    assert got.properties["email"] == lose
    assert got.properties["hs_additional_emails"] == keep
    assert api.crm.contacts.basic_api.get_by_id(keep, id_property="email").id == a


def test_another_contacts_additional_email_is_taken(api: Any) -> None:
    a, keep, lose = _merged(api, "taken")
    body = _conflict(lambda: _contact(api, email=lose))
    assert body["category"] == "CONFLICT"
    assert f"Existing ID: {a}" in body["message"]
    other = _contact(api, email="other.taken@example.com")
    _conflict(
        lambda: api.crm.contacts.basic_api.update(
            other, SimplePublicObjectInput(properties={"email": lose})
        )
    )
    _conflict(lambda: _contact(api, email="third.taken@example.com", hs_additional_emails=keep))
    _conflict(
        lambda: api.crm.contacts.basic_api.update(
            other, SimplePublicObjectInput(properties={"hs_additional_emails": f"x@y.io;{lose}"})
        )
    )


def test_a_second_merge_keeps_the_first_merges_addresses(api: Any) -> None:
    a, _keep, lose = _merged(api, "chain-b")
    c = _contact(api, email="keep.chain-c@example.com")
    api.crm.contacts.basic_api.merge(PublicMergeInput(primary_object_id=c, object_id_to_merge=a))
    assert api.crm.contacts.basic_api.get_by_id(lose, id_property="email").id == c


def test_an_archived_contact_frees_its_additional_emails(api: Any) -> None:
    """As its primary email: the recycling bin holds no address (the imitation's choice)."""
    a, _keep, lose = _merged(api, "freed")
    api.crm.contacts.basic_api.archive(a)
    with pytest.raises(ApiException) as err:
        api.crm.contacts.basic_api.get_by_id(lose, id_property="email")
    assert err.value.status == 404
    assert _contact(api, email=lose)
