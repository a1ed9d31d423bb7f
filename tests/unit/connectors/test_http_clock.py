"""`VendorClock`: the vendor's clock from `Date` headers, erring towards the vendor being behind."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from connectors.http.clock import VendorClock

T = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def date(at: datetime) -> dict[str, str]:
    return {"Date": format_datetime(at, usegmt=True)}


def clock_at(local: list[float]) -> VendorClock:
    return VendorClock(now=lambda: local[0])


def test_nothing_is_known_before_a_dated_response() -> None:
    clock = VendorClock(now=lambda: T.timestamp())
    assert clock.offset() is None
    clock.observe_headers({"Content-Type": "application/json"})
    clock.observe_headers({"Date": "not a date"})
    assert clock.offset() is None


def test_the_offset_is_header_time_minus_local_time_at_receipt() -> None:
    local = [(T + timedelta(seconds=300)).timestamp()]  # we run 300 s ahead of the vendor
    clock = clock_at(local)
    clock.observe_headers(date(T))
    assert clock.offset() == timedelta(seconds=-300)


def test_the_truncated_second_errs_towards_the_vendor_being_behind() -> None:
    """Stamped at T + 0.9 s (sent as T), received at T + 0.9 s: estimated 0.9 s behind, never
    ahead; a later reading at a tighter phase of the second is kept."""
    local = [T.timestamp() + 0.9]
    clock = clock_at(local)
    clock.observe_headers(date(T))
    offset = clock.offset()
    assert offset is not None
    assert offset <= timedelta(0)
    assert offset == timedelta(seconds=-0.9)
    local[0] = T.timestamp() + 10.1
    clock.observe_headers(date(T + timedelta(seconds=10)))
    assert clock.offset() == timedelta(seconds=-0.1)
    local[0] = T.timestamp() + 20.7  # a looser reading does not undo the tighter one
    clock.observe_headers(date(T + timedelta(seconds=20)))
    assert clock.offset() == timedelta(seconds=-0.1)


def test_a_clock_that_moved_replaces_the_estimate() -> None:
    local = [T.timestamp()]
    clock = clock_at(local)
    clock.observe_headers(date(T))
    clock.observe_headers(date(T - timedelta(seconds=60)))  # the vendor's clock stepped back
    assert clock.offset() == timedelta(seconds=-60)


def test_headers_in_any_spelling_and_a_minus_zero_zone_are_read() -> None:
    local = [T.timestamp()]
    clock = clock_at(local)
    clock.observe_headers([("date", "Mon, 02 Mar 2026 08:59:00 -0000")])
    assert clock.offset() == timedelta(seconds=-60)
