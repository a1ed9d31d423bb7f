"""A whole-batch refusal is halved down to the records it is about, within a budget of calls."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from connectors.errors import PermanentError
from connectors.halving import MOST_SPLITS, halving


class Vendor:
    """Refuses a whole batch with 400 when it holds a bad record, as both vendors do."""

    def __init__(self, bad: set[int], status: int = 400) -> None:
        self.bad = bad
        self.status = status
        self.calls = 0

    def send(self, items: list[int]) -> list[str]:
        self.calls += 1
        if self.bad.intersection(items):
            raise PermanentError(
                "batch refused", status=self.status, vendor_code="JSON_PARSER_ERROR"
            )
        return [f"ok {n}" for n in items]


def _halved(vendor: Vendor) -> Callable[[list[int]], list[str]]:
    return halving(
        vendor.send,
        splits=lambda exc: exc.status == 400,
        refuse=lambda item, exc: f"refused {item}: {exc.vendor_code}",
    )


def test_one_bad_record_costs_itself_only_in_a_few_calls() -> None:
    vendor = Vendor(bad={137})
    outcomes = _halved(vendor)(list(range(200)))

    assert outcomes == [
        "refused 137: JSON_PARSER_ERROR" if n == 137 else f"ok {n}" for n in range(200)
    ]
    assert vendor.calls <= 2 * 8 + 1  # 200 halves to one record in 8 steps


def test_a_batch_refused_for_every_record_stops_halving_within_the_budget() -> None:
    """A mapping that puts text in a number field: every record is refused, with the vendor's
    error each, in at most 2 x MOST_SPLITS + 1 calls rather than 399."""
    vendor = Vendor(bad=set(range(200)))
    outcomes = _halved(vendor)(list(range(200)))

    assert outcomes == [f"refused {n}: JSON_PARSER_ERROR" for n in range(200)]
    assert vendor.calls <= 2 * MOST_SPLITS + 1
    assert vendor.calls < 399


def test_four_scattered_bad_records_are_each_found_alone() -> None:
    vendor = Vendor(bad={3, 60, 111, 190})
    outcomes = _halved(vendor)(list(range(200)))

    refused = [o for o in outcomes if o.startswith("refused")]
    assert refused == [f"refused {n}: JSON_PARSER_ERROR" for n in (3, 60, 111, 190)]


def test_a_refusal_that_is_not_about_records_is_raised() -> None:
    vendor = Vendor(bad={1}, status=403)
    with pytest.raises(PermanentError):
        _halved(vendor)([0, 1, 2])
    assert vendor.calls == 1
