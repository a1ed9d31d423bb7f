"""A backfill starts HubSpot's listing while it still works through Salesforce, so the
rate-limited system's permits are spent while the Salesforce passes compute."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from connectors.records import ListedPage
from tests.unit.sync.conftest import World


def test_hubspot_is_being_read_before_the_salesforce_passes_end(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(5):
        world.hs.put("contacts", {"email": f"p{n}@example.com", "lifecyclestage": "lead"})
        world.sf.put("Lead", {"Email": f"p{n}@example.com", "LastName": "P", "Company": "A"})
    hubspot_started = threading.Event()
    seen_during_salesforce: list[bool] = []
    hs_all, sf_all = world.hs.list_all, world.sf.list_all

    def hubspot_listing(obj: str, start: str | None = None) -> Iterator[ListedPage]:
        hubspot_started.set()
        yield from hs_all(obj, start)

    def salesforce_listing(obj: str, start: str | None = None) -> Iterator[ListedPage]:
        seen_during_salesforce.append(hubspot_started.wait(5))
        yield from sf_all(obj, start)

    monkeypatch.setattr(world.hs, "list_all", hubspot_listing)
    monkeypatch.setattr(world.sf, "list_all", salesforce_listing)
    world.clock.advance(10)
    report = world.engine(backfill_page_size=2, prefetch_records=4).backfill()
    assert seen_during_salesforce == [True, True]  # Lead and Contact passes
    assert report.read["hubspot:contacts"] == 5
    assert report.read["salesforce:Lead"] == 5


def test_without_prefetch_hubspot_is_read_after_salesforce(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.hs.put("contacts", {"email": "a@example.com", "lifecyclestage": "lead"})
    order: list[str] = []
    hs_all, sf_all = world.hs.list_all, world.sf.list_all

    def hubspot_listing(obj: str, start: str | None = None) -> Iterator[ListedPage]:
        order.append("hubspot")
        yield from hs_all(obj, start)

    def salesforce_listing(obj: str, start: str | None = None) -> Iterator[ListedPage]:
        order.append(f"salesforce:{obj}")
        yield from sf_all(obj, start)

    monkeypatch.setattr(world.hs, "list_all", hubspot_listing)
    monkeypatch.setattr(world.sf, "list_all", salesforce_listing)
    world.clock.advance(10)
    world.engine(prefetch_records=0).backfill()
    assert order == ["salesforce:Lead", "salesforce:Contact", "hubspot"]
