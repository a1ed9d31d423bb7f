"""A served HubSpot imitation and `HubSpotConnector`s pointed at it over a real socket.

The connector goes through the real hubspot-api-client; waits are no-ops so retry tests are
fast, and the budget is unpaced (the imitation's rate limits are off unless a test turns them
on), while every request is still counted by the imitation's `/_sandbox/stats`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from connectors.http.budget import ApiBudget, hubspot_spec
from connectors.http.retry import RetryPolicy
from connectors.hubspot.connector import HubSpotConnector
from connectors.hubspot.settings import HubSpotSettings
from sandbox.hubspot import HubSpotOptions, HubSpotSandbox
from sandbox.shared.clock import Clock
from sandbox.shared.server import Listener, serve_in_thread
from tests.contract.admin import SandboxAdmin

SEEDED = 1_000


@dataclass
class Served(SandboxAdmin):
    box: HubSpotSandbox
    url: str

    def connector(self, **kwargs: Any) -> HubSpotConnector:
        settings = HubSpotSettings(
            base_url=self.url,
            access_token=self.box.options.access_token,
            client_secret=self.box.options.client_secret,
        )
        budget = ApiBudget(hubspot_spec(), sleep=lambda _s: None)
        kwargs.setdefault("budget", budget)
        kwargs.setdefault("sleep", lambda _s: None)
        kwargs.setdefault("policy", RetryPolicy(max_attempts=6))
        return HubSpotConnector(settings, **kwargs)


def serve(box: HubSpotSandbox) -> Iterator[Served]:
    listener = Listener(box.app)
    with serve_in_thread([listener]):
        yield Served(box, listener.url)


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    box = HubSpotSandbox(HubSpotOptions(rate_limits=False), clock=Clock())
    box.seed(contacts=SEEDED, seed=3)
    yield from serve(box)


@pytest.fixture
def hubspot(served: Served) -> HubSpotConnector:
    return served.connector()


BIG_SPREAD = 10_200  # seeded contacts with distinct modification times
BIG_SAME_INSTANT = 10_300  # contacts written at one instant, as an import does


@pytest.fixture(scope="module")
def big_portal() -> Iterator[tuple[Served, int]]:
    """20,500 contacts: 10,200 seeded plus 10,300 sharing one modification time (returned).

    The same-instant rows go straight into the imitation's store: no API could make them, and
    the imitation's actor API stamps each write with the clock's current millisecond.
    """
    box = HubSpotSandbox(HubSpotOptions(rate_limits=False), clock=Clock())
    box.seed(contacts=BIG_SPREAD, seed=5)
    instant = box.clock.now_ms() - 3_600_000
    rows = (
        (instant - 86_400_000, instant, {"email": f"import{i}@example.com", "firstname": "Imp"})
        for i in range(BIG_SAME_INSTANT)
    )
    box.store.insert_many("contacts", rows)
    for served in serve(box):
        yield served, instant
