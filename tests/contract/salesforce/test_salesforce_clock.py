"""The connector learns the org's clock from the imitation's `Date` headers (the imitation runs
on a clock the tests set, far from ours: the offset is what that clock says, not ours)."""

from __future__ import annotations

import time

from tests.contract.salesforce.conftest import Served


def test_the_offset_is_learned_from_the_orgs_responses(served: Served) -> None:
    salesforce = served.connector()
    try:
        assert salesforce.vendor_now() is None  # building it makes no call
        assert salesforce.count_all("Lead") is not None
        vendor = salesforce.vendor_now()
        assert vendor is not None
        # The org's clock, not ours; conservative: the second's truncation and the trip only
        # make it look behind.
        expected = served.clock.now() - time.time()
        offset = vendor.timestamp() - time.time()
        assert expected - 3 <= offset <= expected + 1  # (+ the moments between the readings)
    finally:
        salesforce.close()
