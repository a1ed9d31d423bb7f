"""The connector learns the portal's clock from the imitation's `Date` headers."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime

import httpx

from connectors.hubspot.connector import HubSpotConnector
from sandbox.hubspot import HubSpotOptions, HubSpotSandbox
from sandbox.shared.clock import Clock
from tests.contract.hubspot.conftest import serve


def test_the_offset_is_learned_from_the_first_response() -> None:
    box = HubSpotSandbox(HubSpotOptions(rate_limits=False), clock=Clock())
    box.seed(contacts=3, seed=1)
    box.clock.advance(600)  # the portal's clock runs 10 minutes ahead of ours
    for served in serve(box):
        hubspot: HubSpotConnector = served.connector()
        assert hubspot.vendor_now() is None
        assert hubspot.count_all("contacts") == 3
        vendor = hubspot.vendor_now()
        assert vendor is not None
        # Conservative: the second's truncation and the trip only make it look behind.
        offset = vendor.timestamp() - time.time()
        assert 597 <= offset <= 600


def test_the_imitation_dates_its_responses_on_its_own_clock() -> None:
    box = HubSpotSandbox(HubSpotOptions(rate_limits=False), clock=Clock())
    box.clock.advance(3600)
    for served in serve(box):
        response = httpx.get(f"{served.url}/_sandbox/stats")
        dates = response.headers.get_list("date")
        assert len(dates) == 1  # the server's own wall-clock `Date` is off
        assert abs(parsedate_to_datetime(dates[0]).timestamp() - (time.time() + 3600)) < 5
