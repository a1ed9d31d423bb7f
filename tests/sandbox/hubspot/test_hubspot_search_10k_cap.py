"""The 10,000-result search cap: the page that reaches it answers; the next one is a 400."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hubspot import HubSpot
from hubspot.crm.contacts import ApiException, PublicObjectSearchRequest

from sandbox.hubspot import HubSpotOptions, HubSpotSandbox
from sandbox.shared.server import Listener, serve_in_thread

CONTACTS = 10_050


@pytest.fixture(scope="module")
def big() -> Iterator[Any]:
    box = HubSpotSandbox(HubSpotOptions(rate_limits=False))
    box.seed(contacts=CONTACTS, seed=11)
    listener = Listener(box.app)
    with serve_in_thread([listener]):
        yield HubSpot(access_token=box.options.access_token, host=listener.url)


def test_paging_stops_at_ten_thousand_while_total_stays_true(big: Any) -> None:
    search = big.crm.contacts.search_api.do_search
    page = search(PublicObjectSearchRequest(limit=200, after="9800"))
    assert page.total == CONTACTS
    assert len(page.results) == 200
    assert page.paging.next.after == "10000"
    with pytest.raises(ApiException) as err:
        search(PublicObjectSearchRequest(limit=200, after=page.paging.next.after))
    assert err.value.status == 400
    body = json.loads(err.value.body)
    assert body["category"] == "VALIDATION_ERROR"
    assert body["message"] == "There was a problem with the request."
    assert body["status"] == "error"
    assert body["correlationId"]


def test_last_allowed_page_is_trimmed_to_the_cap(big: Any) -> None:
    page = big.crm.contacts.search_api.do_search(PublicObjectSearchRequest(limit=100, after="9950"))
    assert len(page.results) == 50
    assert page.total == CONTACTS
