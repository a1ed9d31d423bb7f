"""The connector learns the org's clock from the imitation's `Date` headers (the imitation runs
on a clock the tests set, far from ours: the offset is what that clock says, not ours)."""

from __future__ import annotations

import time
from datetime import timedelta

from tests.contract.salesforce.conftest import Served


def test_the_offset_is_learned_from_the_orgs_responses(served: Served) -> None:
    salesforce = served.connector()
    try:
        assert salesforce.clock_offset() is None  # building it makes no call
        expected = served.clock.now() - time.time()
        assert salesforce.count_all("Lead") is not None
        offset = salesforce.clock_offset()
        assert offset is not None
        # Conservative: the second's truncation and the trip only make it look behind.
        assert timedelta(seconds=expected - 3) <= offset <= timedelta(seconds=expected)
    finally:
        salesforce.close()
