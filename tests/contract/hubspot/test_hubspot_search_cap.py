"""No record is lost to search's 10,000-result cap, even when > 10,000 share one timestamp."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.hubspot.convert import from_ms

SPREAD, SAME_INSTANT = 10_200, 10_300  # as built by conftest.big_portal


def test_given_20k_contacts_with_10k_at_one_instant_then_every_one_is_read_once_in_order(
    big_portal: tuple[Any, int],
) -> None:
    served, instant = big_portal
    hubspot = served.connector()
    served.reset_stats()
    records = list(hubspot.read_changes("contacts", None, datetime.now(UTC) + timedelta(1)))
    ids = [int(r.key.id) for r in records]
    assert len(ids) == SPREAD + SAME_INSTANT
    assert len(set(ids)) == len(ids)
    keys = [(r.modified_at, int(r.key.id)) for r in records]
    assert keys == sorted(keys)
    at_instant = [r for r in records if r.modified_at == from_ms(instant)]
    assert len(at_instant) == SAME_INSTANT
    stats = served.stats()
    assert stats["by_status"].get("400", 0) == 0  # never paged into the cap
    # one call per 200 records, plus the instant's own listing and small overlaps
    assert stats["requests"] <= (SPREAD + SAME_INSTANT) / 200 * 1.1 + 3


def test_given_a_window_that_starts_at_the_crowded_instant_then_all_of_it_is_included(
    big_portal: tuple[Any, int],
) -> None:
    served, instant = big_portal
    hubspot = served.connector()
    start = from_ms(instant)
    records = list(hubspot.read_changes("contacts", start, start + timedelta(milliseconds=1)))
    assert len(records) == SAME_INSTANT
    assert [int(r.key.id) for r in records] == sorted(int(r.key.id) for r in records)


def test_given_a_window_that_ends_at_the_crowded_instant_then_none_of_it_is_included(
    big_portal: tuple[Any, int],
) -> None:
    served, instant = big_portal
    hubspot = served.connector()
    end = from_ms(instant)
    records = list(hubspot.read_changes("contacts", end - timedelta(days=3650), end))
    assert records
    assert all(r.modified_at < end for r in records)
    assert not any(r.fields.get("firstname") == "Imp" for r in records)
