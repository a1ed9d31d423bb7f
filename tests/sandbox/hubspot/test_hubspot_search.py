"""Search through the SDK: operators, groups, sorts, paging, limits, the 10,000 cap."""

from __future__ import annotations

from typing import Any

import pytest
from hubspot.crm.contacts import ApiException, PublicObjectSearchRequest, SimplePublicObjectInput
from hubspot.crm.contacts import SimplePublicObjectInputForCreate as ContactCreate


def _search(api: Any, **kw: Any) -> Any:
    return api.crm.contacts.search_api.do_search(PublicObjectSearchRequest(**kw))


def test_eq_is_case_insensitive_for_strings(api: Any, served: Any) -> None:
    contact = served.box.find("contacts", equals={"hs_object_id": "12"})[0]
    result = _search(
        api,
        filter_groups=[
            {
                "filters": [
                    {"propertyName": "email", "operator": "EQ", "value": contact["email"].upper()}
                ]
            }
        ],
        properties=["email"],
    )
    assert [r.id for r in result.results] == ["12"]
    assert result.total == 1


def test_groups_or_filters_and(api: Any) -> None:
    result = _search(
        api,
        filter_groups=[
            {
                "filters": [
                    {"propertyName": "lifecyclestage", "operator": "EQ", "value": "customer"},
                    {"propertyName": "hubspotscore", "operator": "GTE", "value": "90"},
                ]
            },
            {
                "filters": [
                    {"propertyName": "hs_lead_status", "operator": "IN", "values": ["RECYCLED"]}
                ]
            },
        ],
        properties=["lifecyclestage", "hubspotscore", "hs_lead_status"],
        limit=200,
    )
    assert result.total > 0
    for r in result.results:
        p = r.properties
        assert (p["lifecyclestage"] == "customer" and float(p["hubspotscore"]) >= 90) or (
            p["hs_lead_status"] == "RECYCLED"
        )


