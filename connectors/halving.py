"""Finding the records a whole-batch refusal is about, by halving, within a budget of calls.

Both vendors check a whole batch before writing any of it, so one bad record (a value that does
not parse, a taken unique value) refuses the other 99 (HubSpot) or 199 (Salesforce) with it.
Halving finds a bad record in about 2·log2(n) calls. When every record is refused for the same
reason (a mapping that puts text into a number field), halving down to each one would cost 2n-1
calls of the org's daily allowance; past `MOST_SPLITS` halvings of one batch, the part in hand
is refused as it stands instead, each record with the vendor's own error, as the first call
said.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from connectors.errors import PermanentError

#: Enough to find four bad records scattered across a batch of 200 one by one (8 halvings each).
MOST_SPLITS = 32

Item = TypeVar("Item")
Outcome = TypeVar("Outcome")


def halving(
    send: Callable[[list[Item]], list[Outcome]],
    *,
    splits: Callable[[PermanentError], bool],
    refuse: Callable[[Item, PermanentError], Outcome],
    most_splits: int = MOST_SPLITS,
) -> Callable[[list[Item]], list[Outcome]]:
    """`send`, with a whole-batch refusal `splits` accepts sent again in halves, down to the
    lone records it is about, which `refuse` turns into outcomes; at most `most_splits` halvings
    per batch sent. Any other error is raised as it is."""

    def batch(items: list[Item]) -> list[Outcome]:
        left = most_splits

        def part(some: list[Item]) -> list[Outcome]:
            nonlocal left
            try:
                return send(some)
            except PermanentError as exc:
                if not splits(exc):
                    raise
                if len(some) == 1 or left <= 0:
                    return [refuse(item, exc) for item in some]
                left -= 1
                middle = len(some) // 2
                return part(some[:middle]) + part(some[middle:])

        return part(items)

    return batch
