"""OAuth, sessions, CRUD and query through the real simple-salesforce over HTTPS."""

# ruff: noqa: S608 -- SOQL built from ids the tests just created.

from __future__ import annotations

from typing import Any

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceResourceNotFound,
)


def test_client_credentials_token_shape(served: Any) -> None:
    options = served.box.options
    reply = served.session().post(
        f"{served.url}/services/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(options.client_id, options.client_secret),
    )
    assert reply.status_code == 200
    body = reply.json()
    assert body["instance_url"] == served.url
    assert body["token_type"] == "Bearer"
    assert body["access_token"].startswith(options.org_id[:15] + "!")


def test_bad_secret_is_invalid_client(served: Any) -> None:
    reply = served.session().post(
        f"{served.url}/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": served.box.options.client_id,
            "client_secret": "wrong",
        },
    )
    assert reply.status_code == 400
    assert reply.json() == {
        "error": "invalid_client",
        "error_description": "invalid client credentials",
    }


def test_unknown_token_raises_expired_session(served: Any) -> None:
    sf = served.client(token="00Dbogus!token")
    with pytest.raises(SalesforceExpiredSession) as info:
        sf.query("SELECT Id FROM Lead LIMIT 1")
    assert info.value.content[0]["errorCode"] == "INVALID_SESSION_ID"


def test_create_get_update_delete(sf: Salesforce) -> None:
    created = sf.Lead.create(
        {"LastName": "Lovelace", "Company": "Analytical", "Phone": "555 123 4567"}
    )
    assert created["success"] is True
    assert created["errors"] == []
    lead_id = created["id"]
    assert len(lead_id) == 18
    assert lead_id.startswith("00Q")
    got = sf.Lead.get(lead_id)
    assert got["attributes"]["type"] == "Lead"
    assert got["Status"] == "Open - Not Contacted"
    assert got["IsConverted"] is False
    assert got["Name"] == "Lovelace"
    assert sf.Lead.update(lead_id, {"FirstName": "Ada"}) == 204
    assert sf.Lead.get(lead_id, params={"fields": "Id,Name"}) == {
        "attributes": got["attributes"],
        "Id": lead_id,
        "Name": "Ada Lovelace",
    }
    assert sf.Lead.delete(lead_id) == 204
    with pytest.raises(SalesforceResourceNotFound):
        sf.Lead.get(lead_id)


def test_query_finds_created_record(sf: Salesforce) -> None:
    lead_id = sf.Lead.create({"LastName": "Hopper", "Company": "Navy"})["id"]
    result = sf.query(f"SELECT Id, LastName, IsConverted FROM Lead WHERE Id = '{lead_id}'")
    assert result["totalSize"] == 1
    assert result["done"] is True
    record = result["records"][0]
    assert record["LastName"] == "Hopper"
    assert record["IsConverted"] is False


def test_missing_required_field(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.Lead.create({"LastName": "NoCompany"})
    assert info.value.content == [
        {
            "message": "Required fields are missing: [Company]",
            "errorCode": "REQUIRED_FIELD_MISSING",
            "fields": ["Company"],
        }
    ]