def test_date_filter_sort_and_paging(api: Any) -> None:
    base = _search(
        api,
        limit=1,
        sorts=[{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
        properties=["lastmodifieddate"],
    )
    first_ms = _ms(base.results[0].properties["lastmodifieddate"])
    seen: list[int] = []
    after = None
    while True:
        page = _search(
            api,
            filter_groups=[
                {
                    "filters": [
                        {
                            "propertyName": "lastmodifieddate",
                            "operator": "GT",
                            "value": str(first_ms),
                        }
                    ]
                }
            ],
            sorts=["lastmodifieddate"],
            properties=["lastmodifieddate"],
            limit=100,
            after=after,
        )
        seen += [_ms(r.properties["lastmodifieddate"]) for r in page.results]
        if page.paging is None:
            break
        after = page.paging.next.after
    assert seen == sorted(seen)
    assert all(ms > first_ms for ms in seen)
    assert len(seen) == page.total


def test_a_contact_search_on_hs_lastmodifieddate_silently_matches_nothing(api: Any) -> None:
    """Contacts keep their modification date in `lastmodifieddate`; filtering them on
    `hs_lastmodifieddate` (the companies' and deals' name) is a 200 with no results, the trap
    a connector must not fall into."""
    since = {"propertyName": "lastmodifieddate", "operator": "GTE", "value": "0"}
    assert _search(api, filter_groups=[{"filters": [since]}]).total > 0
    wrong = {**since, "propertyName": "hs_lastmodifieddate"}
    result = _search(api, filter_groups=[{"filters": [wrong]}], properties=["hs_lastmodifieddate"])
    assert result.total == 0
    assert result.results == []
    read = api.crm.contacts.basic_api.get_page(limit=1, properties=["hs_lastmodifieddate"])
    assert read.results[0].properties["hs_lastmodifieddate"] is None
    assert read.results[0].updated_at is not None


def _ms(iso: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def test_has_property_and_tokens(api: Any) -> None:
    missing = _search(
        api,
        filter_groups=[
            {"filters": [{"propertyName": "firstname", "operator": "NOT_HAS_PROPERTY"}]}
        ],
        properties=["firstname"],
    )
    assert missing.total > 0
    assert all(r.properties["firstname"] is None for r in missing.results)
    token = _search(
        api,
        filter_groups=[
            {
                "filters": [
                    {"propertyName": "email", "operator": "CONTAINS_TOKEN", "value": "*example.org"}
                ]
            }
        ],
        properties=["email"],
    )
    assert token.total > 0
    assert all(r.properties["email"].endswith("example.org") for r in token.results)


def test_query_text(api: Any, served: Any) -> None:
    contact = served.box.find("contacts", equals={"hs_object_id": "3"})[0]
    result = _search(api, query=contact["lastname"], properties=["lastname"], limit=200)
    assert "3" in {r.id for r in result.results}


def test_too_many_filters_and_sorts_are_400(api: Any) -> None:
    flt = {"propertyName": "email", "operator": "HAS_PROPERTY"}
    with pytest.raises(ApiException) as err:
        _search(api, filter_groups=[{"filters": [flt] * 7}])
    assert err.value.status == 400
    assert "VALIDATION_ERROR" in err.value.body
    with pytest.raises(ApiException) as err:
        _search(api, filter_groups=[{"filters": [flt] * 4}] * 5)  # 20 filters > 18
    assert err.value.status == 400
    with pytest.raises(ApiException) as err:
        _search(api, filter_groups=[{"filters": [flt]}] * 6)
    assert err.value.status == 400
    with pytest.raises(ApiException) as err:
        _search(api, sorts=["email", "firstname"])
    assert err.value.status == 400
    with pytest.raises(ApiException) as err:
        _search(api, limit=201)
    assert err.value.status == 400


_EMAIL = '{"propertyName":"email","value":"{a\\"}@b.io"}'  # braces in strings don't count
_BOTH = "propertyName, operator"


@pytest.mark.parametrize(
    ("body", "unset", "line", "column"),
    [
        ('{"filterGroups":[{"filters":[' + _EMAIL + "]}]}", "operator", 1, 74),
        ('{"filterGroups":[{"filters":[{"operator":"HAS_PROPERTY"}]}]}', "propertyName", 1, 56),
        ('{"filterGroups":[{"filters":[{"value":"x","operator":null}]}]}', _BOTH, 1, 58),
        # the first unbuildable filter in the text is named, here in the second group, line 3
        (
            '{"filterGroups": [\n {"filters": [{"propertyName": "email", "operator": "EQ"}]},\n'
            ' {"filters": [{"propertyName": "email"}]}]}',
            "operator",
            3,
            39,
        ),
        ('{"filters":[{"propertyName":"email","operator":"EQ"},{}]}', _BOTH, 1, 55),
    ],
    ids=["no-operator", "no-propertyName", "null-operator", "second-group", "legacy-filters"],
)
def test_a_filter_without_property_name_or_operator_is_400(
    served: Any, body: str, unset: str, line: int, column: int
) -> None:
    """The spec requires both; HubSpot refuses such a filter as it reads the JSON, naming the
    position of its closing brace (quoted in hubspot-api-nodejs#226; #128 gives a column that is
    that brace's). A missing operator was read as EQ."""
    with served.http() as http:
        response = http.post(
            "/crm/v3/objects/contacts/search",
            content=body,
            headers={"Content-Type": "application/json"},
        )
    assert response.status_code == 400
    answer = response.json()
    assert answer == {
        "status": "error",
        "message": f"Invalid input JSON on line {line}, column {column}: Cannot build Filter, "
        f"some of required attributes are not set [{unset}]",
        "correlationId": answer["correlationId"],
        "category": "VALIDATION_ERROR",
    }


def test_the_sdk_sees_a_filter_without_operator_refused(api: Any) -> None:
    flt = {"propertyName": "email", "value": "nobody@example.org"}
    with pytest.raises(ApiException) as err:
        _search(api, filter_groups=[{"filters": [flt]}])
    assert err.value.status == 400
    assert "some of required attributes are not set [operator]" in err.value.body


def test_search_has_no_rate_limit_headers(served: Any) -> None:
    with served.http() as http:
        response = http.post("/crm/v3/objects/contacts/search", json={})
    assert response.status_code == 200
    assert not [h for h in response.headers if h.lower().startswith("x-hubspot-ratelimit")]
    assert response.json()["total"] == served.box.store.count("contacts")


def test_search_body_over_3000_characters_is_400(served: Any) -> None:
    ids = [str(i) for i in range(100_000, 100_700)]
    body = {
        "filterGroups": [
            {"filters": [{"propertyName": "hs_object_id", "operator": "IN", "values": ids}]}
        ]
    }
    with served.http() as http:
        response = http.post("/crm/v3/objects/contacts/search", json=body)
    assert response.status_code == 400
    assert response.json()["category"] == "VALIDATION_ERROR"


def test_an_index_lag_keeps_fresh_writes_out_of_search_until_it_passes(
    api: Any, served: Any
) -> None:
    """Records appear in search after a delay (hubspot-api.md §5): off by default, set over
    the admin API; reads by id see a write at once either way."""
    box, http = served.box, served.http()

    def found(email: str) -> list[str]:
        filters = [{"propertyName": "email", "operator": "EQ", "value": email}]
        return [r.id for r in _search(api, filter_groups=[{"filters": filters}]).results]

    assert http.get("/_sandbox/search").json() == {"index_lag_s": 0.0}
    now = api.crm.contacts.basic_api.create(ContactCreate(properties={"email": "lag0@x.io"}))
    assert found("lag0@x.io") == [now.id]  # no lag unless asked for
    assert http.put("/_sandbox/search", json={"index_lag_s": 5}).json() == {"index_lag_s": 5.0}
    try:
        made = api.crm.contacts.basic_api.create(ContactCreate(properties={"email": "lag@x.io"}))
        assert found("lag@x.io") == []
        assert api.crm.contacts.basic_api.get_by_id(made.id).id == made.id
        box.clock.advance(5)
        assert found("lag@x.io") == [made.id]
        api.crm.contacts.basic_api.update(
            made.id, SimplePublicObjectInput(properties={"jobtitle": "Lagging"})
        )
        jobtitle = [{"propertyName": "jobtitle", "operator": "EQ", "value": "Lagging"}]
        assert _search(api, filter_groups=[{"filters": jobtitle}]).total == 0
        box.clock.advance(5)
        assert [r.id for r in _search(api, filter_groups=[{"filters": jobtitle}]).results] == [
            made.id
        ]
        assert http.put("/_sandbox/search", json={"index_lag_s": -1}).status_code == 400
    finally:
        assert http.delete("/_sandbox/search").status_code == 204
    assert http.get("/_sandbox/search").json() == {"index_lag_s": 0.0}
