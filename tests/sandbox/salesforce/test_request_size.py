"""Salesforce's size limits over a real socket: 414 past 16,384 URI bytes, 431 past 16,384 URI
plus header bytes, and MALFORMED_QUERY for a SOQL statement over 100,000 characters."""

# ruff: noqa: S608 -- SOQL built from generated and seeded ids.

from __future__ import annotations

from urllib.parse import quote_plus

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from tests.sandbox.salesforce.conftest import Served

QUERY_PATH = "/services/data/v59.0/query/?q="


def _query_of_uri_bytes(served: Served, size: int) -> str:
    """A `query` URL whose request target (path and query string) is exactly `size` bytes."""
    soql = "SELECT Id FROM Lead WHERE LastName = ''"
    padding = size - len(QUERY_PATH) - len(quote_plus(soql))
    soql = soql[:-1] + "x" * padding + "'"
    target = QUERY_PATH + quote_plus(soql)
    assert len(target) == size
    return served.url + target


def test_a_uri_over_16384_bytes_gets_414_with_the_front_server_page(
    served: Served, sf: Salesforce
) -> None:
    headers = {"Authorization": f"Bearer {sf.session_id}"}
    before = served.box.limits.used

    reply = served.session().get(_query_of_uri_bytes(served, 16_385), headers=headers)

    assert reply.status_code == 414
    assert reply.headers["content-type"].startswith("text/html")
    assert reply.text == "<h1>Bad Message 414</h1><pre>reason: URI Too Long</pre>"
    assert "sforce-limit-info" not in reply.headers
    assert served.box.limits.used == before  # refused before the API: no allocation spent


def test_a_uri_under_the_limit_with_short_headers_reaches_the_api(
    served: Served, sf: Salesforce
) -> None:
    reply = served.session().get(
        _query_of_uri_bytes(served, 16_000), headers={"Authorization": f"Bearer {sf.session_id}"}
    )

    assert reply.status_code == 200
    assert reply.json()["totalSize"] == 0


@pytest.mark.parametrize(("uri", "padding"), [(16_384, 0), (12_000, 6_000)])
def test_uri_plus_headers_over_16384_bytes_gets_431(
    served: Served, sf: Salesforce, uri: int, padding: int
) -> None:
    headers = {"Authorization": f"Bearer {sf.session_id}", "X-Padding": "p" * padding}

    reply = served.session().get(_query_of_uri_bytes(served, uri), headers=headers)

    assert reply.status_code == 431
    assert (
        reply.text == "<h1>Bad Message 431</h1><pre>reason: Request Header Fields Too Large</pre>"
    )


def test_a_soql_statement_over_100000_characters_is_malformed(sf: Salesforce) -> None:
    # Only a POSTed query (Bulk 2.0) can carry a statement this long.
    ids = ", ".join(f"'00Q{n:015d}'" for n in range(5_000))
    soql = f"SELECT Id FROM Lead WHERE Id IN ({ids})"
    assert len(soql) > 100_000

    with pytest.raises(SalesforceMalformedRequest) as caught:
        list(sf.bulk2.Lead.query(soql, wait=0.01))

    assert caught.value.content[0]["errorCode"] == "MALFORMED_QUERY"
    assert caught.value.content[0]["message"] == (
        "SOQL statements can not be longer than 100000 characters"
    )


def test_a_long_id_list_under_the_limits_is_answered(served: Served, sf: Salesforce) -> None:
    wanted = [row["Id"] for row in served.box.find("Lead", limit=250)]
    soql = "SELECT Id FROM Lead WHERE Id IN (" + ", ".join(f"'{i}'" for i in wanted) + ")"

    found = sf.query_all(soql, include_deleted=True)["records"]

    assert sorted(r["Id"] for r in found) == sorted(wanted)
