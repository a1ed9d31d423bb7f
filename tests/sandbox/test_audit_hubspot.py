"""Independent audit of the HubSpot imitation: fixes found by probing it as a client would.

Every test drives the imitation over a real socket through `hubspot-api-client` (v12), or with
raw HTTP in the documented request shape where the SDK adds nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hubspot import HubSpot
from hubspot.crm.contacts import (
    ApiException,
    BatchInputSimplePublicObjectBatchInput,
    PublicObjectSearchRequest,
    SimplePublicObjectBatchInput,
    SimplePublicObjectInputForCreate,
)

from sandbox.hubspot import HubSpotOptions, HubSpotSandbox
from sandbox.shared.clock import Clock
from sandbox.shared.server import Listener, serve_in_thread


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[HubSpotSandbox, str]]:
    box = HubSpotSandbox(HubSpotOptions(rate_limits=True), clock=Clock())
    box.seed(contacts=50, seed=11)
    listener = Listener(box.app)
    with serve_in_thread([listener]):
        yield box, listener.url


@pytest.fixture
def client(served: tuple[HubSpotSandbox, str]) -> HubSpot:
    box, url = served
    return HubSpot(access_token=box.options.access_token, host=url)


def _stats(url: str) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(f"{url}/_sandbox/stats").json()
    return body


def _reset_stats(url: str) -> None:
    httpx.delete(f"{url}/_sandbox/stats").raise_for_status()


def _email_in(values: list[str]) -> PublicObjectSearchRequest:
    return PublicObjectSearchRequest(
        filter_groups=[
            {"filters": [{"propertyName": "email", "operator": "IN", "values": values}]}
        ],
        properties=["email"],
        limit=10,
    )


def test_search_in_values_on_strings_must_be_lower_case_as_hubspot_documents(
    client: HubSpot,
) -> None:
    created = client.crm.contacts.basic_api.create(
        SimplePublicObjectInputForCreate(properties={"email": "Audit.Case@Example.com"})
    )
    lower = client.crm.contacts.search_api.do_search(_email_in(["audit.case@example.com"]))
    upper = client.crm.contacts.search_api.do_search(_email_in(["Audit.Case@Example.com"]))
    assert [r.id for r in lower.results] == [created.id]
    assert lower.results[0].properties["email"] == "audit.case@example.com"
    assert upper.total == 0
    assert upper.results == []


def test_batch_update_naming_one_record_twice_is_refused_whole_with_hubspots_400(
    served: tuple[HubSpotSandbox, str], client: HubSpot
) -> None:
    _, url = served
    target = client.crm.contacts.basic_api.create(
        SimplePublicObjectInputForCreate(properties={"email": "audit.dup@example.com"})
    )
    _reset_stats(url)
    batch = BatchInputSimplePublicObjectBatchInput(
        inputs=[
            SimplePublicObjectBatchInput(id=target.id, properties={"jobtitle": "First"}),
            SimplePublicObjectBatchInput(id=target.id, properties={"jobtitle": "Second"}),
        ]
    )
    with pytest.raises(ApiException) as caught:
        client.crm.contacts.batch_api.update(batch)
    assert caught.value.status == 400
    body = httpx.Response(400, content=caught.value.body).json()
    assert body["status"] == "error"
    assert body["category"] == "VALIDATION_ERROR"
    assert body["message"] == (
        f"Duplicate IDs found in batch input: [{target.id}]. IDs must be unique"
    )
    assert body["context"] == {"ids": [target.id]}
    assert body["correlationId"]
    assert _stats(url)["writes"] == 0
    after = client.crm.contacts.basic_api.get_by_id(target.id, properties=["jobtitle"])
    assert after.properties.get("jobtitle") is None


def test_requests_refused_before_routing_count_under_their_route_template(
    served: tuple[HubSpotSandbox, str], client: HubSpot
) -> None:
    _, url = served
    _reset_stats(url)
    intruder = HubSpot(access_token="pat-na1-wrong", host=url)
    with pytest.raises(ApiException) as caught:
        intruder.crm.contacts.basic_api.get_page(limit=1)
    assert caught.value.status == 401
    client.crm.contacts.basic_api.get_page(limit=1)
    httpx.put(f"{url}/_sandbox/faults", json={"next_rate_limit": 1}).raise_for_status()
    try:
        with pytest.raises(ApiException) as limited:
            client.crm.contacts.basic_api.get_page(limit=1)
    finally:
        httpx.delete(f"{url}/_sandbox/faults").raise_for_status()
    assert limited.value.status == 429
    stats = _stats(url)
    assert stats["by_route"] == {"GET /crm/v3/objects/{object_type}": 3}
    assert stats["by_status"] == {"401": 1, "200": 1, "429": 1}
    assert stats["requests"] == 3
    assert stats["writes"] == 0
