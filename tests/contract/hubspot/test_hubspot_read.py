"""Reading through the real SDK: incremental windows, full listing, batch read by ids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.errors import ConfigError
from connectors.hubspot.connector import HubSpotConnector
from connectors.records import System

SEEDED = 1_000  # as seeded by conftest.served


def _ordered(records: list) -> bool:
    keys = [(r.modified_at, int(r.key.id)) for r in records]
    return keys == sorted(keys)


def test_given_a_seeded_portal_when_reading_all_changes_then_every_contact_comes_in_order(
    hubspot: HubSpotConnector, served: Any
) -> None:
    until = datetime.now(UTC) + timedelta(days=1)
    served.reset_stats()
    records = list(hubspot.read_changes("contacts", None, until))
    ids = [r.key.id for r in records]
    assert len(ids) == SEEDED
    assert len(set(ids)) == SEEDED
    assert _ordered(records)
    assert all(r.key.system is System.HUBSPOT and r.key.object == "contacts" for r in records)
    assert all(r.fields.get("email") for r in records[:10])
    searches = served.stats()["by_route"]
    assert sum(v for k, v in searches.items() if "search" in k) <= SEEDED // 200 + 2


def test_given_a_window_then_it_is_half_open_and_only_holds_records_modified_inside(
    hubspot: HubSpotConnector,
) -> None:
    everything = list(hubspot.read_changes("contacts", None, datetime.now(UTC) + timedelta(1)))
    middle = everything[len(everything) // 2].modified_at
    later = everything[3 * len(everything) // 4].modified_at
    window = list(hubspot.read_changes("contacts", middle, later))
    expected = [r.key.id for r in everything if middle <= r.modified_at < later]
    assert [r.key.id for r in window] == expected
    assert window
    assert window[0].modified_at == middle
    assert all(r.modified_at < later for r in window)


def test_given_no_records_in_the_window_then_one_search_and_one_bin_listing(
    hubspot: HubSpotConnector, served: Any
) -> None:
    future = datetime.now(UTC) + timedelta(days=30)
    served.reset_stats()
    assert list(hubspot.read_changes("contacts", future, future + timedelta(days=1))) == []
    routes = served.stats()["by_route"]
    assert sum(routes.values()) == 2
    assert sum(v for k, v in routes.items() if k.endswith("/search")) == 1


def test_given_a_backfill_then_read_all_lists_every_contact_at_100_per_call(
    hubspot: HubSpotConnector, served: Any
) -> None:
    served.reset_stats()
    records = list(hubspot.read_all("contacts"))
    assert len({r.key.id for r in records}) == SEEDED
    assert served.stats()["requests"] == SEEDED // 100
    assert not any(r.deleted for r in records)


def test_given_a_backfill_then_its_count_is_one_search_for_the_total(
    hubspot: HubSpotConnector, served: Any
) -> None:
    served.reset_stats()
    assert hubspot.count_all("contacts") == SEEDED
    routes = served.stats()["by_route"]
    assert sum(routes.values()) == 1
    assert sum(v for k, v in routes.items() if k.endswith("/search")) == 1


def test_given_ids_then_read_by_ids_batches_100_and_leaves_out_missing_ones(
    hubspot: HubSpotConnector, served: Any
) -> None:
    ids = [str(i) for i in range(1, 251)] + ["999999999"]
    served.reset_stats()
    records = hubspot.read_by_ids("contacts", ids)
    assert sorted(int(r.key.id) for r in records) == list(range(1, 251))
    assert served.stats()["requests"] == 3
    assert records[0].fields.get("email")


def test_given_emails_then_find_by_email_reads_where_an_upsert_on_email_lands(
    hubspot: HubSpotConnector, served: Any
) -> None:
    """HubSpot's batch read takes `idProperty: email`, case-insensitively as upserts match."""
    known = hubspot.read_by_ids("contacts", ["1", "2"])
    emails = [str(r.fields["email"]) for r in known]
    served.reset_stats()
    found = hubspot.find_by("contacts", "email", [emails[0].upper(), emails[1], "no@one.example"])
    assert sorted(r.key.id for r in found) == ["1", "2"]
    assert served.stats()["requests"] == 1


def test_given_a_stopped_iteration_then_no_further_pages_are_fetched(
    hubspot: HubSpotConnector, served: Any
) -> None:
    served.reset_stats()
    stream = hubspot.read_all("contacts")
    first = [next(stream) for _ in range(5)]
    assert len(first) == 5
    assert served.stats()["requests"] == 1


def test_given_extra_properties_near_the_search_body_limit_then_never_a_400_from_hubspot(
    served: Any,
) -> None:
    """The SDK sends search bodies as `json.dumps` writes them (a space after every `:` and
    `,`): the size guard must count those bytes, or a body it passes is refused with a 400 and
    every incremental read fails instead of naming the setting to change."""
    until = datetime.now(UTC) + timedelta(days=1)
    since = until - timedelta(minutes=1)  # an empty window: one search per read
    names = [f"custom_field_number_{n:03d}" for n in range(120)]
    served.reset_stats()
    outcomes = []
    for count in range(70, 120):  # across the limit, one property at a time
        hubspot = served.connector(extra_properties={"contacts": names[:count]})
        try:
            list(hubspot.read_changes("contacts", since, until))
            outcomes.append("read")
        except ConfigError as error:
            outcomes.append(f"refused: {error.setting}")
    # The limit was crossed once, and every larger body was refused, naming the setting.
    assert outcomes[0] == "read"
    assert outcomes[-1] == "refused: extra_properties"
    assert outcomes == sorted(outcomes)
    assert served.stats()["by_status"].get("400", 0) == 0
