"""A served HubSpot imitation and real `hubspot-api-client` clients pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hubspot import HubSpot

from sandbox.hubspot import HubSpotOptions, HubSpotSandbox
from sandbox.shared.server import Listener, serve_in_thread


class Served:
    def __init__(self, box: HubSpotSandbox, url: str) -> None:
        self.box = box
        self.url = url
        self.token = box.options.access_token

    def client(self, token: str | None = None) -> Any:
        return HubSpot(access_token=token or self.token, host=self.url)

    def http(self, token: str | None = None) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {token or self.token}"}
        )


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    box = HubSpotSandbox(HubSpotOptions(rate_limits=False))
    box.seed(contacts=300, seed=7)
    listener = Listener(box.app)
    with serve_in_thread([listener], background=[box.background]):
        yield Served(box, listener.url)


@pytest.fixture
def api(served: Served) -> Any:
    return served.client()
