"""Conformance with HubSpot's published OpenAPI specs (tests/specs/hubspot/).

Two layers: schemathesis generates requests for the operations this imitation implements and
checks every response (status code declared, content type, body schema, no 5xx); and a
curated walk through each implemented operation, success and error paths, validates every
response against the operation's declared responses.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode, checks

from sandbox.hubspot import HubSpotOptions, HubSpotSandbox
from sandbox.shared.server import Listener, serve_in_thread

# The vendor's own documents, vendored with their sources (tests/specs/hubspot/SOURCES.md).
SPECS = Path(__file__).resolve().parents[2] / "specs" / "hubspot"


def _load(name: str) -> Any:
    raw = json.loads((SPECS / name).read_text())
    _allow_documented_nulls(raw)
    return schemathesis.openapi.from_dict(raw)


def _allow_documented_nulls(raw: dict[str, Any]) -> None:
    """Allow `null` where HubSpot's guides document it but its generated specs leave it out:
    the unlabeled association type "will always be returned in responses with a `label` value
    of `null`" (associations schema guide, and every v4 example), which the v4 specs type as a
    plain string (clients generated from them mark it nullable to bind real answers)."""
    spec = raw.get("components", {}).get("schemas", {}).get("AssociationSpecWithLabel")
    if spec is not None:
        spec["properties"]["label"]["nullable"] = True


def _generated(name: str, path_regex: str, methods: list[str]) -> Any:
    schema = _load(name)
    # Positive data only: the specs over-require some fields HubSpot itself accepts without
    # (batch read's propertiesWithHistory), so negative cases would test the spec, not us.
    schema.config.generation.update(modes=[GenerationMode.POSITIVE], with_security_parameters=False)
    return schema.include(path_regex=path_regex, method=methods)


CONTACTS = _generated(
    "crm-contacts-v3.json",
    r"^/crm/v3/objects/contacts(/search|/merge|/batch/(read|update|upsert)|/\{contactId\})?$",
    ["GET", "POST", "PATCH"],
)
OTHERS = [
    _generated(
        spec,
        rf"^/crm/v3/objects/{name}(/search|/batch/read|/\{{{singular}Id\}})?$",
        ["GET", "POST"],
    )
    for spec, name, singular in (
        ("crm-companies-v3.json", "companies", "company"),
        ("crm-deals-v3.json", "deals", "deal"),
    )
]
PROPERTIES = _generated(
    "crm-properties-v3.json", r"^/crm/v3/properties/\{objectType\}(/\{propertyName\})?$", ["GET"]
)
ASSOCIATIONS = _generated(
    "crm-associations-v4.json",
    r"^/crm/v4/objects/\{objectType\}/\{objectId\}/associations/\{toObjectType\}$",
    ["GET"],
)

# What the answers must satisfy. Left out: positive_data_acceptance (the specs allow values
# HubSpot itself rejects with 400, e.g. an unknown idProperty) and the method probes.
RESPONSE_CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
]


@pytest.fixture(scope="module")
def spec_server() -> Iterator[tuple[HubSpotSandbox, str]]:
    box = HubSpotSandbox(HubSpotOptions(rate_limits=False))
    box.seed(contacts=150, seed=5)
    listener = Listener(box.app)
    with serve_in_thread([listener]):
        yield box, listener.url


HYPOTHESIS = settings(
    max_examples=8, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
)


def _check(case: Any, spec_server: tuple[HubSpotSandbox, str]) -> None:
    box, url = spec_server
    case.call_and_validate(
        base_url=url,
        headers={"Authorization": f"Bearer {box.options.access_token}"},
        checks=RESPONSE_CHECKS,
    )


@CONTACTS.parametrize()
@HYPOTHESIS
def test_contacts_conform(case: Any, spec_server: tuple[HubSpotSandbox, str]) -> None:
    _check(case, spec_server)


@OTHERS[0].parametrize()
@HYPOTHESIS
def test_companies_conform(case: Any, spec_server: tuple[HubSpotSandbox, str]) -> None:
    _check(case, spec_server)


@OTHERS[1].parametrize()
@HYPOTHESIS
def test_deals_conform(case: Any, spec_server: tuple[HubSpotSandbox, str]) -> None:
    _check(case, spec_server)


@PROPERTIES.parametrize()
@HYPOTHESIS
def test_properties_conform(case: Any, spec_server: tuple[HubSpotSandbox, str]) -> None:
    _check(case, spec_server)


@ASSOCIATIONS.parametrize()
@HYPOTHESIS
def test_associations_conform(case: Any, spec_server: tuple[HubSpotSandbox, str]) -> None:
    _check(case, spec_server)


def _op(spec: str, path: str, method: str) -> Any:
    return _SPECS.setdefault(spec, _load(spec))[path][method]


_SPECS: dict[str, Any] = {}


def test_curated_walk_conforms(spec_server: tuple[HubSpotSandbox, str]) -> None:
    """Every implemented operation's success (and typical error) answer, schema-checked."""
    box, url = spec_server
    auth = {"Authorization": f"Bearer {box.options.access_token}"}
    c = "crm-contacts-v3.json"
    seen: list[tuple[str, int]] = []
    with httpx.Client(base_url=url, headers=auth) as http:

        def call(spec: str, template: str, method: str, path: str, **kw: Any) -> httpx.Response:
            response = http.request(method, path, **kw)
            _op(spec, template, method).validate_response(response)
            seen.append((f"{method} {template}", response.status_code))
            return response

        objects = "/crm/v3/objects/contacts"
        one = objects + "/{contactId}"
        call(c, objects, "GET", objects, params={"limit": 3, "properties": "email"})
        made = call(c, objects, "POST", objects, json={"properties": {"email": "w@example.com"}})
        cid = made.json()["id"]
        other = call(c, objects, "POST", objects, json={"properties": {"email": "z@example.com"}})
        call(c, objects, "POST", objects, json={"properties": {"nope": "1"}})  # 400
        call(c, objects, "POST", objects, json={"properties": {"email": "w@example.com"}})  # 409
        call(c, one, "GET", f"{objects}/{cid}")
        call(c, one, "GET", f"{objects}/999999")  # 404
        call(c, one, "PATCH", f"{objects}/{cid}", json={"properties": {"firstname": "W"}})
        batch = objects + "/batch"
        read = {
            "inputs": [{"id": cid}, {"id": "424242"}],
            "properties": ["email"],
            "propertiesWithHistory": [],
        }
        call(
            c, batch + "/read", "POST", batch + "/read", json={**read, "inputs": read["inputs"][:1]}
        )
        call(c, batch + "/read", "POST", batch + "/read", json=read)  # 207
        call(
            c,
            batch + "/create",
            "POST",
            batch + "/create",
            json={"inputs": [{"properties": {"email": "b1@example.com"}}]},
        )
        call(
            c,
            batch + "/create",
            "POST",
            batch + "/create",
            json={
                "inputs": [
                    {"properties": {"email": "b2@example.com"}, "objectWriteTraceId": "1"},
                    {"properties": {"bad": "x"}, "objectWriteTraceId": "2"},
                ]
            },
        )  # 207
        call(
            c,
            batch + "/update",
            "POST",
            batch + "/update",
            json={"inputs": [{"id": cid, "properties": {"lastname": "X"}}]},
        )
        call(
            c,
            batch + "/upsert",
            "POST",
            batch + "/upsert",
            json={
                "inputs": [
                    {"id": "u@example.com", "idProperty": "email", "properties": {"firstname": "U"}}
                ]
            },
        )
        call(
            c,
            objects + "/search",
            "POST",
            objects + "/search",
            json={
                "filterGroups": [
                    {"filters": [{"propertyName": "email", "operator": "HAS_PROPERTY"}]}
                ],
                "sorts": [{"propertyName": "createdate", "direction": "DESCENDING"}],
                "limit": 2,
            },
        )
        call(
            c,
            objects + "/merge",
            "POST",
            objects + "/merge",
            json={"primaryObjectId": cid, "objectIdToMerge": other.json()["id"]},
        )
        call(c, batch + "/archive", "POST", batch + "/archive", json={"inputs": [{"id": "1"}]})
        call(c, one, "DELETE", f"{objects}/2")
        call(c, objects + "/gdpr-delete", "POST", objects + "/gdpr-delete", json={"objectId": "3"})

        p = "crm-properties-v3.json"
        props = "/crm/v3/properties/{objectType}"
        call(p, props, "GET", "/crm/v3/properties/contacts")
        call(p, props + "/{propertyName}", "GET", "/crm/v3/properties/contacts/lifecyclestage")
        call(
            p,
            props,
            "POST",
            "/crm/v3/properties/contacts",
            json={
                "name": "baton_x",
                "label": "X",
                "type": "string",
                "fieldType": "text",
                "groupName": "contactinformation",
            },
        )
        call(
            p,
            props + "/{propertyName}",
            "PATCH",
            "/crm/v3/properties/contacts/baton_x",
            json={"label": "Y"},
        )
        call(
            p,
            props + "/batch/read",
            "POST",
            "/crm/v3/properties/contacts/batch/read",
            json={"inputs": [{"name": "email"}], "archived": False},
        )

        groups = props + "/groups"
        call(p, groups, "GET", "/crm/v3/properties/contacts/groups")
        call(
            p,
            groups,
            "POST",
            "/crm/v3/properties/contacts/groups",
            json={"name": "baton", "label": "Baton"},
        )
        call(p, groups + "/{groupName}", "GET", "/crm/v3/properties/contacts/groups/baton")
        call(
            p,
            props + "/batch/create",
            "POST",
            "/crm/v3/properties/contacts/batch/create",
            json={
                "inputs": [
                    {
                        "name": "baton_y",
                        "label": "Y",
                        "type": "string",
                        "fieldType": "text",
                        "groupName": "baton",
                    }
                ]
            },
        )

        call(
            p,
            props + "/batch/archive",
            "POST",
            "/crm/v3/properties/contacts/batch/archive",
            json={"inputs": [{"name": "baton_y"}, {"name": "no_such_property"}]},
        )
        call(
            p,
            props + "/{propertyName}",
            "GET",
            "/crm/v3/properties/contacts/baton_y",
            params={"archived": "true"},
        )

        a = "crm-associations-v4.json"
        co = http.post("/crm/v3/objects/companies", json={"properties": {"name": "C"}}).json()["id"]
        base = "/crm/v4/objects/{objectType}/{objectId}/associations"
        call(
            a,
            base + "/{toObjectType}/{toObjectId}",
            "PUT",
            f"/crm/v4/objects/contacts/{cid}/associations/companies/{co}",
            json=[{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}],
        )
        call(
            a,
            "/crm/v4/objects/{fromObjectType}/{fromObjectId}/associations/default/"
            "{toObjectType}/{toObjectId}",
            "PUT",
            f"/crm/v4/objects/contacts/{cid}/associations/default/companies/{co}",
        )
        call(
            a,
            base + "/{toObjectType}",
            "GET",
            f"/crm/v4/objects/contacts/{cid}/associations/companies",
        )
        batch4 = "/crm/v4/associations/{fromObjectType}/{toObjectType}/batch"
        call(
            a,
            batch4 + "/read",
            "POST",
            "/crm/v4/associations/contacts/companies/batch/read",
            json={"inputs": [{"id": cid}]},
        )
        call(
            a,
            batch4 + "/create",
            "POST",
            "/crm/v4/associations/contacts/companies/batch/create",
            json={
                "inputs": [
                    {
                        "from": {"id": cid},
                        "to": {"id": co},
                        "types": [
                            {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}
                        ],
                    }
                ]
            },
        )
        labels = "/crm/v4/associations/{fromObjectType}/{toObjectType}/labels"
        schema4 = "crm-associations-schema-v4.json"
        call(schema4, labels, "GET", "/crm/v4/associations/contacts/companies/labels")
        call(
            schema4,
            labels + "/{associationTypeId}",
            "DELETE",
            "/crm/v4/associations/contacts/companies/labels/1",
        )  # 400: HubSpot-defined
        call(
            a,
            batch4 + "/labels/archive",
            "POST",
            "/crm/v4/associations/contacts/companies/batch/labels/archive",
            json={
                "inputs": [
                    {
                        "from": {"id": cid},
                        "to": {"id": co},
                        "types": [
                            {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}
                        ],
                    }
                ]
            },
        )
        call(
            a,
            batch4 + "/associate/default",
            "POST",
            "/crm/v4/associations/contacts/companies/batch/associate/default",
            json={"inputs": [{"from": {"id": cid}, "to": {"id": co}}]},
        )
        call(
            a,
            batch4 + "/archive",
            "POST",
            "/crm/v4/associations/contacts/companies/batch/archive",
            json={"inputs": [{"from": {"id": cid}, "to": [{"id": co}]}]},
        )
        call(
            a,
            base + "/{toObjectType}/{toObjectId}",
            "DELETE",
            f"/crm/v4/objects/contacts/{cid}/associations/companies/{co}",
        )

        o = "oauth-v1.json"
        form = {
            "grant_type": "authorization_code",
            "code": "c",
            "redirect_uri": "http://x",
            "client_id": box.options.client_id,
            "client_secret": box.options.client_secret,
        }
        token = call(o, "/oauth/v1/token", "POST", "/oauth/v1/token", data=form).json()
        call(
            o,
            "/oauth/v1/access-tokens/{token}",
            "GET",
            f"/oauth/v1/access-tokens/{token['access_token']}",
        )
        call(
            o,
            "/oauth/v1/refresh-tokens/{token}",
            "GET",
            f"/oauth/v1/refresh-tokens/{token['refresh_token']}",
        )
    statuses = {status for _, status in seen}
    assert {200, 201, 204, 207, 400, 404, 409} <= statuses
    assert len(seen) >= 35
